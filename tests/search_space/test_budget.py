"""Exact budget-constrained derive against brute-force enumeration; the target-seeking loss."""
import itertools
import math
import random

import pytest
import torch

from search_space import build_super_network, derive, flops_table, lut_cost, space_from_config
from search_space.budget import ArchProbs, best_within, cost_range, pareto_fronts
from search_space.chained_cost import target_loss
from search_space.derive import net_config_from_choices


def _random_probs(space, seed, scale):
    g = torch.Generator().manual_seed(seed)
    betas = [(torch.randn(len(space.out_routes[b]), generator=g) * scale).tolist() for b in range(space.final)]
    heads = [(torch.randn(len(space.in_routes[k]), len(space.head_ops), generator=g) * scale).tolist()
             for k in space.routing_blocks]
    stacks = [(torch.randn(space.num_layers[k], len(space.stack_ops), generator=g) * scale).tolist()
              for k in space.routing_blocks]
    return ArchProbs.from_params(betas, heads, stacks)


def _brute_force(space, table, probs):
    """Every distinct derived network: (table cost, log score, net_config)."""
    nonskip = [op for op in space.stack_ops if op != "skip_connect"]
    out = []
    for path in space.paths():
        blocks = path[1:-1]
        options = []
        for k in blocks:
            layers = space.num_layers[k]
            stacks = [list(ops) + ["skip_connect"] * (layers - m) for m in range(layers + 1)
                      for ops in itertools.product(nonskip, repeat=m)]
            options.append(list(itertools.product(space.head_ops, stacks)))
        for choice in itertools.product(*options):
            head = {k: h for k, (h, _) in zip(blocks, choice)}
            stack = {k: s for k, (_, s) in zip(blocks, choice)}
            score = 0.0
            for src, dst in zip(path[:-1], path[1:]):
                score += math.log(probs.routes[src][space.route_index(src, dst)])
            for k in blocks:
                r = space.in_routes[k].index(path[path.index(k) - 1])
                score += math.log(probs.head[k - 1][r][space.head_ops.index(head[k])])
                score += sum(math.log(probs.stack[k - 1][l][space.stack_ops.index(op)])
                             for l, op in enumerate(stack[k]))
            nc = net_config_from_choices(space, path, head, stack)
            out.append((lut_cost(space, table, nc), score, nc))
    return out


@pytest.mark.parametrize("seed,scale", [(0, 0.01), (1, 1.0), (2, 3.0)])
def test_budget_derive_equals_brute_force(tiny_cfg, seed, scale):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    probs = _random_probs(space, seed, scale)
    everything = _brute_force(space, table, probs)
    assert len(everything) > 500
    lo, hi = cost_range(space, table)
    assert lo == pytest.approx(min(c for c, _, _ in everything)) and hi == pytest.approx(max(c for c, _, _ in everything))
    fronts = pareto_fronts(space, table, probs)
    fronts3 = pareto_fronts(space, table, probs, k=3)
    rng = random.Random(seed)
    for budget in [lo, lo * 1.01] + [rng.uniform(lo, hi) for _ in range(6)] + [hi * 2]:
        feasible = sorted((s for c, s, _ in everything if c <= budget + 1e-9), reverse=True)
        best = best_within(fronts, budget)[0]
        assert best.cost <= budget + 1e-9
        assert best.cost == pytest.approx(lut_cost(space, table, best.net_config), abs=1e-9)
        assert best.log_score == pytest.approx(feasible[0], abs=1e-9)
        top = best_within(fronts3, budget, topk=3)
        assert [c.log_score for c in top] == pytest.approx(feasible[:3], abs=1e-9)
        assert len({c.net_config.to_text() for c in top}) == len(top)


def test_budget_below_cheapest_names_the_cheapest(tiny_cfg):
    from common.errors import InputError
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    fronts = pareto_fronts(space, table, _random_probs(space, 0, 1.0))
    lo, _ = cost_range(space, table)
    with pytest.raises(InputError, match=f"cheapest architecture of the space \\({lo:.6g}\\)"):
        best_within(fronts, lo * 0.9)


def test_without_budget_the_paper_derive_is_kept(tiny_cfg):
    from search_space import derive_from_params
    net = build_super_network(tiny_cfg)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(torch.randn_like(p))
    as_lists = [[p.detach().tolist() for p in ps] for ps in (net.betas, net.head_alphas, net.stack_alphas)]
    assert derive_from_params(net.space, *as_lists) == derive(net)


def test_target_loss_is_differentiable_and_minimal_at_the_target():
    for mode in ("abs", "hinge"):
        cost = torch.tensor(12.0, requires_grad=True)
        target_loss(cost, 10.0, mode, 2.0).backward()
        assert cost.grad.item() == pytest.approx(0.2)  # d/dc 2 |c/10 - 1| above the target
        assert target_loss(torch.tensor(10.0), 10.0, mode, 2.0).item() == 0.0
    assert target_loss(torch.tensor(8.0), 10.0, "abs", 1.0).item() == pytest.approx(0.2)
    assert target_loss(torch.tensor(8.0), 10.0, "hinge", 1.0).item() == 0.0
    values = [target_loss(torch.tensor(c), 10.0, "abs", 1.0).item() for c in (6.0, 9.0, 10.0, 11.0, 14.0)]
    assert min(values) == values[2]
