import pytest
import torch

from search_space import derive, derive_path, load_cost_table, lut_cost, space_from_config
from search_space.chained_cost import CostTensors, chained_cost
from search_space.cost_table import CostTable, table_from_values, positions
from search_space.topology import SearchSpace
from models.zoo import ZOO


def small_space():
    # blocks 0,1,2 + final 3: 0->1,2 ; 1->2 ; 2->final
    return SearchSpace("mbv2", (8, 16, 16), (16, 8, 8), (0, 1, 1, 2), (0, 1, 1), (3, 1, 1),
                       ("a_k3", "a_k5"), ("s_k3", "skip_connect"), 8, 8, 32, 10)


def test_small_space_topology():
    s = small_space()
    assert s.out_routes == ((1, 2), (2,), (3,))
    assert s.in_routes == ((), (0,), (1, 0), (2,))


def test_expected_cost_by_hand():
    s = small_space()
    table = CostTable(input=1.0,
                      head=[[[2.0, 4.0]], [[3.0, 5.0], [6.0, 10.0]]],
                      stack=[[[1.0, 0.1]], [[2.0, 0.2]]],
                      final=[7.0], classifier=0.5)
    beta0 = torch.tensor([0.25, 0.75])  # 0->1, 0->2
    head_w = [torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
    stack_w = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])]
    route_w = [beta0, torch.tensor([1.0]), torch.tensor([1.0])]
    got = chained_cost(s, route_w, head_w, stack_w, CostTensors.from_table(table, s))
    # chained(2) = final 7 ; stack(2) = 0.5*2 + 0.5*0.2 = 1.1
    # chained(1) = 1 * (head 1->2 (route 0, op weights [1,0]) 3 + 1.1 + 7) = 11.1
    # chained(0) = .25*(head 0->1 = 3 + stack(1) 1 + 11.1) + .75*(head 0->2 route 1 = 10 + 1.1 + 7)
    want = 1.0 + 0.5 + 0.25 * (3 + 1 + 11.1) + 0.75 * (10 + 1.1 + 7)
    assert got.item() == pytest.approx(want)


def test_derive_on_hand_set_betas(tiny_cfg):
    from search_space import build_super_network
    from models import build_model
    net = build_super_network(tiny_cfg)
    s = net.space
    with torch.no_grad():
        for b in net.betas:
            b.zero_()
        # force 0 -> 1 -> 3 -> final: prefer the longest jump out of block 1
        net.betas[0][s.route_index(0, 1)] = 5.0
        net.betas[1][s.route_index(1, 3)] = 5.0
        net.betas[3][s.route_index(3, s.final)] = 5.0
        net.head_alphas[3 - 1][s.in_routes[3].index(1)] = torch.tensor([0.0, 4.0])
        net.stack_alphas[3 - 1][0] = torch.tensor([0.0, 0.0, 9.0])  # skip wins -> dropped
    cfg = derive(net)
    assert [b.out_ch for b in cfg.blocks] == [s.chs[0], s.chs[1], s.chs[3]]
    assert cfg.blocks[2].head_op == "mbconv_k5_t3" and cfg.blocks[2].stack_ops == ()
    model = build_model(cfg, num_classes=5)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_viterbi_prefers_max_product():
    s = small_space()
    # direct 0->2 (0.6) vs 0->1->2 (0.4 * 1.0): max-product picks 0->2
    assert derive_path(s, [[0.4, 0.6], [1.0], [1.0]]) == [0, 2, 3]
    assert derive_path(s, [[0.7, 0.3], [1.0], [1.0]]) == [0, 1, 2, 3]


def test_lut_of_derived_matches_expected_cost_on_one_hot(tiny_cfg):
    """With one-hot betas/alphas, the expected cost equals the table cost of the derived net."""
    from search_space import build_super_network, flops_table
    torch.manual_seed(0)
    net = build_super_network(tiny_cfg)
    table = flops_table(net.space, 32)
    with torch.no_grad():
        for p in net.arch_parameters():  # decisive, tie-free choices: one entry 100 above the rest
            p.zero_()
            if p.dim() == 1:
                p[torch.randint(p.numel(), ())] = 100.0
            elif p.numel():
                p.scatter_(1, torch.randint(p.shape[1], (p.shape[0], 1)), 100.0)
    derived = derive(net)
    assert net.expected_cost(table).item() == pytest.approx(lut_cost(net.space, table, derived), rel=1e-5)


def test_published_latency_of_zoo(reference):
    import os
    from search_space.search_config import load_search_config
    space = space_from_config(load_search_config(os.path.join(reference, "configs", "imagenet_search_cfg_mbv2.yaml")))
    table = load_cost_table(os.path.join(reference, "lat_list_densenas_mbv2_xp32"), space)
    for name in ("densenas_a", "densenas_b", "densenas_c"):
        got = lut_cost(space, table, ZOO[name].net_config)
        want = ZOO[name].published["latency_ms"]
        assert abs(got - want) / want < 0.03, (name, got, want)


def test_table_not_fitting_names_block(reference):
    import os
    from search_space.search_config import load_search_config
    from common.errors import CostTableError
    space = space_from_config(load_search_config(os.path.join(reference, "configs", "imagenet_search_cfg_resnet.yaml")))
    with pytest.raises(CostTableError, match="routing blocks|block"):
        load_cost_table(os.path.join(reference, "lat_list_densenas_mbv2_xp32"), space)


def test_skip_reg_table_matches_reference(reference):
    import os
    from search_space.search_config import load_search_config
    space = space_from_config(load_search_config(os.path.join(reference, "configs", "imagenet_search_cfg_resnet.yaml")))
    plain = load_cost_table(os.path.join(reference, "lat_list_resv2_32"), space)
    reg = load_cost_table(os.path.join(reference, "lat_list_resv2_32_reg10"), space)
    ours = plain.with_skip_reg(space)
    for a, b in zip(ours.stack, reg.stack):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-6)


def test_positions_cover_table(tiny_cfg):
    s = space_from_config(tiny_cfg)
    values = {p.key: 1.0 for p in positions(s, 32)}
    t = table_from_values(s, values, {"units": "ms"})
    assert t.check_fits(s) is not None
