"""Uniform random architectures in a cost window, against brute-force enumeration."""
import math
from collections import Counter

import pytest
import torch

from common.errors import InputError
from search_space import flops_table, space_from_config
from search_space.budget import ArchProbs, cost_range
from search_space.random_arch import WindowCounts, sample_in_window
from tests.search_space.test_budget import _brute_force


def _uniform_probs(space):
    return ArchProbs([[1.0] * len(r) for r in space.out_routes],
                     [[[1.0] * len(space.head_ops) for _ in space.in_routes[k]] for k in space.routing_blocks],
                     [[[1.0] * len(space.stack_ops) for _ in range(space.num_layers[k])] for k in space.routing_blocks])


def _chi2_sf(x, k):
    """Upper tail of the chi-square distribution (Wilson-Hilferty; ample for a test threshold)."""
    z = ((x / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.fixture
def tiny(tiny_cfg):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    everything = _brute_force(space, table, _uniform_probs(space))
    return space, table, everything


def test_counts_equal_brute_force(tiny):
    space, table, everything = tiny
    counts = WindowCounts(space, table)
    assert counts.total == pytest.approx(len(everything))
    lo, hi = cost_range(space, table)
    costs = sorted(c for c, _, _ in everything)
    for a, b in [(lo, hi), (costs[10], costs[60]), (costs[200], costs[201])]:
        exact = sum(a <= c <= b for c in costs)
        at_least, at_most = counts.count_bounds(a, b)
        assert at_least <= exact <= at_most


def test_draws_are_uniform_over_the_window(tiny):
    space, table, everything = tiny
    costs = sorted(c for c, _, _ in everything)
    lo, hi = costs[len(costs) // 3], costs[len(costs) // 3 + 40]
    window = {nc.to_text() for c, _, nc in everything if lo - 1e-9 <= c <= hi + 1e-9}
    assert 30 <= len(window) <= 80
    counts = WindowCounts(space, table)
    gen = torch.Generator().manual_seed(0)
    draws = 60 * len(window)
    freq = Counter(sample_in_window(space, table, lo, hi, 1, gen, counts=counts)[0].to_text() for _ in range(draws))
    assert set(freq) == window                                  # the support is exactly the window
    expected = draws / len(window)
    chi2 = sum((freq[t] - expected) ** 2 / expected for t in window)
    assert _chi2_sf(chi2, len(window) - 1) > 1e-3, chi2


def test_distinct_and_reproducible(tiny):
    space, table, everything = tiny
    lo, hi = cost_range(space, table)
    a = sample_in_window(space, table, lo, hi, 25, torch.Generator().manual_seed(3))
    b = sample_in_window(space, table, lo, hi, 25, torch.Generator().manual_seed(3))
    assert [n.to_text() for n in a] == [n.to_text() for n in b]
    assert len({n.to_text() for n in a}) == 25


def test_bad_requests(tiny):
    space, table, everything = tiny
    costs = sorted(c for c, _, _ in everything)
    gap = max(range(len(costs) - 1), key=lambda i: costs[i + 1] - costs[i])
    lo, hi = costs[gap] + (costs[gap + 1] - costs[gap]) / 3, costs[gap + 1] - (costs[gap + 1] - costs[gap]) / 3
    with pytest.raises(InputError, match="no architecture has a table cost"):
        sample_in_window(space, table, lo, hi, 1, 0)
    a, b = costs[100], costs[104]
    with pytest.raises(InputError, match="asked for"):
        sample_in_window(space, table, a, b, 500, 0)
    with pytest.raises(InputError, match="at least 1"):
        sample_in_window(space, table, a, b, 0, 0)
