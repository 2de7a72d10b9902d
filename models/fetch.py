"""Hash-checked, cached file downloads (torch.hub's downloader, full sha256; no file is left behind
on a mismatch). Used by the weights API and by ``models.download``."""
from __future__ import annotations

import hashlib
import os
from typing import Optional
from urllib.parse import urlparse

from common.errors import InputError


class HashMismatchError(InputError):
    """Downloaded bytes do not have the registered sha256."""


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest_dir: str, sha256: str, filename: Optional[str] = None, progress: bool = False) -> str:
    """Download ``url`` into ``dest_dir`` (cached: a file with the right hash is reused).
    A hash mismatch raises HashMismatchError (a ValueError) and leaves no file behind."""
    import torch.hub
    sha256 = sha256.lower()
    os.makedirs(dest_dir, exist_ok=True)
    name = filename or os.path.basename(urlparse(url).path) or "download"
    dst = os.path.join(dest_dir, name)
    if os.path.isfile(dst):
        if sha256_of(dst) == sha256:
            return dst
        os.remove(dst)
    try:
        torch.hub.download_url_to_file(url, dst, hash_prefix=sha256, progress=progress)
    except RuntimeError as e:
        if os.path.exists(dst):
            os.remove(dst)
        if "invalid hash value" in str(e):
            raise HashMismatchError(f"{url}: sha256 does not match the registry ({sha256[:12]}...); "
                                    "file removed") from None
        raise InputError(f"download of {url} failed: {e}") from None
    except OSError as e:
        raise InputError(f"download of {url} failed: {e}") from None
    return dst
