"""A split served from its array cache (``dataset.array_cache``): batches are slices of one
memory-mapped uint8 array, and the training augmentation runs on the whole batch
(``dataset.batch_augment``). Same order and sharding as the DataLoader path (the same
``EpochSampler``); each batch's random crops come from a generator seeded by (seed, epoch, rank,
batch number), so a run resumed mid-epoch draws what the uninterrupted run drew.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from dataset.batch_augment import random_resized_crop_flip


class ArrayDataset(Dataset):
    """(uint8 3xSxS tensor, label) items of a cached split. ``train``: images are raw and get the
    random crop + flip of ``size`` (per item from the global RNG; per batch in ``ArrayLoader``)."""

    def __init__(self, images: np.ndarray, labels, train: bool, size: int, min_scale: float = 0.08,
                 transform=None):
        self.images = images
        self.transform = transform  # the per-image transform this path reproduces (for reading, not called)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.train, self.size, self.min_scale = train, size, min_scale
        self.skipped = 0  # nothing is skipped: every image decoded when the cache was built

    def __len__(self):
        return len(self.labels)

    def batch(self, indices, generator: Optional[torch.Generator] = None):
        """Images (uint8, N x 3 x S x S) and labels of ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx]))
        if self.train:
            x = random_resized_crop_flip(x, self.size, self.min_scale, generator)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return x, self.labels[idx]

    def __getitem__(self, i):
        x, y = self.batch([i])
        return x[0], int(y[0])


class ArrayLoader:
    """The DataLoader interface the loops use (``len``, iteration of (images, labels),
    ``sampler``, ``batch_size``, ``dataset``) over an ArrayDataset, in the main process."""

    def __init__(self, dataset: ArrayDataset, batch_size: int, sampler, drop_last: bool = False):
        self.dataset, self.batch_size, self.sampler, self.drop_last = dataset, batch_size, sampler, drop_last

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self, batch_no: int) -> torch.Generator:
        s = self.sampler
        seed = ((int(s.seed) * 1_000_003 + int(s.epoch)) * 1_009 + int(s.rank)) * 1_000_033 + batch_no
        return torch.Generator().manual_seed(seed % (2 ** 63))

    def __iter__(self):
        first = self.sampler.skip // self.batch_size  # batches a resumed epoch leaves out
        order = list(iter(self.sampler))
        for b in range(len(order) // self.batch_size + (0 if self.drop_last else 1)):
            chunk = order[b * self.batch_size:(b + 1) * self.batch_size]
            if not chunk:
                return
            gen = self._generator(first + b) if self.dataset.train else None
            yield self.dataset.batch(chunk, gen)
