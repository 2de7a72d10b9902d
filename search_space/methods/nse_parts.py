"""NSE's pieces as pure functions (Ci et al., ICCV 2021; semantics from orashi/NSE_NAS
``utils/supernet_utils.py`` ``AMBNet`` and ``main.py``): independent op gates, balanced weight-step
sampling, the two-combination arch-step estimator, Pareto fronts and the refill of a layer's op
subset from its pool. A *combination* is a tuple of op indices (ascending) of one mixed op; the
empty combination is the identity and is allowed only in residual positions.
"""
from __future__ import annotations

import itertools
from typing import List, Optional, Sequence, Tuple

import torch

GATE_SCALE, GATE_FLOOR = 0.999, 5e-4


def gate_probs(alphas: torch.Tensor) -> torch.Tensor:
    """p = sigmoid(alpha) * 0.999 + 5e-4: each op on or off independently (never exactly 0 or 1)."""
    return torch.sigmoid(alphas) * GATE_SCALE + GATE_FLOOR


def _rand(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def balanced_combination(active: Sequence[int], residual: bool, generator: torch.Generator) -> Tuple[int, ...]:
    """Weight steps: each active op on with probability 0.5, ignoring the gates; redrawn until one
    is on, except in residual positions where none (the identity) is allowed."""
    if not active:
        return ()
    while True:
        combo = tuple(i for i in sorted(active) if _rand(generator) < 0.5)
        if combo or residual:
            return combo


def bernoulli_combination(active: Sequence[int], probs: Sequence[float], residual: bool,
                          generator: torch.Generator) -> Tuple[int, ...]:
    """One draw from the gates (``probs`` indexed by op), redrawn while empty in a non-residual position."""
    if not active:
        return ()
    while True:
        combo = tuple(i for i in sorted(active) if _rand(generator) < probs[i])
        if combo or residual:
            return combo


def combination_prob(active: Sequence[int], probs: Sequence[float], combo: Sequence[int]) -> float:
    on = set(combo)
    out = 1.0
    for i in active:
        out *= probs[i] if i in on else 1.0 - probs[i]
    return out


def two_combinations(active: Sequence[int], probs: Sequence[float], residual: bool, generator: torch.Generator,
                     enumerate_max: int = 5) -> Tuple[Tuple[int, ...], Optional[Tuple[int, ...]]]:
    """Arch steps: two distinct combinations from the joint Bernoulli distribution of the gates.
    With at most ``enumerate_max`` active ops every combination is enumerated (the empty one only
    where allowed) and two are taken without replacement; otherwise two distinct draws. The second
    is None when only one combination is possible."""
    active = sorted(active)
    if len(active) <= enumerate_max:
        combos = [c for n in range(len(active) + 1) for c in itertools.combinations(active, n) if c or residual]
        if len(combos) < 2:
            return (combos[0] if combos else ()), None
        weights = torch.tensor([combination_prob(active, probs, c) for c in combos], dtype=torch.float64)
        first, second = torch.multinomial(weights, 2, replacement=False, generator=generator).tolist()
        return combos[first], combos[second]
    first = bernoulli_combination(active, probs, residual, generator)
    for _ in range(1000):
        second = bernoulli_combination(active, probs, residual, generator)
        if second != first:
            return first, second
    # gates saturated: flip one op of the first draw (keeping it valid)
    flip = active[int(torch.randint(len(active), (), generator=generator))]
    second = tuple(sorted(set(first) ^ {flip}))
    if not second and not residual:
        second = tuple(i for i in active if i != flip)[:1]
    return first, second


def log_prob_rows(probs: torch.Tensor, active: torch.Tensor, combo: torch.Tensor) -> torch.Tensor:
    """log P(combination) per row under independent gates: ``probs``, ``active`` (0/1) and
    ``combo`` (0/1) are rows x ops; ops outside the active set do not count."""
    on = combo * torch.log(probs) + (1 - combo) * torch.log1p(-probs)
    return (active * on).sum(dim=1)


def pair_gates(log_ps: torch.Tensor, log_pu: torch.Tensor):
    """The estimator's two multipliers per row. With p̂s, p̂u the two combinations' probabilities
    renormalised over the pair: (p̂s + 1 - sg(p̂s), p̂u - sg(p̂u)) -- forward values 1 and 0, so
    the output is the selected combination's, and the gradient reaches the gates through both."""
    ps = torch.sigmoid(log_ps - log_pu)
    pu = 1 - ps
    return ps + 1 - ps.detach(), pu - pu.detach()


def pareto_front(costs: Sequence[float], accs: Sequence[float]) -> List[int]:
    """Indices of the non-dominated points (lower cost, higher accuracy), by ascending cost. Of
    identical points the first is kept."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accs[i], i))
    front, best = [], float("-inf")
    for i in order:
        if accs[i] > best:
            front.append(i)
            best = accs[i]
    return front


def refill(kept: Sequence[int], pool: Sequence[int], size: int, generator: torch.Generator) -> List[int]:
    """A layer's next subset: the ``kept`` ops, plus ops drawn at random from ``pool`` (ops not
    yet dropped, ``kept`` excluded) up to ``size``."""
    kept = sorted(set(kept))
    rest = [i for i in pool if i not in kept]
    need = max(0, size - len(kept))
    if need and rest:
        pick = torch.randperm(len(rest), generator=generator)[:need].tolist()
        kept = sorted(kept + [rest[i] for i in pick])
    return kept
