r"""What running the units on Ray costs against the local pool, measured here (issue 56 §4).

    python -m tools.quality.executor_overhead --out tools/results/executor_overhead/overhead
    python -m tools.quality.executor_overhead --out ... --quick local:2 ray:2 ray:1   # + the --quick benchmark

Two measurements, each cached in ``OUT.json`` as soon as it is done (a stopped run continues):

``dispatch``  ``--units`` empty child commands (``python -c pass``) sent through the benchmarks' own unit
              path (``tools.quality.child_runs.run_child``) by ``--jobs`` pool threads, once with the
              local pool and once on a local Ray of ``--jobs`` CPUs. The child's own start is the same
              for both, so the difference per unit is Ray's dispatch cost (a task, a worker, the
              unit's log). Ray's start and stop are timed apart, once per run.
``quick``     the wall time of ``tools.quality.benchmark --quick`` (fresh folders under ``--work``) for
              each ``EXECUTOR:JOBS`` given: the whole path, searches and retrains of the demo.

Timing: run on an idle machine; the load average before each part is recorded beside it.
Writes OUT.json and OUT.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _units_wall(units: int, jobs: int, folder: str) -> float:
    from tools.quality.child_runs import run_child
    cmd = [sys.executable, "-c", "pass"]

    def one(i):
        if run_child(cmd, os.path.join(folder, f"unit_{i}.log"), 1) != 0:
            raise InputError(f"an empty unit failed: see {folder}/unit_{i}.log")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, range(units)))
    return time.perf_counter() - t0


def measure_dispatch(units: int, jobs: int, work: str) -> dict:
    """Wall seconds of ``units`` empty units on ``jobs`` slots: local pool, then a local Ray."""
    from tools.quality import ray_units
    out = {"units": units, "jobs": jobs, "load_before": _load()}
    out["local"] = {"wall_s": _units_wall(units, jobs, os.path.join(work, "local"))}
    t0 = time.perf_counter()
    ray_units.start("ray", None, jobs)
    started = time.perf_counter() - t0
    try:
        _units_wall(min(units, jobs), jobs, os.path.join(work, "warm"))  # Ray's first workers start lazily
        wall = _units_wall(units, jobs, os.path.join(work, "ray"))
    finally:
        t1 = time.perf_counter()
        ray_units.stop()
        stopped = time.perf_counter() - t1
    out["ray"] = {"wall_s": wall, "start_s": started, "stop_s": stopped, "start_stop_s": started + stopped,
                  "overhead_per_unit_s": (wall - out["local"]["wall_s"]) / units * jobs}
    out["local"]["per_unit_s"] = out["local"]["wall_s"] / units * jobs
    out["ray"]["per_unit_s"] = wall / units * jobs
    return out


def measure_quick(executor: str, jobs: int, work: str) -> dict:
    """Wall seconds of ``tools.quality.benchmark --quick`` in a fresh folder."""
    save = os.path.join(work, f"quick_{executor}_{jobs}")
    shutil.rmtree(save, ignore_errors=True)
    cmd = [sys.executable, "-m", "tools.quality.benchmark", "--quick", "--save", save, "--jobs", str(jobs),
           "--executor", executor]
    load = _load()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
        raise InputError(f"--quick {executor}:{jobs} failed ({proc.returncode}): {tail[0]}")
    import json
    with open(os.path.join(save, "quality.json"), encoding="utf-8") as f:
        compute = json.load(f).get("compute") or {}
    units = len(compute.get("search_s") or []) + int(compute.get("retrain_units") or 0)
    return {"executor": executor, "jobs": jobs, "wall_s": wall, "units": units, "load_before": load,
            "process_s": compute.get("process_s")}


def markdown(data: dict) -> str:
    lines = []
    d = data.get("dispatch")
    if d:
        lines += [f"Empty units (`python -c pass`) through the unit path, {d['units']} on {d['jobs']} slots "
                  f"(load average before: {d['load_before']}):", "",
                  "| executor | wall | per unit and slot | Ray start + stop |", "| --- | --- | --- | --- |",
                  f"| local pool | {d['local']['wall_s']:.1f} s | {d['local']['per_unit_s']:.3f} s | — |",
                  f"| local Ray | {d['ray']['wall_s']:.1f} s | {d['ray']['per_unit_s']:.3f} s | "
                  f"{d['ray']['start_s']:.1f} + {d['ray']['stop_s']:.1f} s |", "",
                  f"Ray's dispatch cost: **{d['ray']['overhead_per_unit_s']:.3f} s per unit** over the local pool.", ""]
    q = data.get("quick") or {}
    if q:
        lines += ["`tools.quality.benchmark --quick` (demo data), wall time from a fresh folder:", "",
                  "| executor | slots | units | wall | load average before |", "| --- | --- | --- | --- | --- |"]
        for key in sorted(q, key=lambda k: (q[k]["jobs"], q[k]["executor"])):
            r = q[key]
            lines.append(f"| {'local pool' if r['executor'] == 'local' else 'local Ray'} | {r['jobs']} | {r['units']} | "
                         f"{r['wall_s']:.0f} s | {r['load_before']} |")
        lines.append("")
    return "\n".join(lines)


def _parse_quick(items):
    out = []
    for it in items or []:
        ex, _, jobs = it.partition(":")
        if ex not in ("local", "ray") or not jobs.isdigit() or int(jobs) < 1:
            raise InputError(f"--quick {it}: expected EXECUTOR:JOBS with EXECUTOR local or ray (e.g. ray:2)")
        out.append((ex, int(jobs)))
    return out


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.executor_overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="write OUT.json (cache of finished parts) and OUT.md")
    p.add_argument("--units", type=int, default=40, help="empty units per executor (default 40)")
    p.add_argument("--jobs", type=int, default=2, help="slots for the empty units (default 2)")
    p.add_argument("--quick", nargs="*", default=[], metavar="EXECUTOR:JOBS",
                   help="also time the --quick benchmark per EXECUTOR:JOBS (e.g. local:2 ray:2 ray:1)")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--redo", action="store_true", help="measure again what OUT.json already holds")
    return p


@main_guard
def main(argv=None):
    a = build_parser().parse_args(argv)
    quick = _parse_quick(a.quick)
    if a.units < 1 or a.jobs < 1:
        raise InputError("--units and --jobs must be >= 1")
    import json
    data = {}
    if os.path.exists(a.out + ".json") and not a.redo:
        with open(a.out + ".json", encoding="utf-8") as f:
            data = json.load(f)
    from common.machine import machine_fingerprint
    data["machine"] = machine_fingerprint()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    work = a.work or tempfile.mkdtemp(prefix="executor_overhead_")

    def save():
        atomic_write_json(a.out + ".json", data)
        atomic_write_text(a.out + ".md", markdown(data))
    if "dispatch" not in data:
        print(f"dispatch: {a.units} empty units, local pool then local Ray ...", flush=True)
        data["dispatch"] = measure_dispatch(a.units, a.jobs, os.path.join(work, "dispatch"))
        save()
    for ex, jobs in quick:
        key = f"{ex}:{jobs}"
        if key in data.setdefault("quick", {}):
            continue
        print(f"--quick on {key} ...", flush=True)
        data["quick"][key] = measure_quick(ex, jobs, work)
        save()
    save()
    print(markdown(data), end="")
    print(f"written: {a.out}.json/.md")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
