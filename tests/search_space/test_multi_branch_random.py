"""Uniform random multi-branch architectures in a cost window, against brute-force enumeration."""
import itertools
import math
from collections import Counter

import pytest
import torch

from common.errors import InputError
from search_space import flops_table, space_from_config
from search_space.budget import cost_range
from search_space.derive import lut_cost, net_config_from_choices
from search_space.multi_branch_random import (branch_sets, count_multi_branch, expanded_space,
                                              sample_multi_branch_in_window)
from search_space.random_arch import WindowCounts
from search_space.search_config import load_search_config
from tests.conftest import ROOT, TINY_OPTS
from tests.search_space.test_random_arch import _chi2_sf


def _brute_force(space, table, max_branches):
    """Every multi-branch architecture, written independently of the module: (cost, net_config)."""
    def sets(pool):
        return ["+".join(c) for m in range(1, max_branches + 1) for c in itertools.combinations(pool, m)]
    heads = sets([op for op in space.head_ops if op != "skip_connect"])
    layer_sets = sets([op for op in space.stack_ops if op != "skip_connect"])
    out = []
    for path in space.paths():
        blocks = path[1:-1]
        options = []
        for k in blocks:
            n = space.num_layers[k]
            stacks = [list(s) for m in range(n + 1) for s in itertools.product(layer_sets, repeat=m)]
            options.append(list(itertools.product(heads, stacks)))
        for choice in itertools.product(*options):
            head = {k: h for k, (h, _) in zip(blocks, choice)}
            stack = {k: s for k, (_, s) in zip(blocks, choice)}
            nc = net_config_from_choices(space, path, head, stack)
            out.append((lut_cost(space, table, nc), nc.to_text()))
    return out


@pytest.fixture(scope="module")
def tiny():
    cfg = load_search_config(f"{ROOT}/configs/demo_search.yaml", TINY_OPTS)
    space = space_from_config(cfg)
    table = flops_table(space, 32)
    return space, table, _brute_force(space, table, 2)


def test_branch_sets():
    assert branch_sets(["a", "b", "c"], 2) == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c")]
    assert len(branch_sets(list("abcdefgh"), 5)) == 8 + 28 + 56 + 70 + 56
    assert branch_sets(["a"], 3) == [("a",)]
    with pytest.raises(InputError, match="max_branches"):
        branch_sets(["a"], 0)


def test_expanded_table_prices_sets_as_sums(tiny):
    space, table, _ = tiny
    big, big_table = expanded_space(space, table, 2)
    assert big.head_ops == ("mbconv_k3_t3", "mbconv_k5_t3", "mbconv_k3_t3+mbconv_k5_t3")
    assert big.stack_ops[-1] == "skip_connect"
    k = space.routing_blocks[0]
    assert big_table.head[k - 1][0][2] == pytest.approx(table.head[k - 1][0][0] + table.head[k - 1][0][1])


def test_counts_equal_brute_force(tiny):
    space, table, everything = tiny
    assert count_multi_branch(space, table, 2) == pytest.approx(len(everything))
    assert len({t for _, t in everything}) == len(everything)   # brute force lists distinct nets
    # one branch: exactly the single-op space of search_space.random_arch
    assert count_multi_branch(space, table, 1) == pytest.approx(WindowCounts(space, table).total)


def test_draws_are_uniform_over_the_window_and_priced_by_the_table(tiny):
    space, table, everything = tiny
    costs = sorted(c for c, _ in everything)
    lo, hi = costs[len(costs) // 2], costs[len(costs) // 2 + 40]
    window = {t for c, t in everything if lo - 1e-9 <= c <= hi + 1e-9}
    assert 30 <= len(window) <= 90
    gen = torch.Generator().manual_seed(0)
    draws = 40 * len(window)
    nets = [sample_multi_branch_in_window(space, table, lo, hi, 1, 2, gen)[0] for _ in range(draws)]
    freq = Counter(n.to_text() for n in nets)
    assert set(freq) == window                                   # support: exactly the window
    assert any("+" in t for t in freq)                           # multi-branch layers are drawn
    for n in nets[:50]:
        assert lo - 1e-9 <= lut_cost(space, table, n) <= hi + 1e-9   # the original space's price
    expected = draws / len(window)
    chi2 = sum((freq[t] - expected) ** 2 / expected for t in window)
    assert _chi2_sf(chi2, len(window) - 1) > 1e-3, chi2


def test_distinct_reproducible_and_bad_requests(tiny):
    space, table, everything = tiny
    lo, hi = cost_range(space, table)
    a = sample_multi_branch_in_window(space, table, lo, hi * 3, 20, 2, torch.Generator().manual_seed(1))
    b = sample_multi_branch_in_window(space, table, lo, hi * 3, 20, 2, torch.Generator().manual_seed(1))
    assert [n.to_text() for n in a] == [n.to_text() for n in b] and len({n.to_text() for n in a}) == 20
    with pytest.raises(InputError, match="asked for"):
        sample_multi_branch_in_window(space, table, lo, lo * 1.0001, 10 ** 6, 2, 0)
    assert math.isfinite(count_multi_branch(space, table, 5))
