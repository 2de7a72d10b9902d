"""Weight-sharing strategies on a tiny space: which ops get gradients in which step."""
import os

import pytest
import torch

from common.errors import ConfigError
from search_space import build_super_network, flops_table, space_from_config
from search_space import weight_sharing as ws
from search_space.methods import build_method
from search_space.search_config import load_search_config
from tests.conftest import ROOT, TINY_OPTS


def _setup(*extra, method=()):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                             TINY_OPTS + ["optim.sub_obj.type=flops"] + list(method) + list(extra))
    torch.manual_seed(0)
    net = build_super_network(cfg)
    for p in net.arch_parameters():
        p.requires_grad_(False)
    return cfg, net, build_method(cfg, net, flops_table(space_from_config(cfg), 32))


def _batch(n=6):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g)


def _trained_ops(net):
    """Per mixed op, the candidate indices whose parameters received a non-zero gradient."""
    out = []
    for m in net.mixed_ops():
        out.append({i for i, op in enumerate(m.candidates)
                    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in op.parameters())})
    return out


def _step(net, method, step=0):
    net.zero_grad(set_to_none=True)
    x, y = _batch()
    out = method.shared_weight_step(x, y, 0, step)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.logits.shape == (6, 5)
    return _trained_ops(net)


def _with_params(net):
    """Candidates that have parameters (skip_connect has none), per mixed op."""
    return [{i for i, op in enumerate(m.candidates) if sum(p.numel() for p in op.parameters())} for m in net.mixed_ops()]


def test_uniform_is_the_methods_own_step():
    cfg, net, method = _setup()
    trained = _step(net, method)
    assert all(len(t) <= 1 for t in trained)  # one op per mixed op (none when skip was drawn)
    assert sum(len(t) for t in trained) >= len(trained) // 2


def test_fair_trains_every_op_once_per_step():
    cfg, net, method = _setup("search_params.weight_sharing.strategy=fair")
    trained = _step(net, method)
    assert trained == _with_params(net)  # every op with weights got a gradient, in one update
    paths = ws.fair_paths([[0, 1], [0, 1, 2], [4]], torch.Generator().manual_seed(0))
    assert len(paths) == 3
    assert sorted(p[1] for p in paths) == [0, 1, 2]  # a full mixed op: each op exactly once
    assert [p[2] for p in paths] == [4, 4, 4]
    assert set(p[0] for p in paths) == {0, 1} and sorted(p[0] for p in paths[:2]) == [0, 1]


def test_sandwich_trains_largest_smallest_and_random():
    cfg, net, method = _setup("search_params.weight_sharing.strategy=sandwich",
                              "search_params.weight_sharing.sandwich_random=0")
    trained = _step(net, method)
    sizes = ws.candidate_sizes(net)
    with_params = _with_params(net)
    for t, s, w in zip(trained, sizes, with_params):
        big = max(range(len(s)), key=lambda i: (s[i], -i))
        small = min(range(len(s)), key=lambda i: (s[i], i))
        assert t == {big, small} & w  # exactly the largest and the smallest (skip has no weights)
    # distillation: the smaller paths learn the detached soft labels of the largest
    logits, teacher = torch.randn(4, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    loss = ws.soft_target_ce(logits, teacher)
    loss.backward()
    want = -(torch.softmax(teacher, -1) * torch.log_softmax(logits, -1)).sum(-1).mean()
    assert torch.allclose(loss, want) and teacher.grad is None


def test_hold_keeps_a_path_for_k_steps():
    cfg, net, method = _setup("search_params.weight_sharing.strategy=hold",
                              "search_params.weight_sharing.hold_steps=3")
    first = [_step(net, method, s) for s in range(3)]
    assert first[0] == first[1] == first[2]
    later = [_step(net, method, s) for s in range(3, 12, 3)]
    assert any(t != first[0] for t in later)  # a new path in a later window
    choices = method.op_choices()
    assert ws.hold_path(choices, 2, 4, 3) == ws.hold_path(choices, 2, 5, 3)  # pure: resumable


def test_warmup_trains_every_op_then_samples():
    cfg, net, method = _setup("search_params.weight_sharing.warmup_steps=2")
    assert _step(net, method, 0) == _with_params(net)
    assert _step(net, method, 1) == _with_params(net)
    assert all(len(t) <= 1 for t in _step(net, method, 2))


def test_strategies_on_nse_use_its_subsets():
    nse = ["search_params.method=nse", "train_params.epochs=4", "search_params.nse.rounds=2", "search_params.arch_update_epoch=1",
           "search_params.nse.subset_size=2"]
    cfg, net, method = _setup("search_params.weight_sharing.strategy=fair", method=nse)
    trained = _step(net, method)
    for t, active in zip(trained, method.active):
        assert t == set(active)


def test_single_path_runs_only_its_route_and_equals_the_extracted_net():
    from search_space.derive import net_config_from_choices
    from search_space.subnet import extract_subnet
    cfg, net, method = _setup("search_params.weight_sharing.strategy=single_path")
    space = net.space
    counts = {}
    for seed in range(60):  # uniform over the space's paths
        p = tuple(ws.route_path(space, torch.Generator().manual_seed(seed)))
        counts[p] = counts.get(p, 0) + 1
    assert set(counts) <= {tuple(p) for p in space.paths()} and len(counts) > 1
    trained = _step(net, method)
    path = net._plan["route_path"]
    rows = [(k, "head", src) for k, block in enumerate(net.blocks, 1) for src in block.sources]
    rows += [(k, "stack", i) for k, block in enumerate(net.blocks, 1) for i in range(len(block.stack))]
    on_path = {(dst, "head", src) for src, dst in zip(path[:-2], path[1:-1])}
    for (k, kind, which), t in zip(rows, trained):
        if kind == "head" and (k, kind, which) not in on_path or kind == "stack" and k not in path:
            assert not t  # blocks and routes off the path never ran
        elif kind == "head":
            assert len(t) == 1
    # in eval mode the super network on that path computes the extracted plain network exactly
    head_list, stack_list = net._plan["head_list"], net._plan["stack_list"]
    head_choice, stack_choice = {}, {}
    h = s = 0
    for k, block in enumerate(net.blocks, 1):
        for src in block.sources:
            if (k, "head", src) in on_path:
                head_choice[k] = space.head_ops[head_list[h][0]]
            h += 1
        stack_choice[k] = [space.stack_ops[stack_list[s + i][0]] for i in range(len(block.stack))]
        s += len(block.stack)
    sub = extract_subnet(net, net_config_from_choices(space, path, head_choice, stack_choice)).eval()
    net.eval()
    x, _ = _batch()
    with torch.no_grad():
        assert torch.allclose(net(x), sub(x), atol=1e-5)


@pytest.mark.parametrize("opt,match", [("strategy=greedy", "weight_sharing.strategy"),
                                       ("hold_steps=0", "weight_sharing.hold_steps"),
                                       ("warmup_steps=-1", "weight_sharing.warmup_steps")])
def test_bad_keys_name_the_key(opt, match):
    with pytest.raises(ConfigError, match=match):
        _setup("search_params.weight_sharing." + opt)
