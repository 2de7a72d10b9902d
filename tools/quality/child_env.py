"""The environment of a unit's child process (the local pool's and a Ray task's)."""
from __future__ import annotations

import os

from common.process import PARENT_ENV


def child_env(threads: int) -> dict:
    """The environment of a child: ``threads`` CPU threads, unbuffered, this project importable."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env[PARENT_ENV] = str(os.getpid())  # the child dies with this process (common.process)
    return env
