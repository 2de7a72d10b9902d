"""One search step computes what the original DenseNAS release computes (docs/fidelity.md)."""
import math
import os

import pytest
import torch

from search_space.search_config import load_search_config
from search_space import build_super_network, derive, space_from_config
from search_space.cost_table import CostTable, flops_table
from search_space.derive import lut_cost
from tests.conftest import ROOT

# Three blocks: 0 -> {1, 2}, 1 -> {2, final}, 2 -> {final}; in_routes[2] = (1, 0), in_routes[3] = (2, 1).
TOY_OPTS = [
    "search_params.net_scale.chs=[8,12,16]", "search_params.net_scale.fm_sizes=[16,8,8]",
    "search_params.net_scale.stage=[0,1,1,2]", "search_params.net_scale.num_layers=[0,1,1]",
    "search_params.adjoin_connect_nums=[3,3,3]",
    "search_params.PRIMITIVES_head=[mbconv_k3_t3,mbconv_k5_t3]",
    "search_params.PRIMITIVES_stack=[mbconv_k3_t3,mbconv_k5_t3,skip_connect]",
    "optim.init_dim=8", "optim.head_dim=8", "optim.last_dim=32", "data.input_size=32", "data.num_classes=5",
]
TOY_TABLE = CostTable(input=1.5,
                      head=[[[2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]],
                      stack=[[[1.0, 2.0, 0.5]], [[3.0, 4.0, 0.25]]],
                      final=[0.7, 0.9], classifier=0.2)


def _toy(*extra):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), TOY_OPTS + list(extra))
    torch.manual_seed(0)
    net = build_super_network(cfg)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(torch.randn_like(p))
    return net


def _softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def _hand_cost(net, head_kept, stack_kept, temp):
    """Item 1 of the fidelity rules, written out for the toy space."""
    b = [x.detach().tolist() for x in net.betas]
    p = [_softmax([v / temp for v in beta]) for beta in b]
    head_rows = torch.cat(list(net.head_alphas)).tolist()
    stack_rows = torch.cat([a for a in net.stack_alphas if a.shape[0]]).tolist()
    head_costs = [TOY_TABLE.head[0][0], TOY_TABLE.head[1][0], TOY_TABLE.head[1][1]]
    stack_costs = [TOY_TABLE.stack[0][0], TOY_TABLE.stack[1][0]]

    def mixed(alpha, kept, costs):
        w = _softmax([alpha[i] for i in kept])
        return sum(wj * costs[i] for wj, i in zip(w, kept))
    h = [mixed(a, k, c) for a, k, c in zip(head_rows, head_kept, head_costs)]  # 0->1, 1->2, 0->2
    s = [mixed(a, k, c) for a, k, c in zip(stack_rows, stack_kept, stack_costs)]  # block 1, block 2
    chained2 = p[2][0] * TOY_TABLE.final[0]
    chained1 = p[1][0] * (h[1] + s[1] + chained2) + p[1][1] * TOY_TABLE.final[1]
    chained0 = p[0][0] * (h[0] + s[0] + chained1) + p[0][1] * (h[2] + s[1] + chained2)
    return TOY_TABLE.input + chained0 + TOY_TABLE.classifier


@pytest.mark.parametrize("temp", [1.0, 0.9])
def test_sampled_cost_equals_hand_computation(temp):
    net = _toy(f"search_params.softmax_temp={temp}")
    assert net.space.in_routes[2] == (1, 0) and net.space.in_routes[3] == (2, 1)
    head_kept, stack_kept = [[0, 1], [0, 1], [0, 1]], [[0, 2], [1, 2]]
    net.set_plan("arch", torch.tensor(head_kept), torch.tensor(stack_kept))
    cost = net.sampled_cost(TOY_TABLE)
    assert cost.item() == pytest.approx(_hand_cost(net, head_kept, stack_kept, temp), rel=1e-6)


def test_only_kept_alphas_get_cost_gradients_and_rescale_keeps_unkept_mass():
    net = _toy()
    stack_kept = torch.tensor([[0, 2], [1, 2]])
    net.set_plan("arch", torch.tensor([[0, 1]] * 3), stack_kept)
    net.sampled_cost(TOY_TABLE).backward()
    grads = torch.cat([a.grad for a in net.stack_alphas if a.shape[0]])
    unkept = torch.ones_like(grads, dtype=torch.bool).scatter(1, stack_kept, False)
    assert (grads[unkept] == 0).all()
    assert (grads[~unkept] != 0).all()
    # an Adam step on the cost alone, then the rescale: unkept op probabilities stay exactly
    before = torch.softmax(torch.cat([a for a in net.stack_alphas if a.shape[0]]).detach(), -1)
    snapshot = net.snapshot_alphas()
    torch.optim.Adam(net.arch_parameters(), lr=0.1).step()
    net.rescale_after_arch_step(snapshot)
    after = torch.softmax(torch.cat([a for a in net.stack_alphas if a.shape[0]]).detach(), -1)
    assert torch.allclose(before[unkept], after[unkept], atol=1e-6)
    assert not torch.allclose(before[~unkept], after[~unkept])


def test_sampled_plans_are_sorted_and_expected_mode_kept():
    net = _toy()
    net.sample("arch")
    kept = net._plan["stack"]
    assert (kept[:, :1] < kept[:, 1:]).all()
    # cost_mode expected: every op weighted (today's estimator), different from the sampled one
    assert net.expected_cost(TOY_TABLE).item() != pytest.approx(net.sampled_cost(TOY_TABLE).item())


def test_temperature_acts_on_routes_only():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    hot, cold = _toy("search_params.softmax_temp=0.5"), _toy()
    cold.load_state_dict(hot.state_dict())
    with torch.no_grad():
        for b in cold.betas:
            b.mul_(2.0)  # softmax(beta / 0.5) == softmax(2 beta / 1)
    for net in (hot, cold):
        net.set_plan("arch", torch.tensor([[0, 1]] * 3), torch.tensor([[0, 2], [1, 2]]))
        net.eval()
    assert torch.allclose(hot(x), cold(x), atol=1e-6)
    assert hot.sampled_cost(TOY_TABLE).item() == pytest.approx(cold.sampled_cost(TOY_TABLE).item(), rel=1e-6)
    for p, beta in zip(hot.route_probs(), hot.betas):
        assert torch.allclose(p, torch.softmax(beta / 0.5, -1))


def test_final_block_weights_are_a_softmax_of_route_probabilities():
    net = _toy("search_params.softmax_temp=0.9")
    net.sample("eval")
    outs, pooled = {}, {}
    for r, branch in enumerate(net.final_branches):
        branch.register_forward_hook(lambda m, i, o, r=r: outs.__setitem__(r, o))
    net.pool.register_forward_hook(lambda m, i, o: pooled.__setitem__("in", i[0]))
    net(torch.randn(2, 3, 32, 32))
    probs = net.route_probs()
    final = net.space.final
    p = torch.stack([probs[src][net.space.route_index(src, final)] for src in net.space.in_routes[final]])
    v = torch.softmax(p, 0)
    expected = sum(v[r] * outs[r] for r in range(len(outs)))
    assert torch.allclose(pooled["in"], expected, atol=1e-6)
    assert not torch.allclose(v, p)  # the second softmax changes the weights


RES_TOY = ["search_params.net_scale.chs=[16,24,32]", "search_params.net_scale.fm_sizes=[16,8,8]",
           "search_params.net_scale.stage=[0,1,1,2]", "search_params.net_scale.num_layers=[0,1,1]",
           "optim.init_dim=16", "data.input_size=32"]


def _res(*extra):
    return load_search_config(os.path.join(ROOT, "configs", "imagenet_search_cfg_resnet.yaml"), RES_TOY + list(extra))


def test_batchnorm_settings_follow_the_original():
    res = _res("optim.last_dim=32", "optim.bn_eps=0.001")
    net = build_super_network(res)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in bns)
    assert net.input_block[1].affine
    mbv2 = _toy()
    bns = [m for m in mbv2.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 for m in bns)
    affine = [name for name, m in mbv2.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and m.affine]
    assert affine == ["input_block.1.body.1.1"]  # the head block's projection BN only


def test_resnet_derive_has_no_conv1_1_and_costs_agree():
    cfg = _res("optim.last_dim=64", "data.num_classes=5")
    net = build_super_network(cfg)
    nc = derive(net)
    assert nc.last is None and "conv1_1" not in nc.to_text()
    from models import build_model, count_macs
    model = build_model(nc, num_classes=5)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
    space = space_from_config(cfg)
    table = flops_table(space, 32)
    # the table cost is the MACs of the plain network (no final-branch entry without conv1_1)
    assert lut_cost(space, table, nc) == pytest.approx(count_macs(model, 32) / 1e6, rel=1e-3)
    # a res net_config that keeps conv1_1 still builds and pays for it
    from dataclasses import replace
    with_last = replace(nc, last=(nc.blocks[-1].out_ch, 64))
    assert build_model(with_last, num_classes=5)(torch.randn(1, 3, 32, 32)).shape == (1, 5)
    assert lut_cost(space, table, with_last) > lut_cost(space, table, nc)


def test_bottleneck_space_super_network_cost_derive_build():
    cfg = load_search_config(os.path.join(ROOT, "configs", "imagenet_search_cfg_resnet.yaml"), [
        "search_params.net_scale.chs=[16,8,12]", "search_params.net_scale.fm_sizes=[16,8,8]",
        "search_params.net_scale.stage=[0,1,1,2]", "search_params.net_scale.num_layers=[0,1,1]",
        "search_params.PRIMITIVES_head=[bottle_neck]", "search_params.PRIMITIVES_stack=[bottle_neck,skip_connect]",
        "optim.init_dim=16", "optim.last_dim=16", "data.input_size=32", "data.num_classes=5"])
    net = build_super_network(cfg)
    assert net.classifier.in_features == 64  # last_dim x 4
    for mode in ("weight", "arch", "eval"):
        net.sample(mode)
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    space = space_from_config(cfg)
    table = flops_table(space, 32)
    net.sample("arch")
    assert torch.isfinite(net.sampled_cost(table))
    from models import build_model, count_macs
    nc = derive(net)
    model = build_model(nc, num_classes=5)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
    assert lut_cost(space, table, nc) == pytest.approx(count_macs(model, 32) / 1e6, rel=1e-3)


def test_bottleneck_mixed_with_basic_block_is_refused():
    from common.errors import ConfigError
    with pytest.raises(ConfigError, match="bottle_neck cannot be mixed"):
        load_search_config(os.path.join(ROOT, "configs", "imagenet_search_cfg_resnet.yaml"),
                    ["search_params.PRIMITIVES_stack=[basic_block,bottle_neck,skip_connect]"])


def test_paper_configs_use_paper_tables_and_lr_floor():
    from configs import resolve_path
    from search_space.cost_table import load_cost_table
    for name, table_file, cost_type in (("mbv2", "mbv2_titanxp_b32_224.json", "latency"),
                                        ("resnet", "resnet_titanxp_b32_224.json", "flops")):
        cfg = load_search_config(os.path.join(ROOT, "configs", f"imagenet_search_cfg_{name}.yaml"))
        assert cfg.optim.weight.min_lr == 1e-5
        assert cfg.optim.sub_obj.type == cost_type and cfg.optim.sub_obj.cost_mode == "sampled"
        assert os.path.basename(cfg.optim.sub_obj.latency_list_path) == table_file
        table = load_cost_table(resolve_path(cfg.optim.sub_obj.latency_list_path, cfg), space_from_config(cfg))
        assert table.meta["device"] == "NVIDIA TITAN Xp" and table.meta["batch_size"] == 32
        assert table.meta["input_size"] == 224 and "original" in table.meta["source"]
        cpu = load_search_config(os.path.join(ROOT, "configs", f"imagenet_search_cfg_{name}_cpu.yaml"))
        assert "cpu" in cpu.optim.sub_obj.latency_list_path and cpu.optim.sub_obj.type == "latency"
        load_cost_table(resolve_path(cpu.optim.sub_obj.latency_list_path, cpu), space_from_config(cpu))


def test_shipped_titanxp_tables_equal_the_original(reference):
    from configs import resolve_path
    from search_space.cost_table import load_cost_table
    for legacy in ("lat_list_densenas_mbv2_xp32", "lat_list_resv2_32"):
        cfg = load_search_config(os.path.join(reference, "configs",
                                       "imagenet_search_cfg_mbv2.yaml" if "mbv2" in legacy else
                                       "imagenet_search_cfg_resnet.yaml"))
        space = space_from_config(cfg)
        ours = load_cost_table(resolve_path(legacy), space)  # the original's name finds the conversion
        assert ours.meta["path"].endswith("_titanxp_b32_224.json")
        theirs = load_cost_table(os.path.join(reference, legacy), space)
        assert (ours.input, ours.head, ours.stack, ours.final, ours.classifier) == \
            (theirs.input, theirs.head, theirs.stack, theirs.final, theirs.classifier)


def test_batch_is_split_over_processes():
    from engine.distributed import DistInfo, per_process_batch
    from common.errors import ConfigError
    assert per_process_batch(352, DistInfo(0, 4, 0)) == 88
    assert per_process_batch(8, DistInfo()) == 8
    with pytest.raises(ConfigError, match="data.batch_size.*3 processes"):
        per_process_batch(352, DistInfo(0, 3, 0))
