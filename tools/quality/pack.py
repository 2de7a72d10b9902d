"""Pack a benchmark folder's finished units small enough to commit, so a benchmark that spans
sessions survives a new machine (runs/ is gitignored and need not be there next time).

    python -m tools.quality.pack runs/quality-fmnist-1.0ms-sandwich tools/results/quality_fmnist_1.0ms_sandwich/units
    cp -r tools/results/quality_fmnist_1.0ms_sandwich/units/. runs/quality-fmnist-1.0ms-sandwich/   # next machine
    python -m tools.quality.benchmark ...same arguments...                                          # resumes

Kept: every file of a finished search (config, architecture parameters, derived net, history) and
of a finished retrain unit (result.json, net_config), the random draws and the one-shot scores
(tools.quality.benchmark caches them when a search finishes, so its super network's checkpoint is
not needed again). Left out: checkpoints, TensorBoard logs, pictures, logs, unfinished units (a
search without history.json, a retrain without result.json: they start over on the next machine)
and retrains imported by ``--reuse`` (the same ``--reuse`` brings them back). Written into a fresh folder (temp folder + rename).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import List, Tuple

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402

SEARCH_FILES = ("config.yaml", "arch_params.json", "derived.json", "net_config", "history.json",
                "inherited_weights.pt")  # the derived net's weights from the super network (~1 MB on Fashion-MNIST)
RETRAIN_FILES = ("result.json", "net_config")


def finished_units(src: str) -> Tuple[List[str], List[str]]:
    """Paths (relative to ``src``) of the files to pack, and one line per unfinished unit left out."""
    keep, left = [], []
    searches = os.path.join(src, "searches")
    for seed in sorted(os.listdir(searches)) if os.path.isdir(searches) else []:
        for run in sorted(os.listdir(os.path.join(searches, seed))):
            run_dir = os.path.join(searches, seed, run)
            if not os.path.isdir(run_dir):
                continue
            if not os.path.isfile(os.path.join(run_dir, "history.json")):
                left.append(f"searches/{seed}/{run}: unfinished search")
                continue
            keep += [os.path.join("searches", seed, run, f) for f in SEARCH_FILES
                     if os.path.isfile(os.path.join(run_dir, f))]
            if not os.path.isfile(os.path.join(src, "one_shot", f"{seed}.json")):
                left.append(f"searches/{seed}/{run}: its super network's checkpoint (no one-shot cache: "
                            "its one-shot scores will be n/a where the pack is unpacked)")
            if os.path.isdir(os.path.join(run_dir, "rounds")):  # nse's search-space evolution (the report reads it)
                keep += [os.path.join("searches", seed, run, "rounds", f)
                         for f in sorted(os.listdir(os.path.join(run_dir, "rounds"))) if f.endswith(".json")]
    retrains = os.path.join(src, "retrains")
    imported = 0
    for key in sorted(os.listdir(retrains)) if os.path.isdir(retrains) else []:
        result = os.path.join(retrains, key, "result.json")
        if not os.path.isfile(result):
            left.append(f"retrains/{key}: unfinished retrain")
        elif _imported(result):  # its quality.json is committed already: --reuse brings it back
            imported += 1
        else:
            keep += [os.path.join("retrains", key, f) for f in RETRAIN_FILES if os.path.isfile(os.path.join(retrains, key, f))]
    if imported:
        left.append(f"{imported} retrains imported by --reuse (give the same --reuse where the pack is unpacked)")
    for sub in ("random", "one_shot", "controls"):
        folder = os.path.join(src, sub)
        for root, _, files in os.walk(folder):
            keep += [os.path.relpath(os.path.join(root, f), src) for f in sorted(files) if f.endswith(".json")]
    return keep, left


def _imported(result_path: str) -> bool:
    try:
        with open(result_path, encoding="utf-8") as f:
            return bool(json.load(f).get("imported_from"))
    except (OSError, ValueError, AttributeError):
        return False


def pack(src: str, dest: str) -> Tuple[int, List[str]]:
    if not os.path.isdir(os.path.join(src, "searches")):
        raise InputError(f"{src}: not a tools.quality.benchmark folder (no searches/)")
    if os.path.exists(dest):
        raise InputError(f"{dest}: exists; pack into a new folder")
    keep, left = finished_units(src)
    tmp = dest.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in keep:
        os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), os.path.join(tmp, rel))
    os.makedirs(tmp, exist_ok=True)
    os.replace(tmp, dest)
    return len(keep), left


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.quality.pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="a tools.quality.benchmark --save folder")
    p.add_argument("dest", help="new folder for the packed units (e.g. under tools/results/)")
    args = p.parse_args(argv)
    n, left = pack(args.src, args.dest)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.dest) for f in fs)
    for line in left:
        print(f"left out: {line}")
    print(f"packed {n} files ({size / 1024:.0f} KiB) into {args.dest}")


if __name__ == "__main__":
    main()
