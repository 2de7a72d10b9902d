r"""Does a target-seeking search hit its target? Three demo searches with targets at 30%, 50% and
70% of the way from the cheapest to the most expensive architecture of the demo space (demo CPU
latency table), then budget derives of one search checked against brute-force enumeration.

    python -m tools.benchmark_target [--fractions 0.3,0.5,0.7] [--mode abs] [--weight 1.0]
                                     [--derive window] [--tolerance 0.05] [--measure_latency]
                                     [--save runs/benchmark_target] [--opts KEY=VALUE ...]

(default --opts: optim.arch.alpha_lr=0.03 optim.arch.beta_lr=0.03)

Prints a markdown table: per target, the emitted net's table cost (``target_derive``, default
window: the best architecture with cost in [0.95 target, target]), the window, within-target and
paper (argmax) derives' costs and the expected cost, each with its error relative to the target;
then, for the middle search, the budget (<= target) and window derives for every target next to
the best score found by enumerating every architecture of the space.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os

from common.cli import main_guard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def brute_force_best(space, table, probs, windows):
    """Best log score with cost in each (lo, hi) window, over every distinct derived network
    (numpy broadcasting per path; no pruning, independent of search_space.budget/cost_window)."""
    import numpy as np
    table = table.check_fits(space)
    nonskip = [o for o, n in enumerate(space.stack_ops) if n != "skip_connect"]
    skip = space.stack_ops.index("skip_connect") if "skip_connect" in space.stack_ops else None
    final_cost = space.net_type == "mbv2"

    def options(src, k):  # (costs, log scores) of every head x canonical stack of block k entered from src
        r = space.in_routes[k].index(src)
        route = math.log(probs.routes[src][space.route_index(src, k)])
        layers = space.num_layers[k]
        stacks = []
        for m in range(layers + 1):
            if m < layers and skip is None:
                continue
            for ops in itertools.product(nonskip, repeat=m):
                full = list(ops) + [skip] * (layers - m)
                stacks.append((sum(table.stack[k - 1][l][o] for l, o in enumerate(full)),
                               sum(math.log(probs.stack[k - 1][l][o]) for l, o in enumerate(full))))
        c, s = [], []
        for o in range(len(space.head_ops)):
            for sc, ss in stacks:
                c.append(table.head[k - 1][r][o] + sc)
                s.append(route + math.log(probs.head[k - 1][r][o]) + ss)
        return np.asarray(c), np.asarray(s)

    best = [-math.inf] * len(windows)
    count = 0
    for path in space.paths():
        cost, score = np.asarray([table.input + table.classifier]), np.zeros(1)
        for src, k in zip(path[:-2], path[1:-1]):
            c, s = options(src, k)
            cost = (cost[:, None] + c[None, :]).ravel()
            score = (score[:, None] + s[None, :]).ravel()
        last = path[-2]
        cost = cost + (table.final[space.in_routes[space.final].index(last)] if final_cost else 0.0)
        score = score + math.log(probs.routes[last][space.route_index(last, space.final)])
        count += len(cost)
        for i, (lo, hi) in enumerate(windows):
            ok = (cost >= lo - 1e-9) & (cost <= hi + 1e-9)
            if ok.any():
                best[i] = max(best[i], float(score[ok].max()))
    return best, count


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark_target", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fractions", default="0.3,0.5,0.7", help="targets as fractions of (cheapest .. dearest)")
    p.add_argument("--mode", default="abs", help="optim.sub_obj.target_mode (abs | hinge)")
    p.add_argument("--weight", type=float, default=1.0, help="optim.sub_obj.target_weight")
    p.add_argument("--derive", default="window", help="optim.sub_obj.target_derive (window | budget | argmax)")
    p.add_argument("--tolerance", type=float, default=0.05, help="optim.sub_obj.target_tolerance")
    p.add_argument("--measure_latency", action="store_true",
                   help="also time each emitted network on the table's device (search --measure_latency)")
    p.add_argument("--save", default=os.path.join("runs", "benchmark_target"), help="parent folder of the search runs")
    p.add_argument("--opts", nargs="*", default=["optim.arch.alpha_lr=0.03", "optim.arch.beta_lr=0.03"],
                   metavar="KEY=VALUE",
                   help="overrides of demo_search.yaml (default: arch lr 0.03; the demo's 0.003 moves the "
                        "distribution too little in its 6 arch epochs)")
    args = p.parse_args(argv)
    from search_space.search_config import load_search_config
    from engine.derive_run import derive_run, load_search_result, load_table
    from engine.search_loop import RunOptions, load_cost_for_search, run_search
    from search_space import space_from_config
    from search_space.budget import ArchProbs, cost_range
    base = os.path.join(ROOT, "configs", "demo_search.yaml")
    cfg = load_search_config(base, args.opts)
    space = space_from_config(cfg)
    table = load_cost_for_search(cfg, space)
    lo, hi = cost_range(space, table)
    fractions = [float(f) for f in args.fractions.split(",")]
    targets = [lo + f * (hi - lo) for f in fractions]
    print(f"demo space: cheapest {lo:.4f} {table.units}, dearest {hi:.4f}; targets "
          + ", ".join(f"{t:.4f}" for t in targets))
    rows, runs = [], []
    for f, target in zip(fractions, targets):
        opts = list(args.opts) + [f"optim.sub_obj.target_mode={args.mode}", f"optim.sub_obj.target={target}",
                                  f"optim.sub_obj.target_weight={args.weight}",
                                  f"optim.sub_obj.target_derive={args.derive}",
                                  f"optim.sub_obj.target_tolerance={args.tolerance}"]
        run_dir = run_search(load_search_config(base, opts),
                             RunOptions(None, args.save, device="cpu", quiet=True,
                                        measure_latency=args.measure_latency))
        runs.append(run_dir)
        with open(os.path.join(run_dir, "derived.json")) as fh:
            info = json.load(fh)
        with open(os.path.join(run_dir, "history.json")) as fh:
            expected = json.load(fh)[-1]["expected_cost"]
        rows.append(dict(fraction=f, target=target, info=info, expected=expected, run=run_dir))

    def err(c, t):
        return f"{c:.4f} ({100 * (c / t - 1):+.1f}%)"
    print(f"\nemitted: target_derive={args.derive} (window = [target x {1 - args.tolerance:g}, target])")
    measured = args.measure_latency
    print("| target (fraction) | emitted | " + ("emitted, measured | " if measured else "")
          + "window derive | best within target | paper derive (argmax) | expected cost (all ops) | "
          "log score: window / within |")
    print("| --- " * (7 + measured) + "|")
    for r in rows:
        t, i = r["target"], r["info"]
        print(f"| {t:.4f} ({r['fraction']:.0%}) | {err(i['table_cost'], t)} | "
              + (f"{err(i['measured_ms'], t)} | " if measured else "") + f"{err(i['window_table_cost'], t)}"
              f"{' (empty)' if i['window_empty'] else ''} | {err(i['budget_table_cost'], t)} | "
              f"{err(i['argmax_table_cost'], t)} | {err(r['expected'], t)} | "
              f"{i['log_scores']['window']:.3f} / {i['log_scores']['budget']:.3f} |")
    emitted = [r["info"]["table_cost"] for r in rows]
    ordered = all(a < b for a, b in zip(emitted, emitted[1:]))
    hit = all(abs(c / r["target"] - 1) <= 0.05 + 1e-9 for c, r in zip(emitted, rows))
    print(f"\nemitted costs within +-5% of their targets: {hit}; increasing with the target: {ordered}")
    middle = runs[len(runs) // 2]
    result = load_search_result(middle)
    probs = ArchProbs.from_params(result.betas, result.head_alphas, result.stack_alphas)
    budget_recs = derive_run(middle, os.path.join(middle, "derive_benchmark"), budgets=targets)
    window_recs = derive_run(middle, os.path.join(middle, "derive_benchmark_window"), budgets=targets,
                             window=args.tolerance)
    windows = [(t * (1 - args.tolerance), t) for t in targets]
    best, count = brute_force_best(space, load_table(result, None), probs, [(-math.inf, t) for t in targets] + windows)
    print(f"\nderives of {middle} for each target vs brute force over {count} architectures:")
    print("| derive | budget | derived cost | within | log score | best brute-force log score |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, recs, bf, wins in (("<= budget", budget_recs, best[:len(targets)], [(-math.inf, t) for t in targets]),
                                 (f"window {args.tolerance:g}", window_recs, best[len(targets):], windows)):
        for r, b, (wl, wh) in zip(recs, bf, wins):
            inside = wl - 1e-9 <= r["table_cost"] <= wh + 1e-9
            print(f"| {name} | {r['budget']:.4f} | {r['table_cost']:.4f} | {inside} | {r['log_score']:.6f} | {b:.6f} |")


if __name__ == "__main__":
    main()
