"""Loading weights into a derived network: weights_only, DDP prefixes, the original release's
layout (see ``models.original_layout``), clear key/shape errors."""
from __future__ import annotations

from common.io import load_file, strip_module_prefix
from common.errors import InputError


def read_state_dict(path: str) -> dict:
    state = load_file(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # a training checkpoint
        state = state["model"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise InputError(f"{path}: not a state_dict of tensors")
    state = strip_module_prefix(state)
    from models.original_layout import from_original_layout, is_original_layout
    if is_original_layout(state):  # weights.pt of the original release: rename by structure
        state = from_original_layout(state)
    return state


def _name(state: dict, key: str) -> str:
    """A key as the file names it (original-layout files: the original name too)."""
    original = getattr(state, "original_names", {}).get(key)
    return f"{key} ({original} in the original layout)" if original else key


def num_classes_of(state: dict, default: int = 1000) -> int:
    w = state.get("classifier.weight")
    return int(w.shape[0]) if w is not None else default


def load_weights(model, path: str, state: dict = None) -> None:
    """Strict load of ``path`` (or of ``state``, already read from it); missing/unexpected keys
    and shape mismatches are listed by name."""
    state = read_state_dict(path) if state is None else state
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        def show(keys):
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show([_name(state, k) for k in unexpected])}")
        raise InputError(f"{path} does not match the net_config: " + "; ".join(parts))
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise InputError(f"{path} does not match the net_config: layer {_name(state, k)} has shape "
                             f"{tuple(state[k].shape)} in the file, {tuple(v.shape)} in the network")
    model.load_state_dict(state, strict=True)
