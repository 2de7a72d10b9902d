r"""Derive a net_config from a search run: the paper's rule, or exactly the best architecture
within a cost budget, or one per budget from a single search.

    python -m run_apis.derive --load_path runs/search-X                   # paper derive (same as the search wrote)
    python -m run_apis.derive --load_path runs/search-X --max_cost 12     # best within 12 (table units)
    python -m run_apis.derive --load_path runs/search-X --budgets 10,12,14,16
    python -m run_apis.derive --load_path runs/search-X --budgets 10,12,14,16 --window 0.05  # cost in [0.95X, X]
    python -m run_apis.derive --load_path runs/search-X --max_cost 12 --topk 3 --measure_latency
    python -m run_apis.derive --load_path runs/search-X --random 10 --max_cost 12 --window 0.05  # baseline
    python -m run_apis.derive --load_path runs/search-X --max_cost 12 --with_weights \
        --data_path data/fashion_mnist       # + inherited_weights.pt, BN recalibrated on the net

The score of an architecture is the product of its route probabilities and of its chosen ops'
probabilities (skip_connect allowed in stack layers); with a budget the result is exact: a Pareto
front over the block DAG, no cost discretisation. --window TOL asks for cost in [X(1-TOL), X]:
a DP over costs rounded to 1/65536 of the dearest network, the result checked on exact costs
(docs/budget_search.md).

Writes under --out (default RUN/derive): net_config, arch.png, derived.json (table cost, MACs,
params, log score); --topk K: topk/<rank>/...; --budgets: budget_<X>/..., pareto.json, pareto.png;
--random N: random/<i>/... and random.json -- N distinct architectures drawn uniformly among those
of the space with table cost in the window (the baseline a search must beat; docs/search_quality.md "Does the
search beat random?").
"""
from __future__ import annotations

import argparse
import json

from common.cli import main_guard


def build_parser():
    p = argparse.ArgumentParser(prog="python -m run_apis.derive", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--load_path", required=True, metavar="RUN",
                   help="search run folder (config.yaml + arch_params.json or checkpoint.pt)")
    p.add_argument("--max_cost", type=float, default=None, metavar="X",
                   help="budget in the table's units (ms or MMACs): best architecture with table cost <= X")
    p.add_argument("--budgets", default=None, metavar="X1,X2,...",
                   help="several budgets: one net_config each, plus pareto.json and pareto.png")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="cost table to derive for (default: the run's table, or FLOPs for a FLOPs search)")
    p.add_argument("--window", type=float, default=None, metavar="TOL",
                   help="use the budget: per budget X, the best architecture with cost in [X*(1-TOL), X] "
                        "(e.g. 0.05; what a search with a target emits by default)")
    p.add_argument("--topk", type=int, default=1, metavar="K", help="the K best architectures per budget")
    p.add_argument("--random", type=int, default=None, metavar="N",
                   help="instead of deriving: N distinct architectures drawn uniformly among those with table cost "
                        "in [X*(1-TOL), X] (--max_cost X --window TOL; without --window: cost <= X)")
    p.add_argument("--seed", type=int, default=0, help="--random: seed of the draws (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN/derive)")
    p.add_argument("--measure_latency", action="store_true",
                   help="also time each derived network on the table's device (same statistic as profile --measure)")
    p.add_argument("--with_weights", action="store_true",
                   help="also write inherited_weights.pt beside each net_config: the net's weights taken from the "
                        "run's super network (checkpoint.pt), route probabilities folded in; fine-tune it with "
                        "run_apis.retrain --init_weights, evaluate it with run_apis.validation --weights; its BN "
                        "statistics recalibrated on the net (--recal_batches batches of --data_path's search_train)")
    p.add_argument("--data_path", default=None,
                   help="--with_weights: the search's dataset root, for the BN recalibration (default: the built-in "
                        "demo data, as every command)")
    p.add_argument("--recal_batches", type=int, default=10,
                   help="--with_weights: batches the BN statistics are recalibrated on, as the one-shot score does "
                        "(default 10; 0 keeps the super network's statistics, which do not fit one net)")
    p.add_argument("--json", action="store_true", help="print one JSON list of the written networks")
    return p


@main_guard
def main(argv=None):
    from engine.derive_run import derive_run
    from search_space.budget import parse_budgets
    args = build_parser().parse_args(argv)
    if args.recal_batches < 0:
        from common.errors import InputError
        raise InputError(f"--recal_batches {args.recal_batches}: must be at least 0")
    if args.random is not None:
        return _random(args)
    budgets = parse_budgets(args.budgets) if args.budgets else ()
    records = derive_run(args.load_path, args.out, args.table, args.max_cost, budgets, args.topk,
                         args.measure_latency, args.window, args.with_weights, args.data_path, args.recal_batches)
    if args.json:
        print(json.dumps(records))
        return
    for r in records:
        if r.get("empty"):
            print(f"budget {r['budget']:g}: {r['error']}")
            continue
        what = "paper derive" if r["budget"] is None else f"budget {r['budget']:g}"
        measured = f", measured {r['measured_ms']:.3f} ms" if "measured_ms" in r else ""
        print(f"{what} #{r['rank']}: table cost {r['table_cost']:.4f} {r['cost_units']}{measured}, "
              f"{r['macs_m']:.1f}M MACs, log score {r['log_score']:.3f} -> {r['folder']}")
    target = records[0].get("run_target") if records else None
    if target and args.max_cost is None and not budgets:
        emitted = records[0]["run_target_derive"]
        again = {"window": f"--max_cost {target:g} --window {records[0]['run_target_tolerance']:g}",
                 "budget": f"--max_cost {target:g}"}.get(emitted)
        if again:
            print(f"note: this run searched for target {target:g} and wrote its {emitted} derive: "
                  f"{again} gives that one")


def _random(args):
    from engine.derive_run import derive_random
    from common.errors import InputError
    if args.budgets or args.topk != 1 or args.measure_latency or args.with_weights:
        raise InputError("--random draws at one cost: use it with --max_cost [--window], not --budgets/--topk/"
                         "--measure_latency/--with_weights")
    records = derive_random(args.load_path, args.random, args.max_cost, args.window, args.seed, args.out, args.table)
    if args.json:
        print(json.dumps(records))
        return
    for r in records:
        print(f"random #{r['index']}: table cost {r['table_cost']:.4f} {r['cost_units']}, {r['macs_m']:.1f}M MACs, "
              f"{r['params_m']:.3f}M params -> {r['folder']}")


if __name__ == "__main__":
    main()
