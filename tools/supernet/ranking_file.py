"""Checks of a ranking-set JSON before anything reads it (``tools.supernet.ranking_set`` resuming
its --out, ``tools.supernet.benchmark --ranking``): a damaged or hostile file is refused whole with one
line naming it and what is wrong, before anything is written."""
from __future__ import annotations

import json
import math

from common.errors import InputError
from tools.quality.unit_files import is_accuracy


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_ranking_set(data, where: str) -> None:
    from models.net_config import parse_text
    if not isinstance(data, dict) or not isinstance(data.get("nets"), list):
        raise InputError(f"{where}: not a ranking set of tools.supernet.ranking_set (no list of nets)")
    seen = set()
    for i, net in enumerate(data["nets"]):
        at = f"{where}: nets[{i}]"
        if not isinstance(net, dict):
            raise InputError(f"{at} is not an object")
        if net.get("id") in seen:
            raise InputError(f"{at}: duplicate id {net.get('id')!r}")
        seen.add(net.get("id"))
        if not isinstance(net.get("net_config"), str):
            raise InputError(f"{at}: net_config is not text")
        try:
            parse_text(net["net_config"])
        except Exception as e:  # noqa: BLE001 - any parse failure means a bad entry
            raise InputError(f"{at}: net_config is not a net_config ({str(e).splitlines()[0][:120]})") from None
        if not isinstance(net.get("group"), str):
            raise InputError(f"{at}: no group")
        for key in ("cost", "params_m", "macs_m"):
            if not _finite(net.get(key)):
                raise InputError(f"{at}: {key} {net.get(key)!r} is not a finite number")
        for key in ("test_top1_mean", "val_top1_mean"):
            if net.get(key) is not None and not is_accuracy(net[key]):
                raise InputError(f"{at}: {key} {net[key]!r} is not a finite percentage")
        retrains = net.get("retrains", [])
        if not isinstance(retrains, list):
            raise InputError(f"{at}: retrains is not a list")
        for r in retrains:
            if not isinstance(r, dict) or not isinstance(r.get("seed"), int) or isinstance(r.get("seed"), bool) \
                    or not is_accuracy(r.get("test_top1")) or not is_accuracy(r.get("val_top1_final")):
                raise InputError(f"{at}: a retrain without an integer seed and finite accuracies")
        if net.get("test_top1_mean") is not None and not retrains:
            raise InputError(f"{at}: a mean test top-1 without retrains")


def read_ranking_set(path: str, flag: str) -> dict:
    where = f"{flag} {path}"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{where}: not a readable ranking set ({type(e).__name__})") from None
    check_ranking_set(data, where)
    return data
