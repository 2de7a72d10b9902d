import pytest
import torch

from models.operations import OPS, MBConv, SkipConnect, mbconv_params


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes(name, stride):
    op = OPS[name](8, 16, stride).eval()
    y = op(torch.randn(2, 8, 16, 16))
    expect_ch = 64 if name == "bottle_neck" else 16
    assert y.shape == (2, expect_ch, 16 // stride, 16 // stride)
    assert op.out_channels == expect_ch


def test_mbconv_structure_and_residual():
    op = MBConv(8, 8, 1, 5, 6)
    convs = [m for m in op.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1), (5, 5), (1, 1)]
    assert convs[1].groups == 48 and convs[0].out_channels == 48
    assert op.use_residual
    # zero the projection BN so the body outputs 0: a residual op then returns its input
    bn = op.body[-1][1]
    torch.nn.init.zeros_(bn.weight)
    x = torch.randn(1, 8, 6, 6)
    assert torch.allclose(op.eval()(x), x)
    assert not MBConv(8, 16, 1, 3, 3).use_residual
    assert not MBConv(8, 8, 2, 3, 3).use_residual
    t1 = MBConv(8, 8, 1, 3, 1)
    assert len([m for m in t1.modules() if isinstance(m, torch.nn.Conv2d)]) == 2  # no expansion conv


def test_skip_connect_identity_and_stride():
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(SkipConnect(4, 4, 1)(x), x)
    assert torch.equal(SkipConnect(4, 4, 2)(x), x[:, :, ::2, ::2])
    assert SkipConnect(4, 6, 1).eval()(x).shape == (1, 6, 8, 8)


def test_affine_flag():
    op = OPS["mbconv_k3_t3"](4, 4, 1, affine=False)
    assert all(not m.affine for m in op.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert mbconv_params("mbconv_k7_t6") == (7, 6) and mbconv_params("skip_connect") is None


def test_resnet_shortcut_downsample():
    op = OPS["basic_block"](8, 16, 2)
    assert isinstance(op.shortcut, torch.nn.Sequential)
    assert isinstance(OPS["basic_block"](8, 8, 1).shortcut, torch.nn.Identity)
