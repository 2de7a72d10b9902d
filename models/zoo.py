"""DenseNAS model zoo: the searched architectures of the paper and their published figures.

Kept apart from the architecture code, like torchvision's weights API: each entry names a
net_config and, where they exist, weights (URL + sha256). The original release's weights are
hosted where this project cannot reach, so the entries below carry no weights yet; see
``tools.download`` for fetching any registered file with hash checking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from models.net_config import NetConfig, parse_text

PAPER = "Fang et al., Densely Connected Search Space for More Flexible Neural Architecture Search, CVPR 2020"


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


_A = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t3',[],0,2] | "
      "[[24,48],'mbconv_k7_t6',['mbconv_k7_t3'],1,2] | [[48,72],'mbconv_k5_t6',['mbconv_k3_t3','mbconv_k5_t3'],2,2] | "
      "[[72,128],'mbconv_k3_t3',['mbconv_k3_t3'],1,1] | "
      "[[128,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t3','mbconv_k3_t6'],3,2] | "
      "[[176,384],'mbconv_k5_t6',[],0,1] | [[384,1984],'conv1_1']\nnet_type: mbv2")
_B = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t6',[],0,2] | "
      "[[24,48],'mbconv_k5_t3',['mbconv_k3_t3','mbconv_k3_t3'],2,2] | "
      "[[48,72],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k5_t3'],2,2] | [[72,128],'mbconv_k3_t6',['mbconv_k3_t3'],1,1] | "
      "[[128,160],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k5_t6','mbconv_k5_t3'],3,2] | "
      "[[160,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t6'],2,1] | [[176,384],'mbconv_k7_t6',[],0,1] | "
      "[[384,1984],'conv1_1']\nnet_type: mbv2")
_C = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t6',[],0,2] | "
      "[[24,48],'mbconv_k7_t6',['mbconv_k3_t3'],1,2] | [[48,72],'mbconv_k5_t6',['mbconv_k3_t6','mbconv_k3_t3'],2,2] | "
      "[[72,128],'mbconv_k3_t6',['mbconv_k3_t3','mbconv_k3_t3'],2,1] | "
      "[[128,160],'mbconv_k3_t6',['mbconv_k7_t3','mbconv_k5_t6','mbconv_k7_t3'],3,2] | "
      "[[160,176],'mbconv_k3_t3',['mbconv_k3_t6','mbconv_k3_t6','mbconv_k3_t6'],3,1] | "
      "[[176,384],'mbconv_k7_t6',[],0,1] | [[384,1984],'conv1_1']\nnet_type: mbv2")

ZOO: Dict[str, ZooEntry] = {
    "densenas_a": ZooEntry("densenas_a", _A, {"macs_m": 251, "latency_ms": 13.6, "top1": 73.1},
                           meta={"source": PAPER}),
    "densenas_b": ZooEntry("densenas_b", _B, {"macs_m": 314, "latency_ms": 15.4, "top1": 74.6},
                           meta={"source": PAPER}),
    "densenas_c": ZooEntry("densenas_c", _C, {"macs_m": 361, "latency_ms": 17.9, "top1": 75.3},
                           meta={"source": PAPER}),
}


def get(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        from engine.errors import InputError
        raise InputError(f"unknown model {name!r} (zoo: {', '.join(ZOO)})") from None


def densenas_a(num_classes: int = 1000):
    from models.densenas import build_model
    return build_model(ZOO["densenas_a"].net_config, num_classes)


def densenas_b(num_classes: int = 1000):
    from models.densenas import build_model
    return build_model(ZOO["densenas_b"].net_config, num_classes)


def densenas_c(num_classes: int = 1000):
    from models.densenas import build_model
    return build_model(ZOO["densenas_c"].net_config, num_classes)
