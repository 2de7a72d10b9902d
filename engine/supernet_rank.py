"""One-shot accuracy of architectures: a trained super network's weights on each architecture's
path (search_space.subnet), BN statistics recalibrated on a few training batches, top-1 on the
search's held-out split. How well this ranks architectures is what a weight-sharing search
relies on (tools.quality.benchmark reports its Kendall tau against retrained accuracy)."""
from __future__ import annotations

import torch


class OneShotScorer:
    """One-shot top-1 (%) of net_configs on a super network: the net's path extracted with the
    super network's weights (``search_space.subnet``), BN recalibrated on ``recal_batches`` fixed
    batches of ``search_train``, evaluated on a fixed random subset of ``eval_images`` images of
    ``search_val`` (lists are sorted by class: a prefix would hold only the first classes)."""

    def __init__(self, cfg, root: str, recal_batches: int = 10, eval_images: int = 2000, device: str = "cpu",
                 readout: str = "prob"):
        from torch.utils.data import Subset
        from dataset.loader import build_dataset, build_loader
        self.readout = readout  # how a head carries its route (search_space.subnet.set_route_readout)
        self.dev = torch.device(device)
        self.recal_batches = recal_batches
        bs = cfg.data.batch_size
        self.train = build_loader(build_dataset(root, "search_train", cfg, train=True), bs, True, 0, self.dev,
                                  seed=0, drop_last=True)
        val_ds = build_dataset(root, "search_val", cfg, train=False)
        pick = torch.randperm(len(val_ds), generator=torch.Generator().manual_seed(0))[:eval_images]
        self.val = build_loader(Subset(val_ds, sorted(pick.tolist())), bs, False, 0, self.dev)

    def __call__(self, net, net_config) -> float:
        from dataset.loader import DevicePrefetcher
        from engine.metrics import evaluate
        from models import load_net_config
        from search_space.subnet import extract_subnet, recalibrate_bn, set_route_readout, take
        nc = net_config if hasattr(net_config, "to_text") else load_net_config(net_config)
        sub = extract_subnet(net, nc)
        if self.readout != "prob":
            set_route_readout(sub, net, nc, self.readout)
        sub = sub.to(self.dev)
        self.train.sampler.set_epoch(0)  # the same calibration batches for every architecture
        recalibrate_bn(sub, take(DevicePrefetcher(self.train, self.dev), self.recal_batches))
        return evaluate(sub, DevicePrefetcher(self.val, self.dev), self.dev)["top1"]


    def calibrated_state(self, net, net_config):
        """``(state_dict, exact)``: the plain network of ``net_config`` with ``net``'s weights (route
        probabilities folded in, ``search_space.subnet.inherited_weights``) and BN statistics
        recalibrated on the very batches the score uses, so evaluating these weights on the score's
        images gives the score. The caller's random streams are left as they were (a search that
        writes them each epoch samples what it would have without)."""
        import random

        import numpy as np
        from dataset.loader import DevicePrefetcher
        from models import load_net_config
        from search_space.subnet import extract_subnet, fold_route_scales, recalibrate_bn, take
        nc = net_config if hasattr(net_config, "to_text") else load_net_config(net_config)
        py_state, np_state = random.getstate(), np.random.get_state()
        devices = [self.dev.index or 0] if self.dev.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                sub = extract_subnet(net, nc)
                exact = fold_route_scales(sub)
                sub = sub.to(self.dev)
                self.train.sampler.set_epoch(0)
                recalibrate_bn(sub, take(DevicePrefetcher(self.train, self.dev), self.recal_batches))
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        return {k: v.detach().cpu().clone() for k, v in sub.state_dict().items()}, exact
