"""Best architecture whose table cost lies in a window ``[min_cost, max_cost]``: the derive for a
cost *target* ("use the budget": at least ``(1 - tol)`` of it, never more than it).

Same architectures and same score as :mod:`search_space.budget` (product of route probabilities
and of the chosen ops' probabilities, skip allowed, canonical stacks). A two-sided constraint has
no dominance rule (a cheaper partial architecture may be useless because it cannot reach the
lower bound), so Pareto fronts do not apply. Instead a dynamic programme over the block DAG keeps,
for every **rounded cost**, the best-scoring partial architecture:

* every table entry is rounded to an integer number of units ``delta`` (the resolution, by
  default the dearest architecture's cost / 2**16); a network sums at most ``n`` entries, so its
  rounded cost is within ``E = n * delta / 2`` of its exact cost;
* each cost bin carries its representative's **exact** float64 cost, and the window is checked on
  exact costs: the returned architecture always lies inside the window;
* it scores at least as high as every architecture whose exact cost is in
  ``[min_cost + 2E, max_cost - 2E]`` (exact for the rounded problem; ``E`` is reported).

Work is O(stages x options x bins) numpy max operations: ~0.1 s on the paper spaces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from common.errors import InputError
from search_space.budget import SKIP, ArchProbs, BudgetChoice, _log, cost_range
from search_space.cost_table import CostTable
from search_space.derive import net_config_from_choices
from search_space.topology import SearchSpace

DEFAULT_BINS = 2 ** 16


@dataclass
class _Part:
    """One option feeding a stage: the ``src`` distribution shifted by ``shift`` bins, plus a
    log score and an exact cost; ``meta`` says what was chosen (decoded on backtracking)."""
    src: "_Dist"
    shift: int
    score: float
    cost: float
    meta: tuple


@dataclass
class _Dist:
    """Best log score (and that partial architecture's exact cost) per rounded cost
    ``offset + i``; ``back[i]`` = index of the part it came from."""
    offset: int
    score: Optional[np.ndarray]
    exact: Optional[np.ndarray]
    back: Optional[np.ndarray] = None
    parts: List[_Part] = field(default_factory=list)


def _combine(parts: List[_Part]) -> _Dist:
    parts = [p for p in parts if p.src is not None and math.isfinite(p.score)]
    if not parts:
        return None
    lo = min(p.src.offset + p.shift for p in parts)
    hi = max(p.src.offset + p.shift + len(p.src.score) for p in parts)
    score = np.full(hi - lo, -np.inf)
    exact = np.zeros(hi - lo)
    back = np.full(hi - lo, -1, dtype=np.int16 if len(parts) < 2 ** 15 else np.int32)
    for i, p in enumerate(parts):
        start = p.src.offset + p.shift - lo
        sl = slice(start, start + len(p.src.score))
        cand = p.src.score + p.score
        better = cand > score[sl]
        score[sl] = np.where(better, cand, score[sl])
        exact[sl] = np.where(better, p.src.exact + p.cost, exact[sl])
        back[sl] = np.where(better, i, back[sl])
    return _Dist(lo, score, exact, back, parts)


def _release(d: Optional[_Dist]):
    if d is not None:  # intermediate stages: only the back-pointers are needed afterwards
        d.score = d.exact = None


@dataclass
class WindowResult:
    choice: BudgetChoice
    delta: float        # resolution: one rounded cost unit
    max_error: float    # E: largest |rounded - exact| cost of any architecture


def _grid(space: SearchSpace, table: CostTable, bins: int):
    """Resolution ``delta`` and the rounding ``q(cost) -> int`` of a space's costs."""
    cheapest, dearest = cost_range(space, table)
    delta = max(abs(dearest), abs(cheapest), 1e-12) / bins
    return cheapest, dearest, delta, (lambda c: int(round(c / delta)))


def _walk(space: SearchSpace, table: CostTable, q, combine, unit: float, log_p=None, keep: bool = False):
    """Run the block DAG over rounded costs. ``combine`` merges the parts feeding a stage (best
    score per bin for the derive, summed counts for sampling); ``unit`` is the empty partial's
    value; ``log_p(kind, *index)`` the log probability of a choice (None: all 0, uniform).
    Returns (final distribution, number of summed entries). ``keep``: keep every stage's arrays
    (sampling walks back through them)."""
    def lp(*key):
        return 0.0 if log_p is None else log_p(*key)

    def release(d):
        if not keep:
            _release(d)

    ops = [o for o, n in enumerate(space.stack_ops) if n != SKIP]
    skip = space.stack_ops.index(SKIP) if SKIP in space.stack_ops else None
    n_head = len(space.head_ops)
    base = table.input + table.classifier
    blocks: List[Optional[_Dist]] = [None] * (space.final + 1)
    blocks[0] = _Dist(q(base), np.full(1, unit), np.asarray([float(base)]))
    terms = 1 + 1 + 1  # input + classifier + final branch, then per block: head + layers
    for j in space.routing_blocks:
        parts = []
        for r, src in enumerate(space.in_routes[j]):
            route = lp("route", src, space.route_index(src, j))
            for o in range(n_head):
                c = float(table.head[j - 1][r][o])
                parts.append(_Part(blocks[src], q(c), route + lp("head", j, r, o), c, ("head", r, o)))
        run = combine(parts)       # all stack layers so far non-skip
        skipped = None             # a skip has been taken: only skips follow (canonical stacks)
        for l in range(space.num_layers[j]):
            row_c = table.stack[j - 1][l]
            new_run = combine([_Part(run, q(row_c[o]), lp("stack", j, l, o), float(row_c[o]), ("op", o)) for o in ops])
            new_skipped = None
            if skip is not None:
                c, s = float(row_c[skip]), lp("stack", j, l, skip)
                new_skipped = combine([_Part(run, q(c), s, c, ("op", skip)), _Part(skipped, q(c), s, c, ("op", skip))])
            release(run)
            release(skipped)
            run, skipped = new_run, new_skipped
        if space.num_layers[j]:
            blocks[j] = combine([_Part(run, 0, 0.0, 0.0, ("end",)), _Part(skipped, 0, 0.0, 0.0, ("end",))])
            release(run)
            release(skipped)
        else:
            blocks[j] = run
        terms += 1 + space.num_layers[j]
    final_cost = space.net_type == "mbv2"  # ResNet nets have no conv1_1 (see derive)
    parts = []
    for r, src in enumerate(space.in_routes[space.final]):
        c = float(table.final[r]) if final_cost else 0.0
        parts.append(_Part(blocks[src], q(c), lp("route", src, space.route_index(src, space.final)), c,
                           ("final", src)))
    return combine(parts), terms


def _log_probs(probs: ArchProbs):
    def log_p(kind, *i):
        if kind == "route":
            return _log(probs.routes[i[0]][i[1]])
        rows = probs.head if kind == "head" else probs.stack
        return _log(rows[i[0] - 1][i[1]][i[2]])
    return log_p


def best_in_window(space: SearchSpace, table: CostTable, probs: ArchProbs, min_cost: float, max_cost: float,
                   bins: int = DEFAULT_BINS) -> WindowResult:
    """The highest-scoring architecture with ``min_cost <= cost <= max_cost`` (see module doc)."""
    table = table.check_fits(space)
    probs.check_fits(space)
    if not (min_cost <= max_cost):
        raise InputError(f"cost window: lower bound {min_cost:g} is above the upper bound {max_cost:g}")
    cheapest, dearest, delta, q = _grid(space, table, bins)
    final, terms = _walk(space, table, q, _combine, 0.0, _log_probs(probs))
    max_error = terms * delta / 2
    tol = 1e-9 * max(1.0, abs(max_cost))
    ok = np.isfinite(final.score) & (final.exact >= min_cost - tol) & (final.exact <= max_cost + tol)
    if not ok.any():
        raise InputError(empty_window_message(final.exact[np.isfinite(final.score)], min_cost, max_cost,
                                              cheapest, dearest))
    idx = np.nonzero(ok)[0]
    i = int(idx[np.argmax(final.score[idx])])
    net = _backtrack(space, final, i, lambda d, k: int(d.back[k]))
    return WindowResult(BudgetChoice(net, float(final.exact[i]), float(final.score[i])), delta, max_error)


def empty_window_message(reachable, min_cost: float, max_cost: float, cheapest: float, dearest: float) -> str:
    """"no architecture has a table cost in [lo, hi] (nearest below .., nearest above ..; ...)"."""
    reachable = np.asarray(reachable)
    below, above = reachable[reachable < min_cost], reachable[reachable > max_cost]
    near = ", ".join(filter(None, [f"nearest below {below.max():.6g}" if len(below) else "",
                                   f"nearest above {above.min():.6g}" if len(above) else ""]))
    return (f"no architecture has a table cost in [{min_cost:g}, {max_cost:g}] ("
            + (f"{near}; " if near else "") + f"the space spans {cheapest:.6g} .. {dearest:.6g})")


def _backtrack(space: SearchSpace, final: _Dist, i: int, pick):
    """The architecture behind bin ``i`` of ``final``; ``pick(dist, i)`` says which part fed it."""
    path, head, stack = [space.final], {}, {}
    layers: List[int] = []
    d, block = final, space.final
    while True:
        part = d.parts[pick(d, i)]
        i = d.offset + i - part.shift - part.src.offset
        kind = part.meta[0]
        if kind == "final":
            block = part.meta[1]
            path.append(block)
        elif kind == "op":
            layers.append(part.meta[1])
        elif kind == "head":
            head[block] = space.head_ops[part.meta[2]]
            stack[block] = [space.stack_ops[o] for o in reversed(layers)]
            layers = []
            block = space.in_routes[block][part.meta[1]]
            path.append(block)
        d = part.src
        if block == 0 and kind in ("head", "final"):
            break
    return net_config_from_choices(space, path[::-1], head, stack)


def window_bounds(target: float, tolerance: float) -> Tuple[float, float]:
    """``[target * (1 - tolerance), target]``: a target's window (never above the target)."""
    return target * (1.0 - tolerance), target
