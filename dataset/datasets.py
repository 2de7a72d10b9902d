"""Readers: image files through a list, or records in LMDB; both yield (uint8 tensor, label)."""
from __future__ import annotations

import io
import os
from typing import Callable, List, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from dataset.lmdb_io import LMDBReader
from engine.errors import DataError


def _decode(data_or_path, name: str) -> Image.Image:
    try:
        src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        with Image.open(src) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file missing: {name}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or unreadable image: {name} ({type(e).__name__})") from None


class ImageListDataset(Dataset):
    def __init__(self, root: str, entries: Sequence[Tuple[str, int]], transform: Optional[Callable] = None):
        self.root, self.entries, self.transform = root, list(entries), transform

    def __len__(self):
        return len(self.entries)

    def __getitem__(self, i):
        rel, label = self.entries[i]
        path = os.path.join(self.root, rel)
        img = _decode(path, path)
        return (self.transform(img) if self.transform else img), label


class LMDBDataset(Dataset):
    """Records of an LMDB packed by ``dataset.img2lmdb``; the environment opens lazily per worker."""

    def __init__(self, path: str, keys: Optional[List[str]] = None, transform: Optional[Callable] = None):
        self.reader = LMDBReader(path)
        self.keys = list(keys) if keys is not None else sorted(self.reader.keys())
        self.transform = transform

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        key = self.keys[i]
        label, data = self.reader.get(key)
        img = _decode(data, f"{self.reader.path}:{key}")
        return (self.transform(img) if self.transform else img), label
