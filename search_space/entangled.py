"""Entangled candidate ops: the MBConv candidates of one mixed op as slices of one superkernel
(``search_params.weight_sharing.entangle: true``; Single-Path NAS, Once-for-All, TangleNAS), so
that every weight step trains weights that every candidate of the layer uses.

What shares with what, and why:

* MBConv ops with an expansion conv (t > 1) share the weights of the largest one: expansion conv
  ``[T*C_in, C_in]``, depthwise ``[T*C_in, 1, K, K]``, projection ``[C_out, T*C_in]``. Op (k, t)
  takes the first ``t*C_in`` hidden channels of each (the hidden channels become ranked: the first
  ones are trained by every op) and the centre k x k of the depthwise superkernel.
* A dilated op (``mbconv_k3_t3_d2``) takes the superkernel taps at its own spatial offsets:
  a 3x3 dilated by 2 reads the 5x5 centre at offsets -2, 0, +2 -- one weight per spatial offset,
  whichever op uses it. K is the largest span (k - 1) * d + 1 of the group.
* MBConv t1 ops (no expansion conv) form a group of their own under the same rule (T = 1): their
  depthwise filters the layer's *input*, the t > 1 ops' depthwise filters expanded features, so
  tying the two would share filters between unrelated tensors.
* skip_connect, basic_block, bottle_neck keep their own weights (a ResNet-space mixed op has one
  weighted op: nothing to share). A group of one op keeps its own weights too.
* BN: each op keeps its own BN (running statistics per op; the super network's BNs have no affine
  weights). The statistics of the shared channels differ from op to op (another kernel, another
  number of channels feeding the projection), and the one-shot scorer recalibrates the BNs of an
  extracted net anyway (``search_space.subnet.recalibrate_bn``).

Initialisation: he_fout of the largest op of the group (as :func:`models.operations.he_fout_init`
initialises that op alone): std sqrt(2 / (k*k*out/groups)). Opt-in
(``search_params.weight_sharing.depthwise_init: fan_hidden``): the depthwise superkernel with std
sqrt(2 / (k*k*hidden)), the fan-out counted over all hidden channels as a prototype of issue 44 did,
sqrt(hidden) smaller (:func:`scale_depthwise_to_fan_hidden`).

A candidate stays a :class:`models.operations.MBConv` (same BN modules, same forward) whose convs
are :class:`SlicedConv` views; :func:`materialize` turns it into the plain op with those weights
(the derived net's op, ``search_space.subnet``).
"""
from __future__ import annotations

import copy
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.operations import MBConv, mbconv_dilation, mbconv_params


class SuperKernel(nn.Module):
    """The weights of one group's largest op: ``expand`` (None for t1), ``depthwise``, ``project``."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int, kernel: int):
        super().__init__()
        hidden = in_ch * expansion
        self.expand = nn.Parameter(torch.empty(hidden, in_ch, 1, 1)) if expansion > 1 else None
        self.depthwise = nn.Parameter(torch.empty(hidden, 1, kernel, kernel))
        self.project = nn.Parameter(torch.empty(out_ch, hidden, 1, 1))
        with torch.no_grad():  # he_fout: fan_out = k*k*out/groups of the largest op's conv
            if self.expand is not None:
                self.expand.normal_(0.0, math.sqrt(2.0 / hidden))
            self.depthwise.normal_(0.0, math.sqrt(2.0 / (kernel * kernel)))
            self.project.normal_(0.0, math.sqrt(2.0 / out_ch))


@torch.no_grad()
def scale_depthwise_to_fan_hidden(net: nn.Module) -> int:
    """Every depthwise superkernel of ``net`` scaled by 1/sqrt(hidden): the same draws, now with std
    sqrt(2 / (k*k*hidden)) (no new random numbers: the rest of the run's stream is unchanged).
    Returns the number of superkernels scaled."""
    kernels = [m for m in net.modules() if isinstance(m, SuperKernel)]
    for m in kernels:
        m.depthwise.mul_(1.0 / math.sqrt(m.depthwise.shape[0]))
    return len(kernels)


class SlicedConv(nn.Module):
    """A conv of one op computed with its slice of a :class:`SuperKernel` (no parameters of its own)."""

    def __init__(self, source: SuperKernel, kind: str, hidden: int, stride: int = 1, kernel: int = 1,
                 dilation: int = 1):
        super().__init__()
        object.__setattr__(self, "source", source)  # a reference, not a submodule: the mixed op owns it
        self.kind, self.hidden, self.stride, self.kernel, self.dilation = kind, hidden, stride, kernel, dilation

    def weight(self) -> torch.Tensor:
        w = getattr(self.source, self.kind)
        if self.kind == "expand":
            return w[:self.hidden]
        if self.kind == "project":
            return w[:, :self.hidden]
        span = (self.kernel - 1) * self.dilation + 1
        start = (w.shape[-1] - span) // 2
        return w[:self.hidden, :, start:start + span:self.dilation, start:start + span:self.dilation]

    def forward(self, x):
        if self.kind != "depthwise":
            return F.conv2d(x, self.weight())
        return F.conv2d(x, self.weight(), None, self.stride, self.dilation * (self.kernel // 2), self.dilation,
                        self.hidden)

    def to_conv(self) -> nn.Conv2d:
        """The plain conv with this slice's weights (a copy)."""
        w = self.weight().detach()
        if self.kind == "depthwise":
            conv = nn.Conv2d(self.hidden, self.hidden, self.kernel, self.stride, self.dilation * (self.kernel // 2),
                             dilation=self.dilation, groups=self.hidden, bias=False)
        else:
            conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False)
        conv.weight.data.copy_(w)
        return conv.to(w.device)

    def extra_repr(self) -> str:
        return f"{self.kind}, hidden={self.hidden}, kernel={self.kernel}, dilation={self.dilation}, stride={self.stride}"


def _group_key(name: str) -> Optional[str]:
    params = mbconv_params(name)
    if params is None:
        return None
    return "t1" if params[1] == 1 else "expand"


def entangle(candidates: Sequence[nn.Module], names: Sequence[str]) -> nn.ModuleDict:
    """Make the MBConv ``candidates`` (built from ``names``) slices of shared superkernels, in
    place; returns the superkernels by group (``expand``, ``t1``) for the mixed op to own."""
    groups: Dict[str, List[int]] = {}
    for i, name in enumerate(names):
        key = _group_key(name)
        if key is not None:
            groups.setdefault(key, []).append(i)
    kernels = nn.ModuleDict()
    for key, members in groups.items():
        if len(members) < 2:
            continue
        spans = [(mbconv_params(names[i])[0] - 1) * mbconv_dilation(names[i]) + 1 for i in members]
        first = candidates[members[0]]
        in_ch = first.body[0][0].in_channels
        big_t = max(mbconv_params(names[i])[1] for i in members)
        source = SuperKernel(in_ch, first.out_channels, big_t, max(spans))
        kernels[key] = source
        for i in members:
            _slice_op(candidates[i], source, names[i])
    return kernels


def _slice_op(op: MBConv, source: SuperKernel, name: str) -> None:
    kernel, t = mbconv_params(name)
    hidden = op.body[0][0].in_channels * t
    layers = list(op.body)
    if t > 1:
        layers[0][0] = SlicedConv(source, "expand", hidden)
    dw = layers[-2][0]
    layers[-2][0] = SlicedConv(source, "depthwise", hidden, dw.stride[0], kernel, mbconv_dilation(name))
    layers[-1][0] = SlicedConv(source, "project", hidden)


def is_sliced(op: nn.Module) -> bool:
    return any(isinstance(m, SlicedConv) for m in op.modules())


def materialize(op: nn.Module) -> nn.Module:
    """``op`` as a plain module: a copy whose :class:`SlicedConv` s are convs with their slices'
    weights (BN modules copied with their statistics); ``op`` itself when it has no slices."""
    sliced = [m for m in op.modules() if isinstance(m, SlicedConv)]
    if not sliced:
        return op
    memo = {id(m.source): m.source for m in sliced}  # the superkernels are not copied
    clone = copy.deepcopy(op, memo)
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SlicedConv):
                setattr(parent, name, child.to_conv())
    return clone


def param_count(op: nn.Module) -> int:
    """Parameters of ``op`` as a plain op (a sliced op counts its slices)."""
    return sum(p.numel() for p in op.parameters()) + sum(m.weight().numel() for m in op.modules()
                                                        if isinstance(m, SlicedConv))
