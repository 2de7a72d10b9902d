"""The training augmentation of ``dataset.transforms.train_transform`` (RandomResizedCrop, then
RandomHorizontalFlip) on a whole uint8 batch at once, for the array cache of small images.

Same distribution as the per-image torchvision path, by construction:
- crop boxes: torchvision's ``RandomResizedCrop.get_params`` (10 tries of area ~ U(scale) and
  log aspect ~ U(log ratio), sides rounded half to even; else the ratio-clamped centre crop),
  drawn for every image of the batch in one go;
- resize: PIL's BILINEAR (what torchvision runs on PIL images): a triangle filter whose support
  grows with the downscale factor (antialiasing), pixel centres at +0.5, weights cut at the crop's
  edges and renormalised, a horizontal pass rounded to uint8, then a vertical pass rounded again.
  Written as one weight matrix per image and side, so a batch is two batched matmuls; outputs
  agree with PIL's to within 1 grey level (PIL's fixed-point coefficients);
- flip: each image with probability 1/2, after the crop.
``tools.speed.data --compare_augment`` prints both paths' per-pixel mean/std and crop histograms.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

RATIO = (3.0 / 4.0, 4.0 / 3.0)
TRIES = 10  # torchvision's attempts before the centre-crop fallback


def crop_boxes(n: int, height: int, width: int, scale: Tuple[float, float], ratio: Tuple[float, float] = RATIO,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` RandomResizedCrop boxes as an (n, 4) long tensor of (top, left, h, w)."""
    area = height * width
    u = torch.rand(n, TRIES, 4, generator=generator, dtype=torch.float64)
    target = area * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
    w = torch.round(torch.sqrt(target * aspect)).long()  # half to even, as Python's round()
    h = torch.round(torch.sqrt(target / aspect)).long()
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    top = torch.floor(u[..., 2] * (height - h + 1).clamp(min=1)).long()
    left = torch.floor(u[..., 3] * (width - w + 1).clamp(min=1)).long()
    # fallback of torchvision: the whole image, its aspect clamped into ``ratio``
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(height * ratio[1])), height
    else:
        fw, fh = width, height
    fallback = torch.tensor([(height - fh) // 2, (width - fw) // 2, fh, fw], dtype=torch.long)
    boxes = fallback.repeat(n, 1)
    has = ok.any(dim=1)
    first = torch.argmax(ok.to(torch.int8), dim=1)  # the first successful try
    rows = torch.arange(n)
    chosen = torch.stack([top[rows, first], left[rows, first], h[rows, first], w[rows, first]], dim=1)
    boxes[has] = chosen[has]
    return boxes


def bilinear_weights(start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int) -> torch.Tensor:
    """(n, out_size, in_size) weights of PIL's BILINEAR resize of the window [start, start+length)
    of a line of ``in_size`` pixels to ``out_size`` pixels (zero outside the window)."""
    length_f = length.to(torch.float64).view(-1, 1, 1)
    step = length_f / out_size
    filterscale = step.clamp(min=1.0)
    support = filterscale  # the triangle filter's support is 1
    center = (torch.arange(out_size, dtype=torch.float64).view(1, -1, 1) + 0.5) * step
    pos = torch.arange(in_size, dtype=torch.float64).view(1, 1, -1) - start.to(torch.float64).view(-1, 1, 1)
    lo = torch.floor(center - support + 0.5).clamp(min=0)
    hi = torch.minimum(torch.floor(center + support + 0.5), length_f)
    inside = (pos >= lo) & (pos < hi)
    w = (1.0 - ((pos - center + 0.5) / filterscale).abs()).clamp(min=0) * inside
    total = w.sum(dim=-1, keepdim=True)
    return w / torch.where(total == 0, torch.ones_like(total), total)


def resized_crop(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> uint8 (n, C, size, size): each image's box resized as PIL does."""
    n, _, height, width = images.shape
    wx = bilinear_weights(boxes[:, 1], boxes[:, 3], width, size).to(torch.float32)   # (n, S, W)
    wy = bilinear_weights(boxes[:, 0], boxes[:, 2], height, size).to(torch.float32)  # (n, S, H)
    x = images.to(torch.float32)
    x = torch.floor(torch.matmul(x, wx.transpose(1, 2).unsqueeze(1)) + 0.5).clamp_(0, 255)  # rows first
    x = torch.floor(torch.matmul(wy.unsqueeze(1), x) + 0.5).clamp_(0, 255)
    return x.to(torch.uint8)


def random_resized_crop_flip(images: torch.Tensor, size: int, min_scale: float,
                             generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The train augmentation on a uint8 (n, C, H, W) batch; every random draw from ``generator``."""
    n, _, height, width = images.shape
    boxes = crop_boxes(n, height, width, (min_scale, 1.0), RATIO, generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = resized_crop(images, boxes, size)
    out[flip] = out[flip].flip(-1)
    return out
