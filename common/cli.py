"""CLI entry points: user mistakes end in one line and exit code 2, no traceback."""
from __future__ import annotations

import functools
import os
import sys

from common.errors import PREEMPTED_EXIT_CODE, InputError, Preempted, TrainingDiverged
from common.process import die_with_parent


def main_guard(fn):
    """Run a CLI main; user mistakes (InputError) print one line and exit 2, no traceback."""
    @functools.wraps(fn)
    def wrapper(argv=None):
        die_with_parent()  # a benchmark's unit: no orphan when the benchmark is killed hard
        try:
            return fn(argv)
        except InputError as e:
            print(f"error: {_one_line(e)}", file=sys.stderr)
            raise SystemExit(2) from None
        except TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(3) from None
        except Preempted as e:
            print(f"stopped: {e}", file=sys.stderr)
            raise SystemExit(PREEMPTED_EXIT_CODE) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except BrokenPipeError:  # output piped into e.g. `head`, which closed the pipe: quiet, as a shell tool
            _silence_stdout()
            raise SystemExit(BROKEN_PIPE_EXIT_CODE) from None
        except OSError as e:
            from common.io import DISK_FULL, NOT_WRITABLE
            if e.errno in DISK_FULL:  # what was written before is intact (atomic writes): resumable
                print(f"stopped: cannot write {e.filename}: {e.strerror}; free space and run the same command "
                      "to resume", file=sys.stderr)
                raise SystemExit(PREEMPTED_EXIT_CODE) from None
            if e.errno in NOT_WRITABLE:
                print(f"error: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
                raise SystemExit(2) from None
            raise
    return wrapper


BROKEN_PIPE_EXIT_CODE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe


def _silence_stdout():
    """Point stdout at /dev/null, so that the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor (e.g. captured in tests)
        pass


def _one_line(e: Exception) -> str:
    """Errors re-raised from DataLoader workers carry a traceback: keep the last line."""
    lines = [l for l in str(e).splitlines() if l.strip()]
    if len(lines) > 1:
        last = lines[-1]
        return last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith("Error") else last
    return lines[0] if lines else type(e).__name__
