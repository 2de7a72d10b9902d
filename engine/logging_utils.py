"""Run folders, text logs and TensorBoard (all written by rank 0 only)."""
from __future__ import annotations

import datetime
import logging
import os
import sys
from typing import Optional

from engine.errors import InputError


def make_run_dir(parent: str, name: str, resume: Optional[str] = None) -> str:
    """A new time-stamped run folder under ``parent`` (or ``resume`` itself). Checks it is writable."""
    path = resume
    if path is None:
        base = os.path.join(parent, f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        path, n = base, 1
        while os.path.exists(path):  # two runs started in the same second
            path, n = f"{base}-{n}", n + 1
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise InputError(f"--save {parent}: cannot write run folder {path} ({e.strerror})") from None
    return path


def get_logger(run_dir: Optional[str], is_main: bool = True, console: bool = True,
               name: str = "densenas") -> logging.Logger:
    """Rank 0 logs to ``run_dir/log.txt`` and (unless ``console`` is off) to stdout."""
    logger = logging.getLogger(f"{name}.{run_dir}")
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    if not logger.handlers:
        fmt = logging.Formatter("%(asctime)s %(message)s", "%m-%d %H:%M:%S")
        if console or not is_main:
            h = logging.StreamHandler(sys.stdout)
            h.setFormatter(fmt)
            logger.addHandler(h)
        if run_dir and is_main:
            fh = logging.FileHandler(os.path.join(run_dir, "log.txt"))
            fh.setFormatter(fmt)
            logger.addHandler(fh)
    return logger


class TensorBoard:
    """SummaryWriter on rank 0, silent elsewhere."""

    def __init__(self, run_dir: str, is_main: bool = True):
        self.writer = None
        if is_main:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(os.path.join(run_dir, "tb"))

    def scalar(self, tag, value, step):
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def scalars(self, tag, mapping, step):
        if self.writer is not None:
            self.writer.add_scalars(tag, mapping, step)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def progress(iterable, desc: str, total: Optional[int] = None, enabled: bool = True):
    """tqdm progress bar on an interactive terminal (rank 0), plain iteration otherwise."""
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True,
                disable=not (enabled and sys.stderr.isatty()))
