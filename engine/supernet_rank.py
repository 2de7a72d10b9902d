"""One-shot accuracy of architectures: a trained super network's weights on each architecture's
path (search_space.subnet), BN statistics recalibrated on a few training batches, top-1 on the
search's held-out split. How well this ranks architectures is what a weight-sharing search
relies on (tools.benchmark_quality reports its Kendall tau against retrained accuracy)."""
from __future__ import annotations

import os
from typing import List, Sequence

import torch

from common.errors import InputError


def supernet_accuracies(run_dir: str, net_configs: Sequence, data_path, recal_batches: int = 10,
                        eval_images: int = 2000, device: str = "cpu") -> List[float]:
    """Top-1 (%) of each net_config with the weights of the search run's super network
    (``run_dir/checkpoint.pt``), evaluated on ``eval_images`` images of ``search_val`` (a fixed random subset)."""
    from torch.utils.data import Subset
    from dataset.loader import DevicePrefetcher, build_dataset, build_loader, resolve_data_root
    from engine.checkpoint import load_file
    from engine.derive_run import load_search_result
    from engine.metrics import evaluate
    from search_space import build_super_network
    from search_space.subnet import extract_subnet, recalibrate_bn, take
    result = load_search_result(run_dir)
    cfg = result.cfg
    if result.space.net_type != "mbv2":
        raise InputError(f"{run_dir}: one-shot accuracy needs an MBV2-type space (a ResNet-space derived net has no "
                         "final 1x1 branch, so it is not a path of its super network)")
    ckpt = os.path.join(run_dir, "checkpoint.pt")
    state = load_file(ckpt)
    net = build_super_network(cfg)
    net.load_state_dict(state["model"])
    dev = torch.device(device)
    root = resolve_data_root(data_path, cfg, announce=False)
    bs = cfg.data.batch_size
    train = build_loader(build_dataset(root, "search_train", cfg, train=True), bs, True, 0, dev, seed=0,
                         drop_last=True)
    val_ds = build_dataset(root, "search_val", cfg, train=False)
    # a fixed random subset: lists are sorted by class, a prefix would hold only the first classes
    pick = torch.randperm(len(val_ds), generator=torch.Generator().manual_seed(0))[:eval_images]
    val_ds = Subset(val_ds, sorted(pick.tolist()))
    val = build_loader(val_ds, bs, False, 0, dev)
    out = []
    from models import load_net_config
    for nc in net_configs:
        sub = extract_subnet(net, load_net_config(nc)).to(dev)
        train.sampler.set_epoch(0)  # the same calibration batches for every architecture
        recalibrate_bn(sub, take(DevicePrefetcher(train, dev), recal_batches))
        out.append(evaluate(sub, DevicePrefetcher(val, dev), dev)["top1"])
    return out
