r"""Does the super network learn and rank? Weight-sharing strategies measured by Kendall tau.

    python -m tools.supernet.benchmark --config configs/fashion_mnist_search.yaml \
        --data_path data/fashion_mnist --ranking tools/results/ranking/fashion_mnist_search.json \
        --strategies uniform fair fixed --steps 600 --save runs/supernet-fmnist
    python -m tools.supernet.benchmark --quick       # demo data and its quick ranking set (tests)

Per strategy (a name below, applied as config overrides over --config and --opts):
  1. a super network trained with weight steps only (arch params at their init) for --steps steps
     on the search's weight split (engine.supernet_train), logging a learning curve every
     --eval_every steps: sampled-path train top-1 since the last point, and the mean one-shot val
     top-1 of --probe fixed random paths of the space;
  2. at every --rank_every steps and at the end a snapshot of the weights; every complete net of
     the ranking set (tools.supernet.ranking_set) scored on each snapshot by its one-shot top-1 (path
     extracted, BN recalibrated, search_val subset), and Kendall tau with the set's mean test
     top-1 -- whole set and window nets -- with a bootstrap 95% CI over the nets. Scores are cached
     per net: with --train_only the training runs first, the scoring when the set is complete.
Beside them, once per ranking set: the tau of parameter count, MACs, table cost and of two
zero-cost proxies at initialisation (models.zero_cost: synflow, NASWOT).
Each strategy's run keeps a checkpoint in --save/<strategy>_<steps>/ (a rerun continues it); strategies
can run as separate processes on one --save. Writes supernet.json (every raw number, curves
included), supernet.md and supernet.png from every finished strategy in --save.

Strategies: uniform (the paper: a new uniform op per mixed op every step), fair (FairNAS),
sandwich (BigNAS, in-place distillation), hold (one uniform path per 25 steps), single_path (one
route path and its ops per step, nothing else runs: SPOS in the routed space), fixed_route (single_path
with one route path for the whole run: ops still drawn every step), warmup (the
continuous super network for the first quarter of the steps, then uniform), fixed (one uniform path
for the whole run: the single-path reference, not a weight-sharing strategy). Each also as
<name>_entangled: the same with search_params.weight_sharing.entangle=true (the MBConv candidates of
a layer as slices of one superkernel).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text  # noqa: E402

WS = "search_params.weight_sharing."
STRATEGIES = {"uniform": lambda steps: [],
              "fair": lambda steps: [WS + "strategy=fair"],
              "sandwich": lambda steps: [WS + "strategy=sandwich"],
              "hold": lambda steps: [WS + "strategy=hold", WS + "hold_steps=25"],
              "warmup": lambda steps: [WS + f"warmup_steps={max(1, steps // 4)}"],
              "single_path": lambda steps: [WS + "strategy=single_path"],
              "fixed_route": lambda steps: [WS + "strategy=single_path", WS + f"route_hold_steps={steps + 1}"],
              "fixed": lambda steps: [WS + "strategy=hold", WS + f"hold_steps={steps + 1}"]}
# Each strategy with entangled op weights (search_space.entangled): "<strategy>_entangled".
STRATEGIES.update({f"{name}_entangled": (lambda f: lambda steps: f(steps) + [WS + "entangle=true"])(fn)
                   for name, fn in list(STRATEGIES.items())})
# the entangled depthwise superkernel with the prototype's initialisation (issue 54 §6)
STRATEGIES["uniform_entangled_fan_hidden"] = lambda steps: [WS + "entangle=true", WS + "depthwise_init=fan_hidden"]
QUICK = {"config": "configs/demo_search.yaml", "ranking": "runs/ranking-quick/ranking.json", "steps": 12,
         "eval_every": 6, "probe": 2, "recal_batches": 2, "eval_images": 64, "save": "runs/supernet-quick",
         "strategies": ["uniform", "fair"], "proxy_batch": 16}
PROXIES = ("params_m", "macs_m", "cost", "synflow", "naswot")


def tau_with_ci(x, y, resamples: int = 1000, seed: int = 0) -> dict:
    """Kendall tau of x against y and a bootstrap 95% CI over the pairs."""
    from engine.stats import kendall_tau
    tau = kendall_tau(x, y) if len(x) > 1 else None
    rng, boots = random.Random(seed), []
    for _ in range(resamples if tau is not None else 0):
        idx = [rng.randrange(len(x)) for _ in x]
        t = kendall_tau([x[i] for i in idx], [y[i] for i in idx])
        if t is not None:
            boots.append(t)
    boots.sort()
    ci = [boots[int(0.025 * (len(boots) - 1))], boots[int(0.975 * (len(boots) - 1))]] if boots else None
    return {"tau": tau, "ci95": ci, "n": len(x)}


def taus(nets, scores) -> dict:
    """tau of ``scores`` (one per net) with the nets' mean test top-1: whole set and window nets."""
    truth = [n["test_top1_mean"] for n in nets]
    window = [i for i, n in enumerate(nets) if n["group"] == "window"]
    return {"all": tau_with_ci(scores, truth),
            "window": tau_with_ci([scores[i] for i in window], [truth[i] for i in window])}


def load_ranking(path: str):
    if not os.path.isfile(path):
        raise InputError(f"--ranking {path}: not found (build one with python -m tools.supernet.ranking_set)")
    from tools.supernet.ranking_file import read_ranking_set
    data = read_ranking_set(path, "--ranking")
    try:
        from tools.supernet.ranking_set import SET_GROUPS  # not the --uniform nets
        nets = [n for n in data["nets"] if n.get("test_top1_mean") is not None and n.get("group", "window") in SET_GROUPS]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"--ranking {path}: not a ranking set of tools.supernet.ranking_set") from None
    if len(nets) < 3:
        raise InputError(f"--ranking {path}: {len(nets)} complete nets, at least 3 needed")
    return data, nets


def proxy_scores(cfg, root, nets, save: str, batch: int) -> dict:
    """Parameter count, MACs, table cost and the zero-cost proxies of every ranking net (the
    proxies cached per net_config in --save/proxies.json)."""
    import torch
    from dataset.loader import DevicePrefetcher, build_dataset, build_loader
    from models import build_model, load_net_config
    from models.zero_cost import naswot, synflow
    path = os.path.join(save, "proxies.json")
    cache = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            cache = json.load(f)
    if cache.get("batch") != batch:
        cache = {"batch": batch, "nets": {}}
    missing = [n for n in nets if n["net_config"] not in cache["nets"]]
    if missing:
        loader = build_loader(build_dataset(root, "search_train", cfg, train=True), batch, True, 0,
                              torch.device("cpu"), seed=0, drop_last=True)
        loader.sampler.set_epoch(0)
        images, _ = next(iter(DevicePrefetcher(loader, torch.device("cpu"))))
        size = cfg.data.input_size
        for n in missing:
            torch.manual_seed(0)  # the same initialisation stream for every net
            model = build_model(load_net_config(n["net_config"]), num_classes=cfg.data.num_classes)
            cache["nets"][n["net_config"]] = {"synflow": synflow(model, (3, size, size)),
                                              "naswot": naswot(model, images)}
        atomic_write_json(path, cache)
    scores = {k: [n[k] for n in nets] for k in ("params_m", "macs_m", "cost")}
    for k in ("synflow", "naswot"):
        scores[k] = [cache["nets"][n["net_config"]][k] for n in nets]
    return scores


def strategy_cfg(name, args):
    from search_space.search_config import load_search_config
    overrides = list(args.opts) + STRATEGIES[name](args.steps)
    return load_search_config(args.config, overrides), overrides


def strategy_result_problem(r):
    """What is wrong with a strategy's result.json (tools.quality.unit_files.read_unit_json), or None."""
    ok = isinstance(r, dict) and isinstance(r.get("snapshots"), list) and isinstance(r.get("curve"), list)
    return None if ok else "not a finished strategy's result"


def train_strategy(name, args, root, log) -> dict:
    """Phase 1: the super network of ``name`` trained for --steps (cached in --save/<name>_<steps>/),
    with a snapshot of its weights at every ranking point."""
    import torch
    from common.io import atomic_torch_save
    from engine.search_cost import load_cost_for_search
    from engine.supernet_rank import OneShotScorer
    from engine.supernet_train import SupernetTrainer, eval_points
    from search_space import space_from_config
    from search_space.random_arch import WindowCounts, sample_in_window
    folder = os.path.join(args.save, f"{name}_{args.steps}")
    done = os.path.join(folder, "result.json")
    from tools.quality.unit_files import read_unit_json
    finished = read_unit_json(done, strategy_result_problem)
    if finished is not None:  # a damaged one is set aside: the strategy resumes from its checkpoint
        return finished
    os.makedirs(folder, exist_ok=True)
    cfg, overrides = strategy_cfg(name, args)
    space = space_from_config(cfg)
    table = load_cost_for_search(cfg, space)
    counts = WindowCounts(space, table)
    probes = [n.to_text() for n in sample_in_window(space, table, counts.cheapest, counts.dearest, args.probe,
                                                    torch.Generator().manual_seed(123), counts)] if args.probe else []

    def snapshot(net):
        path = os.path.join(folder, f"weights_{trainer.step}.pt")
        atomic_torch_save(net.state_dict(), path)
        return {"snapshot": os.path.basename(path)}

    points = eval_points(args.steps, args.eval_every)
    rank_at = [s for s in points if args.rank_every and s % args.rank_every == 0] + [args.steps]
    trainer = SupernetTrainer(cfg, root, folder, args.steps, args.eval_every, probes,
                              OneShotScorer(cfg, root, args.recal_batches, args.eval_images),
                              log=lambda m: log(f"[{name}] {m}"))
    out = trainer.run(rank_at, snapshot)
    result = {"strategy": name, "overrides": overrides, "steps": args.steps, "probe_nets": probes,
              "threads": args.threads, "curve": out["curve"], "snapshots": out["rankings"]}
    atomic_write_json(done, result)
    return result


def score_strategy(name, trained, args, root, nets, log) -> dict:
    """Phase 2: one-shot top-1 of every complete ranking net on each snapshot (cached per net in
    --save/<name>_<steps>/scores_<step>.json), and the taus."""
    from common.io import load_file, load_state_into
    from engine.supernet_rank import OneShotScorer
    from search_space import build_super_network
    from tools.quality.unit_files import read_unit_json
    folder = os.path.join(args.save, f"{name}_{args.steps}")
    cfg, _ = strategy_cfg(name, args)
    scorer, rankings = None, []
    snaps = trained["snapshots"][-1:] if args.final_only else trained["snapshots"]
    for snap in snaps:
        path = os.path.join(folder, f"scores_{snap['step']}.json")
        cache = read_unit_json(path, lambda c: None if isinstance(c, dict) and all(
            v is None or isinstance(v, (int, float)) for v in c.values()) else "not a score cache") or {}
        missing = [n for n in nets if n["net_config"] not in cache]
        if missing:
            t0 = time.monotonic()
            scorer = scorer or OneShotScorer(cfg, root, args.recal_batches, args.eval_images)
            net = build_super_network(cfg)
            snapshot = os.path.join(folder, os.path.basename(str(snap["snapshot"])))  # never outside its folder
            load_state_into(net, load_file(snapshot), snapshot)
            for n in missing:
                cache[n["net_config"]] = scorer(net, n["net_config"])
            atomic_write_json(path, cache)
            log(f"[{name}] step {snap['step']}: {len(missing)} nets scored in {time.monotonic() - t0:.0f} s")
        scores = [cache[n["net_config"]] for n in nets]
        rankings.append({"step": snap["step"], "train_s": snap["train_s"], "one_shot_top1": scores,
                         "taus": taus(nets, scores)})
    return dict(trained, rankings=rankings)


def report(args, ranking_path, nets, proxies, results) -> dict:
    proxy_taus = {k: taus(nets, proxies[k]) for k in PROXIES}
    rows = {}
    base_s = results["uniform"]["curve"][-1]["train_s"] if "uniform" in results else None
    for name, r in results.items():
        last, final = r["curve"][-1], r["rankings"][-1]
        at_wall = next((p for p in r["curve"] if base_s is not None and p["train_s"] >= base_s), last)
        rows[name] = {"steps": last["step"], "train_s": last["train_s"], "train_top1_end": last["train_top1"],
                      "probe_one_shot_end": last["probe_one_shot_top1"],
                      "train_top1_at_uniform_wall": at_wall["train_top1"] if base_s is not None else None,
                      "step_at_uniform_wall": at_wall["step"] if base_s is not None else None,
                      "tau_all": final["taus"]["all"], "tau_window": final["taus"]["window"]}
    return {"ranking": os.path.relpath(ranking_path), "config": os.path.basename(args.config), "opts": args.opts,
            "nets": len(nets), "window_nets": sum(1 for n in nets if n["group"] == "window"),
            "proxies": {"scores": proxies, "taus": proxy_taus}, "summary": rows, "strategies": results}


def markdown(rep: dict) -> str:
    def t(d):
        if d["tau"] is None:
            return "n/a"
        return f"{d['tau']:+.3f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]" if d["ci95"] else f"{d['tau']:+.3f}"
    lines = [f"Ranking set {rep['ranking']} ({rep['nets']} nets, {rep['window_nets']} in the window); "
             f"config {rep['config']} {' '.join(rep['opts'])}", "",
             "| strategy | steps | training s | sampled-path train top-1 at the end | ... at uniform's wall-clock "
             "| probe one-shot top-1 | tau whole set (95% CI) | tau window (95% CI) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in rep["summary"].items():
        wall = "-" if r["train_top1_at_uniform_wall"] is None else \
            f"{r['train_top1_at_uniform_wall']:.1f} (step {r['step_at_uniform_wall']})"
        probe = "-" if r["probe_one_shot_end"] is None else f"{r['probe_one_shot_end']:.1f}"
        lines.append(f"| {name} | {r['steps']} | {r['train_s']:.0f} | {r['train_top1_end']:.1f} | {wall} | {probe} | "
                     f"{t(r['tau_all'])} | {t(r['tau_window'])} |")
    for k, v in rep["proxies"]["taus"].items():
        lines.append(f"| *{k}* (no training) | | | | | | {t(v['all'])} | {t(v['window'])} |")
    return "\n".join(lines) + "\n"


def plot(rep: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, r in rep["strategies"].items():
        a.plot([p["step"] for p in r["curve"]], [p["train_top1"] for p in r["curve"]], marker=".", label=name)
        b.plot([p["step"] for p in r["rankings"]], [p["taus"]["all"]["tau"] or 0 for p in r["rankings"]],
               marker="o", label=name)
    for k, v in rep["proxies"]["taus"].items():
        if v["all"]["tau"] is not None:
            b.axhline(v["all"]["tau"], ls="--", lw=0.8, color="gray")
            b.annotate(k, (b.get_xlim()[0], v["all"]["tau"]), fontsize=7, color="gray")
    a.set(xlabel="weight steps", ylabel="sampled-path train top-1 (%)", title="learning")
    b.set(xlabel="weight steps", ylabel="Kendall τ (one-shot vs retrained)", title="ranking, whole set")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    from search_space.plot import _save  # temp file + rename, closes the figure
    _save(fig, path)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.supernet.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="demo data, tiny budgets (needs tools.supernet.ranking_set --quick)")
    p.add_argument("--config", help="search config (the super network, data, weight optimizer)")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (every strategy)")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--ranking", help="ranking set JSON of the same space (tools.supernet.ranking_set)")
    p.add_argument("--strategies", nargs="+", default=None, choices=list(STRATEGIES), help="strategies to run")
    p.add_argument("--steps", type=int, default=None, help="weight steps per strategy (default 600)")
    p.add_argument("--eval_every", type=int, default=None, help="curve point every N steps (default 100)")
    p.add_argument("--rank_every", type=int, default=0, help="also score the ranking set every N steps (0: end only)")
    p.add_argument("--probe", type=int, default=None, help="fixed random paths of the curve's one-shot val (4)")
    p.add_argument("--recal_batches", type=int, default=None, help="BN recalibration batches per net (10)")
    p.add_argument("--eval_images", type=int, default=None, help="search_val images per one-shot score (2000)")
    p.add_argument("--proxy_batch", type=int, default=None, help="images of the NASWOT batch (64)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--save", default=None, help="output folder (default runs/supernet)")
    p.add_argument("--final_only", action="store_true", help="score the ranking set on the last snapshot only")
    p.add_argument("--train_only", action="store_true",
                   help="train the strategies (snapshots at the ranking points) and stop: score later, e.g. "
                        "once the ranking set is complete")
    return p


def resolve_args(args):
    from tools.cli_args import check_minimums, fill_defaults, resolve_configs
    fill_defaults(args, ("config", "ranking", "steps", "eval_every", "probe", "recal_batches", "eval_images", "save",
                         "strategies", "proxy_batch"), QUICK,
                  {"steps": 600, "eval_every": 100, "probe": 4, "recal_batches": 10, "eval_images": 2000,
                   "save": "runs/supernet", "strategies": ["uniform"], "proxy_batch": 64})
    if not args.config or not (args.ranking or args.train_only):
        raise InputError("give --config and --ranking, or --quick")
    resolve_configs(args, ("config",))
    check_minimums(args, (("steps", 1), ("eval_every", 1), ("rank_every", 0), ("probe", 0), ("recal_batches", 1),
                          ("eval_images", 1), ("threads", 1), ("proxy_batch", 2)))
    args.save = os.path.abspath(args.save)
    return args


@main_guard
def main(argv=None):
    args = resolve_args(build_parser().parse_args(argv))
    import torch
    from dataset.loader import resolve_data_root
    torch.set_num_threads(args.threads)
    cfg, _ = strategy_cfg("uniform", args)
    for name in args.strategies:  # every strategy's config is checked before anything trains
        strategy_cfg(name, args)
    if not args.train_only:
        load_ranking(args.ranking)
    root = resolve_data_root(args.data_path, cfg, announce=True)
    os.makedirs(args.save, exist_ok=True)
    start = time.monotonic()

    def log(msg):
        print(f"{msg} | {(time.monotonic() - start) / 60:.1f} min", flush=True)
    trained = {name: train_strategy(name, args, root, log) for name in args.strategies}
    if args.train_only:
        log(f"trained: {', '.join(trained)} (scoring and report skipped: --train_only)")
        return None
    for name in STRATEGIES:  # finished strategies of other processes on the same --save
        path = os.path.join(args.save, f"{name}_{args.steps}", "result.json")
        if name not in trained and os.path.isfile(path):
            from tools.quality.unit_files import read_unit_json
            other = read_unit_json(path, strategy_result_problem)
            if other is not None:
                trained[name] = other
    _, nets = load_ranking(args.ranking)  # read again: it may have grown while the strategies trained
    proxies = proxy_scores(cfg, root, nets, args.save, args.proxy_batch)
    log(f"proxies of {len(nets)} ranking nets ready")
    results = {name: score_strategy(name, t, args, root, nets, log) for name, t in trained.items()}
    rep = report(args, args.ranking, nets, proxies, results)
    atomic_write_json(os.path.join(args.save, "supernet.json"), rep)
    text = markdown(rep)
    atomic_write_text(os.path.join(args.save, "supernet.md"), text)
    plot(rep, os.path.join(args.save, "supernet.png"))
    print(text)
    print(f"written: {os.path.join(args.save, 'supernet.json')}, supernet.md, supernet.png")
    return rep


if __name__ == "__main__":
    main()
