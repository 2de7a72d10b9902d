"""Multi-branch layers on the search space: table cost = the sum of the branches' entries, one-shot
weights from the candidates' bodies, ops outside the space rejected."""
import dataclasses
import random

import pytest
import torch

from common.errors import NetConfigError
from search_space import build_super_network, flops_table, lut_cost, map_to_space, space_from_config
from latency.stats import random_architecture


def _with_head(nc, block, op):
    blocks = list(nc.blocks)
    blocks[block] = dataclasses.replace(blocks[block], head_op=op)
    return dataclasses.replace(nc, blocks=tuple(blocks))


def test_table_cost_adds_the_branches(tiny_cfg):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    nc = random_architecture(space, random.Random(0))
    a, b = space.head_ops[:2]
    path, _ = map_to_space(space, nc)
    dst, src = path[1], path[0]
    entry = {op: table.head[dst - 1][space.in_routes[dst].index(src)][space.head_ops.index(op)] for op in (a, b)}
    with_a, both = _with_head(nc, 1, a), _with_head(nc, 1, f"{a}+{b}")  # block 0 is the input block
    assert lut_cost(space, table, both) == pytest.approx(lut_cost(space, table, with_a) + entry[b])
    assert entry[b] > 0


def test_branch_outside_the_space_is_named(tiny_cfg):
    space = space_from_config(tiny_cfg)
    nc = _with_head(random_architecture(space, random.Random(0)), 1, "mbconv_k3_t3+mbconv_k7_t6")
    with pytest.raises(NetConfigError, match="head op mbconv_k7_t6 is not in the space"):
        map_to_space(space, nc)


def test_one_shot_subnet_takes_each_branch_from_its_candidate(tiny_cfg):
    from search_space.subnet import extract_subnet
    space = space_from_config(tiny_cfg)
    net = build_super_network(tiny_cfg, seed=0)
    nc = _with_head(random_architecture(space, random.Random(1)), 1, "mbconv_k3_t3+mbconv_k5_t3")
    sub = extract_subnet(net, nc)
    path, _ = map_to_space(space, nc)
    dst, src = path[1], path[0]
    mixed = net.blocks[dst - 1].head[space.in_routes[dst].index(src)]
    cell = sub.blocks[1][0].module  # Scaled(MultiBranch)
    for branch, op in zip(cell.branches, ("mbconv_k3_t3", "mbconv_k5_t3")):
        body = mixed.candidates[space.head_ops.index(op)].body
        convs = [(m.weight for m in mod.modules() if isinstance(m, torch.nn.Conv2d)) for mod in (branch, body)]
        pairs = list(zip(*convs))
        assert len(pairs) == 3  # expand, depthwise, project
        for p, q in pairs:
            torch.testing.assert_close(p, q)


def test_random_multi_branch_nets_for_table_checks(tiny_cfg):
    from models.net_config import parse_text
    from latency.stats import add_branches
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    rng = random.Random(0)
    nets = [add_branches(space, random_architecture(space, rng), rng, max_branches=3) for _ in range(10)]
    layers = [op for nc in nets for b in nc.blocks[1:] for op in (b.head_op,) + b.stack_ops if op != "skip_connect"]
    assert any("+" in op for op in layers) and any("+" not in op for op in layers)
    assert all(op.count("+") <= 2 for op in layers)
    for nc in nets:
        assert parse_text(nc.to_text()) == nc and lut_cost(space, table, nc) > 0
