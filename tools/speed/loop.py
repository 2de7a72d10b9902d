r"""Whole quality benchmark, before and after the fast input path: how long its searches and its
retrains take on each path, composed into the time of one benchmark.

    python -m tools.speed.loop --data_path data/fashion_mnist                  # paper config, benchmark protocol
    python -m tools.speed.loop --quick                                         # demo data, a few minutes

A full benchmark is hours, so it is not run twice. What is measured, on each path (the same
overrides as tools.speed.retrain: ``files`` = per-image PIL decoding, val after every retrain
epoch; ``array`` = the array cache and batched augmentation, val after the last retrain epoch):

- a short search of --config (``run_apis.search`` as the benchmark runs it, one process, --threads
  threads) with 2 weight-only epochs, then 2 alternating epochs, the last with a validation pass:
  its process wall time and the time of each kind of epoch (weight only, weight + arch, weight +
  arch + val; the first epoch, which carries one-time costs, is not used as a per-epoch time);
- the retrain of one net per path: tools.speed.retrain's report (--retrain_report, measured side
  by side) or, without one, --retrain_seeds fresh retrains per path.

Composed: search = the short search's wall time + the epochs it lacks of --config's schedule, each
at its kind's measured time; benchmark = searches x search + retrains x retrain (process-seconds;
both paths run the same units in the same --jobs, so the ratio is the wall-clock ratio too). The
unit counts are the benchmark protocol's (5 searches, 5 x (1 + 5) nets x 2 retrains + 3 noise
retrains) or those of a finished benchmark (--from_quality quality.json). Paths alternate and run
one at a time: a timing needs an idle machine. Writes bench_loop.json and prints the table.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEARCH_PATHS = {"files": ["data.array_cache=off"], "array": ["data.array_cache=auto"]}
# the short search: epochs 0-1 weight only, 2-3 alternating, 3 validates
SHORT_SCHEDULE = ["train_params.epochs=4", "search_params.arch_update_epoch=2", "search_params.val_start_epoch=3"]
README_PROTOCOL = {"searches": 5, "retrains": 5 * (1 + 5) * 2 + (5 - 2)}
DEFAULT_RETRAIN_REPORT = os.path.join(ROOT, "tools", "results", "bench_retrain_fmnist", "bench_retrain.json")


def epoch_kind(arch: bool, val: bool) -> str:
    return "weight" + ("+arch" if arch else "") + ("+val" if val else "")


def schedule_kinds(epochs: int, arch_update_epoch: int, val_start_epoch: int) -> dict:
    """How many epochs of each kind a search of this schedule runs (densenas's rule: the arch step
    runs from ``arch_update_epoch`` on, the val pass from ``val_start_epoch`` on)."""
    out = {}
    for e in range(epochs):
        k = epoch_kind(e >= arch_update_epoch, e >= val_start_epoch)
        out[k] = out.get(k, 0) + 1
    return out


def _kind(rec) -> str:
    """The kind of one history record (a search's history.json entry or a unit's summary of it)."""
    return epoch_kind(bool(rec.get("arch")), bool(rec.get("val")))


def kind_times(history) -> dict:
    """Per kind of epoch, the mean time over the history's epochs of that kind, epoch 0 left out
    (one-time costs: first batches, lazy initialisation); a kind seen only in epoch 0 keeps it."""
    seen = {}
    for rec in history:
        k = _kind(rec)
        seen.setdefault(k, []).append((rec["epoch"], rec["epoch_time_s"]))
    out = {}
    for k, items in seen.items():
        later = [t for e, t in items if e > 0] or [t for _, t in items]
        out[k] = sum(later) / len(later)
    return out


def compose_search(short_wall_s: float, short_history, full_kinds: dict) -> float:
    """Seconds of a full search: the short search's wall time plus every epoch it lacks of the full
    schedule, each at its kind's measured time. Raises when the full schedule has a kind the short
    search did not run."""
    from collections import Counter
    times, ran = kind_times(short_history), Counter(_kind(rec) for rec in short_history)
    total = short_wall_s
    for k, n in full_kinds.items():
        if k not in times:
            raise InputError(f"the full schedule has '{k}' epochs, which the short search did not run")
        total += max(0, n - ran[k]) * times[k]
    return total


def compose_benchmark(searches: int, retrains: int, search_s: float, retrain_s: float) -> float:
    return searches * search_s + retrains * retrain_s


def search_key(args) -> str:
    """What a short search measures: a cached one is reused only for the same config text,
    overrides, data, seed and threads (another --config must not find this one's times)."""
    import hashlib
    with open(args.config, encoding="utf-8") as f:
        text = f.read()
    blob = json.dumps({"config": text, "opts": list(args.opts), "data": args.data_path, "seed": args.seed,
                       "threads": args.threads, "schedule": SHORT_SCHEDULE}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_short_search(args, path: str) -> dict:
    from tools.quality.units import UnitFailed, run_unit
    folder = os.path.join(args.save, "search", search_key(args), path)
    done = os.path.join(folder, "unit.json")
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [sys.executable, "-m", "run_apis.search", "--config", args.config, "--save", folder, "--quiet",
           "--channels_last"] + (["--data_path", args.data_path] if args.data_path else [])
    cmd += ["--opts", f"train_params.seed={args.seed}"] + SHORT_SCHEDULE + SEARCH_PATHS[path] + list(args.opts)
    t0 = time.monotonic()
    run_unit(cmd, os.path.join(folder, "log.txt"), args.threads)
    wall = time.monotonic() - t0
    hist_path = glob.glob(os.path.join(folder, "search-*", "history.json"))
    if not hist_path:
        raise UnitFailed(f"short search on path {path}: no history.json under {folder}")
    with open(hist_path[0], encoding="utf-8") as f:
        history = json.load(f)
    unit = {"path": path, "wall_s": wall,
            "history": [{"epoch": h["epoch"], "arch": bool(h["arch"]), "val": bool(h["val"]),
                         "epoch_time_s": h["epoch_time_s"]} for h in history]}
    atomic_write_json(done, unit)
    return unit


def retrain_seconds(args) -> dict:
    """Mean wall seconds of one retrain per path: from a tools.speed.retrain report, or measured now."""
    if args.retrain_report:
        with open(args.retrain_report, encoding="utf-8") as f:
            summary = json.load(f)["summary"]
        return {"source": os.path.relpath(args.retrain_report, ROOT),
                "files": summary["files"]["wall_s_mean"], "array": summary["array"]["wall_s_mean"]}
    from tools.speed import retrain as bench_retrain
    argv = ["--config", args.train_config, "--seeds", str(args.retrain_seeds), "--threads", str(args.threads),
            "--save", os.path.join(args.save, "retrain")] + (["--data_path", args.data_path] if args.data_path else [])
    if args.retrain_opts:
        argv += ["--opts"] + list(args.retrain_opts)
    summary = bench_retrain.main(argv)["summary"]
    return {"source": "measured in this run", "files": summary["files"]["wall_s_mean"],
            "array": summary["array"]["wall_s_mean"]}


def unit_counts(args) -> dict:
    if not args.from_quality:
        return dict(README_PROTOCOL, source="README protocol (S=5, N=5, R=2, 5 noise seeds)")
    with open(args.from_quality, encoding="utf-8") as f:
        q = json.load(f)
    units = q.get("compute", {}).get("retrain_units")
    if units is None:
        raise InputError(f"--from_quality {args.from_quality}: no compute.retrain_units (a report of an older build)")
    return {"searches": len(q["searches"]), "retrains": len(units), "source": os.path.relpath(args.from_quality)}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.speed.loop", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="demo data, configs/demo_search.yaml, short retrains measured now (2 seeds): the tool in minutes")
    p.add_argument("--config", default="configs/fashion_mnist_search.yaml", help="search config of the benchmark")
    p.add_argument("--opts", nargs="*", default=[], help="more overrides of the search config (both paths)")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo data)")
    p.add_argument("--seed", type=int, default=1, help="search seed of the short searches")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of each process (the benchmark's: 1)")
    p.add_argument("--retrain_report", default=None,
                   help=f"tools.speed.retrain report for the retrain times (default: "
                        f"{os.path.relpath(DEFAULT_RETRAIN_REPORT, ROOT)}; 'none' measures them now)")
    p.add_argument("--train_config", default="configs/fashion_mnist_quality_train.yaml",
                   help="retrain recipe when the retrains are measured now")
    p.add_argument("--retrain_opts", nargs="*", default=[], help="overrides of the recipe when measured now")
    p.add_argument("--retrain_seeds", type=int, default=2, help="retrains per path when measured now")
    p.add_argument("--from_quality", default=None,
                   help="a finished benchmark's quality.json: its numbers of searches and retrain units")
    p.add_argument("--save", default="runs/bench-loop", help="folder of the cached units and the report")
    return p


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.config = "configs/demo_search.yaml"
        args.train_config = "configs/demo_train.yaml"
        args.retrain_report = args.retrain_report or "none"
        args.retrain_opts = args.retrain_opts or ["train_params.epochs=2", "data.steps_per_epoch=10"]
        args.save = args.save if args.save != "runs/bench-loop" else "runs/bench-loop-quick"
    from configs import load_config
    from tools.cli_args import resolve_configs
    resolve_configs(args, ("config", "train_config"))
    if args.retrain_report in (None, ""):
        args.retrain_report = DEFAULT_RETRAIN_REPORT
    if args.retrain_report == "none":
        args.retrain_report = None
    elif not os.path.isfile(args.retrain_report):
        raise InputError(f"--retrain_report {args.retrain_report}: not found")
    if args.from_quality and not os.path.isfile(args.from_quality):
        raise InputError(f"--from_quality {args.from_quality}: not found")
    cfg = load_config(args.config, list(args.opts))
    full_kinds = schedule_kinds(cfg.train_params.epochs, cfg.search_params.arch_update_epoch,
                                cfg.search_params.val_start_epoch)
    args.save = os.path.abspath(args.save)
    os.makedirs(args.save, exist_ok=True)

    searches = {}
    for path in ("files", "array"):  # one at a time; the retrain tool alternates its own
        u = run_short_search(args, path)
        searches[path] = {"short_wall_s": u["wall_s"], "kind_times_s": kind_times(u["history"]),
                          "full_search_s": compose_search(u["wall_s"], u["history"], full_kinds)}
        print(f"short search {path:6s}: {u['wall_s']:6.1f} s; per epoch "
              + ", ".join(f"{k} {t:.1f} s" for k, t in searches[path]["kind_times_s"].items())
              + f"; full search {searches[path]['full_search_s']:.0f} s", flush=True)
    retrain = retrain_seconds(args)
    counts = unit_counts(args)
    whole = {p: compose_benchmark(counts["searches"], counts["retrains"], searches[p]["full_search_s"], retrain[p])
             for p in ("files", "array")}
    report = {"config": os.path.relpath(args.config, ROOT), "opts": args.opts, "threads": args.threads,
              "full_schedule": full_kinds, "searches": searches, "retrain_s": retrain, "units": counts,
              "benchmark_s": whole, "speedup": {
                  "search": searches["files"]["full_search_s"] / searches["array"]["full_search_s"],
                  "retrain": retrain["files"] / retrain["array"], "benchmark": whole["files"] / whole["array"]}}
    atomic_write_json(os.path.join(args.save, "bench_loop.json"), report)
    sp = report["speedup"]
    print(f"\nunits: {counts['searches']} searches, {counts['retrains']} retrains ({counts['source']}); "
          f"retrain times: {retrain['source']}")
    print("| path | search s | retrain s | benchmark process-hours |")
    print("| --- | --- | --- | --- |")
    for p in ("files", "array"):
        print(f"| {p} | {searches[p]['full_search_s']:.0f} | {retrain[p]:.1f} | {whole[p] / 3600:.2f} |")
    print(f"\nspeed-up, array over files: search {sp['search']:.2f}x, retrain {sp['retrain']:.2f}x, "
          f"whole benchmark {sp['benchmark']:.2f}x")
    return report


if __name__ == "__main__":
    main()
