"""Building the splits a run needs from ``--data_path`` and the config.

Layout under ``--data_path ROOT``::

    ROOT/train/<class>/*.jpg, ROOT/val/<class>/*.jpg       ImageNet folders (data type img)
    ROOT/lists/{train,val,search_train,search_val}.txt    optional lists (dataset.mk_*_list)
    ROOT/lmdb/{train,val,search_train,search_val}/         LMDBs (dataset.img2lmdb; type lmdb)

Search uses ``search_train`` (weights, 80%) and ``search_val`` (architecture, 20%) drawn from
the first ``data.num_classes`` classes of ``train``; retrain/validation use ``train`` / ``val``.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, DistributedSampler

from dataset.array_loader import ArrayDataset, ArrayLoader
from dataset.datasets import ImageListDataset, LMDBDataset
from dataset.lists import list_images, read_list, search_split
from dataset.transforms import normalize_batch, train_transform, val_transform
from common.errors import ConfigError, DataError

ARRAY_CACHE_MAX_SIZE = 64  # data.array_cache auto: input sizes up to this are "small images"

def check_data_root(root: str, splits=("train",), data_type: str = "img") -> None:
    """Fail early, before training, when the expected splits are missing."""
    if not os.path.isdir(root):
        raise DataError(f"--data_path {root}: not a folder")
    for split in splits:
        if data_type == "lmdb":
            path = os.path.join(root, "lmdb", split)
            if not os.path.isfile(os.path.join(path, "data.mdb")):
                raise DataError(f"--data_path {root}: no LMDB for split '{split}' at {path} "
                                f"(pack it with python -m dataset.img2lmdb, or set data type img)")
        else:
            base = "train" if split.startswith("search") else split
            lst = os.path.join(root, "lists", f"{split}.txt")
            if not os.path.isfile(lst) and not os.path.isdir(os.path.join(root, base)):
                raise DataError(f"--data_path {root}: no '{base}' folder (expected ImageNet layout "
                                f"{root}/{base}/<class>/*.jpg)")


def split_entries(root: str, split: str, cfg):
    lst = os.path.join(root, "lists", f"{split}.txt")
    if os.path.isfile(lst):
        return read_list(lst, root)
    if split in ("search_train", "search_val"):
        train, val = search_split(root, cfg.data.num_classes, cfg.data.val_ratio)
        return train if split == "search_train" else val
    return list_images(root, split)


def build_dataset(root: str, split: str, cfg, train: bool, data_type: Optional[str] = None):
    size = cfg.data.input_size
    tf = (train_transform(size, cfg.data.random_sized.min_scale, cfg.data.color) if train
          else val_transform(size))
    data_type = data_type or (cfg.data.train_data_type if train else cfg.data.val_data_type)
    if data_type == "lmdb":
        path = os.path.join(root, "lmdb", split)
        lst = os.path.join(root, "lists", f"{split}.txt")
        keys = [rel for rel, _ in read_list(lst)] if os.path.isfile(lst) else None
        return LMDBDataset(path, keys, tf, skip_corrupt=cfg.data.skip_corrupt)
    if data_type != "img":
        raise DataError(f"data type must be lmdb or img, got {data_type!r}")
    entries = split_entries(root, split, cfg)
    if uses_array_cache(cfg, data_type):
        cached = _array_dataset(root, split, entries, cfg, train)
        if cached is not None:
            return cached
    return ImageListDataset(root, entries, tf, skip_corrupt=cfg.data.skip_corrupt)


def uses_array_cache(cfg, data_type: str) -> bool:
    """``data.array_cache``: ``off``; ``on`` (an error where it cannot apply); ``auto`` (default):
    image folders of input size <= 64 without colour jitter or skip_corrupt."""
    mode = cfg.data.get("array_cache", "auto")
    blocker = ("data type is lmdb" if data_type != "img" else "data.color is on (no batched colour jitter)"
               if cfg.data.color else "data.skip_corrupt is on" if cfg.data.skip_corrupt else None)
    if mode == "on" and blocker:
        raise ConfigError(f"config key 'data.array_cache': on, but {blocker}")
    if mode == "off" or blocker:
        return False
    return mode == "on" or cfg.data.input_size <= ARRAY_CACHE_MAX_SIZE


def _array_dataset(root: str, split: str, entries, cfg, train: bool):
    import sys
    from dataset.array_cache import NotCacheable, load_or_build
    size = cfg.data.input_size
    mode, tf = ("raw", None) if train else (f"val{size}", val_transform(size))
    try:
        images = load_or_build(root, split, entries, mode, tf, log=lambda m: print(m, file=sys.stderr))
    except NotCacheable as e:
        if cfg.data.get("array_cache", "auto") == "on":
            raise DataError(f"data.array_cache on: split '{split}' of {root} cannot be one array: {e}") from None
        return None
    return ArrayDataset(images, [label for _, label in entries], train, size, cfg.data.random_sized.min_scale,
                        train_transform(size, cfg.data.random_sized.min_scale) if train else tf)


def skipped_images(*loaders) -> int:
    """Corrupt images skipped so far by the datasets of these loaders (data.skip_corrupt)."""
    return sum(getattr(loader.dataset, "skipped", 0) for loader in loaders)


class EpochSampler(DistributedSampler):
    """DistributedSampler (also for a single process) whose ``set_epoch`` also reseeds the loader's
    generator, so shuffling and worker seeds depend only on (seed, epoch): resumable runs repeat them."""

    def __init__(self, dataset, num_replicas, rank, shuffle, seed, drop_last=False):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.loader_generator = torch.Generator().manual_seed(seed)
        self.skip = 0  # indices to leave out at the start of the next pass (resuming mid-epoch)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.loader_generator.manual_seed(self.seed * 100003 + epoch)

    def __iter__(self):
        it = super().__iter__()
        skip, self.skip = self.skip, 0
        for _ in range(skip):
            next(it, None)
        return it


def build_loader(dataset, batch_size: int, shuffle: bool, num_workers: int, device: torch.device,
                 dist_info=None, seed: int = 0, drop_last: bool = False) -> DataLoader:
    world = dist_info.world_size if dist_info is not None else 1
    rank = dist_info.rank if dist_info is not None else 0
    sampler = EpochSampler(dataset, world, rank, shuffle, seed, drop_last=drop_last and world > 1)
    if isinstance(dataset, ArrayDataset):  # batches sliced from the cached array, in this process
        return ArrayLoader(dataset, batch_size, sampler, drop_last)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=device.type == "cuda", drop_last=drop_last,
                      generator=sampler.loader_generator)


def resolve_data_root(data_path: Optional[str], cfg, announce: bool = True) -> str:
    """``--data_path`` or, when absent, the built-in demo dataset (generated once)."""
    if data_path:
        return data_path
    from dataset.demo import CLASSES, generate
    n = min(cfg.data.num_classes, len(CLASSES))
    if cfg.data.num_classes > len(CLASSES):
        raise DataError(f"no --data_path: the demo dataset has at most {len(CLASSES)} classes, "
                        f"data.num_classes is {cfg.data.num_classes}")
    root = generate(num_classes=n, quiet=not announce)
    if announce:
        print(f"no --data_path given: using the built-in demo dataset at {root} ({n} classes)")
    return root


class DevicePrefetcher:
    """Yields normalised batches on ``device``. On CUDA the next batch is copied on a side
    stream while the current one computes; on CPU this is a plain conversion wrapper."""

    def __init__(self, loader, device: torch.device, channels_last: bool = False):
        self.loader, self.device, self.channels_last = loader, device, channels_last

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        if self.device.type != "cuda":
            for images, labels in self.loader:
                yield normalize_batch(images, self.device, self.channels_last), labels.to(self.device)
            return
        stream = torch.cuda.Stream(self.device)
        nxt = None
        for images, labels in self.loader:
            with torch.cuda.stream(stream):
                batch = (normalize_batch(images, self.device, self.channels_last),
                         labels.to(self.device, non_blocking=True))
            if nxt is not None:
                yield nxt
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(stream)
            for t in batch:  # allocated on the side stream, used on the current one
                t.record_stream(current)
            nxt = batch
        if nxt is not None:
            yield nxt
