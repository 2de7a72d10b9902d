"""Hash-checked, cached downloads of zoo models (library side; ``python -m tools.download`` is the CLI).

The registry is ``models.zoo`` (name -> net_config, weights URL, sha256, metadata); an extra JSON
registry may add entries: {"name": {"net_config": "<text>", "weights_url": "...",
"weights_sha256": "...", "published": {...}, "config": "<train config, for validation>"}}.
Files come through torch.hub's downloader (``file://`` URLs too: the package's own weights).
"""
from __future__ import annotations

import json
import os
from typing import Optional

from common.errors import InputError
from models.fetch import HashMismatchError, fetch, sha256_of  # noqa: F401 (re-exported)

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "densenas")


def registry(extra: Optional[str] = None) -> dict:
    from models.zoo import ZOO
    entries = {name: {"net_config": e.net_config_text, "weights_url": e.weights_url,
                      "weights_sha256": e.weights_sha256, "published": e.published, "num_classes": e.num_classes,
                      **({"config": e.meta["config"]} if "config" in e.meta else {})} for name, e in ZOO.items()}
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
    from common.io import atomic_write_text
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
