"""Search-space topology as pure functions of the config figures (no torch).

Blocks are indexed 0..N where block 0 is the input block (stem, plus the fixed mbconv_k3_t1
head in the MBV2 space), blocks 1..N-1 are routing blocks and block N is the final 1x1 conv
to ``last_dim``. Block i sends routes to i+1 .. i+adjoin[stage[i]], keeping targets whose stage
is at most one above and whose feature-map ratio is 1 or 2 (2 means stride 2). Incoming routes
are ordered nearest source first, as in the legacy DenseNAS tables.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import List, Tuple

from models.operations import op_expansion


@dataclass(frozen=True)
class SearchSpace:
    net_type: str
    chs: Tuple[int, ...]
    fm_sizes: Tuple[int, ...]
    stage: Tuple[int, ...]
    num_layers: Tuple[int, ...]
    adjoin: Tuple[int, ...]
    head_ops: Tuple[str, ...]
    stack_ops: Tuple[str, ...]
    init_dim: int
    head_dim: int
    last_dim: int
    num_classes: int

    @property
    def final(self) -> int:
        """Index of the final block."""
        return len(self.chs)

    def fm(self, block: int) -> int:
        return self.fm_sizes[min(block, len(self.fm_sizes) - 1)]

    @cached_property
    def out_routes(self) -> Tuple[Tuple[int, ...], ...]:
        """out_routes[b] = target blocks of block b (b in 0..N-1), in increasing order."""
        routes = []
        for i in range(self.final):
            targets = []
            for j in range(i + 1, min(i + self.adjoin[self.stage[i]], self.final) + 1):
                ratio = self.fm(i) / self.fm(j)
                if self.stage[j] - self.stage[i] > 1 or ratio not in (1, 2):
                    break
                targets.append(j)
            routes.append(tuple(targets))
        return tuple(routes)

    @cached_property
    def in_routes(self) -> Tuple[Tuple[int, ...], ...]:
        """in_routes[j] = source blocks of block j (j in 0..N), nearest first; in_routes[0] = ()."""
        incoming: List[List[int]] = [[] for _ in range(self.final + 1)]
        for i, targets in enumerate(self.out_routes):
            for j in targets:
                incoming[j].append(i)
        return tuple(tuple(sorted(srcs, reverse=True)) for srcs in incoming)

    def stride(self, src: int, dst: int) -> int:
        return self.fm(src) // self.fm(dst)

    def route_index(self, src: int, dst: int) -> int:
        """Position of dst among src's outgoing routes (index into betas[src])."""
        return self.out_routes[src].index(dst)

    def paths(self):
        """Every path from block 0 to the final block (lists of block indices), depth first."""
        def walk(b):
            if b == self.final:
                yield [b]
                return
            for dst in self.out_routes[b]:
                for rest in walk(dst):
                    yield [b] + rest
        return walk(0)

    @property
    def routing_blocks(self) -> range:
        return range(1, self.final)

    @property
    def expansion(self) -> int:
        """Channel multiplier of the searched ops: 4 in a bottleneck ResNet space (the original
        multiplies the widths entering the final block and ``last_dim`` by 4), else 1."""
        return max(op_expansion(op) for op in self.head_ops + self.stack_ops)

    def width(self, block: int) -> int:
        """Real output channels of a block: block 0 (stem / input block) is ``chs[0]``, routing
        blocks ``chs[b] * expansion``, the final block ``last_dim * expansion``."""
        if block == 0:
            return self.chs[0]
        if block == self.final:
            return self.last_dim * self.expansion
        return self.chs[block] * self.expansion

    def op_channels(self, op: str, src: int, dst: int) -> Tuple[int, int]:
        """(in_ch, out_ch argument) of ``OPS[op]`` running from block ``src``'s output to block
        ``dst``'s width (a bottleneck's argument is its planes, a quarter of its output)."""
        return self.width(src), self.width(dst) // op_expansion(op)

    def fingerprint(self) -> str:
        """Hash of the figures a cost table depends on (not of training hyper-parameters)."""
        figures = {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()
                   if k in self.__dataclass_fields__}
        return hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()[:16]


def space_from_config(cfg) -> SearchSpace:
    sp, scale, optim = cfg.search_params, cfg.search_params.net_scale, cfg.optim
    return SearchSpace(
        net_type=cfg.net_type, chs=tuple(scale.chs), fm_sizes=tuple(scale.fm_sizes),
        stage=tuple(scale.stage), num_layers=tuple(scale.num_layers),
        adjoin=tuple(sp.adjoin_connect_nums), head_ops=tuple(sp.PRIMITIVES_head),
        stack_ops=tuple(sp.PRIMITIVES_stack), init_dim=optim.init_dim,
        head_dim=optim.head_dim if cfg.net_type == "mbv2" else scale.chs[0],
        last_dim=optim.last_dim, num_classes=cfg.data.num_classes)
