"""Reuse retrain results of earlier benchmarks (their quality.json) in a new one.

A retrain unit is keyed by (net_config, recipe hash, seed): the same net retrained with the same
recipe and seed gives the same result whichever benchmark asked for it. Benchmarks of the same
window share many nets (the uniform nets above all), and quality.json is committed with its results
while the run folder (runs/, gitignored) may not survive to the next machine. ``reuse_results``
puts every (net, seed) of a quality.json with this benchmark's recipe into its cache, so only new
nets are retrained. What it imports is marked ``imported_from``; nothing is overwritten.
"""
from __future__ import annotations

import json
import os
from typing import Iterator, List, Tuple

from common.errors import InputError
from common.io import recorded_path
from tools.quality.unit_files import is_accuracy


def retrain_records(report: dict) -> Iterator[Tuple[str, int, float, float]]:
    """(net_config, seed, test top-1, final val top-1) of every retrain a quality.json reports with
    both numbers: searched nets, random nets and control groups' nets, seeds 0..len(acc)-1. The noise
    seeds of the first searched net carry no val accuracy and are left out."""
    seen = set()

    def walk(node):
        if isinstance(node, dict):
            text, acc, val = node.get("net_config"), node.get("acc"), node.get("val_final")
            if isinstance(text, str) and isinstance(acc, list) and isinstance(val, list):
                for seed, (a, v) in enumerate(zip(acc, val)):
                    if isinstance(a, (int, float)) and isinstance(v, (int, float)) and (text, seed) not in seen:
                        seen.add((text, seed))
                        yield text, seed, float(a), float(v)
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)
    yield from walk(report)


def check_report(report, path: str) -> None:
    """A hostile or damaged quality.json is refused whole, before anything is imported: every net_config
    parses, every accuracy is a finite percentage, every recorded run folder stays inside its benchmark."""
    from models.net_config import parse_text
    where = f"--reuse {path}"
    if not isinstance(report, dict) or not isinstance(report.get("recipe"), dict) \
            or not isinstance(report["recipe"].get("hash"), str):
        raise InputError(f"{where}: not a quality.json (no recipe hash)")
    checked = set()

    def walk(node, at):
        if isinstance(node, dict):
            run_dir = node.get("run_dir")
            if run_dir is not None and (not isinstance(run_dir, str) or os.path.isabs(run_dir)
                                        or os.path.normpath(run_dir).split(os.sep)[0] == ".."):
                raise InputError(f"{where}: {at}.run_dir {run_dir!r} points outside the benchmark folder")
            text = node.get("net_config")
            if text is not None and (isinstance(node.get("acc"), list) or isinstance(node.get("val_final"), list)):
                if not isinstance(text, str):
                    raise InputError(f"{where}: {at}.net_config is not text")
                if text not in checked:
                    try:
                        parse_text(text)
                    except Exception as e:  # noqa: BLE001 - any parse failure means a bad entry
                        raise InputError(f"{where}: {at}.net_config is not a net_config ({str(e).splitlines()[0][:120]})") from None
                    checked.add(text)
                for key in ("acc", "val_final"):
                    values = node.get(key, [])
                    if not isinstance(values, list) or not all(is_accuracy(v) for v in values):
                        raise InputError(f"{where}: {at}.{key} {str(values)[:80]}: accuracies must be finite "
                                         "percentages")
            for k, child in node.items():
                walk(child, f"{at}.{k}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{at}[{i}]")
    walk(report, "quality.json")


def reuse_results(bench, paths: List[str]) -> List[str]:
    """Import the retrains of each quality.json in ``paths`` whose recipe hash is this benchmark's
    into its cache; returns one summary line per file. A file that is not a readable quality.json
    is an InputError naming it; a file with another recipe imports nothing and says so."""
    reports = []
    for path in paths:  # every file checked before anything is imported
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            recipe = report["recipe"]["hash"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"--reuse {path}: not a readable quality.json with a recipe hash ({e})") from None
        check_report(report, path)  # refused whole, whatever its recipe
        reports.append((path, report, recipe))
    lines = []
    for path, report, recipe in reports:
        if recipe != bench.recipe_hash:
            lines.append(f"reuse {path}: recipe {recipe} is not this benchmark's {bench.recipe_hash}: nothing imported")
            continue
        per_retrain = report.get("retrain_time_s")
        added = present = 0
        # time_s: the source's mean retrain time (its per-unit times are not in quality.json)
        time_s = float(per_retrain) if isinstance(per_retrain, (int, float)) else 0.0
        for text, seed, test_top1, val_final in retrain_records(report):
            if bench.import_result(text, seed, test_top1, val_final, time_s, recorded_path(path)):
                added += 1
            else:
                present += 1
        lines.append(f"reuse {path}: {added} retrains imported, {present} already in the cache")
    return lines
