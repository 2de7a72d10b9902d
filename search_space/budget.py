"""Exact budget-constrained derive: among all architectures of a space whose table cost is at
most a budget, the one of highest score.

An architecture is a path 0 -> ... -> final, a head op on each routing block of the path and,
per stack layer, an op or skip_connect. Its **score** is the product of the route
probabilities on the path, of the chosen head ops' probabilities and of the chosen stack ops'
probabilities (skip included). Its **cost** is :func:`search_space.derive.lut_cost` of its
net_config: the derived network drops skips, so each distinct network is counted once, with its
non-skip stack ops in the first layers and skip in the remaining ones (the positional reading
``lut_cost`` uses). Probabilities: softmax(betas) for routes (as the paper's derive),
softmax(alphas) for ops.

Method: dynamic programming over the block DAG that keeps, for every block, the **Pareto front**
of partial architectures (no other partial architecture is both cheaper-or-equal and
higher-or-equal in score). Any completion of a dominated partial architecture is dominated by the
same completion of its dominator, so the best architecture under any budget lies on the final
front. Costs are kept as float64 sums, not discretised: the result is exact (resolution = float64
rounding, ~1e-12 of the cost), never a greedy approximation. ``k > 1`` keeps every partial
architecture dominated by fewer than k others, which is exact for the k best.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from common.errors import InputError
from models.net_config import NetConfig
from search_space.cost_table import CostTable
from search_space.derive import net_config_from_choices
from search_space.topology import SearchSpace

SKIP = "skip_connect"


@dataclass
class ArchProbs:
    """Route and op probabilities of a searched super network (plain nested lists)."""
    routes: List[List[float]]           # routes[b][i]: probability of out_routes[b][i]
    head: List[List[List[float]]]       # head[k-1][r][o]
    stack: List[List[List[float]]]      # stack[k-1][l][o]

    @classmethod
    def from_params(cls, betas, head_alphas, stack_alphas) -> "ArchProbs":
        def softmax(rows):
            a = np.asarray(rows, dtype=np.float64)
            if a.size == 0:
                return a.tolist()
            e = np.exp(a - a.max(axis=-1, keepdims=True))
            return (e / e.sum(axis=-1, keepdims=True)).tolist()
        return cls([softmax(b) for b in betas], [softmax(h) for h in head_alphas],
                   [softmax(s) for s in stack_alphas])

    @classmethod
    def from_supernet(cls, net) -> "ArchProbs":
        def rows(ps):
            return [p.detach().double().cpu().tolist() for p in ps]
        return cls.from_params(rows(net.betas), rows(net.head_alphas), rows(net.stack_alphas))

    def check_fits(self, space: SearchSpace) -> None:
        ok = (len(self.routes) == space.final
              and all(len(self.routes[b]) == len(space.out_routes[b]) for b in range(space.final))
              and len(self.head) == len(self.stack) == space.final - 1
              and all(len(self.head[k - 1]) == len(space.in_routes[k]) and len(self.stack[k - 1]) == space.num_layers[k]
                      for k in space.routing_blocks))
        if not ok:
            raise InputError("architecture parameters do not fit the search space of the config")


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


@dataclass
class Front:
    """Non-dominated partial architectures, sorted by cost (score increasing when k == 1)."""
    cost: np.ndarray
    score: np.ndarray   # log score
    back: np.ndarray    # (n, m) integer back-pointers, layout depends on the front's kind

    def __len__(self):
        return len(self.cost)


def _prune(cost: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the points dominated (cost <=, score >=) by fewer than ``k`` others, by cost."""
    order = np.lexsort((-score, cost))
    if len(order) == 0:
        return order
    s = score[order]
    if k == 1:
        best_before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
        return order[s > best_before]
    keep, top = [], []  # top: min-heap of the k best scores seen so far (all cheaper or equal)
    for i, v in zip(order.tolist(), s.tolist()):
        if len(top) == k and top[0] >= v:
            continue
        keep.append(i)
        if len(top) < k:
            heapq.heappush(top, v)
        elif v > top[0]:
            heapq.heapreplace(top, v)
    return np.asarray(keep, dtype=np.int64)


def _stack_front(space: SearchSpace, table: CostTable, probs: ArchProbs, k_block: int, k: int) -> Front:
    """Front over the stack layers of one block; ``back[i]`` = op index per layer (canonical:
    non-skip ops first, skips after)."""
    layers = space.num_layers[k_block]
    costs = np.asarray(table.stack[k_block - 1], dtype=np.float64).reshape(layers, len(space.stack_ops))
    logp = np.asarray([[_log(p) for p in row] for row in probs.stack[k_block - 1]],
                      dtype=np.float64).reshape(layers, len(space.stack_ops))
    ops = [o for o, name in enumerate(space.stack_ops) if name != SKIP]
    skip = space.stack_ops.index(SKIP) if SKIP in space.stack_ops else None
    # prefix[m]: front over the first m layers, all non-skip
    pc, ps, pb = np.zeros(1), np.zeros(1), np.zeros((1, 0), dtype=np.int64)
    parts = []
    for m in range(layers + 1):
        if m == layers or skip is not None:
            tail = range(m, layers)
            tc = sum(costs[l, skip] for l in tail) if m < layers else 0.0
            ts = sum(logp[l, skip] for l in tail) if m < layers else 0.0
            back = np.concatenate([pb, np.full((len(pb), layers - m), -1 if skip is None else skip, dtype=np.int64)], 1)
            parts.append((pc + tc, ps + ts, back))
        if m == layers:
            break
        c = (pc[:, None] + costs[m, ops][None, :]).ravel()
        s = (ps[:, None] + logp[m, ops][None, :]).ravel()
        idx = np.arange(len(c))
        b = np.concatenate([pb[idx // len(ops)], np.asarray(ops, dtype=np.int64)[idx % len(ops)][:, None]], 1)
        keep = _prune(c, s, k)
        pc, ps, pb = c[keep], s[keep], b[keep]
    c = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    b = np.concatenate([p[2] for p in parts])
    keep = _prune(c, s, k)
    return Front(c[keep], s[keep], b[keep])


@dataclass
class SpaceFronts:
    """Fronts of every block (``blocks[j]`` ends with block j; back = (src, index in src front,
    head op, index in stack front)) and of the whole network (``final``; back = (src, index))."""
    space: SearchSpace
    blocks: List[Optional[Front]]
    stacks: List[Optional[Front]]
    final: Front

    def architecture(self, i: int) -> NetConfig:
        """net_config of point ``i`` of the final front."""
        space = self.space
        src, idx = (int(v) for v in self.final.back[i])
        path, head, stack = [space.final], {}, {}
        while src != 0:
            prev, prev_idx, o, s_idx = (int(v) for v in self.blocks[src].back[idx])
            head[src] = space.head_ops[o]
            stack[src] = [space.stack_ops[v] for v in self.stacks[src].back[s_idx]]
            path.append(src)
            src, idx = prev, prev_idx
        path.append(0)
        return net_config_from_choices(space, path[::-1], head, stack)


def pareto_fronts(space: SearchSpace, table: CostTable, probs: ArchProbs, k: int = 1) -> SpaceFronts:
    table = table.check_fits(space)
    probs.check_fits(space)
    stacks: List[Optional[Front]] = [None] * (space.final + 1)
    blocks: List[Optional[Front]] = [None] * (space.final + 1)
    blocks[0] = Front(np.asarray([table.input + table.classifier], dtype=np.float64), np.zeros(1),
                      np.zeros((1, 0), dtype=np.int64))
    with np.errstate(invalid="ignore"):
        for j in space.routing_blocks:
            stacks[j] = st = _stack_front(space, table, probs, j, k)
            cs, ss, bs = [], [], []
            for r, src in enumerate(space.in_routes[j]):
                f = blocks[src]
                route = _log(probs.routes[src][space.route_index(src, j)])
                hc = np.asarray(table.head[j - 1][r], dtype=np.float64)
                hs = np.asarray([_log(p) for p in probs.head[j - 1][r]], dtype=np.float64)
                c = f.cost[:, None, None] + hc[None, :, None] + st.cost[None, None, :]
                s = f.score[:, None, None] + route + hs[None, :, None] + st.score[None, None, :]
                fi, oi, si = np.indices(c.shape)
                cs.append(c.ravel())
                ss.append(s.ravel())
                bs.append(np.stack([np.full(c.size, src), fi.ravel(), oi.ravel(), si.ravel()], 1))
            c, s, b = np.concatenate(cs), np.concatenate(ss), np.concatenate(bs)
            keep = _prune(c, s, k)
            blocks[j] = Front(c[keep], s[keep], b[keep])
        cs, ss, bs = [], [], []
        final_cost = space.net_type == "mbv2"  # ResNet nets have no conv1_1 (see derive)
        for r, src in enumerate(space.in_routes[space.final]):
            f = blocks[src]
            cs.append(f.cost + (table.final[r] if final_cost else 0.0))
            ss.append(f.score + _log(probs.routes[src][space.route_index(src, space.final)]))
            bs.append(np.stack([np.full(len(f), src), np.arange(len(f))], 1))
        c, s, b = np.concatenate(cs), np.concatenate(ss), np.concatenate(bs)
        keep = _prune(c, s, k)
    return SpaceFronts(space, blocks, stacks, Front(c[keep], s[keep], b[keep]))


@dataclass
class BudgetChoice:
    net_config: NetConfig
    cost: float
    log_score: float


def cheapest_cost(fronts: SpaceFronts) -> float:
    return float(fronts.final.cost.min())


def best_within(fronts: SpaceFronts, max_cost: float, topk: int = 1) -> List[BudgetChoice]:
    """The ``topk`` highest-scoring architectures whose cost is <= ``max_cost`` (best first)."""
    f = fronts.final
    tol = 1e-9 * max(1.0, abs(max_cost))
    feasible = np.nonzero(f.cost <= max_cost + tol)[0]
    if len(feasible) == 0:
        raise InputError(f"budget {max_cost:g} is below the cheapest architecture of the space "
                         f"({cheapest_cost(fronts):.6g})")
    order = feasible[np.lexsort((f.cost[feasible], -f.score[feasible]))][:topk]
    return [BudgetChoice(fronts.architecture(int(i)), float(f.cost[i]), float(f.score[i])) for i in order]


def cost_range(space: SearchSpace, table: CostTable) -> Tuple[float, float]:
    """Table costs of the cheapest and of the most expensive architecture of the space."""
    table = table.check_fits(space)
    skip = space.stack_ops.index(SKIP) if SKIP in space.stack_ops else None
    ops = [o for o, name in enumerate(space.stack_ops) if name != SKIP]

    def extreme(pick):
        def stack(k):  # canonical stacks: m non-skip layers, then skips
            layers = table.stack[k - 1]
            options = []
            for m in range(len(layers) + 1):
                if m < len(layers) and skip is None:
                    continue
                options.append(sum(pick(layers[l][o] for o in ops) for l in range(m))
                               + sum(layers[l][skip] for l in range(m, len(layers))))
            return pick(options)
        best = [None] * (space.final + 1)
        best[0] = table.input + table.classifier
        for j in space.routing_blocks:
            best[j] = pick(best[src] + pick(table.head[j - 1][r]) for r, src in enumerate(space.in_routes[j])) + stack(j)
        final_cost = space.net_type == "mbv2"
        return pick(best[src] + (table.final[r] if final_cost else 0.0)
                    for r, src in enumerate(space.in_routes[space.final]))
    return float(extreme(min)), float(extreme(max))


def arch_log_score(space: SearchSpace, probs: ArchProbs, net_config: NetConfig) -> float:
    """Log score of a net_config (canonical stack reading, as the fronts count it)."""
    from search_space.derive import map_to_space
    path, ops = map_to_space(space, net_config)
    total = 0.0
    for i, (src, dst) in enumerate(zip(path[:-1], path[1:])):
        total += _log(probs.routes[src][space.route_index(src, dst)])
        if dst == space.final:
            break
        head, stack = ops[i]
        total += _log(probs.head[dst - 1][space.in_routes[dst].index(src)][space.head_ops.index(head)])
        for l in range(space.num_layers[dst]):
            op = stack[l] if l < len(stack) else SKIP
            total += _log(probs.stack[dst - 1][l][space.stack_ops.index(op)])
    return total


def front_points(fronts: SpaceFronts) -> List[Tuple[float, float]]:
    return list(zip(fronts.final.cost.tolist(), fronts.final.score.tolist()))


def parse_budgets(text: str) -> Sequence[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--budgets: expected numbers separated by commas, got {text!r}") from None
    if not values or any(v <= 0 or not math.isfinite(v) for v in values):
        raise InputError(f"--budgets: expected positive numbers, got {text!r}")
    return values
