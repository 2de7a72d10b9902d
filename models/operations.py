"""Candidate operations shared by the super network and derived networks.

Every op is built by ``OPS[name](in_ch, out_ch, stride, affine=...)`` and exposes
``out_channels``; a multi-branch layer (``'mbconv_k3_t3+mbconv_k5_t6'``, NSE) by :func:`build_op`. Names follow the original DenseNAS code so configs and net_configs carry over.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, Optional

from torch import nn

# BN settings of the paper (momentum 0.1, eps 1e-3); the builders may override per network.
BN_MOMENTUM = 0.1
BN_EPS = 1e-3


def batch_norm(channels: int, affine: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS, affine=affine)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
            affine: bool = True, relu6: bool = True, dilation: int = 1) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, dilation * (kernel // 2), dilation=dilation, groups=groups,
                        bias=False),
              batch_norm(out_ch, affine)]
    if relu6:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2): [1x1 expand] -> kxk depthwise (dilated when
    ``dilation`` > 1) -> 1x1 project."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel: int, expansion: int,
                 affine: bool = True, dilation: int = 1):
        super().__init__()
        mid = in_ch * expansion
        layers = []
        if expansion > 1:  # t=1 has no expansion conv: the depthwise runs on the input directly
            layers.append(conv_bn(in_ch, mid, 1, affine=affine))
        layers.append(conv_bn(mid, mid, kernel, stride, groups=mid, affine=affine, dilation=dilation))
        layers.append(conv_bn(mid, out_ch, 1, affine=affine, relu6=False))
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch
        self.out_channels = out_ch

    def forward(self, x):
        out = self.body(x)
        return x + out if self.use_residual else out


def _shortcut(in_ch: int, out_ch: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), batch_norm(out_ch, affine))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs, identity or 1x1-conv shortcut."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int, affine: bool = True):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), batch_norm(out_ch, affine),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), batch_norm(out_ch, affine))
        self.shortcut = _shortcut(in_ch, out_ch, stride, affine)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_ch

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 -> 3x3 (stride) -> 1x1 to ``planes * 4`` channels."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, affine: bool = True):
        super().__init__()
        out_ch = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, planes, 1, bias=False), batch_norm(planes, affine), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), batch_norm(planes, affine),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_ch, 1, bias=False), batch_norm(out_ch, affine))
        self.shortcut = _shortcut(in_ch, out_ch, stride, affine)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_ch

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class SkipConnect(nn.Module):
    """Identity; a 1x1 conv + BN when channels change; stride by subsampling."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, affine: bool = True):
        super().__init__()
        self.stride = stride
        self.proj = None
        if in_ch != out_ch:
            self.proj = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), batch_norm(out_ch, affine))
        self.out_channels = out_ch

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return x if self.proj is None else self.proj(x)


class Conv1x1(nn.Sequential):
    """The final 1x1 conv to last_dim (``conv1_1`` in net_configs): conv -> BN -> ReLU6."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, affine: bool = True):
        super().__init__(*conv_bn(in_ch, out_ch, 1, stride, affine=affine))
        self.out_channels = out_ch


OpBuilder = Callable[..., nn.Module]
OPS: Dict[str, OpBuilder] = {}
for _k in (3, 5, 7):
    for _t in (1, 3, 6):
        OPS[f"mbconv_k{_k}_t{_t}"] = (lambda k, t: lambda i, o, s, affine=True: MBConv(i, o, s, k, t, affine))(_k, _t)
# Dilated depthwise 3x3 (dilation 2: a 5x5 receptive field at 3x3 cost): NSE's op pool keeps ops
# of a different character beside the plain MBConvs.
for _t in (3, 6):
    OPS[f"mbconv_k3_t{_t}_d2"] = (lambda t: lambda i, o, s, affine=True: MBConv(i, o, s, 3, t, affine, 2))(_t)
OPS["basic_block"] = lambda i, o, s, affine=True: BasicBlock(i, o, s, affine)
OPS["bottle_neck"] = lambda i, o, s, affine=True: Bottleneck(i, o, s, affine)
OPS["skip_connect"] = lambda i, o, s, affine=True: SkipConnect(i, o, s, affine)

FINAL_OP = "conv1_1"
_MBCONV = re.compile(r"^mbconv_k(\d+)_t(\d+)(?:_d(\d+))?$")


def mbconv_params(name: str):
    """(kernel, expansion) of an ``mbconv_k*_t*[_d*]`` name, else None."""
    m = _MBCONV.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def mbconv_dilation(name: str) -> int:
    """Dilation of an MBConv name's depthwise conv (``_d2`` -> 2; 1 when absent)."""
    m = _MBCONV.match(name)
    return int(m.group(3)) if m and m.group(3) else 1


def op_expansion(name: str) -> int:
    """How many times its ``out_ch`` argument an op's output channels are (bottleneck: 4)."""
    return Bottleneck.expansion if name == "bottle_neck" else 1


BRANCH_SEP = "+"


def branches(name: str) -> tuple:
    """The op names of a layer: ``'mbconv_k3_t3+mbconv_k5_t6'`` -> both; a plain op -> itself."""
    return tuple(name.split(BRANCH_SEP))


def is_multi_branch(name: str) -> bool:
    return BRANCH_SEP in name


def check_multi_branch(name: str) -> Optional[str]:
    """Why ``name`` is not a valid multi-branch layer (None when it is): at least two distinct
    known MBConv ops (NSE's multi-branch cell averages inverted-residual bodies; ResNet blocks and
    skip_connect have no body of that kind)."""
    parts = branches(name)
    if len(parts) < 2 or any(not p for p in parts):
        return f"multi-branch op {name!r}: needs two or more op names joined by '{BRANCH_SEP}'"
    for p in parts:
        if p not in OPS:
            return f"multi-branch op {name!r}: unknown op {p!r}"
        if mbconv_params(p) is None:
            return f"multi-branch op {name!r}: {p!r} cannot be a branch (only mbconv_k*_t* ops)"
    if len(set(parts)) != len(parts):
        return f"multi-branch op {name!r}: an op is listed twice"
    return None


class MultiBranch(nn.Module):
    """A layer of several MBConv bodies on the same input (NSE's ``MBCell``): the mean of the
    branches; in a residual position (stride 1, same width) the identity joins the mean,
    y = (x + sum_i f_i(x)) / (n + 1)."""

    def __init__(self, names, in_ch: int, out_ch: int, stride: int, affine: bool = True):
        super().__init__()
        self.branches = nn.ModuleList()
        for name in names:
            k, t = mbconv_params(name)
            self.branches.append(MBConv(in_ch, out_ch, stride, k, t, affine, mbconv_dilation(name)).body)
        self.use_residual = stride == 1 and in_ch == out_ch
        self.out_channels = out_ch

    def forward(self, x):
        total = sum(b(x) for b in self.branches)
        if self.use_residual:
            return (x + total) / (len(self.branches) + 1)
        return total / len(self.branches)


def build_op(name: str, in_ch: int, out_ch: int, stride: int, affine: bool = True) -> nn.Module:
    """``OPS[name](...)``, or a :class:`MultiBranch` for ``'op_a+op_b+...'``."""
    if is_multi_branch(name):
        problem = check_multi_branch(name)
        if problem:
            raise ValueError(problem)
        return MultiBranch(branches(name), in_ch, out_ch, stride, affine)
    return OPS[name](in_ch, out_ch, stride, affine=affine)


def he_fout_init(module: nn.Module) -> None:
    """he_fout: conv weights ~ N(0, sqrt(2 / (k*k*out/groups))); BN 1/0; linear N(0, 0.01)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels / m.groups
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def set_bn(module: nn.Module, momentum: float, eps: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum, m.eps = momentum, eps

