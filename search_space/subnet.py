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
from models.operations import branches, is_multi_branch


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
    """A layer's weights from its mixed op's candidates; a multi-branch layer takes each branch
    from the body of that op's candidate (an MBConv's body is the branch, its residual the cell's)."""
    if is_multi_branch(op):
        for branch, name in zip(dst.branches, branches(op)):
            _copy(branch, candidates[names.index(name)].body)
    else:
        _copy(dst, candidates[names.index(op)])


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
