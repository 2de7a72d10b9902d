"""Helpers shared by the table builder (latency_fit) and the table checks (latency): random
architectures of a space, and the accuracy statistics of a table's predictions."""
from __future__ import annotations

import random
from typing import Sequence

from search_space.derive import net_config_from_choices
from search_space.topology import SearchSpace


def random_architecture(space: SearchSpace, rng: random.Random):
    """A random path (uniform over outgoing routes) with random ops: a NetConfig."""
    path, b = [0], 0
    while b != space.final:
        b = rng.choice(space.out_routes[b])
        path.append(b)
    head = {k: rng.choice(space.head_ops) for k in path[1:-1]}
    stack = {k: [rng.choice(space.stack_ops) for _ in range(space.num_layers[k])] for k in path[1:-1]}
    return net_config_from_choices(space, path, head, stack)


def add_branches(space: SearchSpace, net_config, rng: random.Random, max_branches: int = 2, share: float = 0.5):
    """``net_config`` with a share of its MBConv layers turned multi-branch: each such layer gets
    1..max_branches-1 more distinct MBConv ops of its mixed op (NSE-style nets, for checking what a
    table predicts for them)."""
    import dataclasses
    from models.operations import BRANCH_SEP, mbconv_params

    def widen(op, pool):
        others = [o for o in pool if o != op and mbconv_params(o)]
        if op == "skip_connect" or not others or rng.random() >= share:
            return op
        extra = rng.sample(others, min(len(others), rng.randint(1, max_branches - 1)))
        return BRANCH_SEP.join([op] + extra)

    blocks = list(net_config.blocks)
    first = 1 if space.net_type == "mbv2" else 0  # the input block is fixed
    for i in range(first, len(blocks)):
        b = blocks[i]
        blocks[i] = dataclasses.replace(b, head_op=widen(b.head_op, space.head_ops),
                                        stack_ops=tuple(widen(op, space.stack_ops) for op in b.stack_ops))
    return dataclasses.replace(net_config, blocks=tuple(blocks))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    n, s = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += ((x[i] > x[j]) - (x[i] < x[j])) * ((y[i] > y[j]) - (y[i] < y[j]))
    return 2 * s / (n * (n - 1)) if n > 1 else 1.0


def error_stats(pred: Sequence[float], meas: Sequence[float]) -> dict:
    errs = [(p - m) / m for p, m in zip(pred, meas)]
    return {"mape_pct": 100 * sum(abs(e) for e in errs) / len(errs),
            "max_err_pct": 100 * max(abs(e) for e in errs),
            "within_10pct": sum(abs(e) <= 0.10 for e in errs) / len(errs),
            "kendall_tau": kendall_tau(pred, meas),
            "mean_bias_pct": 100 * sum(errs) / len(errs)}


def fit_calibration(pred: Sequence[float], meas: Sequence[float]) -> dict:
    """Least-squares measured ~ slope * predicted + intercept."""
    n = len(pred)
    mx, my = sum(pred) / n, sum(meas) / n
    var = sum((p - mx) ** 2 for p in pred)
    slope = sum((p - mx) * (m - my) for p, m in zip(pred, meas)) / var if var > 0 else 1.0
    return {"slope": slope, "intercept": my - slope * mx, "fitted_on": n}
