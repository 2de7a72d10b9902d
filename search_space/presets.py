"""Search configs for other input sizes and datasets, derived from the paper's spaces.

The paper's spaces are laid out for 224 px inputs (feature maps 112 .. 7). For an input of S px
the stem gives S/2; of the paper's halvings after the stem, only as many are kept as fit above
``min_fm``: the **last** ones (``drop="early"``, default: small images keep their resolution
through the early blocks, as CIFAR networks do) or the first ones (``drop="late"``). Widths,
stages, routes and layer counts of the paper's space stay; only the resolution schedule changes.
"""
from __future__ import annotations

import copy

import yaml

from common.errors import InputError

PRESETS = {"mbv2": "imagenet_search_cfg_mbv2.yaml", "resnet": "imagenet_search_cfg_resnet.yaml"}


def scaled_fm_sizes(fm_sizes, input_size: int, min_fm: int, drop: str = "early"):
    if input_size % 2:
        raise InputError(f"--input_size {input_size}: must be even (the stem halves it)")
    if drop not in ("early", "late"):
        raise InputError(f"--drop must be early or late, got {drop!r}")
    halvings = [i for i in range(1, len(fm_sizes)) if fm_sizes[i] * 2 == fm_sizes[i - 1]]
    size, room = input_size // 2, 0
    while size % 2 == 0 and size // 2 >= min_fm and room < len(halvings):
        size, room = size // 2, room + 1
    keep = set(halvings[len(halvings) - room:] if drop == "early" else halvings[:room])
    out = [input_size // 2]
    for i in range(1, len(fm_sizes)):
        out.append(out[-1] // 2 if i in keep else out[-1])
    return out


def make_search_config(preset: str, input_size: int, num_classes: int, min_fm: int = 4,
                       dataset: str = "custom", batch_size: int = 0, drop: str = "early") -> dict:
    """A search config (plain dict, the YAML to write) for ``preset`` at ``input_size``."""
    import os
    from configs import CONFIG_DIR
    if preset not in PRESETS:
        raise InputError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if min_fm < 1:
        raise InputError(f"--min_fm must be >= 1, got {min_fm}")
    with open(os.path.join(CONFIG_DIR, PRESETS[preset]), encoding="utf-8") as f:
        cfg = copy.deepcopy(yaml.safe_load(f))
    scale = cfg["search_params"]["net_scale"]
    scale["fm_sizes"] = scaled_fm_sizes(scale["fm_sizes"], input_size, min_fm, drop)
    data = cfg.setdefault("data", {})
    data.update(dataset=dataset, input_size=input_size, num_classes=num_classes)
    if batch_size:
        data["batch_size"] = batch_size
    # No latency table exists for the new resolution yet: search with FLOPs until one is measured.
    cfg["optim"]["sub_obj"].update(type="flops", latency_list_path="")
    return cfg


def config_text(cfg: dict, header: str) -> str:
    lines = "".join(f"# {line}\n" for line in header.splitlines())
    return lines + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=110)
