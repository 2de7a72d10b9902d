"""Derive a plain architecture from a super network, and map a net_config back onto it."""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch

from common.errors import NetConfigError
from models.net_config import BlockSpec, NetConfig
from models.operations import branches
from search_space.cost_table import CostTable
from search_space.topology import SearchSpace


def derive_path(space: SearchSpace, route_probs: Sequence[Sequence[float]]) -> List[int]:
    """Viterbi max-product path from block 0 to the final block over route probabilities
    ``route_probs[b][i]`` (i indexes ``space.out_routes[b]``). Returns block indices, 0 .. final."""
    best = [-math.inf] * (space.final + 1)
    back = [-1] * (space.final + 1)
    best[0] = 0.0
    for j in range(1, space.final + 1):
        for src in space.in_routes[j]:
            p = route_probs[src][space.route_index(src, j)]
            score = best[src] + (math.log(p) if p > 0 else -math.inf)
            if score > best[j]:
                best[j], back[j] = score, src
    if back[space.final] < 0:
        raise ValueError("no path to the final block")
    path = [space.final]
    while path[-1] != 0:
        path.append(back[path[-1]])
    return path[::-1]


def net_config_from_choices(space: SearchSpace, path: Sequence[int], head_choice, stack_choice) -> NetConfig:
    """Build a net_config from a path and per-block op choices (op names)."""
    blocks = []
    if space.net_type == "mbv2":
        blocks.append(BlockSpec(space.init_dim, space.head_dim, "mbconv_k3_t1", (), 1))
    for src, dst in zip(path[:-2], path[1:-1]):
        stack = tuple(op for op in stack_choice[dst] if op != "skip_connect")
        blocks.append(BlockSpec(space.chs[src], space.chs[dst], head_choice[dst], stack, space.stride(src, dst)))
    # As the original: MBV2 nets end with the 1x1 conv to last_dim; ResNet nets end with their
    # last searched block (then pooling and the classifier), no conv1_1.
    last = (space.chs[path[-2]], space.last_dim) if space.net_type == "mbv2" else None
    return NetConfig(space.net_type, tuple(blocks), last)


@torch.no_grad()
def derive_from_params(space: SearchSpace, betas, head_alphas, stack_alphas) -> NetConfig:
    """The paper's derive from architecture parameters (tensors or nested lists): Viterbi best
    path by softmax(betas), argmax head op per chosen route, argmax stack op per layer
    (skip_connect dropped)."""
    def t(x):
        return x.detach().float().cpu() if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float32)
    probs = [torch.softmax(t(b), -1).tolist() for b in betas]
    path = derive_path(space, probs)
    head_choice, stack_choice = {}, {}
    for src, dst in zip(path[:-2], path[1:-1]):
        r = space.in_routes[dst].index(src)
        head_choice[dst] = space.head_ops[int(t(head_alphas[dst - 1])[r].argmax())]
        stack = t(stack_alphas[dst - 1]).reshape(space.num_layers[dst], len(space.stack_ops))
        stack_choice[dst] = [space.stack_ops[int(i)] for i in stack.argmax(-1)]
    return net_config_from_choices(space, path, head_choice, stack_choice)


def derive(supernet) -> NetConfig:
    """The paper's derive of a super network (see :func:`derive_from_params`)."""
    return derive_from_params(supernet.space, list(supernet.betas), list(supernet.head_alphas),
                              list(supernet.stack_alphas))


def map_to_space(space: SearchSpace, net_config: NetConfig) -> Tuple[List[int], List[Tuple[str, Tuple[str, ...]]]]:
    """Place a net_config on the space: returns the path of block indices (0 .. final) and the
    (head op, stack ops) of each routing block on it. Raises NetConfigError when it does not fit."""
    blocks = list(net_config.blocks)
    if space.net_type == "mbv2":
        if not blocks or blocks[0].out_ch != space.chs[0]:
            raise NetConfigError("net_config block 0: does not match the space's input block "
                                 f"(out_ch {space.chs[0]})")
        blocks = blocks[1:]
    elif blocks and blocks[0].in_ch != space.chs[0]:
        raise NetConfigError(f"net_config block 0: in_ch {blocks[0].in_ch} is not the space's stem width {space.chs[0]}")
    offset = 1 if space.net_type == "mbv2" else 0
    path, ops = [0], []
    for i, b in enumerate(blocks):
        src = path[-1]
        dst = next((j for j in space.out_routes[src] if j != space.final and space.chs[j] == b.out_ch), None)
        if dst is None:
            raise NetConfigError(f"net_config block {i + offset}: [{b.in_ch}->{b.out_ch}] is not a route of the "
                                 f"search space from block {src} (width {space.chs[src]})")
        if b.stride != space.stride(src, dst):
            raise NetConfigError(f"net_config block {i + offset}: stride {b.stride}, the space has "
                                 f"{space.stride(src, dst)} on this route")
        for op in branches(b.head_op):
            if op not in space.head_ops:
                raise NetConfigError(f"net_config block {i + offset}: head op {op} is not in the space")
        if len(b.stack_ops) > space.num_layers[dst]:
            raise NetConfigError(f"net_config block {i + offset}: {len(b.stack_ops)} stack layers, the space "
                                 f"has {space.num_layers[dst]} at block {dst}")
        for op in (o for layer in b.stack_ops for o in branches(layer)):
            if op not in space.stack_ops:
                raise NetConfigError(f"net_config block {i + offset}: stack op {op} is not in the space")
        if len(b.stack_ops) < space.num_layers[dst] and "skip_connect" not in space.stack_ops:
            raise NetConfigError(f"net_config block {i + offset}: fewer stack layers than the space and no "
                                 "skip_connect to fill them")
        path.append(dst)
        ops.append((b.head_op, b.stack_ops))
    if path[-1] not in space.in_routes[space.final]:
        raise NetConfigError(f"net_config: the last block (width {space.chs[path[-1]]}) has no route to the final block")
    path.append(space.final)
    return path, ops


def lut_cost(space: SearchSpace, table: CostTable, net_config: NetConfig) -> float:
    """Table cost of a derived net: its chosen ops on its chosen path, skip_connect for the stack
    layers it does not use, plus input, classifier and, when the net has its ``conv1_1``, the
    final branch of its last block. A multi-branch layer costs the sum of its branches' entries
    (the mean and the identity add are not priced)."""
    table = table.check_fits(space)
    path, ops = map_to_space(space, net_config)
    total = table.input + table.classifier
    for (src, dst), (head, stack) in zip(zip(path[:-2], path[1:-1]), ops):
        r = space.in_routes[dst].index(src)
        total += sum(table.head[dst - 1][r][space.head_ops.index(op)] for op in branches(head))
        for l in range(space.num_layers[dst]):
            layer = stack[l] if l < len(stack) else "skip_connect"
            total += sum(table.stack[dst - 1][l][space.stack_ops.index(op)] for op in branches(layer))
    if net_config.last is not None:
        total += table.final[space.in_routes[space.final].index(path[-2])]
    return float(total)
