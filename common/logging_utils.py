"""Run folders, text logs and TensorBoard (all written by rank 0 only)."""
from __future__ import annotations

import datetime
import logging
import os
import sys
import time
from typing import Callable, Optional

from common.errors import InputError


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

    def figure(self, tag, fig, step):
        """A matplotlib figure as an image (closed afterwards)."""
        if self.writer is not None:
            self.writer.add_figure(tag, fig, step, close=True)
        else:
            import matplotlib.pyplot as plt
            plt.close(fig)

    def text(self, tag, text, step):
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def hparams(self, hparams: dict, metrics: dict):
        """Hyper-parameters + final metrics in this run's own folder (no side runs)."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams as hp_summary
        exp, ssi, sei = hp_summary(hparams, metrics)
        fw = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            fw.add_summary(summary)
        for k, v in metrics.items():
            self.writer.add_scalar(k, v)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def flat_hparams(cfg) -> dict:
    """Flat scalar hyper-parameters of a config (``optim.weight.init_lr`` ...) for TensorBoard."""
    out = {}

    def walk(node, prefix):
        for k, v in node.items():
            if k.startswith("_"):
                continue
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif isinstance(v, (int, float, str, bool)):
                out[prefix + k] = v
    walk(cfg, "")
    return out


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class RunClock:
    """Steps planned for a whole run (this invocation) and done so far: the run's ETA."""

    def __init__(self, total_steps: int):
        self.total, self.done, self.start = max(1, total_steps), 0, time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def eta(self) -> Optional[float]:
        if self.done == 0:
            return None
        return (time.monotonic() - self.start) / self.done * max(0, self.total - self.done)


def _batch_len(item) -> int:
    first = item[0] if isinstance(item, (tuple, list)) and item else item
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 1


class Progress:
    """Progress of one phase. On an interactive terminal: a tqdm bar. Otherwise (a log file, a
    SLURM/nohup job): a line every ``interval`` steps and at least every ``min_seconds``, with
    step/total, the metrics given to :meth:`set_postfix`, images/s, the share of time spent
    waiting for data, and the ETA of the phase and of the run (``clock``)."""

    def __init__(self, iterable, desc: str, total: Optional[int] = None, enabled: bool = True,
                 interval: int = 50, emit: Optional[Callable[[str], None]] = None, clock: Optional[RunClock] = None,
                 min_seconds: float = 60.0, unit: str = "img"):
        self.iterable, self.desc, self.enabled = iterable, desc, enabled
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.interval, self.min_seconds, self.clock, self.unit = max(1, interval), min_seconds, clock, unit
        self.emit = emit or (lambda line: print(line, file=sys.stderr, flush=True))
        self.tty = sys.stderr.isatty()
        self.metrics = {}
        self.step = self.items = 0
        self.wait = 0.0
        self.start = self.last_line = time.monotonic()
        self.bar = None
        if enabled and self.tty:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc=desc, leave=False, dynamic_ncols=True)

    def set_postfix(self, **metrics) -> None:
        self.metrics.update(metrics)
        if self.bar is not None:
            self.bar.set_postfix({k: _fmt(v) for k, v in metrics.items()}, refresh=False)

    def __iter__(self):
        it = iter(self.iterable)
        try:
            while True:
                t0 = time.monotonic()
                try:
                    item = next(it)
                except StopIteration:
                    return
                self.wait += time.monotonic() - t0
                yield item
                self.step += 1
                self.items += _batch_len(item)
                if self.clock is not None:
                    self.clock.advance()
                if self.bar is not None:
                    self.bar.update()
                elif self.enabled and self._due():
                    self.emit(self.line())
        finally:
            if self.bar is not None:
                self.bar.close()

    def _due(self) -> bool:
        now = time.monotonic()
        return (self.step % self.interval == 0 or now - self.last_line >= self.min_seconds
                or (self.total is not None and self.step == self.total))

    def throughput(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.items / elapsed if elapsed > 0 else 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def line(self) -> str:
        now = time.monotonic()
        self.last_line = now
        elapsed = now - self.start
        total = f"/{self.total}" if self.total else ""
        pct = f" ({100 * self.step / self.total:.0f}%)" if self.total else ""
        parts = [f"{self.desc} {self.step}{total}{pct}"]
        if self.metrics:
            parts.append(" ".join(f"{k} {_fmt(v)}" for k, v in self.metrics.items()))
        speed = self.items / elapsed if elapsed > 0 else 0.0
        parts.append(f"{speed:.1f} {self.unit}/s, data wait {100 * self.wait / elapsed if elapsed > 0 else 0:.0f}%")
        eta = []
        if self.total and self.step:
            eta.append(f"phase {format_duration(elapsed / self.step * (self.total - self.step))}")
        run_eta = self.clock.eta() if self.clock is not None else None
        if run_eta is not None:
            eta.append(f"run {format_duration(run_eta)}")
        if eta:
            parts.append("ETA " + ", ".join(eta))
        return " | ".join(parts)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def progress(iterable, desc: str, total: Optional[int] = None, enabled: bool = True, **kwargs) -> Progress:
    """See :class:`Progress` (a tqdm bar on a terminal, periodic lines otherwise)."""
    return Progress(iterable, desc, total=total, enabled=enabled, **kwargs)
