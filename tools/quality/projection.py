r"""A benchmark's wall time on W workers, projected on paper from a committed ``quality.json`` (issue 56 §4).

    python -m tools.quality.projection --quality tools/results/quality_fmnist_1.5ms_sandwich/quality.json \
        --overhead tools/results/executor_overhead/overhead.json --workers 1 8 64 \
        --out tools/results/executor_overhead/projection_fmnist_1.5ms_sandwich

The units are the benchmark's own: one search per seed (its measured epoch time, ``compute.search_s``),
then that seed's retrain units, which wait for their search (the searched net, its random nets and
control groups, each at ``protocol.retrain_seeds`` seeds; the first seed's searched net also at the
noise seeds). A unit shared by several seeds counts once, for the first seed that needs it, as the
unit cache does. ``quality.json`` keeps the mean retrain time only (``compute.retrain_s_mean``), so
every retrain takes that mean here: real retrains vary (small nets finish sooner), and the projection
ignores the search's setup, derive and one-shot scoring (not in ``search_s``).

The schedule is the driver's priority pool (:mod:`tools.quality.unit_pool`): a free worker takes the
ready unit of the lowest (seed, kind) key; searches of later seeds wait behind the retrains of an
earlier finished seed. With ``--overhead`` (the JSON of :mod:`tools.quality.executor_overhead`) each
unit pays Ray's measured dispatch overhead and the run pays Ray's start and stop once. Every
worker is one unit slot (``--threads`` CPUs); data loading, the network and a shared filesystem are
not modelled.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
from typing import List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text, recorded_path  # noqa: E402


def makespan(search_s: Sequence[float], retrains_per_seed: Sequence[int], retrain_s: float, workers: int,
             unit_overhead_s: float = 0.0) -> dict:
    """Simulate the priority pool on ``workers`` slots. Seed i's search takes ``search_s[i]``; then its
    ``retrains_per_seed[i]`` retrains (``retrain_s`` each) become ready. Each unit also pays
    ``unit_overhead_s``. Returns the wall time, the busy share of the slots and a lower bound."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if len(search_s) != len(retrains_per_seed):
        raise ValueError("one retrain count per search")
    ready = [((i, 0), i, float(s) + unit_overhead_s) for i, s in enumerate(search_s)]
    heapq.heapify(ready)
    running: List[tuple] = []  # (finish time, order, seed, kind)
    now, order, busy = 0.0, 0, 0.0
    while ready or running:
        while ready and len(running) < workers:
            (seed, kind), _, took = heapq.heappop(ready)
            busy += took
            order += 1
            heapq.heappush(running, (now + took, order, seed, kind))
        now, _, seed, kind = heapq.heappop(running)
        if kind == 0:  # a finished search queues its seed's retrains
            for j in range(retrains_per_seed[seed]):
                heapq.heappush(ready, ((seed, 1), j, retrain_s + unit_overhead_s))
    total = sum(search_s) + retrain_s * sum(retrains_per_seed) + unit_overhead_s * (len(search_s) + sum(retrains_per_seed))
    # no schedule beats the work spread evenly, nor any seed's search followed by one retrain
    bound = max(total / workers, max((s + (retrain_s if n else 0.0) + unit_overhead_s * (1 + bool(n))
                                      for s, n in zip(search_s, retrains_per_seed)), default=0.0))
    return {"workers": workers, "wall_s": now, "busy_share": total / (now * workers) if now else 0.0,
            "lower_bound_s": bound, "process_s": total}


def units_of_report(report: dict) -> dict:
    """The units of a benchmark report: per-seed search seconds and retrain counts, the mean retrain time."""
    compute, searches, protocol = report.get("compute"), report.get("searches") or [], report.get("protocol") or {}
    if not compute or not compute.get("search_s") or not searches:
        raise InputError("quality.json has no compute record (compute.search_s): written by an older "
                         "benchmark; pick one whose report has it")
    r_seeds = int(protocol.get("retrain_seeds", 2))
    noise = len((report.get("retrain_noise") or {}).get("test_top1") or [])
    seen, counts = set(), []
    for i, s in enumerate(searches):
        nets = [s["net_config"]] + [x["net_config"] for x in s.get("random", [])]
        nets += [s["params_pick"]["net_config"]] if isinstance(s.get("params_pick"), dict) else []
        nets += [n["net_config"] for g in ("uniform", "multi_branch") for n in (s.get(g) or {}).get("nets", [])]
        units = {(net, r) for net in nets for r in range(r_seeds)}
        if i == 0:
            units |= {(s["net_config"], r) for r in range(max(noise, r_seeds))}
        counts.append(len(units - seen))
        seen |= units
    return {"search_s": [float(x) for x in compute["search_s"]], "retrains_per_seed": counts,
            "retrain_s": float(compute["retrain_s_mean"]), "retrain_units_recorded": compute.get("retrain_units"),
            "searches_rederived": compute.get("searches_rederived", 0)}


def _overhead(path: Optional[str]) -> dict:
    if not path:
        return {"unit_s": 0.0, "start_stop_s": 0.0, "source": None}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        ray = data["dispatch"]["ray"]
        return {"unit_s": max(0.0, float(ray["overhead_per_unit_s"])), "start_stop_s": float(ray["start_stop_s"]),
                "source": recorded_path(path)}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"--overhead {path}: not an executor_overhead JSON ({type(e).__name__}: {e})") from None


def project(report: dict, workers: Sequence[int], overhead: dict) -> dict:
    u = units_of_report(report)
    rows = []
    for w in workers:
        local = makespan(u["search_s"], u["retrains_per_seed"], u["retrain_s"], w)
        ray = makespan(u["search_s"], u["retrains_per_seed"], u["retrain_s"], w, overhead["unit_s"])
        ray["wall_s"] += overhead["start_stop_s"]
        rows.append({"workers": w, "local_pool": local, "ray": ray})
    return dict(units=u, overhead=overhead, rows=rows)


def markdown(out: dict, source: str) -> str:
    u, o = out["units"], out["overhead"]
    n_ret = sum(u["retrains_per_seed"])
    lines = [f"Projected from `{source}`: {len(u['search_s'])} searches "
             f"({', '.join(f'{s / 60:.0f}' for s in u['search_s'])} min of epochs), {n_ret} retrain units at their "
             f"mean {u['retrain_s']:.0f} s (per seed: {', '.join(map(str, u['retrains_per_seed']))}; the report "
             f"counts {u['retrain_units_recorded']}). One unit per worker.", ""]
    if o["source"]:
        lines += [f"Ray: {o['unit_s']:.2f} s per unit and {o['start_stop_s']:.1f} s start + stop, measured "
                  f"(`{o['source']}`).", ""]
    lines += ["| workers | wall, local pool | wall, Ray | lower bound | busy share | speed-up over 1 |",
              "| --- | --- | --- | --- | --- | --- |"]
    one = out["rows"][0]["ray"]["wall_s"] if out["rows"] and out["rows"][0]["workers"] == 1 else None
    for r in out["rows"]:
        loc, ray = r["local_pool"], r["ray"]
        speed = f"×{one / ray['wall_s']:.1f}" if one else "—"
        lines.append(f"| {r['workers']} | {loc['wall_s'] / 3600:.2f} h | {ray['wall_s'] / 3600:.2f} h | "
                     f"{loc['lower_bound_s'] / 3600:.2f} h | {loc['busy_share']:.0%} | {speed} |")
    return "\n".join(lines) + "\n"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.projection", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quality", required=True, help="a benchmark's quality.json with a compute record")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 8, 64], help="unit slots to project (default 1 8 64)")
    p.add_argument("--overhead", default=None, help="executor_overhead JSON: add Ray's measured costs")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    return p


@main_guard
def main(argv=None):
    a = build_parser().parse_args(argv)
    if any(w < 1 for w in a.workers):
        raise InputError(f"--workers {a.workers}: each must be >= 1")
    try:
        with open(a.quality, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"--quality {a.quality}: cannot read ({type(e).__name__})") from None
    out = project(report, sorted(set(a.workers)), _overhead(a.overhead))
    out["quality"] = recorded_path(a.quality)
    text = markdown(out, out["quality"])
    print(text, end="")
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        atomic_write_json(a.out + ".json", out)
        atomic_write_text(a.out + ".md", text)
        print(f"written: {a.out}.json/.md")


if __name__ == "__main__":
    main()
