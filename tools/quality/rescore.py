r"""A committed benchmark's verdict at another retrain recipe, without new searches (issue 54 §4).

    python -m tools.quality.rescore --quality tools/results/quality_fmnist_1.5ms_sandwich/quality.json \
        --train_config configs/fashion_mnist_quality_train_long.yaml --data_path data/fashion_mnist \
        --random 3 --retrain_seeds 1 --control_seeds 6 --save runs/rescore-sandwich-long \
        --out tools/results/quality_fmnist_1.5ms_sandwich_long

For each search seed of ``--quality`` the same nets are retrained with this recipe: the searched net,
its first ``--random`` random nets (in the order the benchmark drew them), its params pick, and the
best hand-designed net of its window (the seed's uniform net with the best mean val in the source: a
designer picks on val; picked once, at the source's recipe, as the benchmark's glance column did). A
net that several seeds compare against (that control above all) gets ``--control_seeds`` retrain
seeds, so its one estimate's error is measured; every other net ``--retrain_seeds``. The units are the benchmark's retrain units (``tools.quality.units``: cached
under ``--save``, keyed by net, recipe and seed), so a stopped run resumes, and retrains of these nets
at this recipe already in the committed files (a ceiling file, a ranking set) are imported, not redone.

Writes ``OUT/quality.json`` in the benchmark's format: the source's nets, search diagnostics and
one-shot scores, with this recipe's accuracies and every statistic computed again
(``tools.quality.report.score_seed`` / ``summary_stats``; the shared control's error carried by the
gaps, ``tools.quality.comparisons``), so ``tools.results_tables`` can give it a glance row; and
``OUT/quality.md``, ``OUT/quality.png``. The retrain noise reported is the shared control's seeds.

While it runs, every finished unit is also written to ``OUT/retrains.partial.json`` (removed once
``quality.json`` is written). Commit that file mid-run and the same command resumes on another
machine: its units are imported, not redone.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Dict, List, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import recorded_path  # noqa: E402
from engine.stats import mean, std  # noqa: E402



def _best_by_val(nets: list):
    return max(nets, key=lambda n: mean(n.get("val_final") or [float("-inf")])) if nets else None


def plan(report: dict, random: int, retrain_seeds: int, control_seeds: int) -> Tuple[list, list, List[str]]:
    """The rescored searches (the source's entries with their first ``random`` random nets and the
    uniform group cut to the seed's best hand-designed net by the source's val; accuracies not yet
    filled), the units to run, shared nets first, as (net_config, seed, label), and the shared nets:
    those several seeds compare against (the hand-designed net above all), which get
    ``control_seeds`` seeds, every other net ``retrain_seeds``."""
    searches = report.get("searches") or []
    if not searches:
        raise InputError("--quality: the report has no searches")
    out, uses = [], {}
    for s in searches:
        e = copy.deepcopy(s)
        if len(e.get("random") or []) < random:
            raise InputError(f"--random {random}: seed {e['seed']} of the source has {len(e.get('random') or [])} random nets")
        e["random"] = e["random"][:random]
        best = _best_by_val((e.get("uniform") or {}).get("nets") or [])
        if best is not None:
            e["uniform"]["nets"] = [best]
        nets = [e] + e["random"] + [e[k] for k in ("params_pick",) if k in e] + ([best] if best else [])
        for t in {n["net_config"] for n in nets}:
            uses[t] = uses.get(t, 0) + 1
        out.append((e, nets))
    shared = [t for t, k in uses.items() if k > 1]
    units, seen = [], set()
    for t in shared:
        units += [(t, r, "shared control") for r in range(control_seeds)]
        seen.add(t)
    for e, nets in out:
        for i, n in enumerate(nets):
            if n["net_config"] not in seen:
                seen.add(n["net_config"])
                what = "searched" if i == 0 else ("random" if i <= len(e["random"]) else "control")
                units += [(n["net_config"], r, f"seed {e['seed']} {what}") for r in range(retrain_seeds)]
    return [e for e, _ in out], units, shared


def fill(searches: list, results: Dict[Tuple[str, int], dict], shared: List[str], retrain_seeds: int,
         control_seeds: int) -> list:
    """The planned searches with this recipe's accuracies (every earlier statistic dropped first)."""
    def put(net: dict):
        seeds = control_seeds if net["net_config"] in shared else retrain_seeds
        rs = [results[(net["net_config"], r)] for r in range(seeds)]
        net.update(acc=[x["test_top1"] for x in rs], val_final=[x["val_top1_final"] for x in rs])
        for k in ("mean_acc", "gap", "percentile"):
            net.pop(k, None)
    from tools.quality.comparisons import seed_nets
    from tools.quality.report import RESULT_FIELDS_OF_SEED as RESULT_FIELDS, score_seed
    for s in searches:
        for net in seed_nets(s):
            put(net)
        for g in ("uniform", "multi_branch"):
            for k in RESULT_FIELDS:
                (s.get(g) or {}).pop(k, None)
        score_seed(s)
    return searches


def rescored_report(source: dict, searches: list, results: dict, shared: List[str], todo: list, units, args,
                    source_path: str) -> dict:
    from tools.quality.report import summary_stats
    rep = summary_stats(searches)
    noise_net = shared[0] if shared else searches[0]["net_config"]
    noise = [results[(noise_net, r)]["test_top1"] for r in range(args.control_seeds if shared else args.retrain_seeds)]
    times = [results[(t, r)]["time_s"] for t, r, _ in todo]
    protocol = dict(source.get("protocol") or {}, random=args.random, retrain_seeds=args.retrain_seeds,
                    control_seeds=args.control_seeds, test_split=args.test_split, data=args.data_path or "demo")
    rep.update({
        "recipe": dict(units.recipe, hash=units.recipe_hash), "retrain_seed_std": std(noise) if len(noise) > 1 else None,
        "retrain_noise": {"net": "a control the seeds share" if shared else f"searched net of seed {searches[0]['seed']}",
                          "net_config": noise_net, "test_top1": noise},
        "retrain_time_s": mean(times),
        "compute": {"search_s": [], "rescored_from": recorded_path(source_path), "retrain_units": len(times),
                    "retrain_s_sum": sum(times), "retrain_s_mean": mean(times),
                    "retrain_units_imported": sum(1 for t, r, _ in todo if results[(t, r)].get("imported_from")),
                    "jobs": args.jobs, "threads": args.threads, "wall_s_this_run": time.monotonic() - args.start},
        "protocol": protocol, "rescored_from": {"quality": recorded_path(source_path),
                                                "recipe_hash": (source.get("recipe") or {}).get("hash")}})
    return rep


def _read_json(path: str, unreadable):
    """The file's JSON, or one line: ``unreadable(name of the error's type)``."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(unreadable(type(e).__name__)) from None


def read_source(path: str) -> dict:
    from tools.quality.reuse import check_report
    source = _read_json(path, lambda err: f"--quality {path}: not a readable quality.json ({err})")
    if not isinstance(source, dict) or not isinstance(source.get("searches"), list):
        raise InputError(f"--quality {path}: not a quality.json (no searches)")
    check_report(source, path)
    return source


PARTIAL = "retrains.partial.json"


def read_partial(path: str, recipe_hash: str) -> list:
    """The finished units of an earlier run (``OUT/retrains.partial.json``), checked entry by entry;
    another recipe's file is refused in one line, like a damaged one."""
    data = _read_json(path, lambda err: f"{path}: not a readable partial rescore ({err}); remove it to start over")
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        raise InputError(f"{path}: not a partial rescore (no 'units' list); remove it to start over")
    if data.get("recipe_hash") != recipe_hash:
        raise InputError(f"{path}: units of recipe {data.get('recipe_hash')!r}, this run's is {recipe_hash}; "
                         "use another --out")
    for i, u in enumerate(data["units"]):
        ok = (isinstance(u, dict) and isinstance(u.get("net_config"), str) and type(u.get("seed")) is int
              and all(isinstance(u.get(k), (int, float)) and not isinstance(u.get(k), bool)
                      for k in ("test_top1", "time_s"))
              and (u.get("val_top1_final") is None or isinstance(u.get("val_top1_final"), (int, float))))
        if not ok:
            raise InputError(f"{path}: units[{i}] is not a retrain result (net_config, seed, test_top1, "
                             "val_top1_final, time_s)")
    return data["units"]


def write_partial(path: str, recipe_hash: str, todo: list, units) -> None:
    from common.io import atomic_write_json
    done = []
    for t, s, _ in todo:
        r = units.cached(t, s)
        if r is not None:
            done.append({"net_config": t, "seed": s, "test_top1": r["test_top1"],
                         "val_top1_final": r.get("val_top1_final"), "time_s": r.get("time_s") or 0.0,
                         **({"imported_from": r["imported_from"]} if r.get("imported_from") else {})})
    atomic_write_json(path, {"format": 1, "kind": "rescore_units", "recipe_hash": recipe_hash, "units": done})


def run(args, source: dict) -> dict:
    from tools.quality.ceiling import recipe_units
    from tools.quality.window_pool import WindowPool, result_files
    units = recipe_units(args)
    searches, todo, shared = plan(source, args.random, args.retrain_seeds, args.control_seeds)
    imported = 0
    if os.path.isdir(args.results):  # this recipe's committed retrains of these nets: not redone
        pool = WindowPool(None, None, units.recipe_hash).add_files(result_files(args.results))
        for text, seed, _ in todo:
            r = (pool.nets.get(text) or {}).get("retrains", {}).get(seed)
            if r is not None:
                imported += units.import_result(text, seed, r["test_top1"], r["val_top1_final"],
                                                r.get("time_s") or 0.0, r["source"])
    partial, resumed = os.path.join(args.out, PARTIAL), 0
    if os.path.isfile(partial):  # an earlier run's finished units, e.g. committed from another machine
        planned = {(t, s) for t, s, _ in todo}
        for u in read_partial(partial, units.recipe_hash):
            if (u["net_config"], u["seed"]) in planned:  # run by this study elsewhere: resumed, not imported
                origin = u.get("imported_from") if isinstance(u.get("imported_from"), str) else None
                resumed += units.import_result(u["net_config"], u["seed"], u["test_top1"], u["val_top1_final"],
                                               u["time_s"], origin or recorded_path(partial), resumed=origin is None)
    missing = [(t, s, label) for t, s, label in todo if units.cached(t, s) is None]
    print(f"rescore: {len(source['searches'])} seeds, {len(todo)} retrain units ({imported} imported, {resumed} resumed, "
          f"{len(missing)} to run), recipe {units.recipe_hash}, {args.jobs} jobs x {args.threads} threads", flush=True)
    results = {}
    with ThreadPoolExecutor(args.jobs) as pool_ex:
        pending = {pool_ex.submit(units.retrain, t, s, f"{label} r{s}"): (t, s, label) for t, s, label in missing}
        done_n = 0
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    t, s, label = pending.pop(fut)
                    res = fut.result()
                    done_n += 1
                    os.makedirs(args.out, exist_ok=True)
                    write_partial(partial, units.recipe_hash, todo, units)
                    print(f"[{done_n}/{len(missing)}] {label} r{s}: test top-1 {res['test_top1']:.2f}% "
                          f"({res['time_s']:.0f} s) | {(time.monotonic() - args.start) / 60:.1f} min", flush=True)
        finally:
            for fut in pending:
                fut.cancel()
    for t, s, _ in todo:
        results[(t, s)] = units.cached(t, s)
    fill(searches, results, shared, args.retrain_seeds, args.control_seeds)
    return rescored_report(source, searches, results, shared, todo, units, args, args.quality)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.rescore", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quality", required=True, help="the committed benchmark's quality.json (its nets are reused)")
    p.add_argument("--train_config", required=True, help="the retrain recipe to score them with")
    p.add_argument("--train_opts", nargs="*", default=[], metavar="KEY=VALUE", help="retrain recipe overrides")
    p.add_argument("--data_path", default="data/fashion_mnist", help="dataset root ('demo': the built-in data)")
    p.add_argument("--test_split", default="test", help="held-out split scored (default test)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per retrain (part of the recipe; default 1)")
    p.add_argument("--random", type=int, default=3, help="random nets per seed, the first drawn (default 3)")
    p.add_argument("--retrain_seeds", type=int, default=1, help="retrain seeds per net (default 1)")
    p.add_argument("--control_seeds", type=int, default=6, help="retrain seeds of the shared hand-designed net (6)")
    p.add_argument("--results", default="tools/results", help="committed results: retrains at this recipe imported")
    p.add_argument("--save", default="runs/rescore", help="unit cache folder")
    p.add_argument("--out", required=True, help="folder for quality.json/.md/.png")
    p.add_argument("--jobs", type=int, default=2, help="parallel retrains (2)")
    from tools.quality.ray_units import add_executor_args
    add_executor_args(p)
    return p


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    args.start = time.monotonic()
    args.data_path = None if args.data_path == "demo" else args.data_path
    from tools.cli_args import check_minimums, resolve_configs
    resolve_configs(args, ("train_config",))
    check_minimums(args, (("threads", 1), ("jobs", 1), ("random", 1), ("retrain_seeds", 1), ("control_seeds", 1)))
    source = read_source(args.quality)
    if args.data_path and not os.path.isdir(args.data_path):
        raise InputError(f"--data_path {args.data_path}: not a folder")
    from tools.quality.child_runs import stop_children_on_signal
    from tools.quality.ray_units import executor_from_args
    from tools.quality.report import write_report
    from tools.quality.units import UnitFailed
    try:
        with executor_from_args(args, args.threads, args.jobs), stop_children_on_signal():
            rep = run(args, source)
    except UnitFailed as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    os.makedirs(args.out, exist_ok=True)
    print(write_report(rep, args.out), end="")
    if os.path.isfile(os.path.join(args.out, PARTIAL)):  # quality.json holds every unit now
        os.remove(os.path.join(args.out, PARTIAL))
    print(f"written: {recorded_path(os.path.join(args.out, 'quality.json'))}")
    return rep


if __name__ == "__main__":
    main()
