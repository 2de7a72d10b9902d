"""Files: atomic writes (temp file in the same folder, fsync, rename; a crash leaves the old file) and
safe reads of weights/checkpoints (``torch.load(weights_only=True)``)."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager

from common.errors import InputError


@contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def atomic_torch_save(obj, path: str) -> None:
    import torch
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def load_file(path: str, map_location="cpu") -> dict:
    """torch.load with weights_only=True; a corrupt or foreign file is an InputError."""
    import torch
    if not os.path.isfile(path):
        raise InputError(f"file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot load {path}: not a valid weights/checkpoint file ({first[:160]})") from None


def strip_module_prefix(state_dict: dict) -> dict:
    """Accept checkpoints saved from DDP-wrapped models (keys prefixed ``module.``)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict
