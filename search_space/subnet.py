"""One architecture of a trained super network as a plain network with the super network's weights.

Used to rank architectures by their *one-shot* accuracy (the supernet's weights on that path, BN
statistics recalibrated), the quantity a weight-sharing search relies on. The plain network is
:class:`models.densenas.DerivedNetwork` of the net_config; its ops receive the weights of the
super network's candidate ops on the net's path, and it computes what the super network computes
when only that path exists:

* each head op's output is multiplied by its route probability softmax(beta / softmax_temp), as
  in the super network's forward (a ``Scaled`` wrapper);
* the final 1x1 branch is multiplied by the final block's weight of that branch (the second
  softmax over the incoming route probabilities, as the original), folded into the classifier;
* BN layers that are not affine in the super network get weight 1 and bias 0.

The running BN statistics of a super network were gathered on random paths: call
:func:`recalibrate_bn` before evaluating.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from models.densenas import DerivedNetwork
from models.net_config import NetConfig
from models.operations import BasicBlock, Bottleneck, MBConv, MultiBranch, branches, is_multi_branch
from search_space.entangled import materialize


class Scaled(nn.Module):
    """``scale * module(x)`` with a fixed scale (a route probability)."""

    def __init__(self, module: nn.Module, scale: float):
        super().__init__()
        self.module = module
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x):
        return self.scale * self.module(x)


def _copy(dst: nn.Module, src: nn.Module) -> None:
    """Load ``src``'s weights into the same op built with affine BN (missing BN affine = identity)."""
    for (name_d, mod_d), (name_s, mod_s) in zip(dst.named_modules(), src.named_modules()):
        if type(mod_d) is not type(mod_s):
            raise ValueError(f"op structure differs at {name_d!r}: {type(mod_d).__name__} vs {type(mod_s).__name__}")
        if isinstance(mod_d, nn.modules.batchnorm._BatchNorm):
            if mod_s.affine:
                mod_d.weight.data.copy_(mod_s.weight.data)
                mod_d.bias.data.copy_(mod_s.bias.data)
            elif mod_d.affine:
                nn.init.ones_(mod_d.weight)
                nn.init.zeros_(mod_d.bias)
            mod_d.running_mean.copy_(mod_s.running_mean)
            mod_d.running_var.copy_(mod_s.running_var)
            mod_d.num_batches_tracked.copy_(mod_s.num_batches_tracked)
        elif isinstance(mod_d, (nn.Conv2d, nn.Linear)):
            mod_d.weight.data.copy_(mod_s.weight.data)
            if mod_d.bias is not None:
                mod_d.bias.data.copy_(mod_s.bias.data)


def _copy_op(dst: nn.Module, candidates, names, op: str) -> None:
    """A layer's weights from its mixed op's candidates (an entangled candidate's slices, copied);
    a multi-branch layer takes each branch from the body of that op's candidate (an MBConv's body is the branch, its residual the cell's)."""
    if is_multi_branch(op):
        for branch, name in zip(dst.branches, branches(op)):
            _copy(branch, materialize(candidates[names.index(name)]).body)
    else:
        _copy(dst, materialize(candidates[names.index(op)]))


@torch.no_grad()
def extract_subnet(supernet, net_config: NetConfig) -> DerivedNetwork:
    """The plain network of ``net_config`` carrying ``supernet``'s weights (see module doc)."""
    from search_space.derive import map_to_space
    space = supernet.space
    path, ops = map_to_space(space, net_config)
    model = DerivedNetwork(net_config, num_classes=space.num_classes)
    blocks = list(model.blocks)
    if space.net_type == "mbv2":
        _copy(model.stem, supernet.input_block[0])
        _copy(blocks[0][0], supernet.input_block[1])
        blocks = blocks[1:]
    else:
        _copy(model.stem, supernet.input_block)
    route_probs = [p.detach().cpu() for p in supernet.route_probs()]
    for stage, (src, dst), (head, stack) in zip(blocks, zip(path[:-2], path[1:-1]), ops):
        block = supernet.blocks[dst - 1]
        r = space.in_routes[dst].index(src)
        _copy_op(stage[0], block.head[r].candidates, space.head_ops, head)
        stage[0] = Scaled(stage[0], route_probs[src][space.route_index(src, dst)].item())
        for layer, (op, mixed) in enumerate(zip(stack, block.stack)):
            _copy_op(stage[1 + layer], mixed.candidates, space.stack_ops, op)
    last_src = path[-2]
    r = space.in_routes[space.final].index(last_src)
    incoming = torch.stack([route_probs[s][space.route_index(s, space.final)] for s in space.in_routes[space.final]])
    branch_weight = torch.softmax(incoming, dim=0)[r].item()
    if space.net_type == "mbv2":
        _copy(model.last_conv, supernet.final_branches[r])
    model.classifier.weight.data.copy_(supernet.classifier.weight.data * branch_weight)
    model.classifier.bias.data.copy_(supernet.classifier.bias.data)
    return model


READOUTS = ("prob", "unit", "dense_sum")


@torch.no_grad()
def set_route_readout(model: DerivedNetwork, supernet, net_config: NetConfig, readout: str) -> None:
    """Re-scale the heads of an extracted net (:func:`extract_subnet`): ``prob`` keeps the route
    probability (what the super network computes on that path alone); ``unit`` scale 1;
    ``dense_sum`` the sum of the probabilities of *every* route into that block, i.e. the total
    weight the block's input had in the dense super network, carried by the one route (a probe of
    the residual balance a single route changes)."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    from search_space.derive import map_to_space
    space = supernet.space
    path, _ = map_to_space(space, net_config)
    probs = [p.detach().cpu() for p in supernet.route_probs()]
    heads = [stage[0] for stage in model.blocks if isinstance(stage[0], Scaled)]
    for head, (src, dst) in zip(heads, zip(path[:-2], path[1:-1])):
        if readout == "unit":
            head.scale.fill_(1.0)
        elif readout == "dense_sum":
            head.scale.fill_(float(sum(probs[s][space.route_index(s, dst)] for s in space.in_routes[dst])))
        else:
            head.scale.fill_(float(probs[src][space.route_index(src, dst)]))


def _scale_bn(bn: nn.BatchNorm2d, s: float) -> None:
    bn.weight.data.mul_(s)
    bn.bias.data.mul_(s)


def _fold_scale(op: nn.Module, s: float) -> bool:
    """Multiply ``op``'s output by ``s`` > 0 through its last BNs; True when that is exact. Exact
    unless an identity path joins the output: s * (x + f(x)) has no plain-net form, and then only
    the body is scaled (s * f(x) + x)."""
    if isinstance(op, MBConv):
        _scale_bn(op.body[-1][1], s)
        return not op.use_residual
    if isinstance(op, MultiBranch):
        for branch in op.branches:
            _scale_bn(branch[-1][1], s)
        return not op.use_residual
    if isinstance(op, (BasicBlock, Bottleneck)):  # relu(s*a + s*b) = s * relu(a + b) for s > 0
        _scale_bn(op.body[-1], s)
        if isinstance(op.shortcut, nn.Sequential):
            _scale_bn(op.shortcut[1], s)
            return True
        return False
    raise ValueError(f"cannot fold a route probability into a {type(op).__name__} head")


@torch.no_grad()
def fold_route_scales(model: DerivedNetwork) -> bool:
    """Replace every :class:`Scaled` head of an extracted net by the op with the scale folded into
    its weights, so the net is a plain :class:`DerivedNetwork` (its state_dict loads into one built
    from the net_config). Returns whether every fold was exact (see :func:`_fold_scale`)."""
    exact = True
    for stage in model.blocks:
        if isinstance(stage[0], Scaled):
            exact &= _fold_scale(stage[0].module, float(stage[0].scale))
            stage[0] = stage[0].module
    return exact


def inherited_weights(supernet, net_config: NetConfig):
    """``(state_dict, exact)``: the weights a plain network of ``net_config`` inherits from
    ``supernet`` (route probabilities folded in, BN statistics as the super network has them);
    ``exact``: its eval-mode logits equal the super network's on that path (no residual head)."""
    with torch.random.fork_rng(devices=[]):  # building the net draws an init: keep the caller's stream
        model = extract_subnet(supernet, net_config)
    exact = fold_route_scales(model)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, exact


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches, device=None) -> int:
    """Reset the BN running statistics and re-estimate them (cumulative average) on ``batches``
    of normalised inputs; returns the number of images used. The model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    seen = 0
    for x, _ in batches:
        model(x if device is None else x.to(device))
        seen += x.shape[0]
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return seen


def take(iterable, n: int):
    """The first ``n`` items (a few calibration batches)."""
    return itertools.islice(iterable, n)
