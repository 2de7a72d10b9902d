"""One position of the super network: the candidate ops of a layer, of which a plan runs a few."""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from models.operations import OPS
from search_space.entangled import entangle as entangle_ops
from search_space.topology import SearchSpace


class MixedOp(nn.Module):
    """Candidate ops of one position (block ``src`` -> width of block ``dst``). Runs only the
    kept ops, weighted. ``entangle``: the MBConv candidates are slices of shared superkernels
    (``superkernels``, see :mod:`search_space.entangled`); otherwise each op has its own weights."""

    def __init__(self, ops: List[str], space: SearchSpace, src: int, dst: int, stride: int,
                 entangle: bool = False):
        super().__init__()
        self.candidates = nn.ModuleList(OPS[op](*space.op_channels(op, src, dst), stride, affine=False)
                                        for op in ops)
        if entangle:
            self.superkernels = entangle_ops(self.candidates, ops)
        # Identity-compatible position (stride 1, same width): the MBConv candidates add their input.
        self.residual = stride == 1 and space.width(src) == space.width(dst)

    def forward(self, x, kept: List[int], weights: Optional[torch.Tensor]):
        if weights is None:  # a single op with weight 1 (weight step, one sample)
            return self.candidates[kept[0]](x)
        out = None
        for j, i in enumerate(kept):
            y = weights[j] * self.candidates[i](x)
            out = y if out is None else out + y
        return out

    def combination(self, x, ops: List[int], outs: dict):
        """A multi-branch layer of ``ops`` (``outs``: their outputs by index), as
        :class:`models.operations.MultiBranch` computes it from the candidates (which add their
        input in a residual position): the mean of the ops; residual, (x + sum of bodies) / (n + 1);
        one op alone is that op; no op (residual positions only) is the identity."""
        n = len(ops)
        if n == 0:
            return x
        total = outs[ops[0]]
        for i in ops[1:]:
            total = total + outs[i]
        if not self.residual:
            return total / n
        return total if n == 1 else (total - (n - 1) * x) / (n + 1)

    def forward_combination(self, x, sel: List[int], unsel: Optional[List[int]], gates):
        """The ``sel`` combination's output; with ``unsel`` (NSE's arch step) also the other
        combination, without grad: ``y_sel * gates[0] + sg(y_unsel) * gates[1]``."""
        outs = {i: self.candidates[i](x) for i in sel}
        y = self.combination(x, sel, outs)
        if unsel is None:
            return y
        with torch.no_grad():
            outs_u = {i: outs[i].detach() if i in outs else self.candidates[i](x) for i in unsel}
            y_u = self.combination(x.detach(), unsel, outs_u)
        return y * gates[0] + y_u * gates[1]
