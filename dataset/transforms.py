"""torchvision transforms producing uint8 tensors; normalisation happens on the device."""
from __future__ import annotations

import torch
from torchvision import transforms as T

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def train_transform(size: int, min_scale: float = 0.08, color: bool = False):
    ops = [T.RandomResizedCrop(size, scale=(min_scale, 1.0)), T.RandomHorizontalFlip()]
    if color:
        ops.append(T.ColorJitter(0.4, 0.4, 0.4))
    return T.Compose(ops + [T.PILToTensor()])


def val_transform(size: int):
    return T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.PILToTensor()])


def normalize_batch(images: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 NCHW batch -> normalised float on ``device`` (copy first, convert there)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
