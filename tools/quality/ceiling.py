r"""The window's ceiling: is any net of a cost window reliably better than its best hand-designed net?

    python -m tools.quality.ceiling --target 1.5                                   # the report, from committed files
    python -m tools.quality.ceiling --target 1.5 --retrain --data_path data/fashion_mnist \
        --seeds 5 --control_seeds 6                                                # fresh seeds for the top nets
    python -m tools.quality.ceiling --target 1.5 --retrain --data_path data/fashion_mnist \
        --train_config configs/fashion_mnist_quality_train_long.yaml --seeds 2 --control_seeds 2 \
        --nets_from tools/results/ceiling/fashion_mnist_search_1.5ms_fashion_mnist_quality_train.json

**Pool** (:mod:`tools.quality.window_pool`): every retrained net of --config at --target with the
recipe of --train_config (its hash), from the committed quality, ranking and ceiling files under
--results, each (net, seed) counted once.

**Report**: the nets ranked by mean test top-1, each with a 95% interval from the pooled retrain std
(the within-net std over every net with two or more seeds, so a net with two seeds gets the noise the
whole pool measures, not the spread of its own two numbers); where the best hand-designed net
(uniform, best mean val; once --retrain picked it, that pick, frozen like the others) sits; the headroom above it. The top of a ranking by a mean of two is
biased upward (the winner's curse: the max of many noisy means), so the gap of a net to the
hand-designed one is also given over its **fresh seeds** alone -- retrains that did not take part in
choosing it -- with a 95% interval and one widened for the number of nets compared (Bonferroni).
"Reliably better" = the Bonferroni interval of the fresh-seed gap lies above 0.

**--retrain** picks the nets (frozen in --out once picked): the --top nets of the pool by mean val
top-1 (never test), the best hand-designed net and the --params_picks best params picks by val, then
retrains each to --seeds seeds (0..S-1; the pool's retrains are imported, not redone) and the
hand-designed control to --control_seeds, --jobs processes at once. --out is rewritten after every
finished retrain (a ranking-set-format file of kind "ceiling", pooled by later reports) and resumes.
--nets_from takes the nets of another ceiling file instead (e.g. the same nets at a longer recipe).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import List, Optional

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text, recorded_path  # noqa: E402
from engine.stats import mean, pooled_within_std  # noqa: E402
from tools.quality.window_pool import WindowPool, label, net_id, result_files  # noqa: E402

FORMAT = 1


T_BELOW_DF = 30  # a pooled std with fewer degrees of freedom (a recipe just started) gets Student-t intervals


def _z(level: float, df: Optional[int] = None) -> float:
    """The two-sided critical value: normal, or Student t when the std has < T_BELOW_DF degrees of freedom."""
    if df is not None and df < T_BELOW_DF:
        from engine.stats import t_quantile
        return t_quantile(0.5 + level / 2, df)
    from statistics import NormalDist
    return NormalDist().inv_cdf(0.5 + level / 2)


# -- statistics ------------------------------------------------------------------------------------
def gap_interval(a: List[float], b: List[float], sigma: float, level: float = 0.95, df: Optional[int] = None) -> dict:
    """mean(a) - mean(b) with an interval from the pooled seed std (both means' errors); normal, or
    Student t for a std of few degrees of freedom ``df`` (:func:`_z`)."""
    se = sigma * math.sqrt(1 / len(a) + 1 / len(b))
    g, z = mean(a) - mean(b), _z(level, df)
    return {"gap": g, "se": se, "ci": [g - z * se, g + z * se], "level": level}


# -- the report ------------------------------------------------------------------------------------
def ceiling_report(pool: WindowPool, picks: Optional[dict] = None) -> dict:
    """Ranking, the hand-designed net's place, the headroom above it (see the module doc).
    ``picks`` (:func:`ceiling_picks`): ``seeds`` net_config -> the seeds that chose it, the rest are
    fresh; ``hand``: the hand-designed net as a ceiling file picked it (frozen with the picks: more
    seeds of it must not swap the control), else the pool's best by val."""
    picks = picks or {}
    nets = pool.retrained()
    if not nets:
        raise InputError(f"pool of {pool.config} at {pool.target:g}, recipe {pool.recipe_hash}: no retrained net "
                         "in the window")
    noise = pooled_within_std([[r["test_top1"] for r in n["retrains"].values()] for n in nets])
    sigma = noise["std"] if noise else None  # one seed per net so far (a recipe just started): means only
    df = noise["df"] if noise else None
    crit = _z(0.95, df) if noise else None
    hand = pool.nets.get(picks.get("hand")) or pool.best_hand_designed()
    rows = []
    for n in nets:
        s = pool.summary(n)
        half = crit * sigma / math.sqrt(s["n"]) if sigma is not None else None
        rows.append({"net_config": n["net_config"], "id": net_id(n["net_config"]), "label": label(n),
                     "groups": sorted(n["groups"]),
                     "cost": n["cost"], "params_m": n["params_m"], "seeds": s["n"], "test_mean": s["test"],
                     "val_mean": s["val"], "ci95": [s["test"] - half, s["test"] + half] if half is not None else None,
                     "hand_designed": hand is not None and n is hand})
    rows.sort(key=lambda r: -r["test_mean"])
    for i, r in enumerate(rows):
        r["rank"] = i + 1
    out = {"config": pool.config, "target": pool.target, "recipe_hash": pool.recipe_hash, "files": pool.files,
           "nets": len(rows), "retrains": sum(r["seeds"] for r in rows), "seed_std": noise,
           "conflicts": pool.conflicts, "ranking": rows, "hand_designed": None, "headroom": []}
    if hand is None:
        return out
    hrow = next(r for r in rows if r["hand_designed"])
    above = [r for r in rows if r["test_mean"] > hrow["test_mean"]]
    out["hand_designed"] = {"label": hrow["label"], "net_config": hand["net_config"], "rank": hrow["rank"],
                            "test_mean": hrow["test_mean"], "seeds": hrow["seeds"],
                            "above": len(above), "above_within_noise": None if sigma is None else sum(
                                1 for r in above if gap_interval([r["test_mean"]] * r["seeds"], [hrow["test_mean"]] *
                                                                 hrow["seeds"], sigma, df=df)["ci"][0] <= 0),
                            "best_minus_hand": rows[0]["test_mean"] - hrow["test_mean"]}
    if sigma is None:
        return out
    sel = picks.get("seeds") or {}

    def fresh(n) -> List[float]:
        chosen_by = sel.get(n["net_config"])
        return [r["test_top1"] for s, r in sorted(n["retrains"].items()) if chosen_by is not None and s not in chosen_by]
    hand_fresh = fresh(hand)
    hand_all = [r["test_top1"] for r in hand["retrains"].values()]
    challengers = [n for n in nets if n is not hand and len(fresh(n)) >= 1]
    m = max(1, len(challengers))
    for n in challengers:
        f = fresh(n)
        ref = hand_fresh if len(hand_fresh) >= 2 else hand_all
        row = {"net_config": n["net_config"], "id": net_id(n["net_config"]), "label": label(n),
               "fresh_seeds": len(f), "fresh_mean": mean(f),
               "control_seeds": len(ref), "control_mean": mean(ref), "all_seeds": len(n["retrains"]),
               "all_mean": pool.summary(n)["test"], "val_mean": pool.summary(n)["val"]}
        row["fresh"] = gap_interval(f, ref, sigma, df=df)
        row["fresh_bonferroni"] = gap_interval(f, ref, sigma, 1 - 0.05 / m, df=df)
        row["reliably_better"] = row["fresh_bonferroni"]["ci"][0] > 0
        out["headroom"].append(row)
    out["headroom"].sort(key=lambda r: -r["fresh"]["gap"])
    out["compared"] = len(challengers)
    return out


def report_markdown(rep: dict, top: int = 15) -> str:
    s = rep["seed_std"]
    noise = (f"pooled retrain std {s['std']:.2f} points ({s['df']} degrees of freedom)" if s else
             "**one retrain per net so far: no noise estimate, so no intervals and no headroom test yet**")
    lines = [f"Pool: {rep['nets']} nets, {rep['retrains']} retrains of `{rep['config']}` at {rep['target']:g} ms, "
             f"recipe `{rep['recipe_hash']}`, from {len(rep['files'])} files; {noise}.", "",
             "| rank | net | params (M) | seeds | mean val top-1 | mean test top-1 [95% CI] |",
             "| --- | --- | --- | --- | --- | --- |"]
    shown = rep["ranking"][:top] + [r for r in rep["ranking"][top:] if r["hand_designed"]]
    for r in shown:
        name = (f"**{r['label']}** (best hand-designed)" if r["hand_designed"] else r["label"]) + f" `{r['id']}`"
        ci = f" [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]" if r["ci95"] else ""
        lines.append(f"| {r['rank']} | {name} | {r['params_m']:.3f} | {r['seeds']} | {r['val_mean']:.2f} | "
                     f"{r['test_mean']:.2f}{ci} |")
    h = rep["hand_designed"]
    if h:
        within = ("" if h["above_within_noise"] is None else
                  f", {h['above_within_noise']} of them within the 95% noise of the two means")
        lines += ["", f"The best hand-designed net ({h['label']}, {h['seeds']} seed{'s' if h['seeds'] != 1 else ''}, {h['test_mean']:.2f}) ranks "
                  f"{h['rank']} of {rep['nets']}; {h['above']} nets have a higher mean{within}; the top mean is "
                  f"{h['best_minus_hand']:+.2f} above it."]
    if rep["headroom"]:
        lines += ["", f"Headroom on fresh seeds (retrains that did not choose the net), {rep['compared']} nets compared:", "",
                  "| net | mean val top-1 (all seeds) | fresh seeds | fresh mean | − hand-designed | 95% CI | "
                  "Bonferroni CI | reliably better |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rep["headroom"]:
            f, b = r["fresh"], r["fresh_bonferroni"]
            lines.append(f"| {r['label']} `{r['id']}` | {r['val_mean']:.2f} | {r['fresh_seeds']} | {r['fresh_mean']:.2f} | "
                         f"{f['gap']:+.2f} | [{f['ci'][0]:+.2f}, {f['ci'][1]:+.2f}] | [{b['ci'][0]:+.2f}, "
                         f"{b['ci'][1]:+.2f}] | {'yes' if r['reliably_better'] else 'no'} |")
        control = rep["headroom"][0]
        lines.append(f"\nControl: the hand-designed net over {control['control_seeds']} seeds, mean "
                     f"{control['control_mean']:.2f}.")
    return "\n".join(lines) + "\n"


# -- retraining ------------------------------------------------------------------------------------
def select_nets(pool: WindowPool, top: int, params_picks: int) -> List[dict]:
    """The --top nets by mean val (the hand-designed one apart), the hand-designed net, the best
    --params_picks params picks by val not already chosen; each with the seeds that chose it."""
    hand = pool.best_hand_designed()
    if hand is None:
        raise InputError(f"pool of {pool.config} at {pool.target:g}: no hand-designed (uniform) net to compare with")
    ranked = sorted((n for n in pool.retrained() if n is not hand), key=lambda n: -pool.summary(n)["val"])
    picked = [("top", n) for n in ranked[:top]]
    picks = [n for n in ranked if "params_pick" in n["groups"] and all(n is not p for _, p in picked)]
    picked += [("params_pick", n) for n in picks[:params_picks]] + [("hand_designed", hand)]
    return [{"id": f"{why}_{i}", "group": why, "groups": sorted(n["groups"]), "label": label(n),
             "net_config": n["net_config"], "cost": n["cost"], "params_m": n["params_m"], "macs_m": n["macs_m"],
             "selection_seeds": sorted(n["retrains"])} for i, (why, n) in enumerate(picked)]


class CeilingRetrain:
    def __init__(self, args, pool: WindowPool):
        self.a, self.pool = args, pool
        self.units = recipe_units(args)

    def nets(self) -> List[dict]:
        from tools.supernet.ranking_file import read_ranking_set
        if os.path.isfile(self.a.out):  # picked once: later pools must not change which nets these are
            return [{k: v for k, v in n.items() if k != "retrains"} for n in read_ranking_set(self.a.out, "--out")["nets"]]
        if self.a.nets_from:
            src = read_ranking_set(self.a.nets_from, "--nets_from")
            return [dict({k: v for k, v in n.items() if k != "retrains"}, selection_recipe=n.get("selection_recipe")
                         or src.get("recipe_hash")) for n in src["nets"]]
        return [dict(n, selection_recipe=self.units.recipe_hash) for n in select_nets(self.pool, self.a.top, self.a.params_picks)]

    def import_pool(self, nets: List[dict]) -> int:
        """The pool's retrains of these nets into the unit cache (same recipe), so they are not redone."""
        n = 0
        for net in nets:
            pooled = self.pool.nets.get(net["net_config"])
            for seed, r in sorted((pooled or {}).get("retrains", {}).items()):
                n += self.units.import_result(net["net_config"], seed, r["test_top1"], r["val_top1_final"],
                                              r.get("time_s") or 0.0, r["source"])
        return n

    def write(self, nets: List[dict]) -> dict:
        out_nets = []
        for net in nets:
            seeds = self.seeds_of(net)
            rs = [self.units.cached(net["net_config"], s) for s in seeds]
            retrains = [{"seed": r["seed"], "test_top1": r["test_top1"], "val_top1_final": r["val_top1_final"],
                         "time_s": r["time_s"], "source": r.get("imported_from") or "this file"} for r in rs if r]
            out_nets.append(dict(net, retrains=retrains))
        rep = {"format": FORMAT, "kind": "ceiling", "config": self.pool.config, "target": self.pool.target,
               "cost_tolerance": self.pool.tolerance, "test_split": self.a.test_split, "recipe": self.units.recipe,
               "recipe_hash": self.units.recipe_hash, "seeds": self.a.seeds, "control_seeds": self.a.control_seeds,
               "nets": out_nets}
        atomic_write_json(self.a.out, rep)
        return rep

    def seeds_of(self, net: dict) -> range:
        return range(self.a.control_seeds if net["group"] == "hand_designed" else self.a.seeds)

    def run(self) -> dict:
        nets = self.nets()
        imported = self.import_pool(nets)
        # seed-major, the hand-designed control first: every comparison needs it
        first = sorted(nets, key=lambda n: n["group"] != "hand_designed")
        todo = [(n, s) for s in range(max(self.a.seeds, self.a.control_seeds)) for n in first
                if s in self.seeds_of(n) and self.units.cached(n["net_config"], s) is None]
        print(f"ceiling: {len(nets)} nets, {len(todo)} retrains to run ({imported} imported from the pool), recipe "
              f"{self.units.recipe_hash}, {self.a.jobs} jobs x {self.a.threads} threads", flush=True)
        self.write(nets)
        start = time.monotonic()
        with ThreadPoolExecutor(self.a.jobs) as pool:
            pending = {pool.submit(self.units.retrain, n["net_config"], s, f"{n['id']} r{s}"): (n, s) for n, s in todo}
            done_n = 0
            try:
                while pending:
                    done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in done:
                        n, s = pending.pop(fut)
                        res = fut.result()
                        done_n += 1
                        self.write(nets)
                        print(f"[{done_n}/{len(todo)}] {n['id']} ({n['label']}) r{s}: test top-1 {res['test_top1']:.2f}% "
                              f"({res['time_s']:.0f} s) | {(time.monotonic() - start) / 60:.1f} min", flush=True)
            finally:
                for fut in pending:
                    fut.cancel()
        return self.write(nets)


# -- the command -----------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.ceiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=float, required=True, help="the window's centre (table units, e.g. 1.5)")
    p.add_argument("--config", default="configs/fashion_mnist_search.yaml", help="the search config (its space)")
    p.add_argument("--train_config", default="configs/fashion_mnist_quality_train.yaml", help="the retrain recipe")
    p.add_argument("--train_opts", nargs="*", default=[], metavar="KEY=VALUE", help="retrain recipe overrides")
    p.add_argument("--data_path", default="data/fashion_mnist",
                   help="dataset root the recipe was run on, as given to the benchmarks ('demo': the built-in data)")
    p.add_argument("--test_split", default="test", help="held-out split scored (default test)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per retrain (part of the recipe; default 1)")
    p.add_argument("--cost_tolerance", type=float, default=0.025, help="window half-width for ranking sets (0.025)")
    p.add_argument("--results", default="tools/results", help="folder of committed results to pool")
    p.add_argument("--top", type=int, default=15, help="report: rows shown; --retrain: nets picked by val (10)")
    p.add_argument("--json", default=None, help="report: also write the report as JSON here")
    p.add_argument("--md", default=None, help="report: also write the markdown here")
    p.add_argument("--retrain", action="store_true", help="retrain the top nets and the controls (see above)")
    p.add_argument("--seeds", type=int, default=5, help="--retrain: seeds per picked net (0..S-1; default 5)")
    p.add_argument("--control_seeds", type=int, default=6, help="--retrain: seeds of the hand-designed net (6)")
    p.add_argument("--params_picks", type=int, default=2, help="--retrain: params picks added (2)")
    p.add_argument("--nets_from", default=None, help="--retrain: the nets of this ceiling file instead of picking")
    p.add_argument("--out", default=None, help="--retrain: the ceiling file (default tools/results/ceiling/...)")
    p.add_argument("--save", default="runs/ceiling", help="--retrain: unit cache folder")
    p.add_argument("--jobs", type=int, default=2, help="--retrain: parallel retrains (2)")
    from tools.quality.ray_units import add_executor_args
    add_executor_args(p)
    return p


def recipe_units(args):
    """The retrain units of the recipe (train config, overrides, split, threads, data) and its hash."""
    from tools.quality.units import QualityUnits
    return QualityUnits(argparse.Namespace(save=args.save, train_config=args.train_config, train_opts=args.train_opts,
                                           test_split=args.test_split, no_channels_last=False, threads=args.threads,
                                           data_path=args.data_path))


def open_pool(args) -> WindowPool:
    from tools.cli_args import check_fraction, check_minimums, resolve_configs
    resolve_configs(args, ("config", "train_config"))
    check_fraction(args)
    check_minimums(args, (("threads", 1), ("jobs", 1), ("seeds", 1), ("control_seeds", 1), ("top", 1), ("params_picks", 0)))
    units = recipe_units(args)
    if not os.path.isdir(args.results):
        raise InputError(f"--results {args.results}: not a folder")
    return WindowPool(args.config, args.target, units.recipe_hash, args.cost_tolerance).add_files(result_files(args.results))


def default_out(args) -> str:
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    return os.path.join(args.results, "ceiling", f"{stem(args.config)}_{args.target:g}ms_{stem(args.train_config)}.json")


def ceiling_picks(pool: WindowPool) -> dict:
    """From the ceiling files pooled: ``seeds`` (net_config -> the seeds that picked it; none when it
    was picked at another recipe: every seed of this one is fresh) and ``hand`` (the net_config the
    first of them picked as the hand-designed control, or None)."""
    import json
    seeds, hand = {}, None
    for path in pool.files:
        if os.path.basename(os.path.dirname(path)) != "ceiling":
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for n in data["nets"]:  # picked by the pool of its file's recipe unless it says another
            if n.get("group") == "hand_designed" and hand is None:
                hand = n["net_config"]
            if n.get("selection_recipe", data.get("recipe_hash")) != pool.recipe_hash:
                seeds.setdefault(n["net_config"], [])
            elif isinstance(n.get("selection_seeds"), list):
                seeds.setdefault(n["net_config"], [s for s in n["selection_seeds"] if isinstance(s, int)])
    return {"seeds": seeds, "hand": hand}


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    args.data_path = None if args.data_path == "demo" else args.data_path
    pool = open_pool(args)
    if args.retrain:
        args.out = args.out or default_out(args)
        if args.top == 15 and "--top" not in (argv or sys.argv[1:]):
            args.top = 10
        if args.data_path and not os.path.isdir(args.data_path):
            raise InputError(f"--data_path {args.data_path}: not a folder")
        from tools.quality.child_runs import stop_children_on_signal
        from tools.quality.units import UnitFailed
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        try:
            from tools.quality.ray_units import executor_from_args
            with executor_from_args(args, args.threads, args.jobs), stop_children_on_signal():
                CeilingRetrain(args, pool).run()
        except UnitFailed as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(1) from None
        print(f"written: {recorded_path(args.out)}")
        pool = open_pool(args)
    rep = ceiling_report(pool, ceiling_picks(pool))
    text = report_markdown(rep, args.top)
    print(text)
    if args.json:
        atomic_write_json(args.json, rep)
    if args.md:
        atomic_write_text(args.md, text)
    return rep


if __name__ == "__main__":
    main()
