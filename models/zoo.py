"""DenseNAS model zoo: the searched architectures of the paper and their published figures.

Kept apart from the architecture code, like torchvision's weights API: each entry names a
net_config and, where they exist, weights (URL + sha256). The original release's weights are
hosted where this project cannot reach, so the paper's entries carry no weights; the Fashion-MNIST
nets trained here (``models.fashion_mnist_nets``) carry package weights files. ``models.download``
fetches any registered file with hash checking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from models.fashion_mnist_nets import FASHION_MNIST_META, FASHION_MNIST_NETS
from models.net_config import NetConfig, parse_text
from models.paper import PAPER, PAPER_NETS

# Weights files that ship with the package; their URL is a file:// URL, fetched like any other.
WEIGHTS_DIR = Path(__file__).resolve().with_name("zoo_weights")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    net_config_text: str
    published: Dict[str, float]  # macs_m, latency_ms (paper: TITAN-XP, batch 32; others: meta), top1
    weights_url: Optional[str] = None
    weights_sha256: Optional[str] = None
    meta: Dict[str, str] = field(default_factory=dict)

    @property
    def net_config(self) -> NetConfig:
        return parse_text(self.net_config_text)


    @property
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes", 1000))

    @property
    def input_size(self) -> int:
        return int(self.meta.get("input_size", 224))


def _fashion_mnist_entry(name: str, spec: dict) -> ZooEntry:
    meta = dict(FASHION_MNIST_META, **{k: v for k, v in spec.items() if k not in ("net_config", "published")})
    return ZooEntry(name, spec["net_config"], spec["published"], (WEIGHTS_DIR / spec["weights_file"]).as_uri(),
                    spec["sha256"], meta)


ZOO: Dict[str, ZooEntry] = {name: ZooEntry(name, text, published, meta={"source": PAPER})
                           for name, (text, published) in PAPER_NETS.items()}
ZOO.update({name: _fashion_mnist_entry(name, spec) for name, spec in FASHION_MNIST_NETS.items()})


def get(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        from common.errors import InputError
        raise InputError(f"unknown model {name!r} (zoo: {', '.join(ZOO)})") from None


# -- weights enums (torchvision style) ---------------------------------------------------------
from models.weights import FASHION_MNIST_EVAL, IMAGENET_EVAL, DenseNASWeights, Weights, _meta, trained_meta  # noqa: E402

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


def _trained(name: str) -> Weights:
    return Weights(ZOO[name].weights_url, FASHION_MNIST_EVAL, trained_meta(ZOO[name]))


class FMNIST_1p5ms_Uniform_K5_T6_Weights(DenseNASWeights):
    FASHION_MNIST_LONG = _trained("fmnist_1p5ms_uniform_k5_t6")
    DEFAULT = FASHION_MNIST_LONG


class FMNIST_1p5ms_Searched_Ada1630a_Weights(DenseNASWeights):
    FASHION_MNIST_LONG = _trained("fmnist_1p5ms_searched_ada1630a")
    DEFAULT = FASHION_MNIST_LONG


WEIGHTS = {"densenas_a": DenseNAS_A_Weights, "densenas_b": DenseNAS_B_Weights, "densenas_c": DenseNAS_C_Weights,
           "fmnist_1p5ms_uniform_k5_t6": FMNIST_1p5ms_Uniform_K5_T6_Weights,
           "fmnist_1p5ms_searched_ada1630a": FMNIST_1p5ms_Searched_Ada1630a_Weights}


def _build(name: str, weights, progress: bool, num_classes: Optional[int], **kwargs):
    """Build zoo model ``name``; ``weights``: None, "DEFAULT", a member name, or a weights member
    (of this model's enum or of a user registry)."""
    from models.state_dict import load_weights
    from models.densenas import build_model
    if weights is not None and not isinstance(weights, DenseNASWeights):
        weights = WEIGHTS[name].verify(weights)
    if weights is not None:
        state = weights.get_state_dict(progress=progress)
        expected = weights.meta.get("num_classes") or ZOO[name].num_classes
        if num_classes is not None and num_classes != expected:
            raise ValueError(f"{weights!r} has {expected} classes; num_classes={num_classes} does not match "
                             "(build without weights, then reset_classifier)")
        model = build_model(ZOO[name].net_config, num_classes=expected, **kwargs)
        load_weights(model, repr(weights), state)
        return model
    return build_model(ZOO[name].net_config, num_classes=ZOO[name].num_classes if num_classes is None else num_classes,
                       **kwargs)


def densenas_a(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-A (251M MACs, 73.1% published top-1). ``weights``: see :class:`DenseNAS_A_Weights`."""
    return _build("densenas_a", weights, progress, num_classes, **kwargs)


def densenas_b(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-B (314M MACs, 74.6% published top-1). ``weights``: see :class:`DenseNAS_B_Weights`."""
    return _build("densenas_b", weights, progress, num_classes, **kwargs)


def densenas_c(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """DenseNAS-C (361M MACs, 75.3% published top-1). ``weights``: see :class:`DenseNAS_C_Weights`."""
    return _build("densenas_c", weights, progress, num_classes, **kwargs)


def fmnist_1p5ms_uniform_k5_t6(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """The 1.5 ms Fashion-MNIST window's best hand-designed net (uniform mbconv_k5_t6; 8.4M MACs at
    32 px, 10 classes). ``weights``: see :class:`FMNIST_1p5ms_Uniform_K5_T6_Weights` (90.26% test top-1)."""
    return _build("fmnist_1p5ms_uniform_k5_t6", weights, progress, num_classes, **kwargs)


def fmnist_1p5ms_searched_ada1630a(weights=None, progress: bool = True, num_classes: Optional[int] = None, **kwargs):
    """The 1.5 ms Fashion-MNIST window's best net by val at the long recipe, found by a ``densenas`` +
    ``sandwich`` search (6.8M MACs at 32 px, 10 classes). ``weights``: see
    :class:`FMNIST_1p5ms_Searched_Ada1630a_Weights` (89.76% test top-1)."""
    return _build("fmnist_1p5ms_searched_ada1630a", weights, progress, num_classes, **kwargs)


_BUILDERS = {"densenas_a": densenas_a, "densenas_b": densenas_b, "densenas_c": densenas_c,
             "fmnist_1p5ms_uniform_k5_t6": fmnist_1p5ms_uniform_k5_t6,
             "fmnist_1p5ms_searched_ada1630a": fmnist_1p5ms_searched_ada1630a}


def list_models():
    return sorted(_BUILDERS)


def get_model(name: str, **kwargs):
    """Build a zoo model by name (``weights=``, ``num_classes=`` ... as its builder)."""
    get(name)
    return _BUILDERS[name](**kwargs)


def get_model_weights(name: str):
    get(name)
    return WEIGHTS[name]
