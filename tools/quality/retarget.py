"""A second target without a second search: ``tools.quality.benchmark --searches_from FOLDER``.

Under the paper's cost term (``optim.sub_obj.target_mode: none``: CE + factor * log(cost), no
target in the loss) a ``densenas`` search's trajectory does not depend on its target; only its
derive reads it (measured: the 1.0 ms and 1.5 ms searches of one seed have identical parameters,
``tests/run_apis/test_search.py``). So a finished search of another benchmark, whose config differs
from this one's only in ``optim.sub_obj.target``, is re-derived at this benchmark's target with the
search's own rule (``engine.search_outputs.derive_at_target``): the net its run would have written.

The new run folder holds the source's config (target replaced), architecture parameters and
history (its per-epoch derives and diagnostics stay those of the source's target), the re-derived
net_config / derived.json / arch.png, the super-network checkpoint when the source has one (linked,
else copied: the one-shot scores need it) and ``retarget.json`` (where it came from). Built in a
temporary folder and renamed into place: a stopped run leaves no half folder behind.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
from typing import Dict, Optional

import yaml

from common.errors import InputError
from common.io import atomic_write_json, atomic_write_text, recorded_path

RETARGET_FILE = "retarget.json"
COPIED = ("arch_params.json", "history.json")


def finished_search(folder: str, seed: int) -> Optional[str]:
    """The finished search run of ``seed`` in a benchmark folder (run or packed), or None."""
    runs = sorted(glob.glob(os.path.join(folder, "searches", f"seed_{seed}", "search-*")))
    done = [r for r in runs if os.path.isfile(os.path.join(r, "history.json"))]
    return done[-1] if done else None


def _flat(d, prefix="") -> Dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_retargetable(source_run: str, cfg) -> None:
    """One clear error unless ``source_run``'s search is this benchmark's search but for its target:
    a ``densenas`` search under the paper's cost term, every other key of the config equal."""
    from engine.derive_run import load_search_result
    where = f"--searches_from: {source_run}"
    if not os.path.isfile(os.path.join(source_run, "arch_params.json")):
        raise InputError(f"{where}: no arch_params.json (not a finished search)")
    try:  # its config loads, its architecture parameters fit its space
        src = load_search_result(source_run).cfg
    except InputError as e:
        raise InputError(f"{where}: {str(e).replace('--load_path ', '')}") from None
    if src.search_params.method != "densenas":
        raise InputError(f"{where}: method {src.search_params.method}; only a densenas search is target-free "
                         "(tfnas and nse read the target while they search)")
    if src.optim.sub_obj.target_mode != "none":
        raise InputError(f"{where}: optim.sub_obj.target_mode {src.optim.sub_obj.target_mode}; only the paper's "
                         "cost term (none) keeps the target out of the search")
    a, b = _flat(src.to_dict()), _flat(cfg.to_dict())
    ignored = {"optim.sub_obj.target", "_path"}  # _path: where each config was read from
    differ = sorted(k for k in set(a) | set(b) if k not in ignored and a.get(k) != b.get(k))
    if differ:
        k = differ[0]
        raise InputError(f"{where}: its config differs from this benchmark's in {k} ({a.get(k)!r} there, "
                         f"{b.get(k)!r} here)" + (f" and {len(differ) - 1} more keys" if len(differ) > 1 else ""))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links
        shutil.copy2(src, dst)


def retarget_search(source_run: str, parent: str, target: float) -> str:
    """Re-derive the finished search ``source_run`` at ``target`` into a new run folder under
    ``parent`` (the benchmark's searches/seed_<s>); returns that folder."""
    from engine.derive_run import describe, load_search_result, load_table, write_derived
    from engine.search_outputs import derive_at_target
    from search_space import derive_from_params
    from search_space.budget import ArchProbs
    if not os.path.isfile(os.path.join(source_run, "arch_params.json")):
        raise InputError(f"--searches_from: {source_run} has no arch_params.json (not a finished search)")
    result = load_search_result(source_run)
    table = load_table(result, None)
    probs = ArchProbs.from_params(result.betas, result.head_alphas, result.stack_alphas)
    argmax = derive_from_params(result.space, result.betas, result.head_alphas, result.stack_alphas)
    chosen, info = derive_at_target(result.space, table, probs, argmax, target, result.cfg.optim.sub_obj,
                                    lambda net: describe(net, result, table))
    info["epoch"] = result.epoch
    dest = os.path.join(parent, os.path.basename(source_run))
    tmp = os.path.join(parent, ".partial-" + os.path.basename(source_run))  # not a search-* until renamed
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(source_run, "config.yaml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    source_target = config["optim"]["sub_obj"]["target"]
    config["optim"]["sub_obj"]["target"] = target
    atomic_write_text(os.path.join(tmp, "config.yaml"), yaml.safe_dump(config, sort_keys=False))
    for name in COPIED:
        shutil.copy2(os.path.join(source_run, name), os.path.join(tmp, name))
    if os.path.isfile(os.path.join(source_run, "checkpoint.pt")):
        _link_or_copy(os.path.join(source_run, "checkpoint.pt"), os.path.join(tmp, "checkpoint.pt"))
        from engine.derive_run import load_search_result, load_supernet, write_inherited
        write_inherited(tmp, load_supernet(load_search_result(tmp)), chosen)  # the re-derived net's weights
    write_derived(tmp, chosen, info)
    atomic_write_json(os.path.join(tmp, RETARGET_FILE), {
        "source": recorded_path(source_run), "source_target": source_target, "target": target,
        "why": "optim.sub_obj.target_mode none: the target enters only the derive (tools.quality.retarget)"})
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return dest


def retarget_info(run_dir: str) -> Optional[dict]:
    """``retarget.json`` of a run folder, or None for a search that ran here."""
    path = os.path.join(run_dir, RETARGET_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def rederived_fields(run_dir: str, moved: dict, diagnostics: dict) -> dict:
    """quality.json fields of a re-derived search: where it came from, and its collapse diagnostics
    with the final derived net's (skip share, depth) recomputed at this target from the final
    architecture parameters. The history's per-epoch derives were made at the source's target, so
    when the derived net last changed at this target is not known: None."""
    import torch
    from engine.derive_run import load_search_result
    from models import load_net_config
    from search_space.diagnostics import collapse_stats
    out = {"rederived_from": {k: moved[k] for k in ("source", "source_target")}}
    if not diagnostics:
        return out
    result = load_search_result(run_dir)
    alphas = [[torch.tensor(a, dtype=torch.float64) for a in group] for group in (result.head_alphas, result.stack_alphas)]
    stats = collapse_stats(result.space, *alphas, load_net_config(run_dir))
    out["diagnostics"] = dict(diagnostics, skip_share_final=stats["skip_share"], depth_blocks_final=stats["depth_blocks"],
                              depth_layers_final=stats["depth_layers"], changes_after_arch_start=None,
                              last_change_epoch=None)
    return out
