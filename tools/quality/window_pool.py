"""Every retrained net of one cost window, pooled from the committed result files (issue 54 §3).

A net's retrain is fixed by (net_config, recipe hash, seed): whichever benchmark asked for it, the
same unit gives the same numbers. So the quality benchmarks of one search config and target, the
ranking sets and the ceiling files together hold many retrains of the same window, each counted once
here. Pooled per file kind:

* ``quality.json`` of --config at --target: its searched nets, random nets and control groups (all of
  a benchmark's nets lie in its window, ±2.5% around the searched net's cost);
* a ranking set (``tools/results/ranking/*.json``) of --config: its nets whose cost lies within
  target ±tolerance (the window nets, the uniform nets, a stratum that falls inside);
* a ceiling file (``tools/results/ceiling/*.json``, :mod:`tools.quality.ceiling`): every net.

Only retrains with the asked recipe hash are pooled; a file with another recipe adds nothing.
"""
from __future__ import annotations

import glob
import json
import os
from typing import Dict, List, Optional

from common.errors import InputError
from common.io import recorded_path
from engine.stats import mean

GROUP_ORDER = ("uniform", "params_pick", "searched", "random", "multi_branch", "window", "stratum", "ceiling")


def result_files(results_dir: str) -> List[str]:
    return (sorted(glob.glob(os.path.join(results_dir, "*", "quality.json")))
            + sorted(glob.glob(os.path.join(results_dir, "ranking", "*.json")))
            + sorted(glob.glob(os.path.join(results_dir, "ceiling", "*.json"))))


class WindowPool:
    """net_config -> {net_config, cost, params_m, groups, ops, retrains: {seed: {...}}, sources}."""

    def __init__(self, config: Optional[str], target: Optional[float], recipe_hash: str, tolerance: float = 0.025):
        """``config``/``target`` None: files of any search config / target (a retrain depends on the net
        and the recipe only: to find more retrains of given nets)."""
        self.config = os.path.basename(config) if config else None
        self.target, self.recipe_hash, self.tolerance = target, recipe_hash, tolerance
        self.nets: Dict[str, dict] = {}
        self.files: List[str] = []
        self.conflicts: List[str] = []

    # -- adding ----------------------------------------------------------------------------------
    def add_net(self, entry: dict, group: str, source: str, retrains: List[dict], op: Optional[str] = None) -> None:
        text = entry["net_config"]
        net = self.nets.setdefault(text, {"net_config": text, "cost": entry.get("cost"), "params_m": entry.get("params_m"),
                                          "macs_m": entry.get("macs_m"), "groups": set(), "ops": set(),
                                          "retrains": {}, "sources": set()})
        net["groups"].add(group)
        if op:
            net["ops"].add(op)
        net["sources"].add(source)
        for r in retrains:
            old = net["retrains"].get(r["seed"])
            if old is None:
                net["retrains"][r["seed"]] = dict(r, source=source)
            elif abs(old["test_top1"] - r["test_top1"]) > 1e-9:
                self.conflicts.append(f"{source}: seed {r['seed']} of a net gives {r['test_top1']} where "
                                      f"{old['source']} gives {old['test_top1']} (the first kept)")

    def add_quality(self, path: str, report: dict) -> bool:
        protocol = report.get("protocol") or {}
        if (not self._matches(protocol.get("config"), protocol.get("target"))
                or (report.get("recipe") or {}).get("hash") != self.recipe_hash):
            return False
        src = recorded_path(path)

        def retrains(e):
            return [{"seed": i, "test_top1": a, "val_top1_final": v} for i, (a, v) in
                    enumerate(zip(e.get("acc") or [], e.get("val_final") or []))]
        for s in report.get("searches", []):
            self.add_net(s, "searched", src, retrains(s))
            for r in s.get("random", []):
                self.add_net(r, "random", src, retrains(r))
            if s.get("params_pick"):
                self.add_net(s["params_pick"], "params_pick", src, retrains(s["params_pick"]))
            for g in ("uniform", "multi_branch"):
                for n in (s.get(g) or {}).get("nets", []):
                    self.add_net(n, g, src, retrains(n), n.get("op"))
        return True

    def add_ranking(self, path: str, data: dict, every_net: bool = False) -> bool:
        if not self._matches(data.get("config"), data.get("target")) or data.get("recipe_hash") != self.recipe_hash:
            return False
        every_net = every_net or self.target is None
        lo, hi = (self.target or 0) * (1 - self.tolerance), (self.target or 0) * (1 + self.tolerance)
        src = recorded_path(path)
        for n in data["nets"]:
            if every_net or lo <= n["cost"] <= hi:
                op = n["id"][len("uniform_"):] if n.get("group") == "uniform" else None
                if n.get("group") == "hand_designed" and str(n.get("label", "")).startswith("uniform "):
                    op = n["label"][len("uniform "):]  # a ceiling file's control: its op is in its label
                for g in n.get("groups") or [n["group"]]:
                    self.add_net(n, g, src, n.get("retrains", []), op)
        return True

    def add_files(self, paths: List[str]) -> "WindowPool":
        from tools.quality.reuse import check_report
        from tools.supernet.ranking_file import read_ranking_set
        for path in paths:
            if os.path.basename(path) == "quality.json":
                try:
                    with open(path, encoding="utf-8") as f:
                        report = json.load(f)
                except (OSError, ValueError) as e:
                    raise InputError(f"{path}: not a readable quality.json ({type(e).__name__})") from None
                check_report(report, path)
                used = self.add_quality(path, report)
            else:
                data = read_ranking_set(path, "pool")
                used = self.add_ranking(path, data, every_net=data.get("kind") == "ceiling")
            if used:
                self.files.append(recorded_path(path))
        return self

    def _matches(self, config, target) -> bool:
        return ((self.config is None or os.path.basename(str(config)) == self.config)
                and (self.target is None or target == self.target))

    def retrains_of(self, texts) -> Dict[str, Dict[int, float]]:
        """net_config -> {seed: test top-1} for those of ``texts`` the pool holds."""
        return {t: {s: r["test_top1"] for s, r in self.nets[t]["retrains"].items()} for t in texts if t in self.nets}

    # -- reading ---------------------------------------------------------------------------------
    def summary(self, net: dict, seeds=None) -> dict:
        rs = [r for s, r in sorted(net["retrains"].items()) if seeds is None or s in seeds]
        return {"n": len(rs), "test": mean([r["test_top1"] for r in rs]) if rs else None,
                "val": mean([r["val_top1_final"] for r in rs]) if rs else None}

    def retrained(self) -> List[dict]:
        return [n for n in self.nets.values() if n["retrains"]]

    def best_hand_designed(self) -> Optional[dict]:
        """The uniform net with the best mean val top-1 (a designer picks on val, not test)."""
        uni = [n for n in self.retrained() if "uniform" in n["groups"]]
        return max(uni, key=lambda n: self.summary(n)["val"]) if uni else None


def net_id(net_config: str) -> str:
    """A short, stable name of a net: the first 8 hex digits of its net_config's sha256."""
    import hashlib
    return hashlib.sha256(net_config.encode()).hexdigest()[:8]


def label(net: dict) -> str:
    """A short name: the group that says most, with the op of a uniform net."""
    g = next((g for g in GROUP_ORDER if g in net["groups"]), sorted(net["groups"])[0])
    return f"uniform {'/'.join(sorted(net['ops']))}" if g == "uniform" and net["ops"] else g.replace("_", " ")
