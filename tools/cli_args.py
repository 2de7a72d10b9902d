"""Argument resolution shared by the benchmark tools (quality.benchmark, quality.finetune_inherited,
supernet.ranking_set, supernet.benchmark, speed.loop, speed.retrain): the one home for --quick presets under explicit options, config paths found and made absolute,
numbers checked against their minimum -- each failure one line naming the option (exit 2)."""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Tuple

from common.errors import InputError


def fill_defaults(args, keys: Iterable[str], quick: Mapping, defaults: Mapping) -> None:
    """Unset options (None) take the --quick preset when --quick is given, else the default."""
    preset = quick if getattr(args, "quick", False) else {}
    for k in keys:
        if getattr(args, k) is None:
            setattr(args, k, preset.get(k, defaults.get(k)))


def resolve_configs(args, keys: Iterable[str]) -> None:
    """Each config option: found (configs/ or a path) and made absolute, or a one-line error."""
    from configs import find_config
    for k in keys:
        found = find_config(getattr(args, k))
        if not os.path.isfile(found):
            raise InputError(f"--{k} {getattr(args, k)}: file not found")
        setattr(args, k, os.path.abspath(found))


def check_minimums(args, minimums: Iterable[Tuple[str, float]]) -> None:
    for k, lo in minimums:
        if getattr(args, k) < lo:
            raise InputError(f"--{k} {getattr(args, k)}: must be at least {lo}")


def check_fraction(args, key: str = "cost_tolerance") -> None:
    if not 0 < getattr(args, key) < 1:
        raise InputError(f"--{key} {getattr(args, key):g}: must be in (0, 1)")
