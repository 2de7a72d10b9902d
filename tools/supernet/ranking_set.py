r"""A ranking set: architectures of a space with a reliable retrained accuracy, the ground truth a
super network's one-shot ranking is scored against (``tools.supernet.benchmark``).

    python -m tools.supernet.ranking_set --config configs/fashion_mnist_search.yaml \
        --train_config configs/fashion_mnist_quality_train.yaml --data_path data/fashion_mnist \
        --target 1.5 --out tools/results/ranking/fmnist_4op.json          # 40 nets x 3 seeds
    python -m tools.supernet.ranking_set --quick                                   # demo data, tiny, for tests

Nets (drawn once, uniformly, by ``search_space.random_arch``; seeded by --gen_seed):
  * --strata nets stratified over the space's whole table-cost range: the range [cheapest,
    dearest] cut into equal-width strata, one net drawn uniformly inside each (a stratum without
    any architecture is skipped and said so);
  * --window nets uniform inside the target's +-2.5% window (the quality benchmark's window);
  * with --uniform, also the hand-designed uniform nets of that window (search_space.uniform_nets:
    one op everywhere over a route path), retrained alike but kept out of the set's reliability and
    taus: reported apart against the window's random nets (the bar a search must clear).
Every net is retrained --seeds times with --train_config (seeds 0..R-1) and evaluated once on
--test_split with its final weights; its final val top-1 is kept too (use val for anything that
selects). Retrains are ``tools.quality.units``' retrain units (same key, same folder layout under
--save): a ranking set and a quality benchmark with the same recipe share finished retrains.
The output JSON is rewritten after every finished retrain, and retrains already in it (same
recipe hash) are put back into the unit cache: a committed, partly built set resumes anywhere.

Reliability: split-half Kendall tau -- for every split of the R seeds into halves (sizes R//2 and
R - R//2), tau between the nets' mean test top-1 over one half and over the other, averaged over
the splits -- for the whole set and for the window nets alone. It bounds how well any predictor can
rank the set: a one-shot tau near the split-half tau is as good as a new set of retrains.
"""
from __future__ import annotations

import argparse
import fnmatch
import itertools
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, recorded_path  # noqa: E402

QUICK = {"config": "configs/demo_search.yaml", "train_config": "configs/demo_train.yaml", "target": 0.75,
         "strata": 4, "window": 2, "seeds": 2, "out": "runs/ranking-quick/ranking.json",
         "save": "runs/ranking-quick", "train_opts": ["train_params.epochs=1", "data.steps_per_epoch=4"]}
FORMAT = 1
SET_GROUPS = ("stratum", "window")  # the set proper; "uniform" nets (--uniform) are reported apart


def split_half_tau(per_seed: Sequence[Sequence[float]]) -> Optional[dict]:
    """Split-half Kendall tau of nets x seeds accuracies (every net the same seeds): per split of
    the seeds into two halves, tau of the half means over the nets; their mean, min and max."""
    from engine.stats import kendall_tau
    if len(per_seed) < 2:
        return None
    r = len(per_seed[0])
    if r < 2 or any(len(row) != r for row in per_seed):
        return None
    taus = []
    for half in itertools.combinations(range(r), r // 2):
        if r % 2 == 0 and 0 not in half:  # each even split once
            continue
        other = [i for i in range(r) if i not in half]
        a = [sum(row[i] for i in half) / len(half) for row in per_seed]
        b = [sum(row[i] for i in other) / len(other) for row in per_seed]
        t = kendall_tau(a, b)
        if t is not None:
            taus.append(t)
    if not taus:
        return None
    return {"mean": sum(taus) / len(taus), "min": min(taus), "max": max(taus), "splits": len(taus)}


def noise_projection(per_seed: Sequence[Sequence[float]], seeds: Sequence[int] = (3, 6, 10)) -> Optional[dict]:
    """Between-net and seed variances of the table (one-way ANOVA), and the split-half tau they
    predict for R seeds (halves R//2 and R - R//2), as a guide to how many seeds reach a reliability;
    ``check``: the prediction for the seeds at hand, to compare with the measured split-half tau;
    ``predictor_ceiling``: the tau of a perfect predictor against the set's means (a super
    network's tau is read against it)."""
    from engine.stats import projected_tau, seed_variance_components
    comp = seed_variance_components(per_seed)
    if comp is None:
        return None
    var_net, var_seed = comp
    r = len(per_seed[0])
    return {"var_net": var_net, "var_seed": var_seed, "check": projected_tau(var_net, var_seed, r // 2, r - r // 2),
            # what a perfect predictor of the true means would score against this set's R-seed means
            "predictor_ceiling": projected_tau(var_net, var_seed, math.inf, r),
            "split_half_tau": {str(k): projected_tau(var_net, var_seed, k // 2, k - k // 2) for k in seeds}}


def uniform_summary(uniform: List[dict], window: List[dict]) -> Optional[dict]:
    """The hand-designed nets of the window against the window's random nets (same recipe, seeds)."""
    from engine.stats import mean, percentile_among
    if not uniform or not window:
        return None
    w = [n["test_top1_mean"] for n in window]
    best = max(uniform, key=lambda n: n["val_top1_mean"])  # a designer picks on val, not test
    return {"nets": [{"id": n["id"], "cost": n["cost"], "params_m": n["params_m"], "test_top1_mean": n["test_top1_mean"],
                      "percentile_among_window": percentile_among(n["test_top1_mean"], w)} for n in uniform],
            "uniform_mean": mean([n["test_top1_mean"] for n in uniform]), "window_random_mean": mean(w),
            "window_random_best": max(w), "best_by_val": best["id"], "best_by_val_test": best["test_top1_mean"],
            "uniform_minus_random": mean([n["test_top1_mean"] for n in uniform]) - mean(w)}


def draw_nets(space, table, target: float, tolerance: float, strata: int, window: int, gen_seed: int,
              input_size: int, uniform: bool = False) -> List[dict]:
    """The set's nets with their cost, params, MACs and depth (see the module doc); ``uniform``:
    also the hand-designed uniform nets of the window (drawn after, so the random nets are the same)."""
    import torch
    from engine.derive_run import describe_net
    from search_space.diagnostics import net_depth
    from search_space.random_arch import WindowCounts, sample_in_window
    counts = WindowCounts(space, table)
    gen = torch.Generator().manual_seed(gen_seed)
    picked, seen, notes = [], set(), []
    edges = [counts.cheapest + (counts.dearest - counts.cheapest) * i / strata for i in range(strata + 1)]
    for k in range(strata):
        lo, hi = edges[k], edges[k + 1]
        if counts.count_bounds(lo, hi)[1] < 0.5:
            notes.append(f"stratum {k} [{lo:.4g}, {hi:.4g}]: no architecture, skipped")
            continue
        try:
            net = sample_in_window(space, table, lo, hi, 1, gen, counts)[0]
        except InputError as e:
            notes.append(f"stratum {k} [{lo:.4g}, {hi:.4g}]: {e}")
            continue
        picked.append(("stratum", k, net))
        seen.add(net.to_text())
    if window:
        lo, hi = target * (1 - tolerance), target * (1 + tolerance)
        nets = sample_in_window(space, table, lo, hi, window + len(seen), gen, counts)
        nets = [n for n in nets if n.to_text() not in seen][:window]
        picked += [("window", i, n) for i, n in enumerate(nets)]
    if uniform:
        from models.net_config import parse_text
        from search_space.uniform_nets import uniform_in_window, uniform_nets
        found = uniform_in_window(uniform_nets(space, table), target, tolerance)
        if not found["nets"]:
            from tools.quality.report import nearest_costs
            notes.append("no uniform net in the window; " + nearest_costs(found["nearest_below"], found["nearest_above"]))
        picked += [("uniform", n["op"], parse_text(n["net_config"])) for n in found["nets"]]
    out = []
    for group, k, net in picked:
        info = describe_net(net, space, table, input_size)
        blocks, layers = net_depth(space, net)
        out.append({"id": f"{group}_{k}", "group": group, "net_config": net.to_text(),
                    "cost": info["table_cost"], "params_m": info["params_m"], "macs_m": info["macs_m"],
                    "depth_blocks": blocks, "depth_layers": layers})
    for n in notes:
        print(n, flush=True)
    return out


class RankingSet:
    def __init__(self, args):
        from tools.quality.units import QualityUnits
        self.a = args
        unit_args = argparse.Namespace(save=args.save, train_config=args.train_config, train_opts=args.train_opts,
                                       test_split=args.test_split, no_channels_last=args.no_channels_last,
                                       threads=args.threads, data_path=args.data_path)
        self.units = QualityUnits(unit_args)  # its retrain units and their cache
        self.recipe_hash = self.units.recipe_hash

    def nets(self, cfg, space, table) -> List[dict]:
        if self.a.nets_from:  # the very nets (ids, net_configs) of another set, e.g. retrained with another recipe
            from tools.supernet.ranking_file import read_ranking_set
            keep = ("id", "group", "net_config", "cost", "params_m", "macs_m", "depth_blocks", "depth_layers")
            return [{k: n[k] for k in keep if k in n} for n in read_ranking_set(self.a.nets_from, "--nets_from")["nets"]]
        path = os.path.join(self.units.save, "ranking_nets.json")
        key = {"config": os.path.basename(self.a.config), "opts": list(self.a.opts), "target": self.a.target,
               "strata": self.a.strata, "window": self.a.window, "gen_seed": self.a.gen_seed,
               "tolerance": self.a.cost_tolerance}
        if self.a.uniform:
            key["uniform"] = True
        from tools.quality.unit_files import read_unit_json
        cached = read_unit_json(path, lambda o: None if isinstance(o, dict) and isinstance(o.get("nets"), list)
                                else "not a drawn-nets file")
        if cached is not None and cached.get("key") == key:
            return cached["nets"]
        nets = draw_nets(space, table, self.a.target, self.a.cost_tolerance, self.a.strata, self.a.window,
                         self.a.gen_seed, cfg.data.input_size, self.a.uniform)
        atomic_write_json(path, {"key": key, "nets": nets})
        return nets

    def restore_units(self, previous: Optional[dict]) -> int:
        """Put retrains of a previous output (same recipe) back into the unit cache; how many."""
        if not previous or previous.get("recipe_hash") != self.recipe_hash:
            return 0
        n = 0
        for net in previous.get("nets", []):
            for r in net.get("retrains", []):
                if self.units.cached(net["net_config"], r["seed"]) is None:
                    folder = self.units.retrain_dir(net["net_config"], r["seed"])
                    atomic_write_json(os.path.join(folder, "result.json"), dict(r, net_config=net["net_config"],
                                                                               recipe=self.recipe_hash))
                    n += 1
        return n

    def report(self, nets: List[dict], results: Dict[tuple, dict]) -> dict:
        from engine.stats import kendall_tau, mean
        seeds = list(range(self.seeds))
        out_nets = []
        for net in nets:
            rs = [results[(net["id"], s)] for s in seeds if (net["id"], s) in results]
            retrains = [{k: r[k] for k in ("seed", "test_top1", "val_top1_final", "time_s")} for r in rs]
            # a net retrained with fewer seeds than the set's (--ids) keeps the mean of those it has
            out_nets.append(dict(net, retrains=retrains,
                                 test_top1_mean=mean([r["test_top1"] for r in rs]) if rs else None,
                                 val_top1_mean=mean([r["val_top1_final"] for r in rs]) if rs else None))
        done = [n for n in out_nets if n["test_top1_mean"] is not None]
        complete = [n for n in done if n["group"] in SET_GROUPS and len(n["retrains"]) == len(seeds)]

        def reliability(group):
            rows = [[r["test_top1"] for r in sorted(n["retrains"], key=lambda r: r["seed"])] for n in group]
            return {"nets": len(group), "split_half_tau": split_half_tau(rows), "projection": noise_projection(rows),
                    "tau_cost": kendall_tau([n["cost"] for n in group], [n["test_top1_mean"] for n in group])
                    if len(group) > 1 else None,
                    "tau_params": kendall_tau([n["params_m"] for n in group], [n["test_top1_mean"] for n in group])
                    if len(group) > 1 else None}
        window = [n for n in complete if n["group"] == "window"]
        partial = [n for n in done if n["group"] in SET_GROUPS and len(n["retrains"]) < len(seeds)]
        extra = {"partial": {"nets": len(partial), "seeds": sorted({len(n["retrains"]) for n in partial})}} if partial else {}
        if self.a.nets_from:
            extra["nets_from"] = recorded_path(self.a.nets_from)
        return {"format": FORMAT, **extra, "config": os.path.basename(self.a.config), "opts": list(self.a.opts),
                "target": self.a.target, "cost_tolerance": self.a.cost_tolerance, "gen_seed": self.a.gen_seed,
                "test_split": self.a.test_split, "recipe": self.units.recipe, "recipe_hash": self.recipe_hash,
                "seeds": seeds, "complete": len(complete), "total": sum(1 for n in out_nets if n["group"] in SET_GROUPS),
                "reliability": {"all": reliability(complete), "window": reliability(window)},
                "uniform": uniform_summary([n for n in done if n["group"] == "uniform"], window),
                "nets": out_nets}

    def run(self, cfg, space, table) -> dict:
        out = os.path.abspath(self.a.out)
        previous = None
        if os.path.isfile(out):  # refused whole, before anything is written, when damaged or hostile
            from tools.supernet.ranking_file import read_ranking_set
            previous = read_ranking_set(out, "--out")
        restored = self.restore_units(previous)
        nets = self.nets(cfg, space, table)
        # the set's seeds: this run's, or more when an earlier run of the same recipe retrained more
        self.seeds = max(self.a.seeds, len(previous.get("seeds", [])) if previous and
                         previous.get("recipe_hash") == self.recipe_hash else 0)
        chosen = [n for pattern in self.a.ids for n in nets if fnmatch.fnmatchcase(n["id"], pattern)]
        chosen = list({n["id"]: n for n in reversed(chosen)}.values())[::-1]  # first pattern first, each net once
        if not chosen:
            raise InputError(f"--ids {' '.join(self.a.ids)}: no net of the set matches")
        # seed-major: every chosen net's first seed before any second one, so a run cut short covers more nets
        todo = [(n, s) for s in range(self.a.seeds) for n in chosen]
        results = {(n["id"], s): hit for n in nets for s in range(self.seeds)
                   if (hit := self.units.cached(n["net_config"], s)) is not None}
        print(f"ranking set: {len(nets)} nets x {self.a.seeds} seeds = {len(todo)} retrains "
              f"({restored} restored from {os.path.relpath(out)}), recipe {self.recipe_hash}, "
              f"{self.a.jobs} jobs x {self.a.threads} threads", flush=True)
        start = time.monotonic()
        pool = ThreadPoolExecutor(self.a.jobs)
        try:
            pending = {pool.submit(self.units.retrain, n["net_config"], s, f"{n['id']} r{s}"): (n["id"], s)
                       for n, s in todo}
            finished = 0
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    key = pending.pop(fut)
                    results[key] = fut.result()
                    report = self.report(nets, results)
                    atomic_write_json(out, report)
                    finished += 1
                    print(f"[{finished}/{len(todo)}] {key[0]} r{key[1]}: test top-1 "
                          f"{results[key]['test_top1']:.2f}% | {(time.monotonic() - start) / 60:.1f} min", flush=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        report = self.report(nets, results)
        atomic_write_json(out, report)
        return report


def describe_reliability(report: dict) -> str:
    lines = [f"ranking set {report['config']}: {report['complete']}/{report['total']} nets complete, "
             f"{len(report['seeds'])} seeds, recipe {report['recipe_hash']}"]
    for name, rel in report["reliability"].items():
        sh = rel["split_half_tau"]
        sh_text = (f"split-half tau {sh['mean']:.3f} (min {sh['min']:.3f}, max {sh['max']:.3f}, "
                   f"{sh['splits']} splits)" if sh else "split-half tau n/a")
        pr = rel.get("projection")
        if pr:
            sh_text += (f"; seed std {pr['var_seed'] ** 0.5:.2f}, between-net std {pr['var_net'] ** 0.5:.2f} -> "
                        f"predicted {pr['check']:.3f} here, ceiling of a perfect predictor "
                        f"{pr['predictor_ceiling']:.2f}; split-half " + ", ".join(f"{v:.2f} at {k} seeds"
                                                                        for k, v in pr["split_half_tau"].items()))
        fmt = lambda v: "n/a" if v is None else f"{v:+.3f}"  # noqa: E731
        lines.append(f"  {name}: {rel['nets']} nets, {sh_text}; tau of table cost {fmt(rel['tau_cost'])}, "
                     f"params {fmt(rel['tau_params'])}")
    u = report.get("uniform")
    if u:
        nets = ", ".join(f"{n['id']} {n['test_top1_mean']:.2f} ({n['percentile_among_window']:.0f}%)" for n in u["nets"])
        lines.append(f"  uniform nets of the window (test top-1, percentile among the window's random nets): {nets}; "
                     f"uniform - random {u['uniform_minus_random']:+.2f}, best by val {u['best_by_val']}")
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.supernet.ranking_set", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="demo data, 6 nets x 2 seeds of 4 steps (tests)")
    p.add_argument("--config", help="search config whose space and cost table the nets come from")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="search config overrides")
    p.add_argument("--train_config", help="retrain recipe")
    p.add_argument("--train_opts", nargs="*", default=None, metavar="KEY=VALUE", help="retrain recipe overrides")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--test_split", default="test", help="held-out split scored (default test)")
    p.add_argument("--target", type=float, default=None, help="centre of the window nets (table units)")
    p.add_argument("--cost_tolerance", type=float, default=0.025, help="window half-width, a fraction (0.025)")
    p.add_argument("--strata", type=int, default=None, help="nets stratified over the whole cost range (20)")
    p.add_argument("--window", type=int, default=None, help="nets uniform in the target window (20)")
    p.add_argument("--uniform", action="store_true",
                   help="also the hand-designed uniform nets of the window (reported apart, not in the set's taus)")
    p.add_argument("--seeds", type=int, default=None, help="retrain seeds per net (3)")
    p.add_argument("--nets_from", default=None,
                   help="retrain the nets of this ranking set (same ids) instead of drawing them, e.g. with another recipe")
    p.add_argument("--ids", nargs="+", default=["*"], metavar="PATTERN",
                   help="retrain only the nets whose id matches (shell patterns, e.g. 'window_*'; the first pattern's "
                        "nets first); the others keep what they have")
    p.add_argument("--gen_seed", type=int, default=0, help="seed of the draws of the nets")
    p.add_argument("--jobs", type=int, default=2, help="parallel retrains (default 2)")
    from tools.quality.ray_units import add_executor_args
    add_executor_args(p)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per retrain (default 1)")
    p.add_argument("--no_channels_last", action="store_true", help="NCHW instead of channels_last")
    p.add_argument("--save", default=None, help="unit cache folder (default runs/ranking)")
    p.add_argument("--out", default=None, help="the ranking set JSON (default tools/results/ranking/<config>.json)")
    return p


def resolve_args(args):
    from tools.cli_args import check_fraction, check_minimums, fill_defaults, resolve_configs
    fill_defaults(args, ("config", "train_config", "target", "strata", "window", "seeds", "save", "out", "train_opts"),
                  QUICK, {"strata": 20, "window": 20, "seeds": 3, "save": "runs/ranking", "train_opts": []})
    if not args.config or not args.train_config or args.target is None:
        raise InputError("give --config, --train_config and --target, or --quick")
    resolve_configs(args, ("config", "train_config"))
    check_minimums(args, (("strata", 0), ("window", 0), ("seeds", 1), ("jobs", 1), ("threads", 1)))
    if args.strata + args.window < 2:
        raise InputError("--strata + --window: at least 2 nets")
    check_fraction(args)
    if args.out is None:
        name = os.path.splitext(os.path.basename(args.config))[0]
        args.out = os.path.join("tools", "results", "ranking", f"{name}.json")
    from engine.train_loop import check_split_name
    check_split_name(args.test_split, "--test_split")
    return args


def load_inputs(args):
    from configs import load_config
    from dataset.loader import check_data_root, resolve_data_root
    from engine.search_cost import check_target, load_cost_for_search
    from search_space import space_from_config
    from search_space.search_config import load_search_config
    cfg = load_search_config(args.config, list(args.opts) + [f"optim.sub_obj.target={args.target:g}"])
    space = space_from_config(cfg)
    table = load_cost_for_search(cfg, space)
    check_target(cfg, space, table)
    tcfg = load_config(args.train_config, args.train_opts, kind="train")
    root = resolve_data_root(args.data_path, cfg, announce=True)
    for split in ("train", "val", args.test_split):
        check_data_root(root, (split,), tcfg.data.val_data_type)
    return cfg, space, table


@main_guard
def main(argv=None):
    args = resolve_args(build_parser().parse_args(argv))
    cfg, space, table = load_inputs(args)
    from tools.quality.units import UnitFailed
    from tools.quality.child_runs import stop_children_on_signal
    try:
        from tools.quality.ray_units import executor_from_args
        with executor_from_args(args, args.threads, args.jobs), stop_children_on_signal():
            report = RankingSet(args).run(cfg, space, table)
    except UnitFailed as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    print(describe_reliability(report))
    print(f"written: {os.path.abspath(args.out)}")
    return report


if __name__ == "__main__":
    main()
