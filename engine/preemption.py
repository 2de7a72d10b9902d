"""Preemption-safe runs: SIGTERM / SIGUSR1 (cluster preemption, ``scancel``, a torchrun agent
stopping) end a run at a step boundary with a step-level checkpoint instead of killing it.

The handler only records the signal; the training loops ask :meth:`StopRequest.requested` after
every optimizer step (all ranks agree through an all-reduce, so every rank stops at the same step),
write the checkpoint (rank 0, atomically) and raise :class:`Preempted`; the CLI prints one line
and exits with :data:`PREEMPTED_EXIT_CODE`. Further signals while the checkpoint is written are
recorded and ignored, so they cannot interrupt the write.
"""
from __future__ import annotations

import signal
import threading
from typing import Optional

import torch

from common.errors import PREEMPTED_EXIT_CODE, Preempted  # noqa: F401  (re-exported: the run loops raise it)

SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s is not None)


class StopRequest:
    """Context manager installing the handlers (main thread only; elsewhere it stays inert)."""

    def __init__(self, signals=SIGNALS):
        self.signals, self.signum, self._old = signals, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}
        return False

    def _handler(self, signum, frame):
        if self.signum is None:  # later signals (e.g. while the checkpoint is written) are ignored
            self.signum = signum

    def requested(self, info=None, device=None) -> Optional[str]:
        """The name of the signal that asks to stop (any rank's), or None; the same answer on every rank."""
        local = self.signum or 0
        if info is not None and info.enabled:
            import torch.distributed as dist
            flag = torch.tensor([float(local)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            local = int(flag.item())
        return signal.Signals(local).name if local else None


def stop_with_checkpoint(signal_name: str, ckpt, state: dict, position: dict, where: str, command: str,
                         run_dir: str, log) -> None:
    """Write ``state`` with its mid-epoch ``position`` (rank 0, atomically), log and raise
    :class:`Preempted` naming the signal, ``where`` it stopped and the resume command."""
    import json
    state["position"] = json.dumps(position)
    ckpt.save(state)
    msg = (f"{signal_name} at {where}: checkpoint written to {ckpt.path}; resume with "
           f"python -m {command} --resume {run_dir}")
    log.info(f"stopped by {msg}")
    raise Preempted(msg)
