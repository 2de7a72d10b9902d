"""A child process that dies with its parent.

The benchmark tools run every search and retrain as a child in its own session (so a Ctrl-C reaches
the parent only, which stops the children cleanly). A parent killed hard -- SIGKILL, the OOM killer --
cannot stop them: they would run on, orphaned, writing into the unit folders that the next run of
the benchmark resumes, so two processes would write one unit. A child started with ``PARENT_ENV``
set therefore asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG)``) for SIGKILL when its parent dies:
it loses the work since its last checkpoint, as in a power loss, and the next run resumes from there.
"""
from __future__ import annotations

import os
import signal
import sys

PARENT_ENV = "DENSENAS_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Called first thing by a command; True when it is now tied to its parent. The variable is
    removed, so the command's own children (timing processes, workers) are not tied to it by it."""
    parent = os.environ.pop(PARENT_ENV, None)
    if not parent or not sys.platform.startswith("linux"):
        return False
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return False
    if os.getppid() != int(parent):  # the parent died before the request took effect
        os._exit(75)
    return True
