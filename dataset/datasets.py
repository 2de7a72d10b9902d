"""Readers: image files through a list, or records in LMDB; both yield (uint8 tensor, label)."""
from __future__ import annotations

import io
import multiprocessing
import os
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from dataset.lmdb_io import LMDBReader
from common.errors import DataError


def _decode(data_or_path, name: str) -> Image.Image:
    try:
        src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        with Image.open(src) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file missing: {name}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or unreadable image: {name} ({type(e).__name__})") from None


class _SkipCorrupt:
    """With ``skip_corrupt``, an unreadable image is reported once on stderr and replaced by the
    next readable one; ``skipped`` counts them across DataLoader workers (a shared counter)."""

    def _init_skip(self, skip_corrupt: bool):
        self.skip_corrupt = skip_corrupt
        self._skipped = multiprocessing.Value("i", 0) if skip_corrupt else None

    @property
    def skipped(self) -> int:
        return self._skipped.value if self._skipped is not None else 0

    def __getitem__(self, i):
        for attempt in range(len(self)):
            j = (i + attempt) % len(self)
            try:
                return self._load(j)
            except DataError as e:
                if not self.skip_corrupt:
                    raise
                with self._skipped.get_lock():
                    self._skipped.value += 1
                print(f"warning: skipped {e}", file=sys.stderr)
        raise DataError("no readable image in the dataset")


class ImageListDataset(_SkipCorrupt, Dataset):
    def __init__(self, root: str, entries: Sequence[Tuple[str, int]], transform: Optional[Callable] = None,
                 skip_corrupt: bool = False):
        self.root, self.entries, self.transform = root, list(entries), transform
        self._init_skip(skip_corrupt)

    def __len__(self):
        return len(self.entries)

    def _load(self, i):
        rel, label = self.entries[i]
        path = os.path.join(self.root, rel)
        img = _decode(path, path)
        return (self.transform(img) if self.transform else img), label


class LMDBDataset(_SkipCorrupt, Dataset):
    """Records of an LMDB packed by ``dataset.img2lmdb``; the environment opens lazily per worker."""

    def __init__(self, path: str, keys: Optional[List[str]] = None, transform: Optional[Callable] = None,
                 skip_corrupt: bool = False):
        self.reader = LMDBReader(path)
        self.keys = list(keys) if keys is not None else sorted(self.reader.keys())
        self.transform = transform
        self._init_skip(skip_corrupt)

    def __len__(self):
        return len(self.keys)

    def _load(self, i):
        key = self.keys[i]
        label, data = self.reader.get(key)
        img = _decode(data, f"{self.reader.path}:{key}")
        return (self.transform(img) if self.transform else img), label
