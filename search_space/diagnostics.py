"""Collapse diagnostics of a search, per epoch: is the search still choosing, or has it collapsed
to a corner of the space (all-skip stacks, shortest paths, one op everywhere)?"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from models.net_config import NetConfig
from search_space.topology import SearchSpace


def op_entropy(alphas: Sequence[torch.Tensor]) -> tuple:
    """(mean entropy in nats, mean entropy / log(#ops)) over every mixed op's softmax(alpha)."""
    rows = [a.detach().double().cpu() for a in alphas if a.numel()]
    if not rows:
        return 0.0, 0.0
    p = torch.softmax(torch.cat(rows), dim=-1)
    h = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
    uniform = math.log(p.shape[1]) if p.shape[1] > 1 else 1.0
    return float(h.mean()), float(h.mean() / uniform)


def net_depth(space: SearchSpace, net_config: NetConfig) -> tuple:
    """(routing blocks, searched layers = heads + non-skip stack layers) of a net of ``space``."""
    from search_space.derive import map_to_space
    path, ops = map_to_space(space, net_config)
    return len(path) - 2, len(path) - 2 + sum(len(stack) for _, stack in ops)


def collapse_stats(space: SearchSpace, head_alphas, stack_alphas, net_config: NetConfig,
                   previous: Optional[str] = None) -> dict:
    """Mean op entropy (head and stack mixed ops, nats and relative to uniform), the share of
    skip_connect among the derived net's stack layers, its depth (routing blocks, searched layers
    = heads + non-skip stack layers) and whether it differs from ``previous`` (a net_config text)."""
    from models.net_config import multi_branch_layers
    from search_space.derive import map_to_space
    path, ops = map_to_space(space, net_config)
    blocks = path[1:-1]
    stack_layers = sum(space.num_layers[k] for k in blocks)
    used = sum(len(stack) for _, stack in ops)
    h_head, r_head = op_entropy(list(head_alphas))
    h_stack, r_stack = op_entropy(list(stack_alphas))
    text = net_config.to_text()
    return {"op_entropy_head": h_head, "op_entropy_stack": h_stack,
            "op_entropy_rel": (r_head + r_stack) / 2 if stack_layers or h_stack else r_head,
            "skip_share": (stack_layers - used) / stack_layers if stack_layers else 0.0,
            "depth_blocks": len(blocks), "depth_layers": len(blocks) + used,
            "changed": None if previous is None else text != previous,
            "multi_branch_layers": multi_branch_layers(net_config)}
