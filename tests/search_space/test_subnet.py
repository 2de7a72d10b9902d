"""A super network's path as a plain network: same outputs as the super network on that path."""
import pytest
import torch

from search_space.search_config import load_search_config
from search_space import build_super_network, space_from_config
from search_space.derive import net_config_from_choices
from search_space.subnet import Scaled, extract_subnet, recalibrate_bn
from tests.conftest import ROOT, TINY_OPTS


def _chain_cfg():
    opts = [o for o in TINY_OPTS if "adjoin" not in o] + ["search_params.adjoin_connect_nums=[1,1,1]"]
    return load_search_config(f"{ROOT}/configs/demo_search.yaml", opts + ["optim.sub_obj.type=flops"])


def test_subnet_equals_supernet_on_a_single_path():
    torch.manual_seed(0)
    cfg = _chain_cfg()
    space = space_from_config(cfg)
    net = build_super_network(cfg)
    net.train()
    for _ in range(3):  # give every BN non-trivial running statistics
        net.sample("weight", uniform=True)
        net(torch.randn(8, 3, 32, 32))
    g = torch.Generator().manual_seed(1)
    nonskip = [i for i, o in enumerate(space.stack_ops) if o != "skip_connect"]
    head = torch.randint(len(space.head_ops), (sum(len(space.in_routes[k]) for k in space.routing_blocks), 1),
                         generator=g)
    n_stack = sum(space.num_layers[k] for k in space.routing_blocks)
    stack = torch.tensor(nonskip)[torch.randint(len(nonskip), (n_stack, 1), generator=g)]
    net.set_plan("weight", head, stack)
    path = list(range(space.final + 1))
    rows = iter(stack[:, 0].tolist())
    head_choice = {k: space.head_ops[int(head[k - 1, 0])] for k in space.routing_blocks}
    stack_choice = {k: [space.stack_ops[next(rows)] for _ in range(space.num_layers[k])] for k in space.routing_blocks}
    nc = net_config_from_choices(space, path, head_choice, stack_choice)
    sub = extract_subnet(net, nc)
    net.eval()
    sub.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), sub(x), atol=1e-5, rtol=1e-4)


def test_route_probabilities_scale_the_heads(tiny_cfg):
    torch.manual_seed(0)
    net = build_super_network(tiny_cfg)
    with torch.no_grad():
        for b in net.betas:
            b.normal_()
    space = net.space
    path = next(iter(space.paths()))
    nc = net_config_from_choices(space, path, {k: space.head_ops[0] for k in path[1:-1]},
                                 {k: [] + ["skip_connect"] * space.num_layers[k] for k in path[1:-1]})
    sub = extract_subnet(net, nc)
    probs = net.route_probs()
    heads = [stage[0] for stage in list(sub.blocks)[1:]]
    for h, (src, dst) in zip(heads, zip(path[:-2], path[1:-1])):
        assert isinstance(h, Scaled)
        assert h.scale.item() == probs[src][space.route_index(src, dst)].item()


def test_recalibrate_bn_uses_only_the_given_batches(tiny_cfg):
    net = build_super_network(tiny_cfg)
    space = net.space
    path = next(iter(space.paths()))
    nc = net_config_from_choices(space, path, {k: space.head_ops[0] for k in path[1:-1]},
                                 {k: ["skip_connect"] * space.num_layers[k] for k in path[1:-1]})
    sub = extract_subnet(net, nc)
    x = torch.randn(16, 3, 32, 32) * 3 + 1
    n = recalibrate_bn(sub, [(x[:8], None), (x[8:], None)])
    assert n == 16 and not sub.training
    stem_bn = sub.stem[1]
    conv_out = sub.stem[0](x)
    assert torch.allclose(stem_bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)


@pytest.mark.parametrize("entangle", [False, True])
def test_inherited_weights_give_the_super_networks_logits_on_the_path(tiny_cfg, entangle):
    """Dense routes, random route probabilities, BN statistics from sampled steps: the plain net
    of a path loaded with the inherited state_dict computes the super network restricted to it."""
    from models import build_model
    from search_space.entangled import SlicedConv
    from search_space.subnet import inherited_weights
    tiny_cfg.search_params.weight_sharing.entangle = entangle
    torch.manual_seed(0)
    net = build_super_network(tiny_cfg)
    assert any(isinstance(m, SlicedConv) for m in net.modules()) == entangle
    with torch.no_grad():
        for b in net.betas:
            b.normal_()
    net.train()
    for _ in range(3):
        net.sample("weight", uniform=True)
        net(torch.randn(8, 3, 32, 32))
    space = net.space
    g = torch.Generator().manual_seed(3)
    for path in list(space.paths())[:3]:
        n_head = sum(len(space.in_routes[k]) for k in space.routing_blocks)
        n_stack = sum(space.num_layers[k] for k in space.routing_blocks)
        head = torch.randint(len(space.head_ops), (n_head, 1), generator=g)
        stack = torch.randint(len(space.stack_ops), (n_stack, 1), generator=g)
        net.set_plan("weight", head, stack)
        net.restrict_to_path(path)
        rows = {}
        for k in path[1:-1]:
            r = net._row_starts[0][k - 1] + space.in_routes[k].index(path[path.index(k) - 1])
            s0 = net._row_starts[1][k - 1]
            rows[k] = (space.head_ops[int(head[r, 0])],
                       [space.stack_ops[int(stack[s0 + i, 0])] for i in range(space.num_layers[k])])
        nc = net_config_from_choices(space, path, {k: v[0] for k, v in rows.items()},
                                     {k: v[1] for k, v in rows.items()})
        state, exact = inherited_weights(net, nc)
        assert exact
        model = build_model(nc, num_classes=space.num_classes)
        model.load_state_dict(state, strict=True)
        net.eval()
        model.eval()
        x = torch.randn(4, 3, 32, 32)
        with torch.no_grad():
            assert torch.allclose(net(x), model(x), atol=1e-5, rtol=1e-4)
        net.train()
