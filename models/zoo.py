"""DenseNAS model zoo: the searched architectures of the paper and their published figures.

Kept apart from the architecture code, like torchvision's weights API: each entry names a
net_config and, where they exist, weights (URL + sha256). The original release's weights are
hosted where this project cannot reach, so the entries below carry no weights yet; see
``models.download`` for fetching any registered file with hash checking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from models.net_config import NetConfig, parse_text
from models.paper import PAPER, PAPER_NETS


@dataclass(frozen=True)
class ZooEntry:
    name: str
    net_config_text: str
    published: Dict[str, float]  # macs_m, latency_ms (TITAN-XP, batch 32), top1
    weights_url: Optional[str] = None
    weights_sha256: Optional[str] = None
    meta: Dict[str, str] = field(default_factory=dict)

    @property
    def net_config(self) -> NetConfig:
        return parse_text(self.net_config_text)


ZOO: Dict[str, ZooEntry] = {name: ZooEntry(name, text, published, meta={"source": PAPER})
                           for name, (text, published) in PAPER_NETS.items()}


def get(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        from common.errors import InputError
        raise InputError(f"unknown model {name!r} (zoo: {', '.join(ZOO)})") from None


# -- weights enums (torchvision style) ---------------------------------------------------------
from models.weights import IMAGENET_EVAL, DenseNASWeights, Weights, _meta  # noqa: E402

_NOT_HOSTED = ("the original release's ImageNet weights are not mirrored where this project can fetch "
               "them; load a downloaded weights.pt with models.load_weights or tools.convert_weights")


class DenseNAS_A_Weights(DenseNASWeights):
    IMAGENET1K_ORIGINAL = Weights("", IMAGENET_EVAL, _meta("densenas_a", ZOO["densenas_a"].published, _NOT_HOSTED))
    DEFAULT = IMAGENET1K_ORIGINAL


class DenseNAS_B_Weights(DenseNASWeights):
    IMAGENET1K_ORIGINAL = Weights("", IMAGENET_EVAL, _meta("densenas_b", ZOO["densenas_b"].published, _NOT_HOSTED))
    DEFAULT = IMAGENET1K_ORIGINAL


class DenseNAS_C_Weights(DenseNASWeights):
    IMAGENET1K_ORIGINAL = Weights("", IMAGENET_EVAL, _meta("densenas_c", ZOO["densenas_c"].published, _NOT_HOSTED))
    DEFAULT = IMAGENET1K_ORIGINAL


WEIGHTS = {"densenas_a": DenseNAS_A_Weights, "densenas_b": DenseNAS_B_Weights, "densenas_c": DenseNAS_C_Weights}


def _build(name: str, weights, progress: bool, num_classes: Optional[int], **kwargs):
    """Build zoo model ``name``; ``weights``: None, "DEFAULT", a member name, or a weights member
    (of this model's enum or of a user registry)."""
    from models.state_dict import load_weights
    from models.densenas import build_model
    if weights is not None and not isinstance(weights, DenseNASWeights):
        weights = WEIGHTS[name].verify(weights)
    if weights is not None:
        state = weights.get_state_dict(progress=progress)
        expected = weights.meta.get("num_classes") or 1000
        if num_classes is not None and num_classes != expected:
            raise ValueError(f"{weights!r} has {expected} classes; num_classes={num_classes} does not match "
                             "(build without weights, then reset_classifier)")
        model = build_model(ZOO[name].net_config, num_classes=expected, **kwargs)
        load_weights(model, repr(weights), state)
        return model
    return build_model(ZOO[name].net_config, num_classes=1000 if num_classes is None else num_classes, **kwargs)


def densenas_a(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-A (251M MACs, 73.1% published top-1). ``weights``: see :class:`DenseNAS_A_Weights`."""
    return _build("densenas_a", weights, progress, num_classes, **kwargs)


def densenas_b(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-B (314M MACs, 74.6% published top-1). ``weights``: see :class:`DenseNAS_B_Weights`."""
    return _build("densenas_b", weights, progress, num_classes, **kwargs)


def densenas_c(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-C (361M MACs, 75.3% published top-1). ``weights``: see :class:`DenseNAS_C_Weights`."""
    return _build("densenas_c", weights, progress, num_classes, **kwargs)


_BUILDERS = {"densenas_a": densenas_a, "densenas_b": densenas_b, "densenas_c": densenas_c}


def list_models():
    return sorted(_BUILDERS)


def get_model(name: str, **kwargs):
    """Build a zoo model by name (``weights=``, ``num_classes=`` ... as its builder)."""
    get(name)
    return _BUILDERS[name](**kwargs)


def get_model_weights(name: str):
    get(name)
    return WEIGHTS[name]
