"""LMDB packing and reading.

Record format, version 1 (key = the image's relative path, UTF-8):

    b"DNR1" | label: int32 little-endian | encoded image bytes (JPEG/PNG as stored, or re-encoded
                                            JPEG quality 95 when the short side was resized)

A special key ``__meta__`` holds JSON: {"version": 1, "count": N, "split": ...}.
"""
from __future__ import annotations

import io
import json
import os
import struct
from typing import Callable, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError

from common.errors import DataError

MAGIC = b"DNR1"
META_KEY = b"__meta__"


def encode_record(label: int, image_bytes: bytes) -> bytes:
    return MAGIC + struct.pack("<i", label) + image_bytes


def decode_record(value: bytes, key: str = "?") -> Tuple[int, bytes]:
    if value[:4] != MAGIC:
        raise DataError(f"LMDB record {key!r}: unknown record format (expected {MAGIC!r} version tag)")
    return struct.unpack("<i", value[4:8])[0], value[8:]


def load_image_bytes(path: str, image_size: int = 0) -> bytes:
    """Bytes to store for one image; verifies it decodes. Resizes the short side when asked."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if image_size and min(im.size) > image_size:
                im = im.convert("RGB")
                w, h = im.size
                s = image_size / min(w, h)
                im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=95)
                data = buf.getvalue()
    except FileNotFoundError:
        raise DataError(f"image file missing: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"corrupt or unreadable image: {path} ({type(e).__name__})") from None
    return data


def pack_lmdb(root: str, entries: Sequence[Tuple[str, int]], out_path: str, split: str = "train",
              image_size: int = 0, skip_corrupt: bool = False,
              progress: Optional[Callable] = None) -> dict:
    """Write ``entries`` (relative path, label) from ``root`` into the LMDB at ``out_path``.
    Idempotent: keys already present are not rewritten. The map grows as needed."""
    import lmdb
    os.makedirs(out_path, exist_ok=True)
    release_env(out_path)
    map_size = 1 << 28
    env = lmdb.open(out_path, map_size=map_size, subdir=True, lock=True)
    skipped, written = [], 0
    try:
        with env.begin() as txn:
            existing = {k.decode() for k, _ in txn.cursor() if k != META_KEY} if txn.stat()["entries"] else set()
        batch = []

        def flush():
            nonlocal map_size
            while True:
                try:
                    with env.begin(write=True) as txn:
                        for k, v in batch:
                            txn.put(k, v)
                    return
                except lmdb.MapFullError:
                    map_size *= 2
                    env.set_mapsize(map_size)

        iterator = progress(entries) if progress else entries
        for rel, label in iterator:
            if rel in existing:
                continue
            try:
                data = load_image_bytes(os.path.join(root, rel), image_size)
            except DataError as e:
                if not skip_corrupt:
                    raise
                skipped.append(str(e))
                continue
            batch.append((rel.encode(), encode_record(label, data)))
            written += 1
            if len(batch) >= 256:
                flush()
                batch = []
        if batch:
            flush()
        wanted = {rel for rel, _ in entries}
        with env.begin() as txn:
            present = sum(1 for rel in wanted if txn.get(rel.encode()) is not None)
        meta = {"version": 1, "count": present, "split": split, "image_size": image_size}
        batch = [(META_KEY, json.dumps(meta).encode())]
        flush()
    finally:
        env.close()
    if present != len(wanted) - len(skipped):
        raise DataError(f"{out_path}: holds {present} of the {len(wanted)} listed images after packing")
    return {"written": written, "count": present, "skipped": skipped}


_ENVS = {}  # (pid, path) -> environment; py-lmdb allows one environment per path and process


def _shared_env(path: str):
    key = (os.getpid(), os.path.realpath(path))
    env = _ENVS.get(key)
    if env is None:
        import lmdb
        for k in [k for k in _ENVS if k[0] != key[0]]:  # inherited through fork: never reuse
            del _ENVS[k]
        env = _ENVS[key] = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False,
                                     subdir=True, max_readers=256)
    return env


def release_env(path: str) -> None:
    """Close this process's read environment of ``path`` (before writing to it, say)."""
    env = _ENVS.pop((os.getpid(), os.path.realpath(path)), None)
    if env is not None:
        env.close()


class LMDBReader:
    """Read-only, lock-free LMDB access, opened lazily in each process (fork-safe) and shared by
    the readers of one path in that process."""

    def __init__(self, path: str):
        if not os.path.isdir(path) or not os.path.isfile(os.path.join(path, "data.mdb")):
            raise DataError(f"{path}: not an LMDB folder (no data.mdb)")
        self.path = path

    def get(self, key: str) -> Tuple[int, bytes]:
        with _shared_env(self.path).begin(buffers=False) as txn:
            value = txn.get(key.encode())
        if value is None:
            raise DataError(f"{self.path}: no record for key {key!r}")
        return decode_record(value, key)

    def keys(self):
        with _shared_env(self.path).begin() as txn:
            return [k.decode() for k, _ in txn.cursor() if k != META_KEY]

    def close(self):
        release_env(self.path)
