r"""Diagnostic: how should a single route be read out of a dense-trained super network?

    python -m tools.supernet.probe_readout --config configs/fashion_mnist_search.yaml --data_path data/fashion_mnist \
        --opts search_params.weight_sharing.entangle=true \
        --snapshot runs/supernet-fmnist-entangled/uniform_entangled_400/weights_400.pt \
        --ranking tools/results/ranking/fmnist_4op.json --out tools/results/supernet_fmnist_entangled/readout.json

The dense super network sums up to three route heads (each times its route probability) into a
block's input; a derived net has one route. Every complete net of the ranking set is scored on the
snapshot (tools.supernet.benchmark's weights_<step>.pt) by its one-shot top-1 under each
--readouts variant (search_space.subnet.set_route_readout: ``prob`` the route probability, as the
super network computes that path alone -- the default everywhere; ``unit`` scale 1; ``dense_sum``
the summed probability of every route into the block), BN recalibrated as by the one-shot scorer
(engine.supernet_rank), and Kendall tau with the set's retrained test top-1 is reported for each.
Scores are cached per net in --out (a rerun continues).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.io import atomic_write_json, recorded_path  # noqa: E402


def _tau(t: dict) -> str:
    if t["tau"] is None:
        return "n/a"
    ci = f" [{t['ci95'][0]:+.2f}, {t['ci95'][1]:+.2f}]" if t["ci95"] else ""
    return f"{t['tau']:+.3f}{ci}"


@main_guard
def main(argv=None):
    from search_space.subnet import READOUTS
    p = argparse.ArgumentParser(prog="python -m tools.supernet.probe_readout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="search config of the snapshot's super network")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (as trained)")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--snapshot", required=True, help="super-network weights (tools.supernet.benchmark weights_<step>.pt)")
    p.add_argument("--ranking", required=True, help="ranking set JSON (tools.supernet.ranking_set)")
    p.add_argument("--readouts", nargs="+", default=list(READOUTS), choices=READOUTS,
                   help="how route probabilities are folded into each net (default: all)")
    p.add_argument("--recal_batches", type=int, default=10, help="BN recalibration batches per net (10)")
    p.add_argument("--eval_images", type=int, default=2000, help="search_val images per score (2000)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--out", required=True, help="JSON of scores and taus (also the cache)")
    a = p.parse_args(argv)
    import torch
    from common.io import load_file, load_state_into
    from dataset.loader import resolve_data_root
    from engine.supernet_rank import OneShotScorer
    from search_space import build_super_network
    from search_space.search_config import load_search_config
    from tools.supernet.benchmark import load_ranking, taus
    torch.set_num_threads(a.threads)
    cfg = load_search_config(a.config, a.opts)
    _, nets = load_ranking(a.ranking)
    net = build_super_network(cfg)
    load_state_into(net, load_file(a.snapshot), f"--snapshot {a.snapshot} (config {a.config} {' '.join(a.opts)})")
    root = resolve_data_root(a.data_path, cfg, announce=False)
    asked = {"snapshot": recorded_path(a.snapshot), "ranking": recorded_path(a.ranking), "opts": a.opts,
             "recal_batches": a.recal_batches, "eval_images": a.eval_images}
    rep = {"scores": {}}
    if os.path.isfile(a.out):
        with open(a.out, encoding="utf-8") as f:
            old = json.load(f)
        if {k: old.get(k) for k in asked} == asked:
            rep = old
    rep.update(asked)
    start = time.monotonic()
    for readout in a.readouts:
        scorer = OneShotScorer(cfg, root, a.recal_batches, a.eval_images, readout=readout)
        cache = rep["scores"].setdefault(readout, {})
        for n in nets:
            if n["net_config"] not in cache:
                cache[n["net_config"]] = scorer(net, n["net_config"])
                atomic_write_json(a.out, rep)
        scores = [cache[n["net_config"]] for n in nets]
        rep.setdefault("taus", {})[readout] = taus(nets, scores)
        rep.setdefault("mean_one_shot_top1", {})[readout] = sum(scores) / len(scores)
        t = rep["taus"][readout]
        print(f"{readout:9s} mean one-shot top-1 {rep['mean_one_shot_top1'][readout]:5.1f}% | tau whole "
              f"{_tau(t['all'])} | window {_tau(t['window'])} | {(time.monotonic() - start) / 60:.1f} min", flush=True)
    atomic_write_json(a.out, rep)
    return rep


if __name__ == "__main__":
    main()
