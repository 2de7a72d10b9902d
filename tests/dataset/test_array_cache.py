"""The array cache of small-image splits and the batched train augmentation: same pixels as the
PIL path, same crop distribution, a changed or truncated cache rebuilt, resumable batches."""
import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms import functional as F

from common.errors import ConfigError
from configs import load_config
from dataset.array_cache import load_or_build
from dataset.array_loader import ArrayDataset, ArrayLoader
from dataset.batch_augment import crop_boxes, random_resized_crop_flip, resized_crop
from dataset.demo import generate
from dataset.lists import list_images
from dataset.loader import EpochSampler, build_dataset, build_loader, uses_array_cache
from dataset.transforms import val_transform


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=3, train_per_class=20,
                    val_per_class=6, quiet=True)


@pytest.mark.parametrize("side,size", [(32, 32), (40, 32), (24, 32)])
def test_resized_crop_matches_pil(side, size):
    g = torch.Generator().manual_seed(side)
    images = torch.randint(0, 256, (40, 3, side, side), dtype=torch.uint8, generator=g)
    boxes = crop_boxes(40, side, side, (0.08, 1.0), generator=g)
    out = resized_crop(images, boxes, size)
    worst, differ = 0, 0
    for k in range(40):
        pil = Image.fromarray(images[k].permute(1, 2, 0).numpy())
        t, l, h, w = boxes[k].tolist()
        ref = F.pil_to_tensor(F.resized_crop(pil, t, l, h, w, [size, size])).int()
        diff = (out[k].int() - ref).abs()
        worst, differ = max(worst, int(diff.max())), differ + int((diff > 0).sum())
    assert worst <= 1  # PIL's fixed-point coefficients: at most one grey level apart
    assert differ / out.numel() < 0.06


def test_crop_boxes_follow_torchvision_distribution():
    n, side, scale = 20000, 32, (0.3, 1.0)
    ours = crop_boxes(n, side, side, scale, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    img = torch.zeros(3, side, side)
    ref = torch.tensor([RandomResizedCrop.get_params(img, list(scale), [3 / 4, 4 / 3]) for _ in range(n)])
    for col in range(4):  # top, left, h, w: same histograms up to sampling noise
        a = torch.bincount(ours[:, col], minlength=side + 1).float() / n
        b = torch.bincount(ref[:, col], minlength=side + 1).float() / n
        assert (a - b).abs().sum() < 0.06, col
    area_ours = (ours[:, 2] * ours[:, 3]).float().mean() / side ** 2
    area_ref = (ref[:, 2] * ref[:, 3]).float().mean() / side ** 2
    assert abs(area_ours - area_ref) < 0.01
    assert (ours[:, 0] + ours[:, 2] <= side).all() and (ours[:, 1] + ours[:, 3] <= side).all()


def test_flip_and_generator():
    x = torch.arange(4 * 8 * 8, dtype=torch.float32).view(4, 1, 8, 8).to(torch.uint8)
    a = random_resized_crop_flip(x, 8, 1.0, torch.Generator().manual_seed(3))
    b = random_resized_crop_flip(x, 8, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # scale (1, 1) and a square image: the whole image, so each output is the image or its mirror
    for k in range(4):
        assert torch.equal(a[k], x[k]) or torch.equal(a[k], x[k].flip(-1))


def test_cache_equals_pil_path_and_rebuilds(demo_root, capsys):
    entries = list_images(demo_root, "val")
    arr = load_or_build(demo_root, "val", entries, "val32", val_transform(32))
    assert arr.shape == (len(entries), 3, 32, 32) and arr.dtype == np.uint8
    for k in (0, 7, len(entries) - 1):
        with Image.open(os.path.join(demo_root, entries[k][0])) as im:
            ref = val_transform(32)(im.convert("RGB")).numpy()
        assert np.array_equal(np.asarray(arr[k]), ref)
    base = arr.filename[:-len(".u8")]
    del arr
    # a changed byte: the checksum no longer matches, so the split is decoded again
    with open(base + ".u8", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([(byte[0] + 1) % 256]))
    again = load_or_build(demo_root, "val", entries, "val32", val_transform(32))
    assert "truncated or changed, rebuilding" in capsys.readouterr().out
    with Image.open(os.path.join(demo_root, entries[0][0])) as im:
        assert np.array_equal(np.asarray(again[0]), val_transform(32)(im.convert("RGB")).numpy())
    # a truncated file: rebuilt too
    with open(base + ".u8", "r+b") as f:
        f.truncate(1000)
    third = load_or_build(demo_root, "val", entries, "val32", val_transform(32))
    assert third.shape[0] == len(entries)
    # a changed list is another cache
    fewer = load_or_build(demo_root, "val", entries[:-1], "val32", val_transform(32))
    assert fewer.shape[0] == len(entries) - 1 and fewer.filename != third.filename
    meta = json.load(open(base + ".json"))
    assert meta["shape"] == [len(entries), 3, 32, 32] and "sha256" in meta


def test_greyscale_split_stored_with_one_channel(tmp_path):
    for c in range(2):
        os.makedirs(tmp_path / "train" / f"{c}_c")
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * c + i, np.uint8), mode="L").save(tmp_path / "train" / f"{c}_c" / f"{i}.png")
    arr = load_or_build(str(tmp_path), "train", list_images(str(tmp_path), "train"), "raw")
    assert arr.shape == (6, 1, 8, 8)
    ds = ArrayDataset(arr, [0, 0, 0, 1, 1, 1], train=False, size=8)
    x, y = ds.batch([4])
    assert x.shape == (1, 3, 8, 8) and int(x[0, 2, 0, 0]) == 41 and int(y[0]) == 1


def _cfg(*opts):
    return load_config(None, ["data.input_size=32", "data.train_data_type=img", "data.val_data_type=img",
                              "data.random_sized.min_scale=0.5"] + list(opts), kind="train")


def test_which_path(demo_root):
    assert uses_array_cache(_cfg(), "img")
    assert not uses_array_cache(_cfg("data.input_size=224"), "img")
    assert uses_array_cache(_cfg("data.input_size=224", "data.array_cache=on"), "img")
    assert not uses_array_cache(_cfg("data.array_cache=off"), "img")
    assert not uses_array_cache(_cfg("data.color=true"), "img")
    with pytest.raises(ConfigError, match="data.array_cache"):
        uses_array_cache(_cfg("data.array_cache=on"), "lmdb")
    with pytest.raises(ConfigError, match="data.array_cache"):
        _cfg("data.array_cache=sometimes")
    assert isinstance(build_dataset(demo_root, "train", _cfg(), train=True), ArrayDataset)
    assert not isinstance(build_dataset(demo_root, "train", _cfg("data.array_cache=off"), train=True), ArrayDataset)


def test_loader_order_and_resume(demo_root):
    ds = build_dataset(demo_root, "train", _cfg(), train=True)
    loader = build_loader(ds, 8, True, 0, torch.device("cpu"), seed=4, drop_last=True)
    assert isinstance(loader, ArrayLoader) and len(loader) == len(ds) // 8
    loader.sampler.set_epoch(2)
    full = list(loader)
    assert len(full) == len(loader) and full[0][0].shape == (8, 3, 32, 32) and full[0][0].dtype == torch.uint8
    loader.sampler.set_epoch(2)
    loader.sampler.skip = 3 * 8  # a run resumed at batch 3 draws what the uninterrupted run drew
    resumed = list(loader)
    assert len(resumed) == len(full) - 3
    for (xa, ya), (xb, yb) in zip(full[3:], resumed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    loader.sampler.set_epoch(3)
    assert not torch.equal(next(iter(loader))[0], full[0][0])
    # the same order of images as the DataLoader path (same sampler)
    plain = EpochSampler(ds, 1, 0, True, 4)
    plain.set_epoch(2)
    order = list(plain)[:8]
    assert torch.equal(full[0][1], ds.labels[order])


def test_augmented_statistics_match_pil_path(demo_root):
    """Per-pixel mean/std of many augmented images: batched path vs torchvision's per image."""
    cfg = _cfg()
    fast = build_dataset(demo_root, "train", cfg, train=True)
    slow = build_dataset(demo_root, "train", _cfg("data.array_cache=off"), train=True)
    idx = list(range(len(fast))) * 4
    a = torch.cat([fast.batch(idx[i:i + 60], torch.Generator().manual_seed(i))[0] for i in range(0, len(idx), 60)])
    torch.manual_seed(0)
    b = torch.stack([slow[i][0] for i in idx])
    a, b = a.float(), b.float()
    assert abs(a.mean() - b.mean()) < 2.0 and abs(a.std() - b.std()) < 2.0
    # per-pixel means over 240 draws: close on average (sampling noise only)
    assert (a.mean(0) - b.mean(0)).abs().mean() < 6.0
    assert math.isclose(a.shape[0], b.shape[0])
