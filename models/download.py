"""Hash-checked, cached downloads of zoo models (library side; ``python -m tools.download`` is the CLI).

The registry is ``models.zoo`` (name -> net_config, weights URL, sha256, metadata); an extra JSON
registry may add entries: {"name": {"net_config": "<text>", "weights_url": "...",
"weights_sha256": "...", "published": {...}}}. Files come through torch.hub's downloader.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional
from urllib.parse import urlparse

from engine.errors import InputError

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "densenas")


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


def registry(extra: Optional[str] = None) -> dict:
    from models.zoo import ZOO
    entries = {name: {"net_config": e.net_config_text, "weights_url": e.weights_url,
                      "weights_sha256": e.weights_sha256, "published": e.published} for name, e in ZOO.items()}
    if extra:
        try:
            with open(extra, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"registry {extra}: {e}") from None
        if not isinstance(data, dict):
            raise InputError(f"registry {extra}: expected a JSON object of name -> entry")
        entries.update(data)
    return entries


def download_model(name: str, out_dir: Optional[str] = None, extra_registry: Optional[str] = None,
                   require_weights: bool = True) -> str:
    """Write ``net_config`` (and ``weights.pt`` when the entry has weights) into a folder."""
    from engine.io import atomic_write_text
    from models.net_config import load_net_config
    reg = registry(extra_registry)
    if name not in reg:
        raise InputError(f"unknown model {name!r} (registry: {', '.join(sorted(reg))})")
    entry = reg[name]
    out_dir = out_dir or os.path.join(DEFAULT_CACHE, name)
    net_config = load_net_config(entry["net_config"])
    atomic_write_text(os.path.join(out_dir, "net_config"), net_config.to_text())
    from models.weights import registry_weights
    weights = registry_weights(name, entry)  # the same type as the zoo's weights enums
    if weights.url:
        fetch(weights.url, out_dir, weights.meta["sha256"], "weights.pt")
    elif require_weights:
        raise InputError(f"{name}: no weights are available for this model (net_config written to {out_dir})")
    return out_dir
