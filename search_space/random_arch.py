"""Random architectures at a given cost: the baseline a search is compared against.

:func:`sample_in_window` draws architectures **uniformly** over the distinct architectures of a
space (the same ones the budget and window derives count: path, head op per block, canonical
stacks) whose table cost (:func:`search_space.derive.lut_cost`) lies in ``[lo, hi]``.

Method: the window derive's dynamic programme over the block DAG (:mod:`search_space.cost_window`)
run with **counts** instead of best scores: for every rounded cost, the number of partial
architectures that reach it. Rounded costs are within ``E`` of exact ones, so the bins
``[q(lo) - E, q(hi) + E]`` hold every architecture of the window (and a few just outside). A draw
picks a bin with probability proportional to its count, then walks back choosing each stage's
part with probability proportional to the count it contributes: every architecture of those bins
is equally likely. A draw whose exact cost is outside ``[lo, hi]`` is rejected, which leaves the
draws uniform over the window. Draws are without replacement (distinct architectures).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import torch

from common.errors import InputError
from models.net_config import NetConfig
from search_space.cost_table import CostTable
from search_space.cost_window import DEFAULT_BINS, _backtrack, _Dist, _grid, _Part, _walk, empty_window_message
from search_space.topology import SearchSpace


def _combine_counts(parts: List[_Part]) -> Optional[_Dist]:
    """Sum of the parts' count arrays, each shifted by its rounded cost (and weighted by exp(score))."""
    parts = [p for p in parts if p.src is not None]
    if not parts:
        return None
    lo = min(p.src.offset + p.shift for p in parts)
    hi = max(p.src.offset + p.shift + len(p.src.score) for p in parts)
    count = np.zeros(hi - lo)
    for p in parts:
        start = p.src.offset + p.shift - lo
        count[start:start + len(p.src.score)] += p.src.score * math.exp(p.score)
    # exact costs are not tracked here: draws are checked with lut_cost
    return _Dist(lo, count, None, None, parts)


class WindowCounts:
    """Counts of architectures per rounded cost, for drawing from a cost window."""

    def __init__(self, space: SearchSpace, table: CostTable, bins: int = DEFAULT_BINS):
        self.space, self.table = space, table.check_fits(space)
        self.cheapest, self.dearest, self.delta, self.q = _grid(space, self.table, bins)
        self.final, terms = _walk(space, self.table, self.q, _combine_counts, 1.0, keep=True)
        self.max_error = terms * self.delta / 2
        self.margin = int(math.ceil(self.max_error / self.delta)) + 1  # bins

    @property
    def total(self) -> float:
        """Number of distinct architectures of the space."""
        return float(self.final.score.sum())

    def bins_of(self, lo: float, hi: float, inner: bool = False) -> Tuple[int, int]:
        """Index range [a, b) of ``final`` holding every architecture with cost in [lo, hi]
        (``inner``: only bins whose architectures all lie inside)."""
        m = -self.margin if inner else self.margin
        a = max(0, self.q(lo) - m - self.final.offset)
        b = min(len(self.final.score), self.q(hi) + m + 1 - self.final.offset)
        return a, max(a, b)

    def count_bounds(self, lo: float, hi: float) -> Tuple[float, float]:
        """(at least, at most) the number of architectures with cost in [lo, hi]."""
        a, b = self.bins_of(lo, hi, inner=True)
        c, d = self.bins_of(lo, hi)
        return float(self.final.score[a:b].sum()), float(self.final.score[c:d].sum())

    def draw(self, lo: float, hi: float, rng: np.random.Generator) -> NetConfig:
        """One architecture, uniform over those of the bins around [lo, hi] (not yet checked)."""
        a, b = self.bins_of(lo, hi)
        weights = self.final.score[a:b]
        i = a + int(rng.choice(len(weights), p=weights / weights.sum()))

        def pick(d: _Dist, k: int) -> int:
            at = d.offset + k
            w = np.zeros(len(d.parts))
            for n, p in enumerate(d.parts):
                if p.src is None:
                    continue
                j = at - p.shift - p.src.offset
                if 0 <= j < len(p.src.score):
                    w[n] = p.src.score[j] * math.exp(p.score)
            return int(rng.choice(len(w), p=w / w.sum()))

        return _backtrack(self.space, self.final, i, pick)


def _numpy_rng(generator) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or isinstance(generator, int):
        return np.random.default_rng(generator)
    if isinstance(generator, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,), generator=generator)))
    raise TypeError(f"generator: expected torch.Generator, numpy Generator or int seed, got {type(generator).__name__}")


def sample_in_window(space: SearchSpace, table: CostTable, lo: float, hi: float, n: int, generator=None,
                     counts: Optional[WindowCounts] = None, max_draws: Optional[int] = None) -> List[NetConfig]:
    """``n`` distinct architectures drawn uniformly among those with table cost in [lo, hi].

    ``generator``: a ``torch.Generator`` (or a numpy Generator / int seed). ``counts``: a
    :class:`WindowCounts` of the same space and table, to reuse across calls. Raises
    :class:`InputError` for an empty window or when the window holds fewer than ``n``."""
    from search_space.derive import lut_cost
    if n < 1:
        raise InputError(f"number of random architectures must be at least 1, got {n}")
    if not lo <= hi:
        raise InputError(f"cost window: lower bound {lo:g} is above the upper bound {hi:g}")
    counts = counts or WindowCounts(space, table)
    rng = _numpy_rng(generator)
    at_least, at_most = counts.count_bounds(lo, hi)
    if at_most < 0.5:
        reachable = (np.nonzero(counts.final.score > 0)[0] + counts.final.offset) * counts.delta
        raise InputError(empty_window_message(reachable, lo, hi, counts.cheapest, counts.dearest))
    if n > at_most:
        raise InputError(f"{n} random architectures asked for, but at most {at_most:.0f} have a table cost in "
                         f"[{lo:g}, {hi:g}]")
    max_draws = max_draws or 200 * n + 2000
    seen, out = set(), []
    for _ in range(max_draws):
        net = counts.draw(lo, hi, rng)
        text = net.to_text()
        if text in seen:
            continue
        cost = lut_cost(space, table, net)
        tol = 1e-9 * max(1.0, abs(hi))
        if not lo - tol <= cost <= hi + tol:
            continue
        seen.add(text)
        out.append(net)
        if len(out) == n:
            return out
    if not out:
        raise InputError(f"no architecture with a table cost in [{lo:g}, {hi:g}] found in {max_draws} draws "
                         f"(the rounded counts allow at most {at_most:.0f})")
    raise InputError(f"only {len(out)} distinct architectures with a table cost in [{lo:g}, {hi:g}] found in "
                     f"{max_draws} draws, {n} asked for (the window holds {at_least:.0f} to {at_most:.0f})")
