"""Files: atomic writes (temp file in the same folder, fsync, rename; a crash leaves the old file) and
safe reads of weights/checkpoints (``torch.load(weights_only=True)``)."""
from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager

from common.errors import InputError


# a write that fails for these reasons names the file it was writing (not its temp file); the CLI guard
# turns them into one line (common.cli): a full disk can resume (75), a folder one cannot write is 2
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs):
    try:
        with _atomic_open(path, mode, **kwargs) as f:
            yield f
    except OSError as e:
        if e.errno in DISK_FULL + NOT_WRITABLE and e.filename != path:
            raise OSError(e.errno, e.strerror, path) from None
        raise


@contextmanager
def _atomic_open(path: str, mode: str = "w", **kwargs):
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


def recorded_path(path: str) -> str:
    """``path`` as a report records it: relative to the working directory when it lies under it, so
    results committed from one machine do not carry its folder layout; absolute otherwise."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return full if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def atomic_write_text(path: str, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def atomic_savefig(fig, path: str, dpi=None) -> str:
    """A matplotlib figure written atomically (temp file + rename); the figure is closed."""
    import matplotlib.pyplot as plt
    tmp = path + ".tmp" + os.path.splitext(path)[1]
    fig.savefig(tmp, **({"dpi": dpi} if dpi else {}))
    plt.close(fig)
    os.replace(tmp, path)
    return path


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


def load_state_into(module, state, where: str) -> None:
    """``module.load_state_dict(state)``, strict; weights of another network are an InputError naming
    ``where`` (a file) and the first mismatch, instead of a traceback."""
    if not isinstance(state, dict):
        raise InputError(f"{where}: not a state_dict ({type(state).__name__})")
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{where}: not this network's weights ({first[:160]})") from None


def strip_module_prefix(state_dict: dict) -> dict:
    """Accept checkpoints saved from DDP-wrapped models (keys prefixed ``module.``)."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict
