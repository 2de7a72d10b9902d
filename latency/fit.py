"""Latency tables that predict what a network pays: ops timed *in context* and a least-squares
fit to end-to-end timings, still one number per (position, op) for the chained estimator.

Why: an op timed alone runs with its weights and input hot in cache and pays its own call
overhead; inside a network it follows other layers, and a derived network drops its skip
layers entirely. So here:

1. **In context.** Random derived networks of the space (plus networks built to contain every
   (op, shape) signature at least ``min_samples`` times) run forward with hooks around each of
   their parts (input block, every head and stack op, the final 1x1 conv, pooling + classifier);
   a part's time is the median over forwards, a signature's cost the median over networks.
   Skip layers cost 0: derived networks do not contain them.
2. **Fit.** End-to-end timings of other random networks (no hooks; on CPU each by
   ``run_apis.profile --measure`` in fresh processes, the project's statistic of latency: a process
   that has timed hundreds of networks runs them several percent slower) give
   ``measured ~ a * sum + b`` by least squares; ``a`` scales every entry and ``b`` is added to the input entry, so
   :func:`search_space.derive.lut_cost` itself predicts (no separate calibration step).

:func:`fit_entries` solves the general problem (per-signature costs and a constant from
end-to-end timings, optionally pulled towards a prior); the tests check it recovers known costs.
Progress is saved to a partial file after every network, so an interrupted build resumes.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from search_space.cost_table import CostTable, Signature, positions, table_from_values
from search_space.derive import map_to_space, net_config_from_choices
from latency.stats import random_architecture  # noqa: F401  (re-exported: the same networks as --validate)
from search_space.topology import SearchSpace

SKIP = "skip_connect"


def _key(sig: Signature) -> str:
    return "|".join(map(str, sig))


def _free(space: SearchSpace, key: tuple) -> bool:
    """Positions a derived network never pays for: skip layers (dropped) and, in the ResNet
    space, the final 1x1 branches (derived ResNet networks have no conv1_1)."""
    return ((key[0] == "stack" and space.stack_ops[key[3]] == SKIP)
            or (key[0] == "final" and space.net_type != "mbv2"))


def net_parts(space: SearchSpace, net_config, model) -> List[Tuple[tuple, torch.nn.Module, torch.nn.Module]]:
    """(table position key, first module, last module) of every timed part of a derived network
    built from ``net_config`` (``models.DerivedNetwork``)."""
    path, ops = map_to_space(space, net_config)
    offset = 1 if space.net_type == "mbv2" else 0  # the MBV2 input block includes blocks[0]
    parts = [(("input",), model.stem, model.blocks[0] if offset else model.stem)]
    for i, ((src, dst), (head, stack)) in enumerate(zip(zip(path[:-2], path[1:-1]), ops)):
        stage = model.blocks[i + offset]
        r = space.in_routes[dst].index(src)
        parts.append((("head", dst, r, space.head_ops.index(head)), stage[0], stage[0]))
        for layer, op in enumerate(stack):
            parts.append((("stack", dst, layer, space.stack_ops.index(op)), stage[layer + 1], stage[layer + 1]))
    if net_config.last is not None:
        r = space.in_routes[space.final].index(path[-2])
        parts.append((("final", r), model.last_conv, model.last_conv))
    parts.append((("classifier",), model.pool, model.classifier))
    return parts


class PartTimer:
    """Forward hooks that time each part of a network on every forward."""

    def __init__(self, parts, cuda: bool = False):
        self.times: Dict[tuple, List[float]] = {key: [] for key, _, _ in parts}
        self.cuda, self.handles, self._start = cuda, [], {}
        for key, first, last in parts:
            self.handles.append(first.register_forward_pre_hook(lambda m, a, k=key: self._begin(k)))
            self.handles.append(last.register_forward_hook(lambda m, a, o, k=key: self._end(k)))

    def _now(self):
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _begin(self, key):
        self._start[key] = self._now()

    def _end(self, key):
        self.times[key].append((self._now() - self._start.pop(key)) * 1e3)

    def remove(self):
        for h in self.handles:
            h.remove()


def architecture_through(space: SearchSpace, key: tuple, rng: random.Random):
    """A random derived network that contains position ``key`` with its op."""
    kind = key[0]
    if kind in ("head", "stack"):
        k = key[1]
        src = space.in_routes[k][key[2]] if kind == "head" else rng.choice(space.in_routes[k])
    elif kind == "final":
        k, src = space.final, space.in_routes[space.final][key[1]]
    else:
        k = rng.choice(space.out_routes[0])
        src = 0
    back = [src]  # random walk backwards from src to block 0
    while back[-1] != 0:
        back.append(rng.choice(space.in_routes[back[-1]]))
    path = back[::-1] + [k]
    while path[-1] != space.final:
        path.append(rng.choice(space.out_routes[path[-1]]))
    nonskip = [op for op in space.stack_ops if op != SKIP]
    head = {b: rng.choice(space.head_ops) for b in path[1:-1]}
    stack = {b: [rng.choice(space.stack_ops) for _ in range(space.num_layers[b])] for b in path[1:-1]}
    if kind == "head":
        head[k] = space.head_ops[key[3]]
    elif kind == "stack":
        layer, op = key[2], space.stack_ops[key[3]]
        ops = [rng.choice(nonskip) for _ in range(layer)] + [op]  # canonical: non-skip layers first
        ops += [rng.choice(space.stack_ops) for _ in range(space.num_layers[k] - layer - 1)]
        stack[k] = ops
    return net_config_from_choices(space, path, head, stack)


def _warm(model, x, seconds: float):
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < seconds:
        model(x)
        n += 1


@torch.no_grad()
def measure_in_context(space: SearchSpace, input_size: int, batch_size: int, device: torch.device,
                       min_samples: int = 3, forwards: int = 15, seed: int = 0,
                       partial_path: Optional[str] = None, log: Optional[Callable[[str], None]] = None,
                       warmup_seconds: float = 0.1, max_archs: int = 100000) -> Tuple[Dict[str, List[float]], int]:
    """(signature key -> in-context times in ms, one median per network; networks run). Networks
    are added until every non-skip signature of the space has ``min_samples`` of them."""
    from common.timing import stable_allocator
    from models import build_model
    if device.type == "cpu":
        stable_allocator()
    pos = [p for p in positions(space, input_size) if not _free(space, p.key)]
    by_sig: Dict[str, List[tuple]] = {}
    for p in pos:
        by_sig.setdefault(_key(p.sig), []).append(p.key)
    sig_of = {p.key: _key(p.sig) for p in pos}
    samples: Dict[str, List[float]] = {}
    done_archs = 0
    if partial_path and os.path.isfile(partial_path):
        with open(partial_path) as f:
            saved = json.load(f)
        if saved.get("fingerprint") == space.fingerprint() and saved.get("settings") == [input_size, batch_size,
                                                                                        str(device.type)]:
            samples, done_archs = saved["samples"], saved["archs"]
    rng = random.Random(seed * 1000003 + done_archs)
    x = torch.randn(batch_size, 3, input_size, input_size, device=device)
    total = len(by_sig) * min_samples
    start = time.monotonic()

    def missing():
        return sum(max(0, min_samples - len(samples.get(s, []))) for s in by_sig)
    while missing() and done_archs < max_archs:
        if done_archs % 2 == 0:  # alternate plain random networks and ones aimed at rare signatures
            need = min(by_sig, key=lambda s: (len(samples.get(s, [])), rng.random()))
            net_config = architecture_through(space, rng.choice(by_sig[need]), rng)
        else:
            net_config = random_architecture(space, rng)
        model = build_model(net_config, num_classes=space.num_classes).to(device).eval()
        _warm(model, x, warmup_seconds)
        timer = PartTimer(net_parts(space, net_config, model), cuda=device.type == "cuda")
        for _ in range(forwards):
            model(x)
        timer.remove()
        for key, values in timer.times.items():
            if key in sig_of:
                samples.setdefault(sig_of[key], []).append(statistics.median(values))
        done_archs += 1
        if partial_path:
            from common.io import atomic_write_json
            atomic_write_json(partial_path, {"fingerprint": space.fingerprint(), "archs": done_archs,
                                             "settings": [input_size, batch_size, str(device.type)],
                                             "samples": samples})
        if log is not None and (done_archs % 10 == 0 or not missing()):
            log(f"in context: {done_archs} networks, {total - missing()}/{total} samples "
                f"({len(by_sig)} signatures x {min_samples}), {time.monotonic() - start:.0f}s")
    return samples, done_archs


def in_context_table(space: SearchSpace, input_size: int, samples: Dict[str, List[float]], meta: dict) -> CostTable:
    """A table from in-context samples: median per signature, 0 where a derived network pays
    nothing (skip layers; ResNet final branches)."""
    values = {}
    for p in positions(space, input_size):
        if _free(space, p.key):
            values[p.key] = 0.0
        else:
            values[p.key] = float(statistics.median(samples[_key(p.sig)]))
    return table_from_values(space, values, meta)


def fold_linear(table: CostTable, slope: float, intercept: float) -> CostTable:
    """Every entry times ``slope``; ``intercept`` added to the input entry (each network has
    exactly one), so ``lut_cost`` of the result = slope * lut_cost + intercept."""
    def scale(x):
        return [scale(v) for v in x] if isinstance(x, list) else x * slope
    return CostTable(table.input * slope + intercept, scale(table.head), scale(table.stack), scale(table.final),
                     table.classifier * slope, dict(table.meta), table.cv)


def measure_networks(space: SearchSpace, archs, input_size: int, batch_size: int, device: torch.device,
                     passes: int = 3, repeats: int = 1, progress: Optional[Callable] = None,
                     timing_kwargs: Optional[dict] = None) -> List[List[float]]:
    """End-to-end latency (ms) of each net_config of ``space``, in this process (see
    :func:`measure_network_list`). Returns [repeat][arch]."""
    from latency.network_timing import measure_network_list
    return measure_network_list(archs, space.num_classes, input_size, batch_size, device, passes, repeats,
                                progress, timing_kwargs)


def _time_fit_networks(space: SearchSpace, nets, input_size: int, batch_size: int, device: torch.device,
                       fit_timing: str, progress: Optional[Callable], fit_processes: int = 2) -> List[float]:
    """The fit networks' end-to-end ms (CPU; CUDA always times here): ``profile`` = each by
    ``run_apis.profile --measure`` in ``fit_processes`` fresh processes, the smallest (the project's
    latency itself); ``fresh`` = all of them in one new process; ``here`` = in this process."""
    if device.type == "cpu" and fit_timing == "profile":
        from latency.network_timing import profile_networks
        runs = profile_networks(nets, input_size, space.num_classes, batch_size, torch.get_num_threads(),
                                fit_processes, progress)
        return [min(r) for r in runs]
    if fit_timing == "fresh" and device.type == "cpu":
        from latency.network_timing import time_in_fresh_process
        return time_in_fresh_process(nets, input_size, batch_size, torch.get_num_threads(), space.num_classes)
    return measure_networks(space, nets, input_size, batch_size, device, progress=progress)[0]


def fit_entries(counts: Sequence[Dict[str, float]], measured: Sequence[float], prior: Optional[Dict[str, float]] = None,
                ridge: float = 0.0) -> Tuple[Dict[str, float], float]:
    """Least squares: measured[n] ~ sum_s counts[n][s] * cost[s] + constant. With ``prior`` and
    ``ridge`` > 0, costs are pulled towards the prior (needed when there are fewer networks than
    signatures). Returns ({signature: cost}, constant)."""
    import numpy as np
    sigs = sorted({s for c in counts for s in c} | set(prior or {}))
    index = {s: i for i, s in enumerate(sigs)}
    a = np.zeros((len(counts), len(sigs) + 1))
    for n, c in enumerate(counts):
        for s, v in c.items():
            a[n, index[s]] = v
        a[n, -1] = 1.0
    b = np.asarray(measured, dtype=np.float64)
    if prior is not None and ridge > 0:
        reg = np.zeros((len(sigs), len(sigs) + 1))
        target = np.zeros(len(sigs))
        for s, i in index.items():
            reg[i, i] = ridge
            target[i] = ridge * prior.get(s, 0.0)
        a, b = np.vstack([a, reg]), np.concatenate([b, target])
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    return {s: float(sol[i]) for s, i in index.items()}, float(sol[-1])


def signature_counts(space: SearchSpace, net_config, input_size: int) -> Dict[str, float]:
    """How often each signature occurs in a derived network (the row of a design matrix)."""
    sig = {p.key: _key(p.sig) for p in positions(space, input_size)}
    path, ops = map_to_space(space, net_config)
    keys = [("input",), ("classifier",)]
    for (src, dst), (head, stack) in zip(zip(path[:-2], path[1:-1]), ops):
        keys.append(("head", dst, space.in_routes[dst].index(src), space.head_ops.index(head)))
        keys += [("stack", dst, l, space.stack_ops.index(op)) for l, op in enumerate(stack)]
    if net_config.last is not None:
        keys.append(("final", space.in_routes[space.final].index(path[-2])))
    out: Dict[str, float] = {}
    for k in keys:
        out[sig[k]] = out.get(sig[k], 0.0) + 1.0
    return out


def spread_stats(first: Sequence[float], second: Sequence[float]) -> dict:
    """How well two repeated end-to-end evaluations of the same networks agree."""
    from latency.stats import kendall_tau
    rel = [abs(a - b) / ((a + b) / 2) for a, b in zip(first, second)]
    return {"median_rel_diff_pct": 100 * statistics.median(rel), "max_rel_diff_pct": 100 * max(rel),
            "kendall_tau_between_repeats": kendall_tau(first, second)}


def entry_of(table: CostTable, key: tuple) -> float:
    """A table's entry at position ``key`` (``search_space.cost_table.positions``)."""
    if key[0] == "head":
        return table.head[key[1] - 1][key[2]][key[3]]
    if key[0] == "stack":
        return table.stack[key[1] - 1][key[2]][key[3]]
    if key[0] == "final":
        return table.final[key[1]]
    return {"input": table.input, "classifier": table.classifier}[key[0]]


def per_signature(space: SearchSpace, table: CostTable, input_size: int) -> Dict[str, float]:
    """{signature: cost} of a table (non-skip positions; one value per signature)."""
    return {_key(p.sig): entry_of(table, p.key) for p in positions(space, input_size) if not _free(space, p.key)}


def refined_table(space: SearchSpace, input_size: int, prior: CostTable, nets, measured: Sequence[float],
                  ridge: float) -> CostTable:
    """Per-signature least squares on end-to-end timings, pulled towards ``prior``'s entries."""
    rows = [signature_counts(space, n, input_size) for n in nets]
    costs, const = fit_entries(rows, measured, per_signature(space, prior, input_size), ridge)
    values = {}
    for p in positions(space, input_size):
        # an op costs >= 0; a least-squares entry below 0 (few networks, noisy timings) is clipped to 0
        values[p.key] = 0.0 if _free(space, p.key) else max(0.0, costs.get(_key(p.sig), 0.0))
    values[("input",)] += const
    return table_from_values(space, values, dict(prior.meta))


def build_table(space: SearchSpace, input_size: int, batch_size: int, device: torch.device, meta: dict,
                calibration_nets: int = 40, min_samples: int = 3, forwards: int = 15, seed: int = 0,
                partial_path: Optional[str] = None, log: Optional[Callable[[str], None]] = None,
                progress: Optional[Callable] = None, refine_nets: int = 0, ridge: float = 1.0,
                fit_timing: str = "profile", fit_processes: int = 2) -> CostTable:
    """In-context entries, then the end-to-end linear fit folded in (module docstring); the fit
    networks timed as :func:`_time_fit_networks` says (default on CPU: ``profile --measure``); with
    ``refine_nets`` > 0, per-signature least squares on the calibration networks plus
    ``refine_nets`` more, pulled towards the in-context entries by ``ridge``."""
    from search_space.derive import lut_cost
    from latency.stats import error_stats, fit_calibration
    t0 = time.monotonic()
    samples, archs = measure_in_context(space, input_size, batch_size, device, min_samples, forwards, seed,
                                        partial_path, log)
    t1 = time.monotonic()
    raw = in_context_table(space, input_size, samples, meta)
    rng = random.Random(10007 + seed)
    nets = [random_architecture(space, rng) for _ in range(calibration_nets)]
    measured = _time_fit_networks(space, nets, input_size, batch_size, device, fit_timing, progress, fit_processes)
    pred = [lut_cost(space, raw, n) for n in nets]
    cal = fit_calibration(pred, measured)
    if cal["slope"] <= 0 or raw.input * cal["slope"] + cal["intercept"] < 0:
        # A noisy fit (few networks, a busy machine) can ask for a negative input entry, which
        # no table may hold: fit through the origin instead (always a positive slope).
        slope = sum(p * m for p, m in zip(pred, measured)) / sum(p * p for p in pred)
        if log:
            log(f"fit {cal['slope']:.3f} x {cal['intercept']:+.3f} ms would make the input entry negative; "
                f"fitted through the origin instead: {slope:.3f} x")
        cal = dict(cal, slope=slope, intercept=0.0, through_origin=True)
    table = fold_linear(raw, cal["slope"], cal["intercept"])
    method = "in-context hooks + end-to-end linear fit"
    if refine_nets > 0:
        more = [random_architecture(space, rng) for _ in range(refine_nets)]
        nets = nets + more
        measured = measured + _time_fit_networks(space, more, input_size, batch_size, device, fit_timing, progress,
                                                 fit_processes)
        pred = [lut_cost(space, raw, n) for n in nets]
        table = refined_table(space, input_size, table, nets, measured, ridge)
        method = "in-context hooks + end-to-end least squares per signature (ridge to in-context)"
        table.meta.update(refine_networks=refine_nets, ridge=ridge)
    fitted = [lut_cost(space, table, n) for n in nets]
    table.meta.update(method=method, in_context_networks=archs,
                      forwards_per_network=forwards, min_samples=min_samples, calibration_networks=calibration_nets,
                      fit_timing=("the build process" if device.type != "cpu" or fit_timing == "here" else
                                  "one fresh process" if fit_timing == "fresh" else
                                  f"profile --measure, smallest of {fit_processes} fresh processes"),
                      fit={"slope": cal["slope"], "intercept_ms": cal["intercept"],
                           "through_origin": bool(cal.get("through_origin")),
                           "in_sample_before": error_stats(pred, measured), "in_sample_after": error_stats(fitted, measured)},
                      build_seconds={"in_context": round(t1 - t0, 1), "fit": round(time.monotonic() - t1, 1)})
    return table
