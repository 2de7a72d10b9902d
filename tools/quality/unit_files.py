"""A unit's files as a crash, a full disk or a hand may leave them. A finished unit's JSON is trusted
only when it parses and says what the unit is; a step checkpoint only when it loads. Anything else
is set aside (renamed ``<name>.damaged-<n>``, kept for a look, never read again) and its unit is
redone: a half-written or foreign file is never read as finished."""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Callable, Optional


def set_aside(path: str, why: str) -> str:
    n = 1
    while os.path.exists(f"{path}.damaged-{n}"):
        n += 1
    dest = f"{path}.damaged-{n}"
    os.replace(path, dest)
    print(f"warning: {path}: {why}; set aside as {os.path.basename(dest)}, its unit is redone", file=sys.stderr)
    return dest


def read_unit_json(path: str, check: Optional[Callable[[object], Optional[str]]] = None):
    """The JSON at ``path``; None when absent or damaged (then set aside). ``check(obj)`` returns
    what is wrong with a parsed object, or None when it is this unit's."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        set_aside(path, f"unreadable ({type(e).__name__})")
        return None
    problem = check(obj) if check else None
    if problem:
        set_aside(path, problem)
        return None
    return obj


def is_accuracy(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= 100


def retrain_result_problem(obj, net_text: str, seed: int, recipe: str) -> Optional[str]:
    """What is wrong with a retrain unit's result.json, or None."""
    if not isinstance(obj, dict):
        return "not a result object"
    for key, want in (("net_config", net_text), ("seed", seed), ("recipe", recipe)):
        if obj.get(key) != want:
            return f"{key} is not this unit's"
    if not is_accuracy(obj.get("test_top1")) or not is_accuracy(obj.get("val_top1_final")):
        return "accuracies are not finite percentages"
    return None


def checkpoint_loads(path: str) -> bool:
    """A step checkpoint a resume can read (weights_only load); a damaged one is set aside."""
    from common.errors import InputError
    from common.io import load_file
    try:
        load_file(path)
        return True
    except InputError:
        set_aside(path, "checkpoint does not load")
        return False
