"""Weight-sharing strategies: which paths of the super network a weight step trains.

``search_params.weight_sharing.strategy`` (the paper's per-step sampling stays the default):

* ``uniform`` (default) -- the method's own weight step: DenseNAS one op per mixed op, uniform
  before ``arch_update_epoch`` then from softmax(alpha); TF-NAS bi-sampling; NSE balanced
  combinations;
* ``fair`` -- strict fairness (FairNAS, Chu et al. 2021): per step a cycle of m sub-paths (m = the
  most ops of any mixed op), each mixed op running its ops in a fresh random order, one per
  sub-path, so every op of a mixed op with m ops runs exactly once per step; the m losses are summed
  (their gradients accumulated) before the one optimizer update. A mixed op with fewer ops runs
  its ops in random order, then starts a new random order;
* ``sandwich`` -- the sandwich rule with in-place distillation (BigNAS, Yu et al. 2020): the
  largest path (per mixed op the op with the most parameters), the smallest path (fewest) and
  ``sandwich_random`` uniform paths per step; the largest learns the labels, the others (with
  ``distill``) its soft predictions (cross-entropy with the detached softmax of the largest);
* ``hold`` -- one uniform path kept for ``hold_steps`` consecutive weight steps;
* ``single_path`` -- a route path drawn uniformly among the space's paths and one uniform op per
  mixed op on it, and only that path runs (SPOS, Guo et al. 2020, in a routed space): the blocks
  and routes off the path are skipped, so every step trains exactly a network the derive can emit
  (each head op scaled by its route probability, as ``search_space.subnet`` extracts it). The
  paper's weight step runs every route of the dense space, summed. ``route_hold_steps``: a new
  route path every N steps (ops are still drawn every step; N above the budget = one fixed route);

``entangle`` (any strategy, default false = the paper): the MBConv candidates of each mixed op are
slices of one superkernel (``search_space.entangled``), so whichever op a step runs trains weights
the layer's other candidates use too.

``warmup_steps`` (any strategy): the first N weight steps of the run train the continuous super
network instead -- every op of every mixed op, weighted by softmax(alpha) as an all-ops arch step
weighs them (alpha detached) -- before sampling starts.

Each strategy is a small function of the per-mixed-op op choices (``SearchMethod.op_choices``:
every op, or NSE's current subset) and a generator; the method turns a path (one op index per
mixed op, in plan row order) into its plan (``SearchMethod.set_weight_path``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from common.errors import ConfigError

STRATEGIES = ("uniform", "fair", "sandwich", "hold", "single_path")
DEPTHWISE_INITS = ("he_fout", "fan_hidden")  # of the entangled depthwise superkernel (search_space.entangled)
Path = List[Optional[int]]  # one op index per mixed op (row order of SuperNetwork.mixed_ops); None: no op


def check_config(ws) -> None:
    """Config checks of ``search_params.weight_sharing`` (every error names its key)."""
    key = "search_params.weight_sharing"
    if ws.strategy not in STRATEGIES:
        raise ConfigError(f"config key '{key}.strategy': unknown strategy {ws.strategy!r} "
                          f"(known: {', '.join(STRATEGIES)})")
    if not isinstance(ws.entangle, bool):
        raise ConfigError(f"config key '{key}.entangle': must be true or false, got {ws.entangle!r}")
    if ws.depthwise_init not in DEPTHWISE_INITS:
        raise ConfigError(f"config key '{key}.depthwise_init': unknown {ws.depthwise_init!r} "
                          f"(known: {', '.join(DEPTHWISE_INITS)})")
    for name, lo in (("warmup_steps", 0), ("hold_steps", 1), ("sandwich_random", 0), ("route_hold_steps", 1)):
        if ws[name] < lo:
            raise ConfigError(f"config key '{key}.{name}': must be at least {lo}, got {ws[name]}")


def route_path(space, generator: torch.Generator) -> List[int]:
    """A path of routing blocks (0 .. final), uniform over all paths of the space: each next block
    is drawn with probability proportional to the number of paths it continues to the end."""
    n_paths = [0] * (space.final + 1)
    n_paths[space.final] = 1
    for b in range(space.final - 1, -1, -1):
        n_paths[b] = sum(n_paths[d] for d in space.out_routes[b])
    path = [0]
    while path[-1] != space.final:
        nxt = space.out_routes[path[-1]]
        u = float(torch.rand(1, generator=generator)) * n_paths[path[-1]]
        for d in nxt:
            u -= n_paths[d]
            if u < 0 or d == nxt[-1]:
                path.append(d)
                break
    return path


def uniform_path(choices: Sequence[Sequence[int]], generator: torch.Generator) -> Path:
    """One op per mixed op, uniform over its choices."""
    draws = torch.rand(len(choices), generator=generator).tolist()
    return [c[min(int(u * len(c)), len(c) - 1)] if c else None for c, u in zip(choices, draws)]


def fair_paths(choices: Sequence[Sequence[int]], generator: torch.Generator) -> List[Path]:
    """FairNAS: m = max |choices| paths; per mixed op its ops in random order (a mixed op with fewer
    ops continues with a new random order), so each op of a full mixed op is in exactly one path."""
    m = max(len(c) for c in choices)
    columns = []
    for c in choices:
        if not c:  # nothing to run (NSE: every op dropped from a residual layer): the identity
            columns.append([None] * m)
            continue
        order: List[int] = []
        while len(order) < m:
            order += [c[i] for i in torch.randperm(len(c), generator=generator).tolist()]
        columns.append(order[:m])
    return [[col[k] for col in columns] for k in range(m)]


def hold_path(choices: Sequence[Sequence[int]], seed: int, step: int, hold: int) -> Path:
    """The uniform path of weight step ``step``: one draw per window of ``hold`` steps, a pure
    function of (seed, window) so a resumed run holds the same path."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + step // hold)
    return uniform_path(choices, gen)


def extreme_path(choices: Sequence[Sequence[int]], sizes: Sequence[Sequence[int]], largest: bool) -> Path:
    """Per mixed op the choice with the most (``largest``) or fewest parameters (the first of equals)."""
    if largest:
        return [max(c, key=lambda i, s=s: (s[i], -i)) if c else None for c, s in zip(choices, sizes)]
    return [min(c, key=lambda i, s=s: (s[i], i)) if c else None for c, s in zip(choices, sizes)]


def sandwich_paths(choices: Sequence[Sequence[int]], sizes: Sequence[Sequence[int]], n_random: int,
                   generator: torch.Generator) -> List[Path]:
    """BigNAS: [largest, smallest, n_random uniform paths]."""
    return ([extreme_path(choices, sizes, True), extreme_path(choices, sizes, False)]
            + [uniform_path(choices, generator) for _ in range(n_random)])


def soft_target_ce(logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` against the (detached) softmax of ``teacher_logits``."""
    target = torch.softmax(teacher_logits.detach().float(), dim=-1)
    return -(target * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def candidate_sizes(net) -> List[List[int]]:
    """Parameter count of every candidate op of every mixed op (row order)."""
    from search_space.entangled import param_count
    return [[param_count(op) for op in m.candidates] for m in net.mixed_ops()]
