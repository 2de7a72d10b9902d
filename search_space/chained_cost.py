"""Chained cost estimation: the expected cost of the whole network, differentiable in
alphas (through op weights) and betas (through route weights).

    mixed-op cost    = sum_o w_o * c_o
    chained(final)   = 0
    chained(b)       = sum_r softmax(betas[b])[r] * (head_cost(b->r) + stack_cost(r) + chained(r))
    total            = input_cost + chained(0) + classifier_cost
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import torch

from search_space.cost_table import CostTable
from search_space.topology import SearchSpace


@dataclass
class CostTensors:
    """A cost table as tensors, laid out like the architecture parameters."""
    input: float
    head: List[torch.Tensor]   # head[k-1]: (routes_in(k) x n_head)
    stack: List[torch.Tensor]  # stack[k-1]: (num_layers(k) x n_stack)
    final: torch.Tensor        # (routes_in(final),)
    classifier: float

    @classmethod
    def from_table(cls, table: CostTable, space: SearchSpace, device="cpu") -> "CostTensors":
        table = table.check_fits(space)
        n_stack = len(space.stack_ops)

        def t(x, shape=None):
            out = torch.tensor(x, dtype=torch.float32, device=device)
            return out.reshape(shape) if shape is not None else out
        return cls(float(table.input),
                   [t(h) for h in table.head],
                   [t(s, (len(s), n_stack)) for s in table.stack],
                   t(table.final), float(table.classifier))


def chained_cost(space: SearchSpace, route_w: Sequence[torch.Tensor], head_w: Sequence[torch.Tensor],
                 stack_w: Sequence[torch.Tensor], costs: CostTensors) -> torch.Tensor:
    """Expected cost given route weights ``route_w[b]`` (b = 0..N-1), head op weights
    ``head_w[k-1]`` (routes_in x n_head) and stack op weights ``stack_w[k-1]`` (layers x n_stack)."""
    final = space.final
    # Cost of entering routing block k through each incoming route, plus its stack layers.
    head_cost = [(head_w[k - 1] * costs.head[k - 1]).sum(-1) for k in space.routing_blocks]
    stack_cost = [(stack_w[k - 1] * costs.stack[k - 1]).sum() for k in space.routing_blocks]
    chained = [None] * (final + 1)
    chained[final] = costs.final.new_zeros(())
    for b in range(final - 1, -1, -1):
        terms = []
        for dst in space.out_routes[b]:
            r_in = space.in_routes[dst].index(b)
            if dst == final:
                terms.append(costs.final[r_in])
            else:
                terms.append(head_cost[dst - 1][r_in] + stack_cost[dst - 1] + chained[dst])
        chained[b] = (route_w[b] * torch.stack(terms)).sum()
    return chained[0] + costs.input + costs.classifier


def cost_loss(cost: torch.Tensor, log_base: float, factor: float) -> torch.Tensor:
    """The paper's cost term: factor * log(cost) / log(log_base)."""
    return factor * torch.log(cost) / torch.log(torch.tensor(float(log_base)))


TARGET_MODES = ("none", "abs", "hinge")


def target_loss(cost: torch.Tensor, target: float, mode: str, weight: float) -> torch.Tensor:
    """Target-seeking cost term (``optim.sub_obj.target_mode``):

    * ``abs``:   weight * |cost / target - 1|       (TF-NAS style: pulls the cost to the target)
    * ``hinge``: weight * max(0, cost / target - 1)  (only penalises a cost above the target)
    """
    ratio = cost / target
    if mode == "abs":
        return weight * (ratio - 1).abs()
    if mode == "hinge":
        return weight * torch.relu(ratio - 1)
    raise ValueError(f"target mode must be one of {TARGET_MODES[1:]}, got {mode!r}")
