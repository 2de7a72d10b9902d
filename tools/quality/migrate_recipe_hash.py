r"""Move finished retrains from the old recipe hash (over the train config's text) to the current one
(over its parsed values, ``tools.quality.units.recipe_hash``), so that they stay reusable.

    python -m tools.quality.migrate_recipe_hash tools/results          # done once for the committed results
    python -m tools.quality.migrate_recipe_hash runs/quality-fmnist-1.5ms   # a benchmark folder of yours

The mapping old -> new is read from the reports found under the given paths, each of which records
its whole recipe (quality.json, a ranking set's JSON): the old hash is recomputed from that record
and must equal the one it holds (a file that does not is left alone and said so). The half recipe of
a fine-tune study (finetune.json) is the recorded recipe with half its epochs. Then, under every
path: the reports' hash fields are rewritten, and each retrain unit (``retrains/<key>/result.json``)
with an old hash gets the new one and the folder name its new key. Files are rewritten atomically;
a second run changes nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Dict, List

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json  # noqa: E402

HASH_KEYS = ("hash", "recipe", "recipe_hash", "half_recipe")  # the keys a hash string sits under in reports


def legacy_recipe_hash(recipe: dict) -> str:
    """The hash before issue 54: over the recorded recipe as it is, the config file's text included."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _json_files(paths: List[str]):
    for top in paths:
        if os.path.isfile(top):
            yield top
            continue
        for root, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith(".json"):
                    yield os.path.join(root, f)


def _load(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _half(recipe: dict) -> dict:
    import yaml
    epochs = yaml.safe_load(recipe["train_config_text"])["train_params"]["epochs"]
    return dict(recipe, train_opts=list(recipe["train_opts"]) + [f"train_params.epochs={epochs // 2}"])


def hash_mapping(paths: List[str], notes: List[str]) -> Dict[str, str]:
    """old hash -> new hash, from every report under ``paths`` that records its recipe."""
    from tools.quality.units import recipe_hash
    full: Dict[str, dict] = {}
    for path in _json_files(paths):
        data = _load(path)
        if not isinstance(data, dict) or not isinstance(data.get("recipe"), dict):
            continue
        recipe = {k: v for k, v in data["recipe"].items() if k != "hash"}
        recorded = data["recipe"].get("hash") or data.get("recipe_hash")
        if not isinstance(recipe.get("train_config_text"), str) or not isinstance(recorded, str):
            continue
        if recorded == recipe_hash(recipe):
            continue  # migrated already
        if legacy_recipe_hash(recipe) != recorded:
            notes.append(f"{path}: recorded hash {recorded} is not its recipe's: left alone")
            continue
        full[recorded] = recipe
    mapping = {old: recipe_hash(r) for old, r in full.items()}
    for path in _json_files(paths):  # fine-tune studies: their half recipe
        data = _load(path)
        if isinstance(data, dict) and isinstance(data.get("half_recipe"), str) and data.get("recipe") in full:
            half = _half(full[data["recipe"]])
            if legacy_recipe_hash(half) == data["half_recipe"]:
                mapping[data["half_recipe"]] = recipe_hash(half)
            else:
                notes.append(f"{path}: half_recipe {data['half_recipe']} is not half of its recipe: left alone")
    return mapping


def _rewrite(node, mapping: Dict[str, str]) -> int:
    changed = 0
    if isinstance(node, dict):
        for k, v in node.items():
            if k in HASH_KEYS and isinstance(v, str) and v in mapping:
                node[k] = mapping[v]
                changed += 1
            else:
                changed += _rewrite(v, mapping)
    elif isinstance(node, list):
        for v in node:
            changed += _rewrite(v, mapping)
    return changed


def _unit_key(result: dict, new_hash: str) -> str:
    unit = {"net": result["net_config"], "recipe": new_hash, "seed": result["seed"]}
    if result.get("init_weights"):
        unit["init"] = result["init_weights"]
    return hashlib.sha256(json.dumps(unit, sort_keys=True).encode()).hexdigest()[:16]


def migrate(paths: List[str]) -> List[str]:
    """Rewrite every report and retrain unit under ``paths``; one line per thing done or left alone."""
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or folder")
    notes: List[str] = []
    mapping = hash_mapping(paths, notes)
    reports = units = 0
    for path in list(_json_files(paths)):
        data = _load(path)
        is_unit = os.path.basename(path) == "result.json" and os.path.basename(os.path.dirname(os.path.dirname(path))) == "retrains"
        if is_unit and isinstance(data, dict) and isinstance(data.get("recipe"), str) and data["recipe"] in mapping:
            new = mapping[data["recipe"]]
            data["recipe"] = new
            folder = os.path.dirname(path)
            target = os.path.join(os.path.dirname(folder), _unit_key(data, new))
            atomic_write_json(path, data)
            if os.path.exists(target) and target != folder:
                notes.append(f"{folder}: its new key's folder exists already: left beside it")
            else:
                os.replace(folder, target)
            units += 1
        elif not is_unit and data is not None and _rewrite(data, mapping):
            atomic_write_json(path, data)
            reports += 1
    notes += [f"{old} -> {new}" for old, new in sorted(mapping.items())]
    notes.append(f"{reports} reports and {units} retrain units moved to the current recipe hash")
    return notes


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.quality.migrate_recipe_hash", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="folders (or files) with reports and retrain units")
    for line in migrate(p.parse_args(argv).paths):
        print(line)


if __name__ == "__main__":
    main()
