"""Entangled op weights (search_params.weight_sharing.entangle) on a tiny space."""
import os

import pytest
import torch

from common.errors import ConfigError
from models.operations import MBConv
from search_space import build_super_network, flops_table, space_from_config
from search_space.entangled import SlicedConv, SuperKernel, entangle, is_sliced, materialize, param_count
from search_space.methods import build_method
from search_space.search_config import load_search_config
from search_space.weight_sharing import candidate_sizes
from tests.conftest import ROOT, TINY_OPTS

ENTANGLE = "search_params.weight_sharing.entangle=true"


def _cfg(*extra):
    return load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                              TINY_OPTS + ["optim.sub_obj.type=flops", ENTANGLE] + list(extra))


def _batch(n=4):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g)


NAMES = ["mbconv_k3_t3", "mbconv_k5_t6", "mbconv_k3_t6_d2", "mbconv_k5_t1", "mbconv_k3_t1", "skip_connect"]


def _entangled(in_ch=6, out_ch=8, stride=2):
    from models.operations import OPS
    torch.manual_seed(0)
    ops = torch.nn.ModuleList(OPS[n](in_ch, out_ch, stride, affine=False) for n in NAMES)
    kernels = entangle(ops, NAMES)
    return ops, kernels


def test_groups_and_superkernel_shapes():
    ops, kernels = _entangled()
    assert set(kernels) == {"expand", "t1"}
    big = kernels["expand"]
    assert tuple(big.expand.shape) == (36, 6, 1, 1)        # T = 6
    assert tuple(big.depthwise.shape) == (36, 1, 5, 5)     # K = max(5, span of k3 d2 = 5)
    assert tuple(big.project.shape) == (8, 36, 1, 1)
    assert tuple(kernels["t1"].depthwise.shape) == (6, 1, 5, 5) and kernels["t1"].expand is None
    assert [is_sliced(op) for op in ops] == [True, True, True, True, True, False]
    # no conv weights of their own: the slices are the only weights of a sliced op
    assert all(not list(op.parameters()) for op in ops[:5])
    assert param_count(ops[0]) == sum(p.numel() for p in materialize(ops[0]).parameters())


def test_slices_are_the_centre_and_the_first_channels():
    ops, kernels = _entangled()
    big = kernels["expand"].depthwise
    dw_k3 = ops[0].body[1][0].weight()
    assert torch.equal(dw_k3, big[:18, :, 1:4, 1:4])
    dw_d2 = ops[2].body[1][0].weight()   # 3x3 dilated by 2 = the 5x5's taps at offsets -2, 0, +2
    assert torch.equal(dw_d2, big[:36, :, 0:5:2, 0:5:2])
    assert torch.equal(ops[0].body[0][0].weight(), kernels["expand"].expand[:18])
    assert torch.equal(ops[0].body[2][0].weight(), kernels["expand"].project[:, :18])


@pytest.mark.parametrize("i", range(5))
@pytest.mark.parametrize("stride,out_ch", [(2, 8), (1, 6)])
def test_a_sliced_op_equals_the_plain_mbconv_with_those_weights(i, stride, out_ch):
    from models.operations import mbconv_dilation, mbconv_params
    ops, _ = _entangled(out_ch=out_ch, stride=stride)
    k, t = mbconv_params(NAMES[i])
    plain = MBConv(6, out_ch, stride, k, t, affine=False, dilation=mbconv_dilation(NAMES[i]))
    sliced_convs = [m for m in ops[i].modules() if isinstance(m, SlicedConv)]
    plain_convs = [m for m in plain.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(sliced_convs) == len(plain_convs)
    with torch.no_grad():
        for s, p in zip(sliced_convs, plain_convs):
            p.weight.copy_(s.weight())
    x = torch.randn(2, 6, 16, 16)
    for mode in ("train", "eval"):
        getattr(ops[i], mode)()
        getattr(plain, mode)()
        assert torch.allclose(ops[i](x), plain(x), atol=1e-6)
    mat = materialize(ops[i])
    assert not is_sliced(mat) and is_sliced(ops[i])  # a copy; the candidate keeps its slices
    mat.eval()
    assert torch.allclose(mat(x), plain(x), atol=1e-6)


def test_every_candidate_of_a_layer_sees_the_update_of_one_op():
    cfg = _cfg()
    torch.manual_seed(0)
    net = build_super_network(cfg)
    method = build_method(cfg, net, flops_table(space_from_config(cfg), 32))
    for p in net.arch_parameters():
        p.requires_grad_(False)
    x, y = _batch()
    method.set_weight_path([0] * len(net.mixed_ops()))  # op 0 everywhere: k3_t3
    net.zero_grad(set_to_none=True)
    method.ce(net(x), y).backward()
    for m in net.mixed_ops():
        sk = m.superkernels["expand"]
        # op 0 ran; the k5 op's slice (the whole superkernel) got the gradient in its shared part
        assert sk.depthwise.grad[:, :, 1:4, 1:4].abs().sum() > 0
        assert sk.depthwise.grad[:, :, 0].abs().sum() == 0  # the k5-only border: untouched by k3
        before = {i: [w.weight().detach().clone() for w in op.modules() if isinstance(w, SlicedConv)]
                  for i, op in enumerate(m.candidates) if is_sliced(op)}
        with torch.no_grad():
            for p in sk.parameters():
                p -= 0.1 * p.grad
        for i, ws in before.items():
            after = [w.weight() for w in m.candidates[i].modules() if isinstance(w, SlicedConv)]
            assert all(not torch.equal(a, b) for a, b in zip(after, ws)), f"candidate {i} did not change"


def test_weight_step_methods_and_strategies_run_entangled():
    x, y = _batch()
    for extra in ([], ["search_params.weight_sharing.strategy=sandwich"],
                  ["search_params.weight_sharing.strategy=single_path"],
                  ["search_params.weight_sharing.strategy=fair"],
                  ["search_params.weight_sharing.warmup_steps=1"],
                  ["search_params.method=tfnas", "optim.sub_obj.target=0.5"]):
        cfg = _cfg(*extra)
        torch.manual_seed(0)
        net = build_super_network(cfg)
        method = build_method(cfg, net, flops_table(space_from_config(cfg), 32))
        out = method.shared_weight_step(x, y, 0, 0)
        out.loss.backward()
        assert torch.isfinite(out.loss)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for m in net.mixed_ops()
                   for p in m.superkernels.parameters())
        out = method.arch_step(x, y, cfg.search_params.arch_update_epoch)
        assert torch.isfinite(out.loss)


def test_sandwich_sizes_count_the_slices():
    cfg = _cfg()
    net = build_super_network(cfg)
    sizes = candidate_sizes(net)
    plain = candidate_sizes(build_super_network(load_search_config(
        os.path.join(ROOT, "configs", "demo_search.yaml"), TINY_OPTS + ["optim.sub_obj.type=flops"])))
    assert sizes == plain and all(max(s) > 0 for s in sizes)


def test_checkpoint_round_trip_and_default_is_independent():
    cfg = _cfg()
    torch.manual_seed(0)
    net = build_super_network(cfg)
    keys = net.state_dict().keys()
    assert any(".superkernels.expand.depthwise" in k for k in keys)
    torch.manual_seed(1)
    other = build_super_network(cfg)
    other.load_state_dict(net.state_dict())
    net.eval(), other.eval()
    x, _ = _batch()
    assert torch.equal(net(x), other(x))
    plain = build_super_network(load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                                                   TINY_OPTS + ["optim.sub_obj.type=flops"]))
    assert not any("superkernels" in k for k in plain.state_dict())
    assert not any(isinstance(m, (SlicedConv, SuperKernel)) for m in plain.modules())


def test_entangle_must_be_a_boolean():
    with pytest.raises(ConfigError, match="entangle"):
        _cfg("search_params.weight_sharing.entangle=3")


def test_fan_hidden_depthwise_init_scales_the_same_draws():
    """Issue 54 §6: depthwise_init=fan_hidden gives the depthwise superkernel std sqrt(2/(k*k*hidden)),
    by scaling the he_fout draws (every other weight, and the random stream, unchanged)."""
    torch.manual_seed(0)
    base = build_super_network(_cfg())
    after_base = torch.rand(1)
    torch.manual_seed(0)
    scaled = build_super_network(_cfg("search_params.weight_sharing.depthwise_init=fan_hidden"))
    assert torch.equal(torch.rand(1), after_base)
    a, b = base.state_dict(), scaled.state_dict()
    dw = [k for k in a if k.endswith("depthwise")]
    assert dw and all(torch.allclose(b[k], a[k] / a[k].shape[0] ** 0.5) for k in dw)
    assert all(torch.equal(a[k], b[k]) for k in a if k not in dw)
    with pytest.raises(ConfigError, match="depthwise_init"):
        _cfg("search_params.weight_sharing.depthwise_init=xavier")


def test_nse_multi_branch_layers_are_slices_of_one_superkernel():
    """Under entanglement an nse combination's branches are the slices of their ops (a k3 d2 branch
    reads the 5x5 taps at even offsets); weight and arch steps run and train the superkernel."""
    from tests.search_space.test_nse import NSE_OPTS
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), NSE_OPTS + [ENTANGLE])
    torch.manual_seed(0)
    net = build_super_network(cfg)
    method = build_method(cfg, net, flops_table(space_from_config(cfg), 32))
    x, y = _batch(8)
    out = method.shared_weight_step(x, y, 0, 0)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    m = net.mixed_ops()[0]
    assert tuple(m.superkernels["expand"].depthwise.shape[-2:]) == (5, 5)
    assert m.superkernels["expand"].depthwise.grad is not None
    out = method.arch_step(x, y, cfg.search_params.arch_update_epoch)
    assert torch.isfinite(out.loss)
