"""Benchmark statistics against brute force and known values."""
import itertools
import math
import random

import pytest

from engine.stats import bootstrap_ci, kendall_tau, percentile_among, std, wilcoxon_signed_rank


def _brute_wilcoxon(d):
    d = [x for x in d if x != 0]
    order = sorted(abs(x) for x in d)
    ranks = [(sum(i + 1 for i, v in enumerate(order) if v == abs(x))) / order.count(abs(x)) for x in d]
    w = sum(r for r, x in zip(ranks, d) if x > 0)
    hits = sum(sum(r for r, s in zip(ranks, signs) if s) >= w - 1e-9
               for signs in itertools.product([0, 1], repeat=len(d)))
    return w, hits / 2 ** len(d)


def test_wilcoxon_known_values_and_brute_force():
    assert wilcoxon_signed_rank([1, 2, 3, 4, 5]) == (15, 1 / 32)          # all positive: 1/2^5
    assert wilcoxon_signed_rank([-1, -2, -3])[1] == 1.0
    assert wilcoxon_signed_rank([0, 0]) == (0.0, 1.0)
    rng = random.Random(0)
    for _ in range(30):
        d = [rng.choice([-2, -1, 0, 1, 1, 2, 3]) * rng.choice([1, 0.5]) for _ in range(rng.randint(1, 9))]
        w, p = wilcoxon_signed_rank(d)
        bw, bp = _brute_wilcoxon(d)
        assert w == pytest.approx(bw) and p == pytest.approx(bp)


def test_kendall_tau_b():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # tau-b with ties, by hand: C=3, D=1, one tie in x, one in y -> 2 / sqrt(5 * 5)
    assert kendall_tau([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)
    assert kendall_tau([1, 1], [2, 3]) is None


def test_bootstrap_and_helpers():
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert 1.0 <= lo < 3.0 < hi <= 5.0
    assert bootstrap_ci([2.0, 2.0]) == (2.0, 2.0)
    assert std([1, 3]) == pytest.approx(math.sqrt(2)) and math.isnan(std([1]))
    assert percentile_among(5, [1, 5, 9, 10]) == pytest.approx(37.5)


def test_t_quantile_matches_the_tables():
    from engine.stats import t_quantile
    table = {(0.975, 1): 12.7062, (0.975, 2): 4.3027, (0.975, 10): 2.2281, (0.995, 5): 4.0321, (0.95, 30): 1.6973}
    for (p, df), want in table.items():
        assert abs(t_quantile(p, df) - want) < 1e-3
    with pytest.raises(ValueError):
        t_quantile(0.4, 3)
