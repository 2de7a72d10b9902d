"""Small, dependency-free statistics for benchmarks: exact Wilcoxon signed-rank test, bootstrap
confidence interval of a mean, Kendall's tau-b, sample standard deviation."""
from __future__ import annotations

import itertools
import math
import random
from typing import List, Optional, Sequence, Tuple


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def std(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); nan for fewer than two values."""
    if len(xs) < 2:
        return float("nan")
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _ranks(values: Sequence[float]) -> List[float]:
    """Ranks 1..n, ties get their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def wilcoxon_signed_rank(diffs: Sequence[float], zero_tol: float = 1e-12) -> Tuple[float, float]:
    """Exact one-sided Wilcoxon signed-rank test of H1: the differences are shifted above 0.

    Returns (W+, p) with p = P(W+ >= observed) under H0, enumerating all 2^n sign assignments of
    the (average) ranks, which is exact with ties too (conditional on the ranks). Zero differences
    are dropped (Wilcoxon's convention). n is limited to 24 (16M assignments)."""
    d = [x for x in diffs if abs(x) > zero_tol]
    n = len(d)
    if n == 0:
        return 0.0, 1.0
    if n > 24:
        raise ValueError(f"exact Wilcoxon test: {n} differences, at most 24 are enumerated")
    ranks = _ranks([abs(x) for x in d])
    w = sum(r for r, x in zip(ranks, d) if x > 0)
    # distribution of W+ by dynamic programming over doubled ranks (integers with average ranks)
    counts = {0: 1}
    for r in ranks:
        step = int(round(2 * r))
        nxt = dict(counts)
        for s, c in counts.items():
            nxt[s + step] = nxt.get(s + step, 0) + c
        counts = nxt
    target = int(round(2 * w))
    tail = sum(c for s, c in counts.items() if s >= target)
    return w, tail / 2 ** n


def bootstrap_ci(xs: Sequence[float], level: float = 0.95, resamples: int = 10000,
                 seed: int = 0) -> Tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded, so reports reproduce)."""
    if not xs:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    n = len(xs)
    means = sorted(sum(rng.choice(xs) for _ in range(n)) / n for _ in range(resamples))
    lo = means[int(math.floor((1 - level) / 2 * (resamples - 1)))]
    hi = means[int(math.ceil((1 + level) / 2 * (resamples - 1)))]
    return lo, hi


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Kendall's tau-b (ties in either variable accounted for); None when undefined."""
    if len(x) != len(y):
        raise ValueError("kendall_tau: sequences of different lengths")
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else None


def percentile_among(value: float, others: Sequence[float]) -> float:
    """Share (%) of ``others`` below ``value`` (ties count half)."""
    if not others:
        return float("nan")
    below = sum(o < value for o in others) + 0.5 * sum(o == value for o in others)
    return 100.0 * below / len(others)


def seed_variance_components(per_seed: Sequence[Sequence[float]]) -> Optional[Tuple[float, float]]:
    """One-way random-effects ANOVA of a nets x seeds table (every net the same number of seeds):
    (between-net variance of the true means, within-net seed variance); the first is clipped at 0."""
    n = len(per_seed)
    if n < 2 or any(len(row) != len(per_seed[0]) for row in per_seed) or len(per_seed[0]) < 2:
        return None
    r = len(per_seed[0])
    means = [sum(row) / r for row in per_seed]
    grand = sum(means) / n
    ms_between = r * sum((m - grand) ** 2 for m in means) / (n - 1)
    ms_within = sum((x - m) ** 2 for row, m in zip(per_seed, means) for x in row) / (n * (r - 1))
    return max(0.0, (ms_between - ms_within) / r), ms_within


def projected_tau(var_net: float, var_seed: float, seeds_a: float, seeds_b: float) -> float:
    """Kendall tau expected between two independent means of ``seeds_a`` and ``seeds_b`` seeds of
    the same nets, for normal true means and noise (Greiner's relation tau = 2/pi asin(rho))."""
    if var_net <= 0:
        return 0.0
    rho = var_net / math.sqrt((var_net + var_seed / seeds_a) * (var_net + var_seed / seeds_b))
    return 2 / math.pi * math.asin(min(1.0, rho))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` degrees of freedom: bisection on the
    CDF, 0.5 + the integral of the density from 0 (Simpson's rule; the density is smooth)."""
    if not 0.5 < p < 1 or df < 1:
        raise ValueError("t_quantile needs 0.5 < p < 1 and df >= 1")
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x: float, n: int = 2000) -> float:
        h = x / n
        f = [c * (1 + (i * h) ** 2 / df) ** (-(df + 1) / 2) for i in range(n + 1)]
        return 0.5 + h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))
    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, hi * 2
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def pooled_within_std(rows: Sequence[Sequence[float]]) -> Optional[dict]:
    """The within-group std pooled over every group of two or more values, with its degrees of
    freedom: ``{"std", "df"}`` (None when no group has two)."""
    ss, df = 0.0, 0
    for xs in rows:
        if len(xs) >= 2:
            m = mean(xs)
            ss += sum((x - m) ** 2 for x in xs)
            df += len(xs) - 1
    return {"std": math.sqrt(ss / df), "df": df} if df else None


def shared_net_bootstrap(rows: Sequence[Sequence[Tuple[str, float]]], net_means: dict, net_seeds: dict,
                         sigma: float, level: float = 0.95, resamples: int = 10000, seed: int = 0) -> dict:
    """Mean over seeds of per-seed differences, each a weighted sum of net means (``rows[s]`` =
    [(net, weight), ...]), with a bootstrap that sees every source of noise: the seeds are resampled
    (which carries the noise of the nets a seed has alone), and each net that several seeds share --
    one estimate entering all their differences -- also draws its mean once per replicate,
    N(mean, sigma^2 / its retrains), so its error moves every difference together. Returns the mean,
    the percentile interval, the one-sided p of "the difference is above 0" (share of replicates at or
    below 0) and the shared nets with their retrain counts."""
    import numpy as np
    used = {}
    for row in rows:
        for net in {n for n, _ in row}:
            used[net] = used.get(net, 0) + 1
    shared = sorted(n for n, k in used.items() if k > 1)
    base = np.array([sum(w * net_means[n] for n, w in row) for row in rows])
    point = float(base.mean())
    # a shared net's draw enters each difference linearly: weights (rows x shared nets)
    weights = np.zeros((len(rows), len(shared)))
    col = {n: j for j, n in enumerate(shared)}
    for i, row in enumerate(rows):
        for n, w in row:
            if n in col:
                weights[i, col[n]] += w
    se = np.array([sigma / math.sqrt(net_seeds[n]) for n in shared])
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=(resamples, len(shared))) * se
    values = base[None, :] + draws @ weights.T  # each replicate's per-seed differences
    picks = rng.integers(0, len(rows), size=(resamples, len(rows)))
    reps = np.sort(np.take_along_axis(values, picks, axis=1).mean(axis=1))
    lo = float(reps[int(math.floor((1 - level) / 2 * (resamples - 1)))])
    hi = float(reps[int(math.ceil((1 + level) / 2 * (resamples - 1)))])
    p = float((reps <= 0).mean())
    return {"mean": point, "ci95": [lo, hi], "p_bootstrap": p,
            "shared": [{"net": s, "seeds": net_seeds[s]} for s in shared], "sigma": sigma}
