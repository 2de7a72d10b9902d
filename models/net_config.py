"""net_config: the plain description of a derived network.

Two forms load:

* the published DenseNAS text form (blocks separated by ``|``, each a Python *literal*
  ``[[in_ch, out_ch], head_op, [stack_ops], num_stack_layers, stride]``, the MBV2 family ending
  with ``[[in_ch, last_dim], 'conv1_1']``, then a line ``net_type: mbv2|res``);
* this project's YAML form (``net_type``, ``blocks: [{channels, head_op, stack_ops, stride}]``,
  ``last: {channels, op}``).

An op joining several op names with ``+`` (``'mbconv_k3_t3+mbconv_k5_t6'``, head or stack) is a
multi-branch layer (NSE): the mean of its branches, plus the identity in a residual position
(``models.operations.MultiBranch``).

Parsing uses :func:`ast.literal_eval` / ``yaml.safe_load`` only: nothing in a file is executed.
:func:`format_net_config` writes the text form, so configs round-trip.
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

import yaml

from common.errors import NetConfigError
from models.operations import FINAL_OP, OPS, check_multi_branch, is_multi_branch
from models.paper import PAPER_NETS
from models.fashion_mnist_nets import FASHION_MNIST_NETS

NET_TYPES = ("mbv2", "res")


@dataclass(frozen=True)
class BlockSpec:
    in_ch: int
    out_ch: int
    head_op: str
    stack_ops: Tuple[str, ...] = ()
    stride: int = 1

    def as_list(self) -> list:
        return [[self.in_ch, self.out_ch], self.head_op, list(self.stack_ops), len(self.stack_ops), self.stride]


@dataclass(frozen=True)
class NetConfig:
    net_type: str
    blocks: Tuple[BlockSpec, ...]
    last: Optional[Tuple[int, int]] = None  # (in_ch, last_dim) of the final conv1_1 (mbv2)
    extra: dict = field(default_factory=dict, compare=False)  # free metadata (YAML form only)

    def to_text(self) -> str:
        return format_net_config(self)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_branches(op: str, where: str) -> None:
    problem = check_multi_branch(op)
    if problem:
        raise NetConfigError(f"net_config {where}: {problem}")


def _check_block(raw, idx: int) -> BlockSpec:
    where = f"block {idx}"
    if not isinstance(raw, (list, tuple)) or len(raw) != 5:
        raise NetConfigError(f"net_config {where}: expected [[in_ch, out_ch], head_op, [stack_ops], "
                             f"num_stack_layers, stride], got {raw!r}")
    chs, head, stack, n_stack, stride = raw
    if (not isinstance(chs, (list, tuple)) or len(chs) != 2 or not all(_is_int(c) and c > 0 for c in chs)):
        raise NetConfigError(f"net_config {where}: channels must be two positive integers, got {chs!r}")
    if isinstance(head, str) and is_multi_branch(head):
        _check_branches(head, where)
    elif not isinstance(head, str) or head not in OPS or head == "skip_connect":
        raise NetConfigError(f"net_config {where}: unknown head op {head!r} "
                             f"(known: {', '.join(sorted(k for k in OPS if k != 'skip_connect'))})")
    if not isinstance(stack, (list, tuple)):
        raise NetConfigError(f"net_config {where}: stack ops must be a list, got {stack!r}")
    for op in stack:
        if isinstance(op, str) and is_multi_branch(op):
            _check_branches(op, where)
        elif not isinstance(op, str) or op not in OPS:
            raise NetConfigError(f"net_config {where}: unknown stack op {op!r}")
    if not _is_int(n_stack) or n_stack < 0:
        raise NetConfigError(f"net_config {where}: num_stack_layers must be a non-negative integer, got {n_stack!r}")
    if n_stack != len(stack):
        raise NetConfigError(f"net_config {where}: num_stack_layers is {n_stack} but {len(stack)} stack ops are listed")
    if not _is_int(stride) or stride not in (1, 2):
        raise NetConfigError(f"net_config {where}: stride must be 1 or 2, got {stride!r}")
    return BlockSpec(int(chs[0]), int(chs[1]), head, tuple(stack), int(stride))


def _check_last(raw, idx: int) -> Tuple[int, int]:
    if (len(raw) != 2 or not isinstance(raw[0], (list, tuple)) or len(raw[0]) != 2
            or not all(_is_int(c) and c > 0 for c in raw[0])):
        raise NetConfigError(f"net_config block {idx} ({FINAL_OP}): expected [[in_ch, last_dim], 'conv1_1'], got {raw!r}")
    return int(raw[0][0]), int(raw[0][1])


def validate(cfg: NetConfig) -> NetConfig:
    """Check the whole network: types, channel continuity, final block. Returns ``cfg``."""
    if cfg.net_type not in NET_TYPES:
        raise NetConfigError(f"net_config: net_type must be one of {NET_TYPES}, got {cfg.net_type!r}")
    if not cfg.blocks:
        raise NetConfigError("net_config: no blocks")
    for i in range(1, len(cfg.blocks)):
        prev, cur = cfg.blocks[i - 1], cfg.blocks[i]
        if cur.in_ch != prev.out_ch:
            raise NetConfigError(f"net_config block {i}: in_ch {cur.in_ch} does not match out_ch {prev.out_ch} "
                                 f"of block {i - 1}")
    if cfg.net_type == "mbv2":
        if cfg.last is None:
            raise NetConfigError(f"net_config: an mbv2 network must end with [[in_ch, last_dim], '{FINAL_OP}']")
        if cfg.last[0] != cfg.blocks[-1].out_ch:
            raise NetConfigError(f"net_config block {len(cfg.blocks)} ({FINAL_OP}): in_ch {cfg.last[0]} does not "
                                 f"match out_ch {cfg.blocks[-1].out_ch} of block {len(cfg.blocks) - 1}")
    for i, b in enumerate(cfg.blocks):
        ops = (b.head_op,) + b.stack_ops
        if cfg.net_type == "mbv2" and any(op in ("basic_block", "bottle_neck") for op in ops):
            raise NetConfigError(f"net_config block {i}: ResNet op in an mbv2 network")
        if cfg.net_type == "res" and any(op.startswith("mbconv") for op in ops):
            raise NetConfigError(f"net_config block {i}: mbconv op in a res network")
    return cfg


def _literal(text: str, idx: int):
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        snippet = " ".join(text.split())[:60]
        raise NetConfigError(f"net_config block {idx}: not a literal list ({type(e).__name__}): {snippet!r}") from None


def parse_text(text: str) -> NetConfig:
    """Parse the published ``|``-separated text form."""
    net_type = None
    body_lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("net_type"):
            key, _, value = stripped.partition(":")
            net_type = value.strip().strip("'\"")
        elif stripped and not stripped.startswith("#"):
            body_lines.append(line)
    body = "\n".join(body_lines).strip()
    if not body:
        raise NetConfigError("net_config: empty")
    parts = [p for p in body.split("|")]
    if parts and not parts[-1].strip():
        parts = parts[:-1]
    blocks, last = [], None
    for idx, part in enumerate(parts):
        raw = _literal(part, idx)
        if not isinstance(raw, (list, tuple)):
            raise NetConfigError(f"net_config block {idx}: expected a list, got {raw!r}")
        if len(raw) == 2 and raw[1] == FINAL_OP:
            if idx != len(parts) - 1:
                raise NetConfigError(f"net_config block {idx}: '{FINAL_OP}' must be the last block")
            last = _check_last(raw, idx)
        else:
            blocks.append(_check_block(raw, idx))
    if net_type is None:
        net_type = "mbv2" if last is not None else "res"
    return validate(NetConfig(net_type, tuple(blocks), last))


def parse_yaml(data: dict) -> NetConfig:
    """Parse the project's YAML mapping form."""
    if not isinstance(data.get("blocks"), list):
        raise NetConfigError("net_config: YAML form needs a 'blocks' list")
    blocks = []
    for idx, b in enumerate(data["blocks"]):
        if not isinstance(b, dict):
            raise NetConfigError(f"net_config block {idx}: expected a mapping, got {b!r}")
        unknown = set(b) - {"channels", "head_op", "stack_ops", "stride"}
        if unknown:
            raise NetConfigError(f"net_config block {idx}: unknown keys {sorted(unknown)}")
        stack = b.get("stack_ops", [])
        blocks.append(_check_block([b.get("channels"), b.get("head_op"), stack,
                                    len(stack) if isinstance(stack, list) else -1, b.get("stride", 1)], idx))
    last = None
    if data.get("last") is not None:
        lb = data["last"]
        if not isinstance(lb, dict) or lb.get("op", FINAL_OP) != FINAL_OP:
            raise NetConfigError(f"net_config last: expected {{channels: [in, last_dim], op: {FINAL_OP}}}")
        last = _check_last([lb.get("channels"), FINAL_OP], len(blocks))
    extra = {k: v for k, v in data.items() if k not in ("net_type", "blocks", "last")}
    return validate(NetConfig(str(data.get("net_type", "mbv2")), tuple(blocks), last, extra))


def format_net_config(cfg: NetConfig) -> str:
    """The published text form, one block per line."""
    parts = [repr(b.as_list()) for b in cfg.blocks]
    if cfg.last is not None:
        parts.append(repr([list(cfg.last), FINAL_OP]))
    return "|\n".join(parts) + f"\nnet_type: {cfg.net_type}\n"


def to_yaml_dict(cfg: NetConfig) -> dict:
    out = {"net_type": cfg.net_type,
           "blocks": [{"channels": [b.in_ch, b.out_ch], "head_op": b.head_op,
                       "stack_ops": list(b.stack_ops), "stride": b.stride} for b in cfg.blocks]}
    if cfg.last is not None:
        out["last"] = {"channels": list(cfg.last), "op": FINAL_OP}
    return out


def load_net_config(source: Union[str, os.PathLike, NetConfig]) -> NetConfig:
    """Load a net_config from a NetConfig, a zoo name, a file/folder path, or the text itself.

    A folder is searched for ``net_config`` (text) or ``net_config.yaml``.
    """
    if isinstance(source, NetConfig):
        return validate(source)
    text = os.fspath(source)
    if text in PAPER_NETS:
        return parse_text(PAPER_NETS[text][0])
    if text in FASHION_MNIST_NETS:
        return parse_text(FASHION_MNIST_NETS[text]["net_config"])
    if "\n" not in text and "|" not in text and "[" not in text:
        path = text
        if os.path.isdir(path):
            for name in ("net_config", "net_config.yaml", "net_config.txt"):
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
            else:
                raise NetConfigError(f"net_config: no net_config file in folder {path}")
        if not os.path.isfile(path):
            raise NetConfigError(f"net_config: {path} is neither a file, a folder nor a zoo name "
                                 f"(zoo: {', '.join([*PAPER_NETS, *FASHION_MNIST_NETS])})")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise NetConfigError(f"net_config: cannot read {path}: {e}") from None
    stripped = text.lstrip()
    if stripped.startswith("blocks:") or "\nblocks:" in text:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise NetConfigError(f"net_config: invalid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise NetConfigError("net_config: YAML form must be a mapping")
        return parse_yaml(data)
    return parse_text(text)


def multi_branch_layers(cfg: NetConfig) -> int:
    """How many layers of ``cfg`` run several ops ('a+b')."""
    return sum(is_multi_branch(op) for b in cfg.blocks for op in (b.head_op, *b.stack_ops))


def blocks_summary(cfg: NetConfig) -> List[str]:
    return [f"{i:2d} {b.in_ch:4d}->{b.out_ch:<4d} s{b.stride} {b.head_op} + {list(b.stack_ops)}"
            for i, b in enumerate(cfg.blocks)]
