"""The benchmarks' units on Ray (``--executor ray``), for clusters; the local pool stays the default.

A unit is the same child command as with the local pool (``tools.quality.child_runs.run_child``),
run inside a Ray task that asks for ``num_cpus=threads`` (and one GPU with ``--device cuda``). The
task starts the command as a child of the Ray worker, tied to it (``common.process``: a worker
killed hard takes its unit with it, and Ray runs the task again). The driver keeps its priority
pool: ``--jobs`` units are in flight at a time, and a pool thread waits for its task. The unit
writes into the same unit files as with the local pool, and the driver reads them. The driver
stays the one writer of reports. Without ``--ray_address``, a local Ray with ``--jobs x --threads``
CPUs is started and stopped with the run. With one, the driver joins that cluster: every node must
see the run folder (``--save``) and the data at the same paths, on a shared filesystem.

A stop (SIGTERM, Ctrl-C) cancels the tasks: each task sends SIGTERM to its unit, which writes its
checkpoint, so the same command resumes. A unit that fails keeps its exit code and log, as with
the local pool. A node that cannot see the run folder gets one line naming the folder and the
node, and none of Ray's traceback wrappers reach the user.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from typing import List, Optional

from common.errors import InputError, Preempted

EXECUTORS = ("local", "ray")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_state = {"ray": None, "started": False, "gpus": 0, "refs": set()}


def add_executor_args(p) -> None:
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where units run: local (default: a pool of --jobs child processes here) or ray (tasks "
                        "on a Ray cluster, or on a local Ray with --jobs x --threads CPUs; pip install '.[cluster]')")
    p.add_argument("--ray_address", default=None, metavar="ADDR",
                   help="--executor ray: join this running cluster (e.g. auto, ray://head:10001); every node must "
                        "see --save and the data at the same paths")


def active() -> bool:
    return _state["ray"] is not None


def _unit_task(cmd: List[str], log_path: str, threads: int, cwd: str) -> dict:
    """Runs on a Ray worker: the unit's command as a child of this worker, tied to it."""
    from common.process import PARENT_ENV
    from tools.quality.child_env import child_env
    node = socket.gethostname()
    folder = os.path.dirname(log_path)
    if not os.path.isdir(folder) or not os.path.isdir(cwd):
        missing = folder if not os.path.isdir(folder) else cwd
        return {"error": f"node {node} cannot see {missing} (the run folder and the data must be on a filesystem "
                         "every Ray node shares)"}
    env = dict(child_env(threads), **{PARENT_ENV: str(os.getpid())})
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}  (ray, node {node})\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            return {"code": proc.wait(), "node": node}
        except (KeyboardInterrupt, SystemExit):  # ray.cancel: the unit checkpoints and stops
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            return {"code": proc.wait(), "node": node, "cancelled": True}


def start(executor: str, address: Optional[str], cpus: int, gpus: int = 0) -> None:
    """Connect to (or start) Ray when ``executor`` is ray; nothing for the local pool."""
    if executor != "ray":
        if address:
            raise InputError("--ray_address needs --executor ray")
        return
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install '.[cluster]' (or pip install ray)") from None
    import logging
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}}
    try:
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(num_cpus=max(1, cpus), num_gpus=gpus, runtime_env=env, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR)
    except Exception as e:  # noqa: BLE001 - Ray raises many kinds; the user gets one line
        raise InputError(f"--executor ray: cannot {'join ' + address if address else 'start a local Ray'}: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    _state.update(ray=ray, started=True, gpus=gpus,
                  task=ray.remote(max_retries=3, retry_exceptions=False)(_unit_task))


def stop() -> None:
    ray = _state["ray"]
    _state.update(ray=None, started=False)
    if ray is not None:
        ray.shutdown()


@contextlib.contextmanager
def executor_from_args(args, threads: int = 1, jobs: int = 1):
    """Within: units run where ``args.executor`` says (the local pool needs nothing)."""
    gpus = 1 if str(getattr(args, "device", "cpu")).startswith("cuda") else 0
    start(getattr(args, "executor", "local"), getattr(args, "ray_address", None), jobs * threads, gpus * jobs)
    try:
        yield
    finally:
        stop()


def run_on_ray(cmd: List[str], log_path: str, threads: int, lock, stopping) -> int:
    """The exit code of ``cmd`` run as a Ray task (``child_runs.run_child`` with ``--executor ray``).
    ``stopping()`` raises Preempted when a stop was asked (checked under ``lock``, as the local pool)."""
    ray = _state["ray"]
    with lock:
        stopping(started=False)
        ref = _state["task"].options(num_cpus=threads, num_gpus=_state["gpus"] and 1).remote(
            cmd, log_path, threads, os.getcwd())
        _state["refs"].add(ref)
    try:
        out = ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        stopping()
        raise Preempted(f"{os.path.dirname(log_path)}: the Ray task was cancelled; the same command resumes it") from None
    except ray.exceptions.RayError as e:
        stopping()
        raise InputError(f"{os.path.dirname(log_path)}: the unit's Ray task failed ({type(e).__name__}); "
                         f"see {log_path}") from None
    finally:
        with lock:
            _state["refs"].discard(ref)
    if out.get("error"):
        raise InputError(out["error"])
    if out["code"] != 0:
        stopping()
    return out["code"]


def cancel_all() -> int:
    """Cancel every task in flight (each stops its unit with SIGTERM); returns how many."""
    ray = _state["ray"]
    refs = list(_state["refs"])
    if ray is not None:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=False)
    return len(refs)
