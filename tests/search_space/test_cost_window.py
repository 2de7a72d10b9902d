"""Window derive (best architecture with cost in [lo, hi]) against brute-force enumeration."""
import random

import pytest

from common.errors import InputError
from search_space import flops_table, lut_cost, space_from_config
from search_space.budget import arch_log_score, best_within, cost_range, pareto_fronts
from search_space.cost_window import best_in_window, window_bounds
from tests.search_space.test_budget import _brute_force, _random_probs


@pytest.mark.parametrize("seed,scale", [(0, 0.01), (1, 1.0), (2, 3.0)])
def test_window_derive_equals_brute_force(tiny_cfg, seed, scale):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    probs = _random_probs(space, seed, scale)
    everything = _brute_force(space, table, probs)
    lo, hi = cost_range(space, table)
    rng = random.Random(seed)
    windows = [(lo, lo), (hi, hi), (lo, hi)] + [window_bounds(rng.uniform(lo, hi), rng.choice([0.02, 0.05, 0.2]))
                                                 for _ in range(8)]
    checked = 0
    for a, b in windows:
        try:
            found = best_in_window(space, table, probs, a, b)
        except InputError:
            found = None
        inside = [s for c, s, _ in everything if a - 1e-9 <= c <= b + 1e-9]
        e = 0 if found is None else found.max_error
        if found is None:  # only an (almost) empty window may be reported empty
            assert not [s for c, s, _ in everything if a + 1e-6 <= c <= b - 1e-6]
            continue
        c = found.choice
        assert a - 1e-9 <= c.cost <= b + 1e-9                      # always inside, on exact costs
        assert c.cost == pytest.approx(lut_cost(space, table, c.net_config), abs=1e-9)
        assert c.log_score == pytest.approx(arch_log_score(space, probs, c.net_config), abs=1e-9)
        assert c.log_score <= max(inside) + 1e-9                   # a real architecture of the window
        strict = [s for cc, s, _ in everything if a + 2 * e <= cc <= b - 2 * e]
        if strict:                                                 # the stated guarantee
            assert c.log_score >= max(strict) - 1e-9
        assert c.log_score == pytest.approx(max(inside), abs=1e-9)  # and here, exact
        checked += 1
    assert checked >= 8


def test_whole_range_window_is_the_unconstrained_best(tiny_cfg):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    probs = _random_probs(space, 3, 1.0)
    lo, hi = cost_range(space, table)
    unconstrained = best_within(pareto_fronts(space, table, probs), hi)[0]
    assert best_in_window(space, table, probs, lo, hi).choice.log_score == pytest.approx(unconstrained.log_score)


def test_empty_window_names_the_nearest_costs(tiny_cfg):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    probs = _random_probs(space, 0, 1.0)
    lo, hi = cost_range(space, table)
    with pytest.raises(InputError, match=r"no architecture has a table cost in .*nearest above"):
        best_in_window(space, table, probs, lo * 0.5, lo * 0.9)
    with pytest.raises(InputError, match="nearest below"):
        best_in_window(space, table, probs, hi * 1.1, hi * 2)
    with pytest.raises(InputError, match="above the upper bound"):
        best_in_window(space, table, probs, hi, lo)
