"""Derive from a finished or checkpointed search run: read its config and architecture
parameters, derive (paper rule, or exactly within budgets), write net_configs and pictures."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

from common.errors import InputError
from common.io import atomic_write_json, atomic_write_text


@dataclass
class SearchResult:
    run_dir: str
    cfg: object
    space: object
    betas: list
    head_alphas: list
    stack_alphas: list
    epoch: Optional[int]


def _from_checkpoint(path: str):
    from engine.checkpoint import load_file
    model = load_file(path).get("model", {})
    groups = {"betas": {}, "head_alphas": {}, "stack_alphas": {}}
    for key, value in model.items():
        m = re.fullmatch(r"(betas|head_alphas|stack_alphas)\.(\d+)", key)
        if m:
            groups[m.group(1)][int(m.group(2))] = value.tolist()
    if not groups["betas"]:
        raise InputError(f"{path}: no architecture parameters in the checkpoint")
    return [[g[i] for i in sorted(g)] for g in groups.values()]


def load_search_result(run_dir: str) -> SearchResult:
    """A search run folder: ``config.yaml`` + ``arch_params.json`` (or ``checkpoint.pt``)."""
    from search_space.search_config import load_search_config
    from search_space import space_from_config
    from search_space.budget import ArchProbs
    if not os.path.isdir(run_dir):
        raise InputError(f"--load_path {run_dir}: not a folder")
    config = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(config):
        raise InputError(f"--load_path {run_dir}: no config.yaml (not a search run folder)")
    cfg = load_search_config(config)
    space = space_from_config(cfg)
    params = os.path.join(run_dir, "arch_params.json")
    ckpt = os.path.join(run_dir, "checkpoint.pt")
    epoch = None
    if os.path.isfile(params):
        try:
            with open(params, encoding="utf-8") as f:
                data = json.load(f)
            betas, heads, stacks, epoch = data["betas"], data["head_alphas"], data["stack_alphas"], data.get("epoch")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{params}: not an architecture-parameter file ({type(e).__name__}: {e})") from None
    elif os.path.isfile(ckpt):
        betas, heads, stacks = _from_checkpoint(ckpt)
    else:
        raise InputError(f"--load_path {run_dir}: no arch_params.json or checkpoint.pt (no architecture parameters)")
    try:
        ArchProbs.from_params(betas, heads, stacks).check_fits(space)
    except (ValueError, TypeError) as e:
        raise InputError(f"--load_path {run_dir}: {e}") from None
    return SearchResult(run_dir, cfg, space, betas, heads, stacks, epoch)


def load_table(result: SearchResult, table_path: Optional[str]):
    from search_space.cost_table import load_cost_table
    if table_path:
        return load_cost_table(table_path, result.space)
    from engine.search_cost import load_cost_for_search
    return load_cost_for_search(result.cfg, result.space)


def describe_net(net_config, space, table, input_size: int) -> dict:
    """MACs, params and table cost of a derived network (search epochs and derive alike)."""
    import torch
    from models import build_model, count_macs, count_params
    from search_space.derive import lut_cost
    with torch.random.fork_rng(devices=[]):  # a search's data order must not depend on what it describes
        model = build_model(net_config, num_classes=space.num_classes)
    return {"macs_m": count_macs(model, input_size) / 1e6, "params_m": count_params(model) / 1e6,
            "table_cost": lut_cost(space, table, net_config), "cost_units": table.units}


def describe(net_config, result: SearchResult, table) -> dict:
    return describe_net(net_config, result.space, table, result.cfg.data.input_size)


def write_derived(folder: str, net_config, info: dict) -> None:
    from models.plot import plot_net_config
    atomic_write_text(os.path.join(folder, "net_config"), net_config.to_text())
    atomic_write_json(os.path.join(folder, "derived.json"), info)
    plot_net_config(net_config, os.path.join(folder, "arch.png"),
                    f"{info['macs_m']:.1f}M MACs, {info['table_cost']:.3f} {info['cost_units']}"
                    + (f" (budget {info['budget']:g})" if info.get("budget") is not None else ""))


INHERITED = "inherited_weights.pt"


def load_supernet(result: SearchResult):
    """The super network of a search run with its weights (``checkpoint.pt``: the last epoch's, or a
    stopped run's step-level state) and the arch params saved with them."""
    from common.io import load_file, load_state_into
    from search_space import build_super_network
    ckpt = os.path.join(result.run_dir, "checkpoint.pt")
    if not os.path.isfile(ckpt):
        raise InputError(f"--load_path {result.run_dir}: no checkpoint.pt (the super network's weights); "
                         "a packed search keeps its arch params only")
    state = load_file(ckpt)
    model = state.get("model") if isinstance(state, dict) else None
    if not isinstance(model, dict):
        raise InputError(f"{ckpt}: not a search checkpoint (no 'model' state)")
    net = build_super_network(result.cfg)
    load_state_into(net, model, f"{ckpt} (the super network of {os.path.join(result.run_dir, 'config.yaml')})")
    return net


def write_inherited(folder: str, supernet, net_config, scorer=None) -> dict:
    """``folder/inherited_weights.pt``: the derived net's weights taken from ``supernet``
    (``search_space.subnet.inherited_weights``); returns the fields derived.json records. With
    ``scorer`` (an ``engine.supernet_rank.OneShotScorer``) its BN statistics are recalibrated on the
    derived net as the one-shot score does (a super network's statistics belong to its mixture of
    paths, not to one net: evaluated as they are, they mislead); without, they are the super network's."""
    from common.io import atomic_torch_save
    from search_space.subnet import inherited_weights
    if scorer is not None and scorer.recal_batches > 0:
        state, exact = scorer.calibrated_state(supernet, net_config)
        bn = f"recalibrated on {scorer.recal_batches} batches of search_train"
    else:
        state, exact = inherited_weights(supernet, net_config)
        bn = "the super network's"
    atomic_torch_save(state, os.path.join(folder, INHERITED))
    return {"inherited_weights": INHERITED, "inherited_exact": exact, "inherited_bn": bn}


def inherit_scorer(cfg, data_path, recal_batches: int, device: str = "cpu"):
    """The scorer whose BN recalibration ``write_inherited`` applies (None for 0 batches)."""
    if recal_batches <= 0:
        return None
    from dataset.loader import resolve_data_root
    from engine.supernet_rank import OneShotScorer
    return OneShotScorer(cfg, resolve_data_root(data_path, cfg, announce=False), recal_batches, 1, device)


def derive_run(run_dir: str, out: Optional[str] = None, table_path: Optional[str] = None,
               max_cost: Optional[float] = None, budgets: Sequence[float] = (), topk: int = 1,
               measure_latency: bool = False, window: Optional[float] = None,
               with_weights: bool = False, data_path: Optional[str] = None, recal_batches: int = 10) -> List[dict]:
    """Everything is checked before anything is written. Returns one record per written net.
    ``window`` (a tolerance in (0, 1)): per budget X, the best architecture with cost in
    [X * (1 - window), X] (search_space.cost_window) instead of the best with cost <= X.
    ``with_weights``: each net also gets ``inherited_weights.pt`` from the run's super network, its BN
    statistics recalibrated on ``recal_batches`` batches of ``data_path``'s search_train (0: the super
    network's statistics)."""
    from search_space import derive_from_params
    from search_space.budget import ArchProbs, arch_log_score, best_within, pareto_fronts
    from search_space.cost_window import best_in_window, window_bounds
    if topk < 1:
        raise InputError(f"--topk must be >= 1, got {topk}")
    if window is not None:
        if not 0 < window < 1:
            raise InputError(f"--window must be in (0, 1), got {window:g}")
        if max_cost is None and not budgets:
            raise InputError("--window needs --max_cost or --budgets")
        if topk > 1:
            raise InputError("--window gives the single best architecture per window: drop --topk")
    if max_cost is not None and max_cost <= 0:
        raise InputError(f"--max_cost must be > 0, got {max_cost:g}")
    result = load_search_result(run_dir)
    if result.cfg.search_params.method == "nse":
        raise InputError(f"--load_path {run_dir}: an nse search derives its nets from one-shot Pareto fronts at the "
                         "end of its rounds (pareto/, pareto.json there); its gates are not softmax alphas to derive from")
    table = load_table(result, table_path)
    supernet = load_supernet(result) if with_weights else None
    scorer = inherit_scorer(result.cfg, data_path, recal_batches) if with_weights else None
    if measure_latency:
        from latency.measure import table_device
        table_device(table)
    out = out or os.path.join(run_dir, "derive")
    probs = ArchProbs.from_params(result.betas, result.head_alphas, result.stack_alphas)
    argmax = derive_from_params(result.space, result.betas, result.head_alphas, result.stack_alphas)
    argmax_point = (describe(argmax, result, table)["table_cost"], arch_log_score(result.space, probs, argmax))
    jobs = []  # (folder, budget, [choices], extra info)
    empty = []  # budgets whose window holds no architecture
    if max_cost is not None or budgets:
        # the fronts answer "<= budget" and feed pareto.json; a single window needs none
        fronts = pareto_fronts(result.space, table, probs, k=topk) if window is None or budgets else None
        for budget in ([max_cost] if max_cost is not None else []) + list(budgets):
            folder = out if max_cost is not None and budget == max_cost and not budgets else \
                os.path.join(out, f"budget_{budget:g}")
            if window is None:
                jobs.append((folder, budget, best_within(fronts, budget, topk), {}))  # raises when infeasible
            else:
                lo, hi = window_bounds(budget, window)
                try:
                    found = best_in_window(result.space, table, probs, lo, hi)
                except InputError as e:  # an empty window: reported for this budget, the others go on
                    empty.append({"budget": budget, "window": [lo, hi], "empty": True, "error": str(e)})
                    continue
                jobs.append((folder, budget, [found.choice], {"window": [lo, hi], "resolution": found.delta,
                                                              "max_rounding_error": found.max_error}))
        if empty and not jobs:
            raise InputError(empty[0]["error"] if len(empty) == 1 else
                             "every window is empty: " + "; ".join(e["error"] for e in empty))
    else:
        fronts = None
        jobs.append((out, None, None, {}))
    records = []
    sub = result.cfg.optim.sub_obj
    for folder, budget, choices, extra in jobs:
        nets = [(argmax, argmax_point[1])] if choices is None else [(c.net_config, c.log_score) for c in choices]
        for rank, (net_config, score) in enumerate(nets, start=1):
            info = dict(describe(net_config, result, table), log_score=score, budget=budget,
                        derive="paper (Viterbi + argmax)" if budget is None else
                        "best within budget (exact)" if window is None else
                        f"best in [{budget * (1 - window):g}, {budget:g}] (cost window, search_space.cost_window)",
                        epoch=result.epoch, table=table.meta.get("path") or table.meta.get("source"),
                        run_target=sub.target or None, run_target_derive=sub.target_derive if sub.target else None,
                        run_target_tolerance=sub.target_tolerance if sub.target else None, **extra)
            if measure_latency:
                from latency.measure import measure_on_table_device
                info.update(measure_on_table_device(net_config, table, result.space.num_classes))
            target = folder if rank == 1 else os.path.join(folder, "topk", str(rank))
            if supernet is not None:
                os.makedirs(target, exist_ok=True)
                info.update(write_inherited(target, supernet, net_config, scorer))
            write_derived(target, net_config, info)
            records.append(dict(info, folder=target, rank=rank))
    if budgets:
        from search_space.budget import front_points
        from search_space.plot import plot_pareto
        points = front_points(fronts) if topk == 1 else _front_of(front_points(fronts))
        picks = [(r["budget"], r["table_cost"], r["log_score"]) for r in records if r["rank"] == 1]
        picks = sorted(picks + [(e["budget"], None, None) for e in empty], key=lambda p: p[0])
        atomic_write_json(os.path.join(out, "pareto.json"), {
            "units": table.units, "front": [{"cost": c, "log_score": s} for c, s in points],
            "unconstrained": {"cost": argmax_point[0], "log_score": argmax_point[1], "net_config": argmax.to_text()},
            "budgets": [{"budget": r["budget"], "window": r.get("window"), "cost": r["table_cost"],
                         "log_score": r["log_score"], "folder": r["folder"]} for r in records if r["rank"] == 1]
            + empty})
        plot_pareto(points, os.path.join(out, "pareto.png"), table.units, argmax_point, picks, window)
    return records + empty


def derive_random(run_dir: str, n: int, max_cost: float, window: Optional[float] = None, seed: int = 0,
                  out: Optional[str] = None, table_path: Optional[str] = None) -> List[dict]:
    """``n`` distinct architectures of the run's space drawn uniformly among those with table cost
    in [max_cost * (1 - window), max_cost] (without ``window``: cost <= max_cost): the baseline a
    search is compared with (search_space.random_arch). Written to OUT/random/<i>/."""
    import torch
    from search_space.budget import cost_range
    from search_space.random_arch import sample_in_window
    if n < 1:
        raise InputError(f"--random must be >= 1, got {n}")
    if max_cost is None:
        raise InputError("--random needs --max_cost X (the cost of the architectures to draw)")
    if max_cost <= 0:
        raise InputError(f"--max_cost must be > 0, got {max_cost:g}")
    if window is not None and not 0 < window < 1:
        raise InputError(f"--window must be in (0, 1), got {window:g}")
    result = load_search_result(run_dir)
    table = load_table(result, table_path)
    lo = max_cost * (1 - window) if window is not None else min(cost_range(result.space, table)[0], max_cost)
    nets = sample_in_window(result.space, table, lo, max_cost, n, torch.Generator().manual_seed(seed))
    out = os.path.join(out or os.path.join(run_dir, "derive"), "random")
    records = []
    for i, net_config in enumerate(nets):
        info = dict(describe(net_config, result, table), derive=f"uniform random in [{lo:g}, {max_cost:g}] "
                    f"(search_space.random_arch)", window=[lo, max_cost], seed=seed, index=i,
                    table=table.meta.get("path") or table.meta.get("source"))
        folder = os.path.join(out, str(i))
        write_derived(folder, net_config, info)
        records.append(dict(info, folder=folder))
    atomic_write_json(os.path.join(out, "random.json"), records)
    return records


def _front_of(points):
    """Non-dominated subset of (cost, score) points (a top-k front holds dominated ones too)."""
    best, out = float("-inf"), []
    for c, s in sorted(points, key=lambda p: (p[0], -p[1])):
        if s > best:
            out.append((c, s))
            best = s
    return out
