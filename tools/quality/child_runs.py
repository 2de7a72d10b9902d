"""Child processes of the benchmark tools, stopped together with their parent.

The benchmarks run every search and retrain as a child process and write a unit's result
themselves once the child has finished. A parent that just dies on SIGTERM (a session's end,
``kill``, a scheduler) leaves its children running, orphaned: they burn the cores beside the next
run, and their work is lost. Inside :func:`stop_children_on_signal` a SIGTERM, SIGUSR1 or SIGINT
instead (1) lets no new child start, (2) sends SIGTERM to every running child -- searches and
retrains then write a step-level checkpoint and exit (``engine.preemption``) -- and (3) lets the
parent wait for them, so the next run resumes each unit from its checkpoint. A unit whose child
was stopped raises :class:`Preempted`; the CLI prints one line and exits with its code (75).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from typing import List, Optional, Set

from common.errors import Preempted
from tools.quality.child_env import child_env  # noqa: F401 (re-exported)

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGUSR1", "SIGINT") if hasattr(signal, n))

_lock = threading.RLock()  # re-entrant: the signal handler may run while its own thread holds it
_children: Set[subprocess.Popen] = set()
_stop_signal: Optional[int] = None


def run_child(cmd: List[str], log_path: str, threads: int) -> int:
    """Run ``cmd`` (no shell), its output appended to ``log_path``; returns its exit code. Raises
    :class:`Preempted` instead of starting it once a stop was asked, and when a stop ended it."""
    with _lock:  # a unit not started yet is not logged as if it ran
        _raise_if_stopping(cmd, log_path, started=False)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    from tools.quality import ray_units
    if ray_units.active():  # --executor ray: the same command, as a Ray task
        return ray_units.run_on_ray(cmd, log_path, threads, _lock,
                                    lambda started=True: _raise_if_stopping(cmd, log_path, started))
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        with _lock:  # checked and registered under one lock: a stop cannot miss a child
            _raise_if_stopping(cmd, log_path, started=False)
            # its own session: a Ctrl-C on the terminal reaches the parent only, which forwards
            # SIGTERM (a child's checkpointing signal) instead of the child's KeyboardInterrupt
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(threads),
                                    start_new_session=True)
            _children.add(proc)
        try:
            code = proc.wait()
        finally:
            with _lock:
                _children.discard(proc)
    if code != 0:
        with _lock:
            _raise_if_stopping(cmd, log_path)
    return code


def _raise_if_stopping(cmd: List[str], log_path: str, started: bool = True) -> None:
    if _stop_signal is not None:
        what = cmd[2] if len(cmd) > 2 and cmd[1] == "-m" else os.path.basename(cmd[0])
        where = f"{signal.Signals(_stop_signal).name}: {what} in {os.path.dirname(log_path)}"
        if not started:
            raise Preempted(f"{where} not started (a stop was asked); the same command starts it")
        raise Preempted(f"{where} stopped; the same command resumes it from its checkpoint")


def request_stop(signum: int = signal.SIGTERM) -> int:
    """Stop: no new child starts, every running child gets SIGTERM. Returns how many got it."""
    global _stop_signal
    with _lock:
        if _stop_signal is None:
            _stop_signal = signum
        live = list(_children)
    for proc in live:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    from tools.quality import ray_units
    return len(live) + ray_units.cancel_all()


def reset() -> None:
    """Forget a stop request (a new run in the same process, e.g. tests)."""
    global _stop_signal
    with _lock:
        _stop_signal = None


@contextlib.contextmanager
def stop_children_on_signal(signals=STOP_SIGNALS):
    """Within: the stop signals call :func:`request_stop` (installed from the main thread only)."""
    old = {}
    if threading.current_thread() is threading.main_thread():
        for s in signals:
            old[s] = signal.signal(s, lambda signum, frame: request_stop(signum))
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        reset()
