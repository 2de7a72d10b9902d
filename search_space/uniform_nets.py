"""Hand-designed baselines: "uniform" nets, the way MobileNetV2 is designed -- one op in every
head and every stack layer of a chain of routing blocks (no skip) -- for each op of the space that
can stand in both places, over every route path of the space. The quality benchmark compares a
searched net with the uniform nets of its cost window (issue: baselines a reviewer asks for).
"""
from __future__ import annotations

from typing import List, Sequence

from search_space.cost_table import CostTable
from search_space.derive import lut_cost, net_config_from_choices
from search_space.topology import SearchSpace


def uniform_ops(space: SearchSpace) -> List[str]:
    """Ops that can fill every head and every stack layer (in the space's head-op order)."""
    return [op for op in space.head_ops if op in space.stack_ops and op != "skip_connect"]


def uniform_nets(space: SearchSpace, table: CostTable) -> List[dict]:
    """Every uniform net of the space: ``{"op", "path", "net_config", "cost"}`` per (op, route
    path), sorted by cost then op then path."""
    out = []
    for op in uniform_ops(space):
        for path in space.paths():
            blocks = path[1:-1]
            head = {k: op for k in blocks}
            stack = {k: [op] * space.num_layers[k] for k in blocks}
            net = net_config_from_choices(space, path, head, stack)
            out.append({"op": op, "path": list(path), "net_config": net.to_text(),
                        "cost": lut_cost(space, table, net)})
    return sorted(out, key=lambda n: (n["cost"], n["op"], n["path"]))


def uniform_in_window(nets: Sequence[dict], cost: float, tolerance: float = 0.025, at_most: int = 0) -> dict:
    """The uniform nets whose cost lies within ``cost`` +- ``tolerance`` (a fraction). When more
    than ``at_most`` (default: one per op) fall inside, the one closest to ``cost`` per op. Also the
    nearest uniform costs below and above the window (for saying so when it holds none)."""
    lo, hi = cost * (1 - tolerance), cost * (1 + tolerance)
    inside = [n for n in nets if lo <= n["cost"] <= hi]
    limit = at_most or len({n["op"] for n in nets})
    if len(inside) > limit:
        best = {}
        for n in sorted(inside, key=lambda n: abs(n["cost"] - cost)):
            best.setdefault(n["op"], n)
        inside = sorted(best.values(), key=lambda n: n["cost"])
    below = max((n["cost"] for n in nets if n["cost"] < lo), default=None)
    above = min((n["cost"] for n in nets if n["cost"] > hi), default=None)
    return {"nets": inside, "window": [lo, hi], "nearest_below": below, "nearest_above": above}
