"""Latency tables for ONNX Runtime (``run_apis.latency_measure --runtime onnxruntime``).

ORT fuses conv+BN(+activation) and runs its own kernels, so its per-op prices are not eager
PyTorch's; hooks cannot time the parts of a fused graph. The table is built in two steps:

1. **Isolated entries.** Each distinct (op, shape) signature is exported alone (as the ops of a
   derived network are exported: eval-mode BN, opset 17) and timed in its own ORT session
   (``latency.measure.measure_table`` with the ORT timer; resumable), less the cost of a session
   run that does nothing (a network pays it once, not per op).
2. **End-to-end fit.** Random derived networks of the space, exported as ``run_apis.export``
   writes them, are timed end to end in ORT; ``measured ~ a * sum + b`` by least squares is folded
   into the entries, and with ``refine_nets`` > 0 every signature's entry is then fitted by least
   squares on those timings, pulled towards its isolated value (``latency.fit.refined_table``).
   Skip layers cost 0: a derived network has none.

The timings of the fit networks are saved as they come (``OUT.fit.partial.json``), so an
interrupted build resumes in either step.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Callable, List, Optional

import torch

from latency.fit import _free, entry_of, fold_linear, refined_table
from latency.stats import error_stats, fit_calibration, random_architecture
from search_space.cost_table import CostTable, positions, table_from_values
from search_space.derive import lut_cost
from search_space.topology import SearchSpace


class _Probe(torch.nn.Module):
    """A graph that does almost nothing with its input: what one ``session.run`` costs by itself."""

    def forward(self, x):
        return x.flatten(1)[:, :1]


def ort_timer(threads: int):
    """A ``measure_table`` timer that runs each op module in its own ORT session, less the cost of
    a session run that does nothing with an input of the same shape (measured once per shape): a
    network pays that overhead once, not once per op."""
    from dataclasses import replace
    from latency.ort_runtime import time_module_ort
    overhead = {}

    def timer(module, x, **kwargs):
        shape = tuple(x.shape)
        if shape not in overhead:
            overhead[shape] = time_module_ort(_Probe(), x, threads, passes=3, **kwargs).median_ms
        t = time_module_ort(module, x, threads, **kwargs)
        return replace(t, median_ms=max(0.0, t.median_ms - overhead[shape]))
    return timer


def _fit_timings(space: SearchSpace, nets, input_size: int, batch_size: int, threads: int, passes: int,
                 partial_path: Optional[str], progress: Optional[Callable], chunk: int = 10) -> List[float]:
    """End-to-end ORT ms of ``nets``, in chunks of ``chunk`` networks saved to ``partial_path``."""
    from common.io import atomic_write_json
    from latency.ort_runtime import time_networks_ort
    texts = [n.to_text() for n in nets]
    done: List[float] = []
    if partial_path and os.path.isfile(partial_path):
        with open(partial_path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved.get("fingerprint") == space.fingerprint() and saved.get("nets") == texts[:len(saved.get("ms", []))] \
                and saved.get("settings") == [input_size, batch_size, threads, passes]:
            done = [float(v) for v in saved["ms"]]
    for start in range(len(done), len(nets), chunk):
        done += time_networks_ort(nets[start:start + chunk], space.num_classes, input_size, batch_size, threads,
                                  passes, progress)
        if partial_path:
            atomic_write_json(partial_path, {"fingerprint": space.fingerprint(), "nets": texts[:len(done)], "ms": done,
                                             "settings": [input_size, batch_size, threads, passes]})
    return done


def build_ort_table(space: SearchSpace, input_size: int, batch_size: int, threads: int, meta: dict,
                    calibration_nets: int = 40, refine_nets: int = 0, ridge: float = 1.0, seed: int = 0,
                    passes: int = 3, partial_path: Optional[str] = None, log: Optional[Callable[[str], None]] = None,
                    progress: Optional[Callable] = None) -> CostTable:
    """An ORT latency table of ``space`` (module docstring)."""
    from latency.measure import measure_table
    t0 = time.monotonic()
    isolated = measure_table(space, input_size, batch_size, torch.device("cpu"), threads=threads,
                             partial_path=partial_path, progress=progress, passes=passes, timer=ort_timer(threads),
                             meta=dict(meta))
    values = {p.key: 0.0 if _free(space, p.key) else entry_of(isolated, p.key) for p in positions(space, input_size)}
    raw = table_from_values(space, values, dict(meta))
    t1 = time.monotonic()
    if log:
        log(f"isolated ORT entries: {isolated.meta['unique_signatures']} signatures, {t1 - t0:.0f}s")
    rng = random.Random(10007 + seed)
    nets = [random_architecture(space, rng) for _ in range(calibration_nets + refine_nets)]
    fit_partial = partial_path[:-len(".partial.json")] + ".fit.partial.json" if partial_path and \
        partial_path.endswith(".partial.json") else (partial_path + ".fit" if partial_path else None)
    measured = _fit_timings(space, nets, input_size, batch_size, threads, passes, fit_partial, progress)
    pred = [lut_cost(space, raw, n) for n in nets[:calibration_nets]]
    cal = fit_calibration(pred, measured[:calibration_nets])
    if cal["slope"] <= 0 or raw.input * cal["slope"] + cal["intercept"] < 0:  # as latency.fit.build_table
        slope = sum(p * m for p, m in zip(pred, measured)) / sum(p * p for p in pred)
        cal = dict(cal, slope=slope, intercept=0.0, through_origin=True)
    table = fold_linear(raw, cal["slope"], cal["intercept"])
    method = "isolated ORT ops + end-to-end ORT linear fit"
    if refine_nets > 0:
        table = refined_table(space, input_size, table, nets, measured, ridge)
        method = "isolated ORT ops + end-to-end ORT least squares per signature (ridge to the isolated values)"
        table.meta.update(refine_networks=refine_nets, ridge=ridge)
    fitted = [lut_cost(space, table, n) for n in nets]
    before = [lut_cost(space, raw, n) for n in nets]
    table.meta.update(method=method, unique_signatures=isolated.meta["unique_signatures"], passes=passes,
                      statistic="min over passes (a new ORT session each) of the 5th percentile of single-run times",
                      calibration_networks=calibration_nets,
                      fit={"slope": cal["slope"], "intercept_ms": cal["intercept"],
                           "through_origin": bool(cal.get("through_origin")),
                           "in_sample_before": error_stats(before, measured), "in_sample_after": error_stats(fitted, measured)},
                      build_seconds={"isolated": round(t1 - t0, 1), "fit": round(time.monotonic() - t1, 1)})
    for path in (partial_path, fit_partial):
        if path and os.path.isfile(path):
            os.remove(path)
    return table
