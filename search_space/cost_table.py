"""Per-op cost tables (latency or FLOPs) for every position of a super network.

A table holds, for a space with blocks 0..N (see ``topology``):

* ``input``: the input block (stem, and the fixed first mbconv in the MBV2 space);
* ``head[k-1][r][o]``: head op o on incoming route r (nearest source first) of routing block k;
* ``stack[k-1][l][o]``: stack op o at stack layer l of routing block k;
* ``final[r]``: the 1x1 conv to last_dim on incoming route r of the final block;
* ``classifier``: global pool + linear.

Files: this project's JSON (``format: densenas-cost-table``, with metadata and the space's
fingerprint) and the legacy DenseNAS text table (one nested list literal). Both are read with
safe parsers only. FLOPs tables are computed from the space itself by :func:`flops_table`.
"""
from __future__ import annotations

import ast
import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from common.errors import CostTableError
from common.io import atomic_write_json
from search_space.topology import SearchSpace

FORMAT = "densenas-cost-table"
VERSION = 1
LEGACY_META = {"device": "NVIDIA TITAN Xp", "batch_size": 32, "input_size": 224, "units": "ms",
               "dtype": "float32", "source": "original DenseNAS release (legacy text table)"}


@dataclass
class CostTable:
    input: float
    head: List[List[List[float]]]
    stack: List[List[List[float]]]
    final: List[float]
    classifier: float
    meta: Dict = field(default_factory=dict)
    cv: Optional[Dict] = None  # coefficient of variation per entry (measured tables), same layout

    @property
    def units(self) -> str:
        return self.meta.get("units", "ms")

    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, "meta": self.meta, "input": self.input,
               "head": self.head, "stack": self.stack, "final": self.final, "classifier": self.classifier}
        if self.cv is not None:
            out["cv"] = self.cv
        return out

    def save(self, path: str) -> None:
        atomic_write_json(path, self.to_json())

    def check_fits(self, space: SearchSpace, expect_units: Optional[str] = None) -> "CostTable":
        """Return a copy shaped for ``space`` (extra legacy stack layers dropped), or raise an
        error saying which block / route / layer count differs."""
        fp = self.meta.get("fingerprint")
        if fp is not None and fp != space.fingerprint():
            raise CostTableError(f"cost table was measured for another search space (fingerprint {fp}, "
                                 f"this space {space.fingerprint()}); measure one with run_apis.latency_measure")
        if expect_units is not None and self.units != expect_units:
            raise CostTableError(f"cost table units are {self.units!r}, expected {expect_units!r}")
        n_routing = space.final - 1
        if len(self.head) != n_routing or len(self.stack) != n_routing:
            raise CostTableError(f"cost table has {len(self.head)} routing blocks, the space has {n_routing}")
        stack = []
        for k in space.routing_blocks:
            routes = self.head[k - 1]
            if len(routes) != len(space.in_routes[k]):
                raise CostTableError(f"cost table block {k}: {len(routes)} incoming routes, "
                                     f"the space has {len(space.in_routes[k])}")
            for r, costs in enumerate(routes):
                if len(costs) != len(space.head_ops):
                    raise CostTableError(f"cost table block {k} route {r}: {len(costs)} head-op costs, "
                                         f"the space has {len(space.head_ops)} head ops")
            layers = self.stack[k - 1]
            if len(layers) < space.num_layers[k]:
                raise CostTableError(f"cost table block {k}: {len(layers)} stack layers, "
                                     f"the space has {space.num_layers[k]}")
            for l, costs in enumerate(layers[:space.num_layers[k]]):
                if len(costs) != len(space.stack_ops):
                    raise CostTableError(f"cost table block {k} layer {l}: {len(costs)} stack-op costs, "
                                         f"the space has {len(space.stack_ops)} stack ops")
            stack.append(layers[:space.num_layers[k]])
        if len(self.final) != len(space.in_routes[space.final]):
            raise CostTableError(f"cost table final block: {len(self.final)} incoming routes, "
                                 f"the space has {len(space.in_routes[space.final])}")
        return CostTable(self.input, self.head, stack, self.final, self.classifier, dict(self.meta), self.cv)

    def with_skip_reg(self, space: SearchSpace) -> "CostTable":
        """skip_connect cost := cost of the first stack op / 10 (the paper's ResNet regulariser)."""
        if "skip_connect" not in space.stack_ops:
            return self
        s = space.stack_ops.index("skip_connect")
        stack = [[[c if o != s else layer[0] / 10 for o, c in enumerate(layer)] for layer in block]
                 for block in self.stack]
        return CostTable(self.input, self.head, stack, self.final, self.classifier,
                         dict(self.meta, skip_reg=True), self.cv)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _check_numbers(obj, where: str) -> None:
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_numbers(v, f"{where}[{i}]")
    elif not _num(obj) or obj < 0:
        raise CostTableError(f"cost table {where}: expected a non-negative finite number, got {obj!r}")


def _check_entries(table: "CostTable", where: str) -> None:
    """Op entries are non-negative; the input entry may be negative, since a fitted table folds
    its per-network constant into it (every network has exactly one input block)."""
    if not _num(table.input):
        raise CostTableError(f"cost table {where} input: expected a finite number, got {table.input!r}")
    _check_numbers([table.head, table.stack, table.final, table.classifier], where)


RUNTIMES = ("torch", "onnxruntime")  # what a latency table's milliseconds were measured with


def _check_meta(meta, where: str) -> None:
    """The metadata fields tools act on have the expected types (a hostile file gets one line)."""
    if not isinstance(meta, dict):
        raise CostTableError(f"cost table {where} meta: expected an object, got {type(meta).__name__}")
    if meta.get("runtime", "torch") not in RUNTIMES:
        raise CostTableError(f"cost table {where} meta.runtime: {meta.get('runtime')!r} is not one of "
                             f"{', '.join(RUNTIMES)}")
    for key in ("machine", "recalibration", "calibration"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CostTableError(f"cost table {where} meta.{key}: expected an object")


def parse_legacy(text: str, source: str = "<text>") -> CostTable:
    try:
        data = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise CostTableError(f"{source}: not a legacy DenseNAS table (one nested list literal of numbers)") from None
    if not isinstance(data, list) or len(data) != 4 or not isinstance(data[1], list) or not isinstance(data[2], list):
        raise CostTableError(f"{source}: legacy table must be [input_cost, [blocks...], [final...], classifier_cost]")
    head, stack = [], []
    for k, block in enumerate(data[1]):
        if not isinstance(block, list) or len(block) != 2:
            raise CostTableError(f"{source}: legacy block {k + 1} must be [[head routes], [stack layers]]")
        head.append(block[0])
        stack.append(block[1])
    table = CostTable(data[0], head, stack, data[2], data[3], dict(LEGACY_META))
    _check_entries(table, source)
    return table


def load_cost_table(path: str, space: Optional[SearchSpace] = None,
                    expect_units: Optional[str] = None) -> CostTable:
    """Read a JSON or legacy table; with ``space``, check it fits and shape it to the space. A
    relative path that does not exist under the cwd is looked up among the shipped tables."""
    from configs import resolve_path
    path = resolve_path(path)
    if not os.path.isfile(path):
        raise CostTableError(f"cost table not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CostTableError(f"cannot read cost table {path}: {e}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CostTableError(f"{path}: invalid JSON ({e})") from None
        if data.get("format") != FORMAT:
            raise CostTableError(f"{path}: not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise CostTableError(f"{path}: unsupported table version {data.get('version')!r}")
        try:
            table = CostTable(data["input"], data["head"], data["stack"], data["final"], data["classifier"],
                              data.get("meta", {}), data.get("cv"))
        except KeyError as e:
            raise CostTableError(f"{path}: missing key {e}") from None
        _check_meta(table.meta, path)
        _check_entries(table, path)
    else:
        table = parse_legacy(text, path)
    table.meta.setdefault("path", os.path.abspath(path))
    return table.check_fits(space, expect_units) if space is not None else table


def convert_legacy(src: str, dst: str, space: Optional[SearchSpace] = None) -> CostTable:
    """Legacy text table -> JSON. With ``space``, shaped to it (extra legacy layers dropped) and
    stamped with its fingerprint."""
    table = load_cost_table(src)
    if space is not None:
        table = table.check_fits(space)
    table.meta = dict(LEGACY_META, converted_from=os.path.basename(src),
                      date=datetime.date.today().isoformat())
    if space is not None:
        table.meta["fingerprint"] = space.fingerprint()
    table.save(dst)
    return table


# ---------------------------------------------------------------------------------------------
# Positions: what runs where. Shared by FLOPs counting and latency measurement.

class Signature(NamedTuple):
    """What determines an op's cost: (op, in_ch, out_ch, stride, input feature size)."""
    op: str
    in_ch: int
    out_ch: int
    stride: int
    fm: int


class Position(NamedTuple):
    key: Tuple  # ("input",) ("head", k, r, o) ("stack", k, l, o) ("final", r) ("classifier",)
    sig: Signature


def input_signature(space: SearchSpace, input_size: int) -> Signature:
    return Signature("input_block", 3, space.chs[0], 2, input_size)


def positions(space: SearchSpace, input_size: int) -> Iterator[Position]:
    """Every (position, signature) of the super network, in table order."""
    yield Position(("input",), input_signature(space, input_size))
    scale = input_size / (2 * space.fm_sizes[0])  # fm_sizes are figures at the space's nominal size

    def fm(b):
        return max(1, round(space.fm(b) * scale))
    for k in space.routing_blocks:
        for r, src in enumerate(space.in_routes[k]):
            for o, op in enumerate(space.head_ops):
                yield Position(("head", k, r, o), Signature(op, *space.op_channels(op, src, k),
                                                            space.stride(src, k), fm(src)))
        for l in range(space.num_layers[k]):
            for o, op in enumerate(space.stack_ops):
                yield Position(("stack", k, l, o), Signature(op, *space.op_channels(op, k, k), 1, fm(k)))
    for r, src in enumerate(space.in_routes[space.final]):
        yield Position(("final", r), Signature("conv1_1", space.width(src), space.width(space.final), 1, fm(src)))
    last_ch = space.width(space.final) if space.net_type == "mbv2" else space.width(space.final - 1)
    yield Position(("classifier",), Signature("classifier", last_ch, space.num_classes, 1, fm(space.final - 1)))


def table_from_values(space: SearchSpace, values: Dict[Tuple, float], meta: Dict,
                      cv: Optional[Dict[Tuple, float]] = None) -> CostTable:
    """Assemble a table from a {position key: cost} mapping (as produced by measuring/counting)."""
    def build(v):
        head = [[[v[("head", k, r, o)] for o in range(len(space.head_ops))]
                 for r in range(len(space.in_routes[k]))] for k in space.routing_blocks]
        stack = [[[v[("stack", k, l, o)] for o in range(len(space.stack_ops))]
                  for l in range(space.num_layers[k])] for k in space.routing_blocks]
        final = [v[("final", r)] for r in range(len(space.in_routes[space.final]))]
        return v[("input",)], head, stack, final, v[("classifier",)]
    inp, head, stack, final, cls = build(values)
    cv_tab = None
    if cv is not None:
        ci, ch, cs, cf, cc = build(cv)
        cv_tab = {"input": ci, "head": ch, "stack": cs, "final": cf, "classifier": cc}
    meta = dict(meta, fingerprint=space.fingerprint())
    return CostTable(inp, head, stack, final, cls, meta, cv_tab)


def build_position_module(sig: Signature, space: SearchSpace, affine: bool = True):
    """The plain module whose cost a signature stands for."""
    from torch import nn
    from models.operations import OPS, Conv1x1, conv_bn
    if sig.op == "input_block":
        if space.net_type == "mbv2":
            return nn.Sequential(conv_bn(3, space.init_dim, 3, 2, affine=affine),
                                 OPS["mbconv_k3_t1"](space.init_dim, space.head_dim, 1, affine=affine))
        return nn.Sequential(nn.Conv2d(3, space.init_dim, 3, 2, 1, bias=False),
                             nn.BatchNorm2d(space.init_dim, affine=affine), nn.ReLU(inplace=True))
    if sig.op == "conv1_1":
        return Conv1x1(sig.in_ch, sig.out_ch, affine=affine)
    if sig.op == "classifier":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(sig.in_ch, sig.out_ch))
    return OPS[sig.op](sig.in_ch, sig.out_ch, sig.stride, affine=affine)


def flops_table(space: SearchSpace, input_size: int, skip_reg: bool = False) -> CostTable:
    """MACs (millions) of every position, counted by torch's FlopCounterMode on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    cache: Dict[Signature, float] = {}
    values = {}
    for pos in positions(space, input_size):
        if pos.sig not in cache:
            with torch.device("meta"):
                module = build_position_module(pos.sig, space).eval()
                x = torch.empty(1, pos.sig.in_ch, pos.sig.fm, pos.sig.fm)
                with FlopCounterMode(display=False) as counter:
                    module(x)
            cache[pos.sig] = counter.get_total_flops() / 2e6
        values[pos.key] = cache[pos.sig]
    table = table_from_values(space, values, {"units": "MMACs", "input_size": input_size,
                                              "source": "FlopCounterMode", "batch_size": 1})
    return table.with_skip_reg(space) if skip_reg else table
