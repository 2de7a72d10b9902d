"""Every search method against the same toy space: a step runs, gradients go where they should,
derive is deterministic; plus the TF-NAS specifics (bi-sampling, Gumbel weights, temperature, reset)."""
import json
import os

import pytest
import torch

from search_space.search_config import load_search_config
from common.errors import ConfigError
from search_space import build_super_network, derive, flops_table, space_from_config
from search_space.methods import METHODS, build_method
from search_space.super_network import _rows
from tests.conftest import ROOT, TINY_OPTS

METHOD_OPTS = {"densenas": [], "tfnas": ["search_params.method=tfnas", "optim.sub_obj.target=0.5"],
               "nse": ["search_params.method=nse", "train_params.epochs=4", "search_params.nse.rounds=2"]}


def _setup(method, extra=()):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                      TINY_OPTS + ["optim.sub_obj.type=flops", "search_params.arch_update_epoch=1"]
                      + METHOD_OPTS[method] + list(extra))
    torch.manual_seed(0)
    net = build_super_network(cfg)
    space = space_from_config(cfg)
    table = flops_table(space, 32)
    if method == "tfnas":  # a target in MMACs of this space, between its cheapest and dearest nets
        from search_space.budget import cost_range
        lo, hi = cost_range(space, table)
        cfg.optim.sub_obj.target = (lo + hi) / 2
    return cfg, net, table, build_method(cfg, net, table)


def _batch(n=8):
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g)


def _grads(params):
    return [p.grad for p in params]


def _nonzero(grads):
    return any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_weight_step_trains_weights_only(name):
    cfg, net, table, method = _setup(name)
    for p in net.arch_parameters():
        p.requires_grad_(False)
    x, y = _batch()
    for epoch in (0, 1):  # warm-up, then after arch updates start
        net.zero_grad(set_to_none=True)
        out = method.weight_step(x, y, epoch)
        out.loss.backward()
        assert torch.isfinite(out.loss) and out.logits.shape == (8, 5)
        assert _nonzero(_grads(net.weight_parameters()))
        assert all(p.grad is None for p in net.arch_parameters())


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("part", ["ce", "cost"])
def test_arch_step_ce_and_cost_both_reach_alphas_and_betas(name, part):
    cfg, net, table, method = _setup(name)
    for p in net.weight_parameters():
        p.requires_grad_(False)
    x, y = _batch()
    out = method.arch_step(x, y, 1)
    assert out.cost is not None and out.ce is not None
    target = out.ce if part == "ce" else out.loss - out.ce
    target.backward()
    assert _nonzero(_grads(net.betas)), f"{name}: {part} puts no gradient on the betas"
    assert _nonzero(_grads(list(net.head_alphas) + list(net.stack_alphas))), f"{name}: {part} puts no gradient on alphas"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_derive_is_deterministic(name):
    cfg, net, table, method = _setup(name)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    assert derive(net).to_text() == derive(net).to_text()
    assert method.state_dict() == json.loads(json.dumps(method.state_dict()))  # checkpointable


def test_tfnas_bi_sampling_paths_differ_everywhere():
    cfg, net, table, method = _setup("tfnas")
    for _ in range(5):
        (h1, s1), (h2, s2) = method.bi_sample()
        assert (h1 != h2).all() and (s1 != s2).all()
        assert h1.shape == (_rows(net.head_alphas).shape[0], 1)


def test_tfnas_path1_follows_alphas_path2_is_uniform_over_the_rest():
    cfg, net, table, method = _setup("tfnas")
    with torch.no_grad():
        for a in net.head_alphas:
            a.zero_()
            a[:, 0] = 6.0  # op 0 almost always in path 1
    firsts, seconds = [], []
    for _ in range(300):
        (h1, _), (h2, _) = method.bi_sample()
        firsts.append(h1[0, 0].item())
        seconds.append(h2[0, 0].item())
    assert firsts.count(0) > 280
    assert 0 not in [s for f, s in zip(firsts, seconds) if f == 0]


def test_tfnas_arch_weights_are_gumbel_softmax_of_the_drawn_noise():
    cfg, net, table, method = _setup("tfnas")
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    head = _rows(net.head_alphas).detach()
    state = net.generator.get_state()
    w = method.gumbel_weights(head)
    net.generator.set_state(state)
    u = torch.rand(head.shape, generator=net.generator).clamp(1e-10, 1 - 1e-10)
    expected = torch.softmax((torch.log_softmax(head, -1) - torch.log(-torch.log(u))) / method.tau, -1)
    assert torch.allclose(w, expected)
    x, y = _batch()
    method.arch_step(x, y, 1)
    plan = net._plan
    assert plan["head_w"].shape == plan["head"].shape == head.shape  # every op runs


def test_tfnas_temperature_schedule_and_alpha_reset():
    cfg, net, table, method = _setup("tfnas", ["search_params.tfnas.tau_decay=0.5"])
    assert method.tau == 5.0
    method.end_epoch(0, arch_ran=False)
    assert method.tau == 5.0
    method.end_epoch(1, arch_ran=True)
    method.end_epoch(2, arch_ran=True)
    assert method.tau == pytest.approx(1.25)
    method.load_state_dict({"tau": 2.0})
    assert method.describe() == "tfnas (T 2.000)"
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    method.after_arch_step()
    for a in list(net.head_alphas) + [a for a in net.stack_alphas if a.numel()]:
        assert torch.allclose(torch.logsumexp(a, -1), torch.zeros(a.shape[0]), atol=1e-6)


@pytest.mark.parametrize("opts,key", [
    (["search_params.method=darts"], "search_params.method"),
    (["search_params.method=tfnas"], "optim.sub_obj.target"),
    (["search_params.method=tfnas", "optim.sub_obj.target=1", "search_params.tfnas.tau_decay=1.5"],
     "search_params.tfnas.tau_decay"),
    (["search_params.method=tfnas", "optim.sub_obj.target=1", "search_params.tfnas.temperature=1"],
     "temperature"),
])
def test_bad_method_config_names_the_key(opts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), opts)
