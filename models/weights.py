"""Pretrained-weights API in torchvision's style, kept apart from the architectures.

Each zoo model has a :class:`DenseNASWeights` enum (a ``torchvision.models.WeightsEnum``) whose
members carry ``url``, ``transforms`` (the evaluation preset) and ``meta`` (sha256, published
top-1, MACs, latency, source). ``get_state_dict`` downloads with the project's hash-checked
fetcher (``models.fetch.fetch``: full sha256, cached, no file left on a mismatch) and reads
with ``torch.load(weights_only=True)``; files in the original release's layout are mapped.
A member without a hosted file says so in one line instead of inventing one. User registries
(the ``--pretrained`` JSON) become members of the same type through :func:`registry_weights`.
"""
from __future__ import annotations

import functools
import os
from typing import Optional

from torchvision.models import Weights, WeightsEnum
from torchvision.transforms._presets import ImageClassification

from common.errors import InputError

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "densenas")
IMAGENET_EVAL = functools.partial(ImageClassification, crop_size=224, resize_size=256)
# The project's Fashion-MNIST evaluation (dataset.transforms.val_transform(32) + normalize_batch):
# resize to 36, centre crop 32, ImageNet mean/std; images as RGB (the grey channel repeated).
FASHION_MNIST_EVAL = functools.partial(ImageClassification, crop_size=32, resize_size=36)


class DenseNASWeights(WeightsEnum):
    """Base of the weights enums: hash-checked download, safe loading."""

    def get_state_dict(self, progress: bool = True, cache_dir: Optional[str] = None, **_) -> dict:
        if not self.url:
            raise InputError(f"{self!r}: no hosted weights file ({self.meta.get('weights', 'none registered')})")
        sha256 = self.meta.get("sha256")
        if not sha256:
            raise InputError(f"{self!r}: a weights url without a sha256 in meta is refused")
        from models.state_dict import read_state_dict
        from models.fetch import fetch
        folder = cache_dir or os.path.join(DEFAULT_CACHE, "weights")
        path = fetch(self.url, folder, sha256, f"{self.meta.get('name', self.name)}-{sha256[:12]}.pt", progress)
        return read_state_dict(path)


def _meta(name: str, published: dict, note: str) -> dict:
    from models.paper import PAPER
    return {"name": name, "sha256": None, "num_classes": 1000, "categories": None,
            "published_top1": published.get("top1"), "macs_m": published.get("macs_m"),
            "latency_ms_titanxp_b32": published.get("latency_ms"), "source": PAPER, "weights": note}


def trained_meta(entry) -> dict:
    """meta of a zoo entry whose weights this project trained (``models.fashion_mnist_nets``)."""
    meta = dict(entry.meta, name=entry.name, sha256=entry.weights_sha256)
    meta.update({"published_top1": entry.published.get("top1"), "macs_m": entry.published.get("macs_m"),
                 "latency_ms": entry.published.get("latency_ms")})
    return meta


def registry_weights(name: str, entry: dict) -> DenseNASWeights:
    """A user registry entry ({"weights_url", "weights_sha256", "net_config", ...}) as a member
    of a one-member weights enum of its own."""
    url, sha = entry.get("weights_url"), entry.get("weights_sha256")
    if url and not sha:
        raise InputError(f"registry entry {name}: weights_url without weights_sha256")
    meta = {"name": name, "sha256": sha, "num_classes": entry.get("num_classes", 1000),
            "net_config": entry.get("net_config"), "source": entry.get("source", "user registry"),
            "weights": "registry entry without weights_url" if not url else url}
    enum = DenseNASWeights(f"{name}_Weights", {"REGISTRY": Weights(url or "", IMAGENET_EVAL, meta)})
    return enum.REGISTRY
