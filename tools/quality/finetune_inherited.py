r"""Does a derived net gain from the super network's weights? Fine-tuning from inherited weights
against training from scratch, on the searched nets of a quality benchmark.

    python -m tools.quality.finetune_inherited --bench runs/quality-fmnist-1.5ms-entangled \
        --train_config configs/fashion_mnist_quality_train.yaml --data_path data/fashion_mnist \
        --seeds 5 --retrain_seeds 2 --out tools/results/finetune_fmnist_1.5ms_entangled

For each search seed of --bench (a tools.quality.benchmark folder whose searches wrote
inherited_weights.pt: the derived net's weights taken from the super network at the search's last
epoch), the searched net is retrained --retrain_seeds times (seeds 0..R-1) with the benchmark's
recipe under four conditions, and scored once with its final weights on --test_split:

  scratch       the recipe from a random init (the benchmark's own retrains: cache hits)
  inherited     the recipe from the inherited weights (run_apis.retrain --init_weights)
  scratch_half  half the recipe's epochs, from a random init
  inherited_half  half the recipe's epochs, from the inherited weights

Units are the benchmark's retrain units (tools.quality.units: cached under --bench/retrains, keyed
by net, recipe, seed and the hash of the initial weights), so a stopped run continues and the
scratch units are shared with the benchmark. Writes finetune.json (every unit) and finetune.md
(per-seed means; per-seed differences against scratch with bootstrap 95% CI and one-sided
Wilcoxon p, engine.stats).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text  # noqa: E402

CONDITIONS = ("scratch", "inherited", "scratch_half", "inherited_half")
COMPARISONS = (("inherited", "scratch"), ("inherited_half", "scratch"), ("scratch_half", "scratch"),
               ("inherited_half", "scratch_half"))


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.finetune_inherited", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", required=True, help="a tools.quality.benchmark folder (its searches/ and retrains/)")
    p.add_argument("--train_config", required=True, help="the benchmark's retrain recipe")
    p.add_argument("--train_opts", nargs="*", default=[], metavar="KEY=VALUE", help="the benchmark's recipe overrides")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--test_split", default="test", help="held-out split of the reported accuracy (default test)")
    p.add_argument("--seeds", type=int, default=5, help="search seeds 1..S (default 5)")
    p.add_argument("--retrain_seeds", type=int, default=2, help="retrains per condition and net (default 2)")
    p.add_argument("--jobs", type=int, default=2, help="parallel retrains (default 2)")
    from tools.quality.ray_units import add_executor_args
    add_executor_args(p)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per retrain (default 1)")
    p.add_argument("--no_channels_last", action="store_true", help="NCHW instead of channels_last")
    p.add_argument("--out", required=True, help="folder of finetune.json and finetune.md")
    return p


def _units(args, half: bool):
    from configs import load_config
    from tools.quality.units import QualityUnits
    ns = argparse.Namespace(**vars(args))
    ns.save = args.bench
    if half:
        epochs = load_config(args.train_config, args.train_opts, kind="train").train_params.epochs
        if epochs < 2:
            raise InputError(f"--train_config {args.train_config}: {epochs} epoch(s); half a recipe needs 2 or more")
        ns.train_opts = list(args.train_opts) + [f"train_params.epochs={epochs // 2}"]
    return QualityUnits(ns)


def searched_nets(bench: str, seeds: int):
    """(seed, run folder, net_config text, inherited weights path) of every finished search."""
    from tools.quality.retarget import finished_search
    out = []
    for seed in range(1, seeds + 1):
        run = finished_search(bench, seed)
        if run is None:
            continue
        weights = os.path.join(run, "inherited_weights.pt")
        if not os.path.isfile(weights):
            raise InputError(f"{run}: no inherited_weights.pt (searched before derived nets inherited weights, or packed "
                             "without them)")
        with open(os.path.join(run, "net_config"), encoding="utf-8") as f:
            out.append((seed, run, f.read(), weights))
    if not out:
        raise InputError(f"--bench {bench}: no finished search among seeds 1..{seeds}")
    return out


def summarise(results: dict) -> dict:
    from engine.stats import bootstrap_ci, mean, wilcoxon_signed_rank
    per_seed = {s: {c: mean(v) for c, v in conds.items() if v} for s, conds in results.items()}
    out = {"per_seed_mean": per_seed, "comparisons": {}}
    for a, b in COMPARISONS:
        diffs = [m[a] - m[b] for m in per_seed.values() if a in m and b in m]
        if diffs:
            out["comparisons"][f"{a} - {b}"] = {"seeds": len(diffs), "mean": mean(diffs),
                                                "ci95": list(bootstrap_ci(diffs)) if len(diffs) > 1 else None,
                                                "wilcoxon_p": wilcoxon_signed_rank(diffs)[1], "diffs": diffs}
    return out


def markdown(rep: dict) -> str:
    lines = ["| seed | " + " | ".join(CONDITIONS) + " |", "| --- |" + " --- |" * len(CONDITIONS)]
    for seed, m in rep["summary"]["per_seed_mean"].items():
        lines.append(f"| {seed} | " + " | ".join(f"{m[c]:.2f}" if c in m else "-" for c in CONDITIONS) + " |")
    lines += ["", "| comparison (per-seed difference of test top-1 means) | seeds | mean | 95% CI | one-sided Wilcoxon p |",
              "| --- | --- | --- | --- | --- |"]
    for name, c in rep["summary"]["comparisons"].items():
        ci = f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]" if c["ci95"] else "-"
        lines.append(f"| {name} | {c['seeds']} | {c['mean']:+.2f} | {ci} | {c['wilcoxon_p']:.3g} |")
    return "\n".join(lines) + "\n"


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("seeds", "retrain_seeds", "jobs", "threads"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1, got {getattr(args, name)}")
    from tools.cli_args import resolve_configs
    resolve_configs(args, ("train_config",))
    args.bench = os.path.abspath(args.bench)
    nets = searched_nets(args.bench, args.seeds)
    full, half = _units(args, False), _units(args, True)
    jobs = []
    for seed, _, text, weights in nets:
        for r in range(args.retrain_seeds):
            jobs += [(seed, "scratch", full, text, r, None), (seed, "inherited", full, text, r, weights),
                     (seed, "scratch_half", half, text, r, None), (seed, "inherited_half", half, text, r, weights)]
    start = time.monotonic()
    results = {seed: {c: [] for c in CONDITIONS} for seed, *_ in nets}
    units = []
    from tools.quality.ray_units import executor_from_args
    with executor_from_args(args, args.threads, args.jobs), ThreadPoolExecutor(args.jobs) as pool:
        futures = [(job, pool.submit(job[2].retrain, job[3], job[4], f"seed {job[0]} {job[1]} r{job[4]}", job[5]))
                   for job in jobs]
        for (seed, cond, _, _, r, _), fut in futures:
            res = fut.result()
            results[seed][cond].append(res["test_top1"])
            units.append({"seed": seed, "condition": cond, "retrain_seed": r, "test_top1": res["test_top1"],
                          "time_s": res.get("time_s")})
            print(f"seed {seed} {cond} r{r}: test top-1 {res['test_top1']:.2f}% | "
                  f"{(time.monotonic() - start) / 60:.1f} min", flush=True)
    rep = {"bench": os.path.relpath(args.bench), "recipe": full.recipe_hash, "half_recipe": half.recipe_hash,
           "train_config": os.path.basename(args.train_config), "train_opts": args.train_opts,
           "retrain_seeds": args.retrain_seeds, "nets": {seed: text for seed, _, text, _ in nets},
           "units": units, "summary": summarise(results)}
    os.makedirs(args.out, exist_ok=True)
    atomic_write_json(os.path.join(args.out, "finetune.json"), rep)
    text = markdown(rep)
    atomic_write_text(os.path.join(args.out, "finetune.md"), text)
    print(text)
    return rep


if __name__ == "__main__":
    main()
