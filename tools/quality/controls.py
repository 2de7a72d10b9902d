"""Control groups of tools.quality.benchmark: nets retrained beside the searched and random ones
(same recipe, same seeds, same test split) that say where a search's gain comes from. Each group
is chosen per search seed inside the searched net's +-tolerance table-cost window and cached under
``<save>/controls/`` (a group asked for with other numbers is chosen again).

* ``params_pick`` (--params_pick P): the net with the most parameters among P random nets of the
  window (all of them when it holds fewer) -- a "search" that only looks at parameter count;
* ``uniform`` (--uniform): the hand-designed baseline -- the uniform nets of the window (one op in
  every head and stack layer over a route path, :mod:`search_space.uniform_nets`), all of them when
  few, otherwise the one closest in cost per op; when none lies inside, the nearest costs below
  and above are recorded;
* ``multi_branch`` (--multi_branch_random N): N random nets drawn uniformly over the multi-branch
  architectures ``nse`` can emit (:mod:`search_space.multi_branch_random`; at most --max_branches
  ops per layer, default the search config's ``search_params.nse.subset_size``).
"""
from __future__ import annotations

import functools
import json
import os
from typing import Callable, Dict, List, Tuple

from common.errors import InputError
from common.io import atomic_write_json


def most_params(nets: List[dict]) -> dict:
    """The entry with the largest ``params_m`` (the first of equals)."""
    if not nets:
        raise InputError("params pick: no nets to pick from")
    return max(nets, key=lambda n: n["params_m"])


class Window:
    """The searched net of one search run and its cost window, with what describes a net."""

    def __init__(self, run_dir: str, tolerance: float):
        from engine.derive_run import describe_net, load_search_result, load_table
        from models import load_net_config
        self.result = load_search_result(run_dir)
        self.space, self.table = self.result.space, load_table(self.result, None)
        self.searched = load_net_config(run_dir)
        self._describe = describe_net
        self.cost = self.describe(self.searched)["cost"]
        self.lo, self.hi = self.cost * (1 - tolerance), self.cost * (1 + tolerance)

    def describe(self, net) -> dict:
        info = self._describe(net, self.space, self.table, self.result.cfg.data.input_size)
        return {"net_config": net.to_text(), "cost": info["table_cost"], "params_m": info["params_m"],
                "macs_m": info["macs_m"]}


def window_sample(run_dir: str, tolerance: float, n: int, gen_seed: int, at_most_window: bool = False) -> List[dict]:
    """``n`` single-op nets drawn uniformly in the window (the searched net excluded), described.
    ``at_most_window``: fewer when the window holds fewer."""
    return _sample(Window(run_dir, tolerance), n, gen_seed, at_most_window)


def _sample(w: Window, n: int, gen_seed: int, at_most_window: bool) -> List[dict]:
    import torch
    from search_space.random_arch import WindowCounts, sample_in_window
    counts = WindowCounts(w.space, w.table)
    if at_most_window:
        n = max(1, min(n, int(counts.count_bounds(w.lo, w.hi)[0]) - 1))
    nets = sample_in_window(w.space, w.table, w.lo, w.hi, n + 1, torch.Generator().manual_seed(gen_seed), counts)
    return [w.describe(x) for x in nets if x.to_text() != w.searched.to_text()][:n]


def _cached(path: str, matches: Callable[[dict], bool], build: Callable[[], dict]) -> dict:
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
        if matches(rec):
            return rec
    rec = build()
    atomic_write_json(path, rec)
    return rec


def params_pick(save: str, seed: int, window: Callable[[], Window], pool: int) -> dict:
    def build():
        nets = _sample(window(), pool, 2000 + seed, at_most_window=True)
        return dict(most_params(nets), pool=pool, pool_drawn=len(nets),
                    pool_params_m=[min(x["params_m"] for x in nets), max(x["params_m"] for x in nets)])
    return _cached(os.path.join(save, "controls", f"params_pick_seed_{seed}.json"),
                   lambda rec: rec.get("pool") == pool, build)


def uniform_group(save: str, seed: int, window: Callable[[], Window], tolerance: float) -> dict:
    """``{"nets": [...], "window": [lo, hi], "nearest_below", "nearest_above", "candidates"}``."""
    def build():
        from models.net_config import parse_text
        from search_space.uniform_nets import uniform_in_window, uniform_nets
        w = window()
        every = uniform_nets(w.space, w.table)
        found = uniform_in_window(every, w.cost, tolerance)
        nets = [dict(w.describe(parse_text(n["net_config"])), op=n["op"], path=n["path"]) for n in found["nets"]]
        return {"nets": nets, "window": found["window"], "nearest_below": found["nearest_below"],
                "nearest_above": found["nearest_above"], "candidates": len(every), "tolerance": tolerance}
    return _cached(os.path.join(save, "controls", f"uniform_seed_{seed}.json"),
                   lambda rec: rec.get("tolerance") == tolerance, build)


def multi_branch_group(save: str, seed: int, window: Callable[[], Window], n: int, max_branches: int) -> dict:
    """``{"nets": [...], "max_branches"}``: ``n`` multi-branch random nets of the window."""
    def build():
        import torch
        from search_space.multi_branch_random import sample_multi_branch_in_window
        w = window()
        m = max_branches or int(w.result.cfg.search_params.nse.subset_size)
        nets = sample_multi_branch_in_window(w.space, w.table, w.lo, w.hi, n + 1, m,
                                             torch.Generator().manual_seed(3000 + seed))
        nets = [w.describe(x) for x in nets if x.to_text() != w.searched.to_text()][:n]
        return {"nets": nets, "n": n, "max_branches": m, "asked_max_branches": max_branches}
    return _cached(os.path.join(save, "controls", f"multi_branch_seed_{seed}.json"),
                   lambda rec: rec.get("n") == n and rec.get("asked_max_branches") == max_branches, build)


def choose_controls(args, save: str, seed: int, run_dir: str) -> Tuple[Dict[str, dict], List[Tuple[str, str]]]:
    """The control groups asked for by ``args`` for one search seed, and the (label, net_config)
    retrain units they add. The search run is loaded once, and only when a group is not cached."""
    groups, units = {}, []
    tol = args.cost_tolerance
    window = functools.lru_cache(maxsize=1)(lambda: Window(run_dir, tol))
    if args.params_pick:
        groups["params_pick"] = params_pick(save, seed, window, args.params_pick)
        units.append(("params pick", groups["params_pick"]["net_config"]))
    if args.uniform:
        groups["uniform"] = uniform_group(save, seed, window, tol)
        units += [(f"uniform {n['op']}", n["net_config"]) for n in groups["uniform"]["nets"]]
    if args.multi_branch_random:
        groups["multi_branch"] = multi_branch_group(save, seed, window, args.multi_branch_random, args.max_branches)
        units += [(f"multi-branch random {i}", n["net_config"]) for i, n in enumerate(groups["multi_branch"]["nets"])]
    return groups, units
