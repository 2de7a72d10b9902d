"""Small-image splits decoded once into a uint8 array on disk, memory-mapped by every run after.

A split's cache is two files: ``<mode>-<key>.u8`` (raw uint8 pixels, N x C x H x W, C = 1 when
every image is greyscale) and ``<mode>-<key>.json`` (shape, SHA-256 of the pixels, format
version). ``key`` hashes the list's content (paths and labels, in order) and what was stored
(``raw`` images for the training augmentation, or the output of the deterministic val transform
at a size), so a changed list or size builds a new cache. Reading is ``numpy.memmap`` of bytes
described by JSON: no pickle. Opening checks the size and the checksum: a truncated or changed
file is rebuilt, never read as wrong data. Builds take a file lock, so parallel runs of a benchmark
decode a split once. Where: ``ROOT/.array_cache/`` beside the data, or, when ROOT is not writable,
a folder of the user cache named by a hash of ROOT's absolute path.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from common.errors import DataError
from common.io import atomic_open, atomic_write_json

VERSION = 2  # 2: the checksum covers the shape too (a JSON with another shape of the same size is refused)
SUBDIR = ".array_cache"


class NotCacheable(Exception):
    """The split cannot be stored as one array (images of different sizes)."""


def cache_key(entries: Sequence[Tuple[str, int]], mode: str) -> str:
    h = hashlib.sha256(f"array-cache v{VERSION} {mode}\n".encode())
    for rel, label in entries:
        h.update(f"{rel}\t{label}\n".encode())
    return h.hexdigest()[:20]


def cache_folder(root: str) -> str:
    """``ROOT/.array_cache`` when it can be written, else a per-ROOT folder of the user cache."""
    here = os.path.join(root, SUBDIR)
    try:
        os.makedirs(here, exist_ok=True)
        if os.access(here, os.W_OK):
            return here
    except OSError:
        pass
    from dataset.demo import cache_dir
    tag = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:16]
    folder = os.path.join(cache_dir(), "array_cache", tag)
    os.makedirs(folder, exist_ok=True)
    return folder


def _checksum(array: np.ndarray) -> str:
    h = hashlib.sha256(f"{list(array.shape)}\n".encode())
    h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return h.hexdigest()


def _open_checked(base: str) -> Optional[np.ndarray]:
    """The cached array, or None when it is missing, truncated or not what its JSON says."""
    try:
        with open(base + ".json", encoding="utf-8") as f:
            meta = json.load(f)
        shape = tuple(int(s) for s in meta["shape"])
        if meta.get("version") != VERSION or len(shape) != 4:
            return None
        if os.path.getsize(base + ".u8") != int(np.prod(shape)):
            return None
        array = np.memmap(base + ".u8", dtype=np.uint8, mode="r", shape=shape)
        if _checksum(array) != meta["sha256"]:
            return None
        return array
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _decode(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im if im.mode == "L" else im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image file missing: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or unreadable image: {path} ({type(e).__name__})") from None


def decode_split(root: str, entries: Sequence[Tuple[str, int]],
                 transform: Optional[Callable[[Image.Image], "object"]] = None, progress=None) -> np.ndarray:
    """uint8 (N, C, H, W) of every entry (``transform``: PIL -> uint8 CHW tensor, else the image
    itself); C = 1 when all images are greyscale, else 3. NotCacheable for mixed sizes."""
    arrays: List[np.ndarray] = []
    grey = True
    items = progress(entries) if progress else entries
    for rel, _ in items:
        img = _decode(os.path.join(root, rel))
        grey = grey and img.mode == "L"
        if transform is not None:
            a = np.asarray(transform(img))
        else:
            a = np.asarray(img)
            a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        if arrays and a.shape[1:] != arrays[0].shape[1:]:
            raise NotCacheable(f"{rel}: {a.shape[1]}x{a.shape[2]} pixels, the first image "
                               f"{arrays[0].shape[1]}x{arrays[0].shape[2]}")
        arrays.append(a)
    if not arrays:
        raise DataError(f"{root}: no images in the list")
    if grey:
        return np.stack([a[:1] for a in arrays])
    return np.stack([np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays])


def load_or_build(root: str, split: str, entries: Sequence[Tuple[str, int]], mode: str,
                  transform: Optional[Callable] = None, log: Callable[[str], None] = print) -> np.ndarray:
    """The memory-mapped array of ``split`` (built first when missing or invalid)."""
    folder = cache_folder(root)
    base = os.path.join(folder, f"{mode}-{cache_key(entries, mode)}")  # equal lists share one cache
    array = _open_checked(base)
    if array is not None:
        return array
    with open(base + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same split
        array = _open_checked(base)
        if array is not None:
            return array
        if os.path.exists(base + ".json"):
            log(f"array cache {base}.u8: truncated or changed, rebuilding")
        log(f"array cache: decoding {len(entries)} images of '{split}' once into {base}.u8")
        data = decode_split(root, entries, transform)
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + ".json")  # the pixels change first, then the description
        with atomic_open(base + ".u8", "wb") as f:
            f.write(memoryview(np.ascontiguousarray(data)).cast("B"))
        atomic_write_json(base + ".json", {"version": VERSION, "split": split, "mode": mode,
                                           "shape": list(data.shape), "sha256": _checksum(data),
                                           "images": len(entries)})
    array = _open_checked(base)
    if array is None:
        raise DataError(f"array cache {base}.u8: unreadable right after writing it")
    return array
