"""Random multi-branch architectures at a given cost: the baseline for a method that emits
multi-branch layers (``nse``), so that its gain over random nets is not just the format.

The distribution, exactly: **uniform** over the architectures with table cost in ``[lo, hi]``,
where an architecture is a route path of the space and, per routing block on it,

* a head: a non-empty *set* of at most ``max_branches`` ops of the head pool (the space's head
  ops, skip_connect aside);
* a stack: ``k`` layers (``k`` = 0 .. the block's layer count), each a non-empty set of at most
  ``max_branches`` ops of the stack pool (skip_connect aside), followed by identities (the
  canonical, compacted stacks ``nse`` writes; an empty combination is the identity);

priced with the table's multi-branch rule (a layer costs the sum of its branches' entries,
:func:`search_space.derive.lut_cost`). Branch order does not make a new architecture: a layer's
ops are written in the pool's order, joined with ``+``. With ``max_branches = 1`` this is exactly
:func:`search_space.random_arch.sample_in_window`'s distribution.

Method: every set is a pseudo-op of an **expanded space** (head and stack ops = the sets, the
table entry of a set = the sum of its ops' entries); :func:`sample_in_window` on it draws
uniformly by the counting dynamic programme and checks exact costs. Its net_configs are valid in
the original space, with the same table cost (tested against brute force on a tiny space).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import List, Sequence, Tuple

from common.errors import InputError
from models.net_config import NetConfig
from models.operations import BRANCH_SEP
from search_space.cost_table import CostTable
from search_space.topology import SearchSpace

SKIP = "skip_connect"


def branch_sets(pool: Sequence[str], max_branches: int) -> List[Tuple[str, ...]]:
    """Non-empty subsets of ``pool`` with at most ``max_branches`` ops, each in pool order; by
    size, then lexicographically by pool index."""
    if max_branches < 1:
        raise InputError(f"max_branches must be at least 1, got {max_branches}")
    out = []
    for size in range(1, min(max_branches, len(pool)) + 1):
        out.extend(itertools.combinations(pool, size))
    return out


def expanded_space(space: SearchSpace, table: CostTable, max_branches: int) -> Tuple[SearchSpace, CostTable]:
    """The space whose ops are the branch sets (named ``a+b``), and its table (sums of entries)."""
    table = table.check_fits(space)
    head_pool = [op for op in space.head_ops if op != SKIP]
    stack_pool = [op for op in space.stack_ops if op != SKIP]
    if not head_pool or not stack_pool:
        raise InputError("multi-branch random nets: the space needs non-skip head and stack ops")
    heads, stacks = branch_sets(head_pool, max_branches), branch_sets(stack_pool, max_branches)
    h_idx = [[space.head_ops.index(op) for op in s] for s in heads]
    s_idx = [[space.stack_ops.index(op) for op in s] for s in stacks]
    has_skip = SKIP in space.stack_ops
    skip = space.stack_ops.index(SKIP) if has_skip else None

    def head_row(costs):
        return [float(sum(costs[i] for i in idx)) for idx in h_idx]

    def stack_row(costs):
        return [float(sum(costs[i] for i in idx)) for idx in s_idx] + ([float(costs[skip])] if has_skip else [])

    big = dataclasses.replace(space, head_ops=tuple(BRANCH_SEP.join(s) for s in heads),
                              stack_ops=tuple(BRANCH_SEP.join(s) for s in stacks) + ((SKIP,) if has_skip else ()))
    meta = {k: v for k, v in table.meta.items() if k != "fingerprint"}
    meta["multi_branch"] = {"max_branches": max_branches, "head_sets": len(heads), "stack_sets": len(stacks)}
    big_table = CostTable(table.input, [[head_row(c) for c in block] for block in table.head],
                          [[stack_row(c) for c in block] for block in table.stack], list(table.final),
                          table.classifier, meta)
    return big, big_table


def count_multi_branch(space: SearchSpace, table: CostTable, max_branches: int) -> float:
    """Number of distinct multi-branch architectures of the space (any cost)."""
    from search_space.random_arch import WindowCounts
    return WindowCounts(*expanded_space(space, table, max_branches)).total


def sample_multi_branch_in_window(space: SearchSpace, table: CostTable, lo: float, hi: float, n: int,
                                  max_branches: int, generator=None) -> List[NetConfig]:
    """``n`` distinct multi-branch architectures drawn uniformly among those with table cost in
    ``[lo, hi]`` (module docstring). Errors as :func:`sample_in_window`."""
    from search_space.random_arch import sample_in_window
    big, big_table = expanded_space(space, table, max_branches)
    return sample_in_window(big, big_table, lo, hi, n, generator)
