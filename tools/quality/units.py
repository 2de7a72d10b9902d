"""The units of tools.quality.benchmark: a search, a retrain, a random draw, a one-shot score. Each
is cached on disk under the benchmark folder, so a run that stops continues where it stopped."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import threading
import time
from typing import List, Optional

from common.errors import PREEMPTED_EXIT_CODE, InputError, Preempted
from common.io import atomic_write_json, atomic_write_text
from tools.quality.child_runs import run_child
from tools.quality.retarget import finished_search, retarget_search
from tools.quality.unit_files import checkpoint_loads, read_unit_json, retrain_result_problem


class UnitFailed(RuntimeError):
    pass


def file_hash(path: str) -> str:
    """sha256 of a file's bytes (first 16 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# Recorded with a recipe for people to read, left out of its hash: the file's name and its text (the
# hash takes the parsed values instead, so a comment or a rename does not orphan finished retrains).
RECIPE_UNHASHED = ("train_config", "train_config_text")


def recipe_hash(recipe: dict) -> str:
    """The hash of a retrain recipe (12 hex digits): its parsed values -- the train config as
    ``yaml.safe_load`` reads it, the overrides, split, layout, threads and data -- not the file's text."""
    import yaml
    hashed = {k: v for k, v in recipe.items() if k not in RECIPE_UNHASHED}
    try:
        hashed["train_config_values"] = yaml.safe_load(recipe["train_config_text"])
    except yaml.YAMLError as e:
        raise InputError(f"train config {recipe['train_config']}: not YAML ({str(e).splitlines()[0]})") from None
    return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:12]


def run_unit(cmd: List[str], log_path: str, threads: int) -> str:
    """Run a project command in a child process (no shell); its output goes to ``log_path``. A stop
    signal of this process stops it too (``tools.quality.child_runs``)."""
    code = run_child(cmd, log_path, threads)
    if code == PREEMPTED_EXIT_CODE:  # the unit stopped resumably on its own (a full disk): so does the benchmark
        raise Preempted(f"{' '.join(cmd[2:4])} stopped with exit code {code} (see {log_path}); the same command "
                        "resumes it")
    if code != 0:
        raise UnitFailed(f"{' '.join(cmd[2:4])} failed with exit code {code}; see {log_path}")
    return log_path


def _resumable_attempt(folder: str) -> Optional[str]:
    """The newest earlier attempt of a retrain unit with a checkpoint (stopped by a signal, or its
    parent was): resumed, exactly (engine.preemption). Attempts without one start over."""
    import shutil
    attempts = sorted(glob.glob(os.path.join(folder, "retrain-*")))
    keep = next((a for a in reversed(attempts) if os.path.isfile(os.path.join(a, "checkpoint.pt"))
                 and checkpoint_loads(os.path.join(a, "checkpoint.pt"))), None)
    for stale in attempts:
        if stale != keep:
            shutil.rmtree(stale, ignore_errors=True)
    return keep


class QualityUnits:
    """The units of a quality benchmark (search, retrain, random draw, one-shot score), each cached
    on disk under ``args.save``; tools.quality.benchmark schedules them, tools.supernet.ranking_set reuses the
    retrains."""

    def __init__(self, args):
        self.a = args
        self.save = os.path.abspath(args.save)
        self.py = sys.executable
        with open(args.train_config, encoding="utf-8") as f:
            recipe_text = f.read()
        self.recipe = {"train_config": os.path.basename(args.train_config), "train_config_text": recipe_text,
                       "train_opts": list(args.train_opts), "test_split": args.test_split,
                       "channels_last": not args.no_channels_last, "threads": args.threads,
                       "data": args.data_path or "demo"}
        self.recipe_hash = recipe_hash(self.recipe)
        self.done_units = self.total_units = 0
        self._units_lock, self._unit_locks = threading.Lock(), {}
        self.start = time.monotonic()

    # -- units --------------------------------------------------------------------------------
    def _common(self) -> List[str]:
        out = ["--quiet"] + ([] if self.a.no_channels_last else ["--channels_last"])
        return out + (["--data_path", self.a.data_path] if self.a.data_path else [])

    def search_dir(self, seed: int) -> Optional[str]:
        """The finished search run of ``seed`` (None when not finished)."""
        return finished_search(self.save, seed)

    def search(self, seed: int) -> str:
        found = self.search_dir(seed)
        if found:
            return found
        parent = os.path.join(self.save, "searches", f"seed_{seed}")
        source = self.borrowed_search(seed)
        if source:  # checked before the benchmark started (tools.quality.benchmark.check_inputs)
            return retarget_search(source, parent, self.a.target)
        partial = [c for c in sorted(glob.glob(os.path.join(parent, "search-*", "checkpoint.pt")))[-1:]
                   if checkpoint_loads(c)]
        cmd = [self.py, "-m", "run_apis.search", "--save", parent] + self._common()
        if partial:  # preempted: continue from its last epoch
            cmd += ["--resume", os.path.dirname(partial[-1])]
        else:
            opts = [f"train_params.seed={seed}"] + ([f"optim.sub_obj.target={self.a.target:g}"] if self.a.target else [])
            cmd += ["--config", self.a.config, "--opts"] + opts + list(self.a.opts)
        run_unit(cmd, os.path.join(parent, "benchmark.log"), self.a.threads)
        found = self.search_dir(seed)
        if not found:
            raise UnitFailed(f"search seed {seed}: finished without history.json in {parent}")
        return found

    def borrowed_search(self, seed: int) -> Optional[str]:
        """--searches_from: that benchmark's finished search of ``seed``, re-derived here instead of
        searching (tools.quality.retarget); None when not given or that seed has none."""
        if not getattr(self.a, "searches_from", None):
            return None
        return finished_search(self.a.searches_from, seed)

    def retrain_key(self, net_text: str, seed: int, init: Optional[str] = None) -> str:
        """The unit's cache key; ``init``: the hash of its initial weights (None: from scratch)."""
        unit = {"net": net_text, "recipe": self.recipe_hash, "seed": seed}
        if init:
            unit["init"] = init
        return hashlib.sha256(json.dumps(unit, sort_keys=True).encode()).hexdigest()[:16]

    def retrain_dir(self, net_text: str, seed: int, init: Optional[str] = None) -> str:
        return os.path.join(self.save, "retrains", self.retrain_key(net_text, seed, init))

    def cached(self, net_text: str, seed: int, init: Optional[str] = None) -> Optional[dict]:
        path = os.path.join(self.retrain_dir(net_text, seed, init), "result.json")
        return read_unit_json(path, lambda r: retrain_result_problem(r, net_text, seed, self.recipe_hash))

    def import_result(self, net_text: str, seed: int, test_top1: float, val_final, time_s: float, source: str,
                      resumed: bool = False) -> bool:
        """Write a retrain run elsewhere (another file of the same recipe) as this cache's unit, unless
        the unit is there already; returns whether it wrote. The one writer of imported units
        (``--reuse``, the ceiling's pool). ``resumed``: the unit was run by this same study (e.g. on
        another machine), so it is recorded as ``resumed_from``, not as an import."""
        if self.cached(net_text, seed) is not None:
            return False
        folder = self.retrain_dir(net_text, seed)
        os.makedirs(folder, exist_ok=True)
        atomic_write_json(os.path.join(folder, "result.json"),
                          {"net_config": net_text, "seed": seed, "recipe": self.recipe_hash, "label": "imported",
                           "test_top1": test_top1, "val_top1_final": val_final, "val_top1_best": None,
                           "time_s": float(time_s), ("resumed_from" if resumed else "imported_from"): source})
        return True

    def retrain(self, net_text: str, seed: int, label: str, init_weights: Optional[str] = None) -> dict:
        """One retrain unit (cached). Two units of the same net and seed (e.g. a params pick that is
        also a random net) run one after the other: the second finds the first's result.
        ``init_weights``: a weights file to start from (run_apis.retrain --init_weights); its content
        hash is part of the unit's key."""
        init = file_hash(init_weights) if init_weights else None
        key = self.retrain_key(net_text, seed, init)
        with self._units_lock:
            lock = self._unit_locks.setdefault(key, threading.Lock())
        with lock:
            return self._retrain(net_text, seed, label, init_weights, init)

    def _retrain(self, net_text: str, seed: int, label: str, init_weights: Optional[str] = None,
                 init: Optional[str] = None) -> dict:
        hit = self.cached(net_text, seed, init)
        if hit is not None:
            return hit
        folder = self.retrain_dir(net_text, seed, init)
        attempt = _resumable_attempt(folder)
        os.makedirs(folder, exist_ok=True)
        atomic_write_text(os.path.join(folder, "net_config"), net_text)
        t0 = time.monotonic()
        cmd = [self.py, "-m", "run_apis.retrain", "--net_config", os.path.join(folder, "net_config"),
               "--config", self.a.train_config, "--save", folder, "--test_split", self.a.test_split] + self._common()
        cmd += ["--init_weights", os.path.abspath(init_weights)] if init_weights else []
        cmd += (["--resume", attempt] if attempt else []) + ["--opts", f"train_params.seed={seed}"] + list(self.a.train_opts)
        run_unit(cmd, os.path.join(folder, "log.txt"), self.a.threads)
        runs = sorted(glob.glob(os.path.join(folder, "retrain-*", "results.json")))
        if not runs:
            raise UnitFailed(f"retrain {label}: no results.json in {folder}")
        with open(runs[-1], encoding="utf-8") as f:
            res = json.load(f)
        if "test" not in res:
            raise UnitFailed(f"retrain {label}: no test-split result in {runs[-1]}")
        out = {"net_config": net_text, "seed": seed, "recipe": self.recipe_hash, "label": label,
               "test_top1": res["test"]["top1"], "val_top1_final": res["final"]["top1"],
               "val_top1_best": res["best"]["top1"], "time_s": time.monotonic() - t0}
        if init:
            out["init_weights"] = init
        if attempt:  # time_s is this attempt's: the stopped one's time before it is not known here
            out["resumed"] = True
        atomic_write_json(os.path.join(folder, "result.json"), out)
        return out

    def random_nets(self, seed: int, run_dir: str) -> List[dict]:
        """N random architectures at the searched net's cost +-tolerance (cached per seed; drawn
        again when N or the tolerance changed: seed_<s>.args.json, absent in older folders)."""
        path = os.path.join(self.save, "random", f"seed_{seed}.json")
        asked = {"n": self.a.random, "tolerance": self.a.cost_tolerance}
        out = read_unit_json(path, lambda o: None if isinstance(o, list) and all(
            isinstance(r, dict) and isinstance(r.get("net_config"), str) for r in o) else "not a list of drawn nets")
        if out is not None:
            drawn = read_unit_json(path[:-5] + ".args.json") or dict(asked, n=len(out))
            if drawn == asked:
                return out
        from tools.quality.controls import window_sample
        out = window_sample(run_dir, self.a.cost_tolerance, self.a.random, 1000 + seed)
        atomic_write_json(path, out)
        atomic_write_json(path[:-5] + ".args.json", asked)
        return out

    def one_shot(self, seed: int, run_dir: str, net_texts: List[str]) -> List[Optional[float]]:
        """One-shot top-1 of each net on search ``seed``'s super network, cached in one_shot/seed_<s>.json
        (scored when the search finishes: a packed folder has no checkpoint.pt); None where neither is."""
        path = os.path.join(self.save, "one_shot", f"seed_{seed}.json")
        asked = {"nets": list(net_texts), "recal_batches": self.a.recal_batches, "eval_images": self.a.eval_images}
        done = read_unit_json(path, lambda o: None if isinstance(o, dict) and isinstance(o.get("top1"), list)
                              else "not a one-shot score file")
        if done is not None and {k: done.get(k) for k in asked} == asked:
            return done["top1"]
        if not os.path.isfile(os.path.join(run_dir, "checkpoint.pt")):
            return [None] * len(net_texts)
        from engine.supernet_scores import supernet_accuracies
        top1 = supernet_accuracies(run_dir, net_texts, self.a.data_path, self.a.recal_batches, self.a.eval_images)
        atomic_write_json(path, dict(asked, top1=top1))
        return top1
