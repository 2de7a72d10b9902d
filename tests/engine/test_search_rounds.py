"""Between NSE rounds (engine.search_rounds): weights re-initialised as a fresh run's (seeded by
round) unless search_params.nse.inherit_weights; the gates are the method's, never copied."""
import os
from types import SimpleNamespace

import torch

from engine.search_rounds import SearchRounds
from search_space import build_super_network
from search_space.search_config import load_search_config
from tests.conftest import ROOT, TINY_OPTS

OPTS = TINY_OPTS + ["search_params.method=nse", "optim.sub_obj.type=flops", "train_params.epochs=4",
                    "search_params.nse.rounds=2", "search_params.arch_update_epoch=1"]


class _Run(SearchRounds):
    def __init__(self, cfg, net):
        self.cfg, self.net, self.method, self.rebuilt = cfg, net, SimpleNamespace(round=1), 0

    def build_optimizers(self):
        self.rebuilt += 1


def _trained(cfg):
    torch.manual_seed(0)
    net = build_super_network(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.5)
    return net


def test_restart_round_reinitialises_or_inherits_weights_never_gates():
    for inherit in (False, True):
        cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                                 OPTS + [f"search_params.nse.inherit_weights={str(inherit).lower()}"])
        net = _trained(cfg)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        run = _Run(cfg, net)
        run.restart_round()
        after = net.state_dict()
        assert run.rebuilt == 1
        alphas = [k for k in after if k.startswith(("head_alphas", "stack_alphas"))]
        assert alphas and all(torch.equal(after[k], before[k]) for k in alphas)
        conv = next(k for k in after if k.endswith("weight") and after[k].dim() == 4)
        assert torch.equal(after[conv], before[conv]) == inherit
        if not inherit:  # the same fresh weights every time for a round
            net2 = _trained(cfg)
            _Run(cfg, net2).restart_round()
            assert torch.equal(net2.state_dict()[conv], after[conv])
