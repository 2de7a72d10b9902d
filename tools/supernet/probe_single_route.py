r"""Diagnostic: does a single route of the super network learn when its ops are redrawn every step?

    python -m tools.supernet.probe_single_route --data_path data/fashion_mnist --mode fixed_ops
    python -m tools.supernet.probe_single_route --data_path data/fashion_mnist --mode redraw_ops --lr 0.01
    python -m tools.supernet.probe_single_route --data_path data/fashion_mnist --mode redraw_ops --momentum 0
    python -m tools.supernet.probe_single_route --data_path data/fashion_mnist --mode redraw_ops --steps 300 \
        --opts search_params.weight_sharing.entangle=true

One route path of the space (drawn once, uniformly) runs alone (``SuperNetwork.restrict_to_path``)
for --steps weight steps at a constant learning rate; ``fixed_ops``: one op per mixed op drawn once,
``redraw_ops``: a new uniform op per mixed op every step; ``redraw_all``: a new route path too.
Prints the train top-1 and loss every 50 steps (chance: 1 / classes). docs/supernet_ranking.md "Does the super
network rank?" uses it to separate the op redraw from the learning rate and the momentum.
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.supernet.probe_single_route", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/fashion_mnist_search.yaml", help="search config (space, data)")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--mode", choices=("fixed_ops", "redraw_ops", "redraw_all"), default="redraw_ops")
    p.add_argument("--steps", type=int, default=150, help="weight steps")
    p.add_argument("--lr", type=float, default=0.05, help="constant SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--seed", type=int, default=2, help="init and data seed")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. search_params.weight_sharing.entangle=true")
    a = p.parse_args(argv)
    import torch
    from dataset.loader import DevicePrefetcher, build_dataset, build_loader, resolve_data_root
    from engine.search_cost import load_cost_for_search
    from search_space import build_super_network, space_from_config
    from search_space.methods import build_method
    from search_space.search_config import load_search_config
    from search_space.weight_sharing import route_path, uniform_path
    torch.set_num_threads(1)
    cfg = load_search_config(a.config, a.opts)
    torch.manual_seed(a.seed)
    net, space = build_super_network(cfg), space_from_config(cfg)
    method = build_method(cfg, net, load_cost_for_search(cfg, space))
    for q in net.arch_parameters():
        q.requires_grad_(False)
    dev = torch.device("cpu")
    root = resolve_data_root(a.data_path, cfg)
    loader = build_loader(build_dataset(root, "search_train", cfg, train=True), cfg.data.batch_size, True, 0, dev,
                          seed=a.seed, drop_last=True)
    opt = torch.optim.SGD(net.weight_parameters(), lr=a.lr, momentum=a.momentum, weight_decay=cfg.optim.weight.weight_decay)
    g = torch.Generator().manual_seed(0)
    choices = method.op_choices()
    ops, path = uniform_path(choices, g), route_path(space, g)
    print(f"route path {path}, mode {a.mode}, lr {a.lr:g}, momentum {a.momentum:g}"
          + (f", {' '.join(a.opts)}" if a.opts else ""))
    step, correct, seen, epoch = 0, 0, 0, 0
    while step < a.steps:
        loader.sampler.set_epoch(epoch)
        for x, y in DevicePrefetcher(loader, dev):
            if a.mode != "fixed_ops":
                ops = uniform_path(choices, g)
            if a.mode == "redraw_all":
                path = route_path(space, g)
            method.set_weight_path(ops)
            net.restrict_to_path(path)
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct, seen, step = correct + int((logits.argmax(1) == y).sum()), seen + len(y), step + 1
            if step % 50 == 0 or step == a.steps:
                print(f"step {step}: train top-1 {100 * correct / seen:.1f}% (last {seen} images), loss {loss.item():.3f}",
                      flush=True)
                correct = seen = 0
            if step == a.steps:
                break
        epoch += 1


if __name__ == "__main__":
    main()
