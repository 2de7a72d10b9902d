r"""Does the search beat chance? Searched networks against random networks of the same table cost,
all retrained with one recipe and scored on a held-out test split.

    python -m tools.quality.benchmark --quick                          # demo data, every part, ~10 min
    python -m tools.quality.benchmark --config configs/fashion_mnist_search.yaml \
        --train_config configs/fashion_mnist_quality_train.yaml --data_path data/fashion_mnist \
        --target 2.0 --save runs/quality-fmnist-2ms                    # docs/search_quality.md "Does the search beat random?"

Protocol (Li & Talwalkar 2019; Yu et al. 2020; Lindauer & Hutter's NAS checklist):

1. S searches (seeds 1..S) of --config (with --opts, and optim.sub_obj.target = --target);
   with --searches_from, another benchmark's finished densenas searches whose config differs
   only in the target are re-derived at --target instead (the paper's cost term has no target:
   tools.quality.retarget);
2. per searched net, N random nets drawn uniformly among the architectures with table cost
   within +-2.5% of its cost (search_space.random_arch), the searched net excluded;
3. every net retrained R times (seeds 0..R-1) with --train_config, and evaluated once, with its
   final weights, on --test_split (run_apis.retrain --test_split): never seen by the search nor
   used to pick an epoch;
4. the retrain noise: the first searched net with --noise_seeds seeds (std of test top-1);
5. one-shot ranking: each random net with its search's super-network weights (BN recalibrated) on
   the search's held-out split; Kendall tau against retrained accuracy, beside parameter count's
   and table cost's;
6. per search seed the gap = searched mean - mean of the random nets' means; over seeds: mean gap,
   bootstrap 95% CI, exact one-sided Wilcoxon signed-rank p, the searched nets' percentile among
   their random nets, best-of-N random (picked by final val accuracy, as random search would);
   collapse diagnostics of every search (history.json);
7. optional control groups (tools.quality.controls), retrained R times like every net, each
   reported as its gap to the random nets and the searched nets' gap to it: --params_pick P (the
   most-parameter net among P random nets of the window), --uniform (the hand-designed uniform nets
   of the window), --multi_branch_random N (random nets over the multi-branch architectures nse
   emits). Added to a finished benchmark, only their own nets are retrained.

Every finished unit (search, retrain) is kept on disk under --save: an interrupted benchmark
continues where it stopped when run again with the same arguments. SIGTERM / SIGUSR1 / Ctrl-C stop
the running searches and retrains with a step-level checkpoint (exit code 75); the next run resumes
them from it. Units run as --jobs parallel processes of --threads CPU threads each, seed by seed (a
finished search's retrains go before later seeds' searches, so seeds complete in order and a run cut
short has whole seeds). Writes
quality.json (every raw number), quality.md, quality.png (test accuracy vs table cost) and prints
the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from tools.quality.child_runs import stop_children_on_signal  # noqa: E402
from tools.quality.units import QualityUnits, UnitFailed  # noqa: E402
from tools.quality.unit_pool import PriorityPool  # noqa: E402

QUICK = {"config": "configs/demo_search.yaml", "train_config": "configs/demo_train.yaml", "seeds": 3, "random": 3,
         "retrain_seeds": 2, "noise_seeds": 3, "target": 0.75, "save": "runs/quality-quick",
         "train_opts": ["train_params.epochs=3", "data.steps_per_epoch=15"]}


class QualityBenchmark(QualityUnits):
    """The units scheduled seed by seed over --jobs processes."""

    def _report(self, what: str):
        self.done_units += 1
        elapsed = time.monotonic() - self.start
        print(f"[{self.done_units}/{self.total_units}] {what} | {elapsed / 60:.1f} min", flush=True)

    def run(self) -> dict:
        """Run (or resume) every unit; returns the raw results per search seed."""
        from tools.quality.controls import choose_controls
        seeds = list(range(1, self.a.seeds + 1))
        per_net = self.a.retrain_seeds
        # control groups' sizes are known once their search has finished: counted then
        self.total_units = (len(seeds) * (1 + (1 + self.a.random + (1 if self.a.params_pick else 0)) * per_net)
                            + max(0, self.a.noise_seeds - per_net))
        searches, randoms, retrains, controls = {}, {}, {}, {}
        # seed-first: a finished search's retrains run before later seeds' searches, so seeds
        # complete one after another and a run cut short still has whole seeds to report. A
        # search unit queues its own retrains before it returns: queued by the main thread, they
        # would lose the race to a worker that, freed by the search, takes the next search.
        pool = PriorityPool(self.a.jobs)
        pending, lock = {}, threading.Lock()

        def search_then_queue(seed):
            run_dir = self.search(seed)
            randoms[seed] = self.random_nets(seed, run_dir)
            with open(os.path.join(run_dir, "net_config"), encoding="utf-8") as f:
                searched = f.read()
            self.one_shot(seed, run_dir, [searched] + [r["net_config"] for r in randoms[seed]])
            nets = [("searched", searched)] + [(f"random {i}", r["net_config"]) for i, r in enumerate(randoms[seed])]
            controls[seed], extra = choose_controls(self.a, self.save, seed, run_dir)
            nets += extra
            seeds_of = {0: range(max(per_net, self.a.noise_seeds))} if seed == seeds[0] else {}
            with lock:
                self.total_units += (len(extra) - (1 if self.a.params_pick else 0)) * per_net
                for i, (label, text) in enumerate(nets):
                    for r in seeds_of.get(i, range(per_net)):
                        fut = pool.submit((seed, 1), self.retrain, text, r, f"search seed {seed} {label} r{r}")
                        pending[fut] = ("retrain", (seed, label, r, text))
            return run_dir

        try:
            with lock:
                for s in seeds:
                    pending[pool.submit((s, 0), search_then_queue, s)] = ("search", s)
            while True:
                with lock:
                    if not pending:
                        break
                    waiting = list(pending)
                done, _ = wait(waiting, return_when=FIRST_COMPLETED)
                for fut in done:
                    with lock:
                        kind, key = pending.pop(fut)
                    value = fut.result()
                    if kind == "search":
                        searches[key] = value
                        self._report(f"search seed {key} -> {os.path.relpath(value, self.save)}")
                    else:
                        retrains[key[:3]] = value
                        self._report(f"retrain {value['label']}: test top-1 {value['test_top1']:.2f}% "
                                     f"({value['time_s']:.0f} s)")
        finally:
            pool.shutdown()
        return {"searches": searches, "randoms": randoms, "retrains": retrains, "controls": controls}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.quality.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="demo data and small numbers (3 seeds, 3 random nets, 2 retrain seeds, short retrains): "
                        "every part in minutes; explicit options still win")
    p.add_argument("--config", help="search config (e.g. configs/fashion_mnist_search.yaml)")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="search config overrides")
    p.add_argument("--train_config", help="retrain recipe (e.g. configs/fashion_mnist_quality_train.yaml)")
    p.add_argument("--train_opts", nargs="*", default=None, metavar="KEY=VALUE", help="retrain recipe overrides")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--test_split", default="test", help="held-out split for the reported accuracy (default test)")
    p.add_argument("--target", type=float, default=None,
                   help="cost target of the searches (optim.sub_obj.target, table units; window derive)")
    p.add_argument("--seeds", type=int, default=None, help="search seeds S (1..S; default 5)")
    p.add_argument("--random", type=int, default=None, help="random nets N per searched net (default 5)")
    p.add_argument("--retrain_seeds", type=int, default=None, help="retrain seeds R per net (default 2)")
    p.add_argument("--noise_seeds", type=int, default=None,
                   help="retrain seeds of the first searched net for the noise estimate (default 5)")
    p.add_argument("--cost_tolerance", type=float, default=0.025,
                   help="random nets within +-this fraction of the searched net's table cost (default 0.025)")
    p.add_argument("--params_pick", type=int, default=0, metavar="P",
                   help="control: also retrain, per seed, the most-parameter net among P uniform nets in the "
                        "window (0 = off; e.g. 200)")
    p.add_argument("--uniform", action="store_true",
                   help="control: also retrain the hand-designed uniform nets (one op everywhere) of each window")
    p.add_argument("--multi_branch_random", type=int, default=0, metavar="N",
                   help="control: also retrain N random multi-branch nets per window (what nse emits; 0 = off)")
    p.add_argument("--max_branches", type=int, default=0, metavar="M",
                   help="ops per multi-branch layer at most (default: the config's search_params.nse.subset_size)")
    p.add_argument("--recal_batches", type=int, default=10, help="one-shot ranking: BN recalibration batches")
    p.add_argument("--eval_images", type=int, default=2000, help="one-shot ranking: held-out images evaluated")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    from tools.quality.ray_units import add_executor_args
    add_executor_args(p)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process (default 1)")
    p.add_argument("--no_channels_last", action="store_true", help="NCHW instead of channels_last")
    p.add_argument("--reuse", nargs="+", default=[], metavar="QUALITY_JSON",
                   help="put the retrains of earlier benchmarks' quality.json (same recipe) into the cache first: "
                        "only nets they lack are retrained (e.g. tools/results/*/quality.json)")
    p.add_argument("--searches_from", default=None, metavar="FOLDER",
                   help="take each seed's finished search from this benchmark folder (run or packed) and re-derive "
                        "it at --target instead of searching: a densenas search under the paper's cost term "
                        "(target_mode none) whose config differs only in optim.sub_obj.target (tools.quality.retarget)")
    p.add_argument("--save", default=None, help="benchmark folder (cache and outputs); default runs/quality")
    return p


def resolve_args(args):
    """Fill --quick / defaults and check every number before anything runs."""
    from tools.cli_args import check_fraction, check_minimums, fill_defaults, resolve_configs
    fill_defaults(args, ("config", "train_config", "seeds", "random", "retrain_seeds", "noise_seeds", "save", "target",
                         "train_opts"), QUICK,
                  {"seeds": 5, "random": 5, "retrain_seeds": 2, "noise_seeds": 5, "save": "runs/quality",
                   "target": 0.0, "train_opts": []})
    if not args.config or not args.train_config:
        raise InputError("give --config (search) and --train_config (retrain recipe), or --quick")
    resolve_configs(args, ("config", "train_config"))
    check_minimums(args, (("seeds", 1), ("random", 1), ("retrain_seeds", 1), ("noise_seeds", 0), ("params_pick", 0),
                          ("multi_branch_random", 0), ("max_branches", 0), ("jobs", 1), ("threads", 1),
                          ("recal_batches", 1), ("eval_images", 1)))
    check_fraction(args)
    if args.seeds > 24:
        raise InputError(f"--seeds {args.seeds}: the exact Wilcoxon test enumerates at most 24 seeds")
    from engine.train_loop import check_split_name
    check_split_name(args.test_split, "--test_split")
    if args.searches_from and not args.target:
        raise InputError("--searches_from re-derives finished searches at --target: give --target")
    if args.searches_from and not os.path.isdir(os.path.join(args.searches_from, "searches")):
        raise InputError(f"--searches_from {args.searches_from}: no searches/ folder (not a benchmark folder)")
    return args


def check_inputs(args):
    """Configs load, the data has every split, the target is feasible, the searches of --searches_from
    fit: fail before any unit runs."""
    from configs import load_config
    from search_space.search_config import load_search_config
    from dataset.loader import check_data_root, resolve_data_root
    from engine.search_cost import check_target, load_cost_for_search
    from search_space import space_from_config
    opts = list(args.opts) + ([f"optim.sub_obj.target={args.target:g}"] if args.target else [])
    cfg = load_search_config(args.config, opts)
    check_target(cfg, space_from_config(cfg), load_cost_for_search(cfg, space_from_config(cfg)))
    if args.searches_from:
        from tools.quality.retarget import check_retargetable, finished_search
        for seed in range(1, args.seeds + 1):
            source = finished_search(args.searches_from, seed)
            if source:
                check_retargetable(source, load_search_config(args.config, [f"train_params.seed={seed}"] + opts))
            else:
                print(f"--searches_from: seed {seed} has no finished search in {args.searches_from}: searched here",
                      flush=True)
    tcfg = load_config(args.train_config, args.train_opts, kind="train")
    root = resolve_data_root(args.data_path, cfg, announce=True)  # generates the demo data once, here
    for split in ("train", "val", args.test_split):
        check_data_root(root, (split,), tcfg.data.val_data_type)
    return cfg


@main_guard
def main(argv=None):
    args = resolve_args(build_parser().parse_args(argv))
    check_inputs(args)
    bench = QualityBenchmark(args)
    print(f"benchmark in {bench.save}: {args.seeds} searches x (1 + {args.random} random) nets x "
          f"{args.retrain_seeds} retrains (+ noise), {args.jobs} jobs x {args.threads} threads; recipe {bench.recipe_hash}",
          flush=True)
    if args.reuse:
        from tools.quality.reuse import reuse_results
        for line in reuse_results(bench, args.reuse):
            print(line, flush=True)
    try:
        from tools.quality.ray_units import executor_from_args
        with executor_from_args(args, args.threads, args.jobs), stop_children_on_signal():
            raw = bench.run()
    except UnitFailed as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    from tools.quality.report import build_report, write_report
    report = build_report(bench, raw)
    text = write_report(report, bench.save)
    print(text)
    print(f"written: {os.path.join(bench.save, 'quality.json')}, quality.md, quality.png "
          f"({(time.monotonic() - bench.start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
