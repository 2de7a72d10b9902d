"""State dicts in the original DenseNAS release's layout -> this project's layout.

The original's derived networks name their parts ``input_block``, ``blocks.i.head_layer``,
``blocks.i.stack_layers.l``, ``conv1_1_block.conv1_1``; inside an op, MBConvs have
``_expand_conv`` / ``_depthwise_conv`` / ``_project_conv`` and ResNet blocks ``conv1``, ``bn1``,
... ``downsample``. Here the same network is ``stem``, ``blocks.i.0`` (head), ``blocks.i.{l+1}``
(stack), ``last_conv`` and ``body.j`` / ``shortcut`` inside ops (see ``models.operations``).
The mapping follows that structure key by key; shapes are checked when the result is loaded.
"""
from __future__ import annotations

import re
from typing import Dict

from common.errors import InputError

_BLOCK = re.compile(r"^blocks\.(\d+)\.(?:head_layer|stack_layers\.(\d+))\.(.+)$")
# ResNet ops: index of each named layer in the project's ``body`` Sequential (ReLUs in between).
_RES_LAYERS = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4, "conv3": 6, "bn3": 7}


class ConvertedState(dict):
    """A converted state dict that remembers the original name of every key (for messages)."""
    original_names: Dict[str, str]


def is_original_layout(state: dict) -> bool:
    return any(k.startswith(("input_block.", "conv1_1_block.")) or ".head_layer." in k for k in state)


def _op_key(prefix: str, rest: str, state: dict, key: str) -> str:
    """Project key of ``rest`` inside the op whose original keys start with ``prefix``."""
    part, _, tail = rest.partition(".")
    if part in ("_expand_conv", "_depthwise_conv", "_project_conv"):
        expands = f"{prefix}_expand_conv.0.weight" in state  # t=1 ops have no expansion conv
        index = {"_expand_conv": 0, "_depthwise_conv": int(expands), "_project_conv": int(expands) + 1}[part]
        return f"body.{index}.{tail}"
    if part in _RES_LAYERS:
        return f"body.{_RES_LAYERS[part]}.{tail}"
    if part == "downsample":
        return f"shortcut.{tail}"
    raise InputError(f"weights in the original layout: unknown layer {key}")


def from_original_layout(state: dict) -> ConvertedState:
    """Rename every key of an original-layout state dict (``module.`` already stripped)."""
    out = ConvertedState()
    out.original_names = {}
    for key, value in state.items():
        m = _BLOCK.match(key)
        if m:
            block, layer, rest = m.group(1), m.group(2), m.group(3)
            position = 0 if layer is None else int(layer) + 1
            prefix = key[:len(key) - len(rest)]
            new = f"blocks.{block}.{position}.{_op_key(prefix, rest, state, key)}"
        elif key.startswith("input_block."):
            new = "stem." + key[len("input_block."):]
        elif key.startswith("conv1_1_block.conv1_1."):
            new = "last_conv." + key[len("conv1_1_block.conv1_1."):]
        elif key.startswith("classifier."):
            new = key
        else:
            raise InputError(f"weights in the original layout: unknown layer {key}")
        out[new] = value
        out.original_names[new] = key
    return out
