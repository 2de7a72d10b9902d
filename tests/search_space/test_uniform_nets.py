"""Uniform (hand-designed) nets: every (op, route path) once, one op everywhere, costs of the
table, the window pick."""
import os

from models.net_config import parse_text
from search_space import flops_table, lut_cost, space_from_config
from search_space.search_config import load_search_config
from search_space.uniform_nets import uniform_in_window, uniform_nets, uniform_ops
from tests.conftest import ROOT, TINY_OPTS


def _space():
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), TINY_OPTS + ["optim.sub_obj.type=flops"])
    space = space_from_config(cfg)
    return space, flops_table(space, 32)


def test_every_op_and_path_once_with_one_op_everywhere():
    space, table = _space()
    nets = uniform_nets(space, table)
    ops = uniform_ops(space)
    assert ops == ["mbconv_k3_t3", "mbconv_k5_t3"]  # skip_connect is not a head op
    paths = [list(p) for p in space.paths()]
    assert len(nets) == len(ops) * len(paths)
    assert sorted((n["op"], tuple(n["path"])) for n in nets) == sorted((o, tuple(p)) for o in ops for p in paths)
    for n in nets:
        net = parse_text(n["net_config"])
        searched = net.blocks[1:]  # block 0 is the fixed input head
        assert len(searched) == len(n["path"]) - 2
        for block, dst in zip(searched, n["path"][1:-1]):
            assert block.head_op == n["op"] and list(block.stack_ops) == [n["op"]] * space.num_layers[dst]
        assert abs(lut_cost(space, table, net) - n["cost"]) < 1e-9
    assert [n["cost"] for n in nets] == sorted(n["cost"] for n in nets)


def test_window_pick():
    nets = [{"op": o, "cost": c, "net_config": f"{o}{c}"} for o, c in
            (("a", 0.90), ("a", 0.99), ("a", 1.01), ("b", 1.0), ("b", 1.02), ("c", 1.5))]
    w = uniform_in_window(nets, 1.0, 0.025, at_most=2)  # 4 inside, more than 2: the closest per op
    assert [(n["op"], n["cost"]) for n in w["nets"]] == [("a", 0.99), ("b", 1.0)]
    w = uniform_in_window(nets, 1.0, 0.025)  # at most one per op of the set (3): still too many
    assert {n["op"] for n in w["nets"]} == {"a", "b"} and w["nearest_below"] == 0.90 and w["nearest_above"] == 1.5
    empty = uniform_in_window(nets, 1.25, 0.025)
    assert empty["nets"] == [] and empty["nearest_below"] == 1.02 and empty["nearest_above"] == 1.5
