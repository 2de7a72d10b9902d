import re

import torch

from search_space import build_super_network, flops_table
from search_space.sampling import rescale_kept, sample_ops


def test_forward_backward_all_modes(tiny_cfg):
    net = build_super_network(tiny_cfg)
    x = torch.randn(4, 3, 32, 32)
    for mode in ("weight", "arch", "eval"):
        net.zero_grad()
        net.sample(mode)
        net(x).sum().backward()
        arch_grads = [p.grad is not None and p.grad.abs().sum() > 0 for p in net.arch_parameters()]
        if mode == "weight":
            assert not any(arch_grads)
        else:
            assert any(arch_grads)
    assert len(net.betas) == net.space.final
    assert [a.shape[0] for a in net.head_alphas] == [len(net.space.in_routes[k]) for k in net.space.routing_blocks]


def test_only_sampled_ops_run(tiny_cfg):
    net = build_super_network(tiny_cfg)
    calls = {}
    for name, m in net.named_modules():
        if re.search(r"candidates\.\d+$", name):
            m.register_forward_hook(lambda mod, i, o, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
    x = torch.randn(2, 3, 32, 32)
    n_mixed = sum(len(b.head) + len(b.stack) for b in net.blocks)
    for mode, per_op in (("weight", 1), ("arch", 2)):
        calls.clear()
        net.sample(mode)
        net(x)
        assert sum(calls.values()) == n_mixed * per_op
    calls.clear()
    net.sample("eval")
    net(x)
    n_all = sum(len(m.candidates) for b in net.blocks for m in list(b.head) + list(b.stack))
    assert sum(calls.values()) == n_all


def test_sample_counts_and_distribution():
    g = torch.Generator().manual_seed(0)
    alphas = torch.tensor([[0.0, 0.0, 3.0]]).repeat(2000, 1)
    kept = sample_ops(alphas, 2, "prob", g)
    assert kept.shape == (2000, 2)
    assert all(len(set(r)) == 2 for r in kept.tolist())
    share = (kept == 2).any(1).float().mean().item()
    assert share > 0.95
    uniform = sample_ops(alphas, 1, "uniform", g)
    assert 0.25 < (uniform == 2).float().mean().item() < 0.42


def test_rescale_keeps_unkept_probabilities():
    alphas = torch.randn(3, 5)
    old = alphas.clone()
    kept = torch.tensor([[0, 2], [1, 4], [3, 0]])
    alphas.scatter_add_(1, kept, torch.randn(3, 2))  # an "update" of the kept alphas
    rescale_kept(alphas, old, kept)
    p_old, p_new = old.softmax(-1), alphas.softmax(-1)
    for r, row in enumerate(kept.tolist()):
        others = [i for i in range(5) if i not in row]
        assert torch.allclose(p_old[r, others], p_new[r, others], atol=1e-6)
        assert torch.allclose(p_old[r, row].sum(), p_new[r, row].sum(), atol=1e-6)


def test_rescale_after_arch_step_in_network(tiny_cfg):
    net = build_super_network(tiny_cfg)
    net.sample("arch")
    snap = net.snapshot_alphas()
    probs_before = [a.detach().softmax(-1).clone() for a in net.head_alphas]
    with torch.no_grad():
        for a in net.head_alphas:
            a.add_(torch.randn_like(a))
    net.rescale_after_arch_step(snap)
    kept = net._plan["head"]
    row = 0
    for before, a in zip(probs_before, net.head_alphas):
        after = a.detach().softmax(-1)
        for r in range(a.shape[0]):
            k = kept[row].tolist()
            others = [i for i in range(a.shape[1]) if i not in k]
            assert torch.allclose(before[r, others], after[r, others], atol=1e-6)
            row += 1


def test_cost_gradients_reach_arch_params(tiny_cfg):
    net = build_super_network(tiny_cfg)
    table = flops_table(net.space, 32)
    cost = net.expected_cost(table)
    assert cost.dim() == 0
    cost.backward()
    assert all(p.grad is not None for p in net.betas)
    assert all(p.grad is not None for p in net.head_alphas)
    assert any(p.grad.abs().sum() > 0 for p in net.stack_alphas if p.numel())


def test_large_cost_factor_drives_cost_down(tiny_cfg):
    from search_space.chained_cost import cost_loss
    torch.manual_seed(0)
    net = build_super_network(tiny_cfg)
    table = flops_table(net.space, 32)
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 5, (8,))
    start = net.expected_cost(table).item()
    for _ in range(10):
        net.sample("arch")
        snap = net.snapshot_alphas()
        loss = torch.nn.functional.cross_entropy(net(x), y) + cost_loss(net.expected_cost(table), 15.0, 50.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.rescale_after_arch_step(snap)
    assert net.expected_cost(table).item() < 0.9 * start
