"""Recalibrate a latency table on this machine (``run_apis.latency_measure --recalibrate TABLE``).

A table measured on one machine is often off by a near-constant factor on another (other clock,
cache, memory, library build). Recalibration times ``nets`` random networks of the table's space
here, end to end, exactly as the table was measured (its runtime, device, batch, input size and
threads; on CPU with torch, ``run_apis.profile --measure`` in fresh processes, the smallest), fits
``measured ~ a * table + b`` and folds it into the entries (``latency.fit.fold_linear``), so every
consumer (search, derive, profile) prices with the corrected table. ``holdout`` more networks,
not used by the fit, give the MAPE before and after. The table then records this machine's
fingerprint (its earlier one kept under ``recalibration.from_machine``).
"""
from __future__ import annotations

import datetime
import os
import random
from typing import Callable, List, Optional

import torch

from common.errors import InputError


def time_like_table(table, space, nets, processes: int = 2, progress: Optional[Callable] = None) -> List[float]:
    """End-to-end ms of ``nets`` measured as ``table`` was (runtime, device, batch, size, threads)."""
    meta = table.meta
    size, batch = int(meta.get("input_size") or 224), int(meta.get("batch_size") or 1)
    threads = int(meta.get("threads") or 1)
    if (meta.get("runtime") or "torch") == "onnxruntime":
        from latency.ort_runtime import time_networks_ort
        return time_networks_ort(nets, space.num_classes, size, batch, threads, progress=progress)
    from latency.measure import table_device
    device = table_device(table)
    if device.type == "cpu":
        from latency.network_timing import profile_networks
        return [min(r) for r in profile_networks(nets, size, space.num_classes, batch, threads, processes, progress)]
    from latency.network_timing import measure_network_list
    return measure_network_list(nets, space.num_classes, size, batch, device, progress=progress)[0]


def recalibrate(table, space, nets: int = 10, holdout: int = 10, seed: int = 0, processes: int = 2,
                progress: Optional[Callable] = None):
    """(recalibrated table, report). The report holds both sets' predictions and timings."""
    from common.machine import machine_fingerprint, table_fingerprint
    from latency.fit import fold_linear
    from latency.stats import error_stats, fit_calibration, random_architecture
    from search_space.derive import lut_cost
    if nets < 2:
        raise InputError(f"--nets must be >= 2 to fit a line, got {nets}")
    rng = random.Random(seed)
    archs = [random_architecture(space, rng) for _ in range(nets + holdout)]
    measured = time_like_table(table, space, archs, processes, progress)
    pred = [lut_cost(space, table, a) for a in archs]
    fit_pred, fit_meas = pred[:nets], measured[:nets]
    cal = fit_calibration(fit_pred, fit_meas)
    if cal["slope"] <= 0 or table.input * cal["slope"] + cal["intercept"] < 0:  # a noisy fit: through the origin
        cal = dict(cal, slope=sum(p * m for p, m in zip(fit_pred, fit_meas)) / sum(p * p for p in fit_pred),
                   intercept=0.0, through_origin=True)
    new = fold_linear(table, cal["slope"], cal["intercept"])
    after = [lut_cost(space, new, a) for a in archs]
    report = {"nets": nets, "holdout": holdout, "seed": seed, "slope": cal["slope"], "intercept_ms": cal["intercept"],
              "through_origin": bool(cal.get("through_origin")),
              "fit_before": error_stats(fit_pred, fit_meas), "fit_after": error_stats(after[:nets], fit_meas)}
    if holdout >= 2:
        report.update(holdout_before=error_stats(pred[nets:], measured[nets:]),
                      holdout_after=error_stats(after[nets:], measured[nets:]))
    meta = table.meta
    here = machine_fingerprint(meta.get("device_type") or "cpu", meta.get("runtime") or "torch", meta.get("threads"))
    report.update(from_machine=table_fingerprint(meta), machine=here, date=datetime.date.today().isoformat())
    new.meta = {k: v for k, v in meta.items() if k != "path"}
    history = list(meta.get("recalibrations") or []) if isinstance(meta.get("recalibrations"), list) else []
    summary = {k: v for k, v in report.items() if k not in ("machine",)}
    new.meta.update(machine=here, recalibration=summary, recalibrations=history + [summary])
    report.update(pred_ms=pred, measured_ms=measured, recalibrated_ms=after)
    return new, report


def recalibrate_command(args) -> dict:
    """``--recalibrate TABLE [--nets N] [--holdout M] [--config CFG] [--out PATH]``."""
    from configs import resolve_path
    from common.io import atomic_write_json
    from common.logging_utils import progress
    from search_space.cost_table import load_cost_table
    from search_space.search_config import load_search_config
    from search_space.topology import space_from_config
    path = resolve_path(args.recalibrate)
    table = load_cost_table(path, expect_units="ms")
    config = args.config or table.meta.get("config")
    if not config:
        raise InputError(f"--recalibrate {args.recalibrate}: the table names no config; give --config (its space)")
    space = space_from_config(load_search_config(config, args.opts))
    table = load_cost_table(path, space, expect_units="ms")
    out = args.out or path
    print(f"recalibrating {args.recalibrate} ({table.meta.get('runtime') or 'torch'}, {table.meta.get('device')}, "
          f"batch {table.meta.get('batch_size')}, {table.meta.get('input_size')}px, {table.meta.get('threads')} "
          f"thread(s)) on this machine: {args.nets} networks fitted + {args.holdout} held out")
    new, report = recalibrate(table, space, args.nets, args.holdout, args.seed,
                              processes=max(1, min(args.processes, 2)),
                              progress=lambda it: progress(it, "timing networks", unit="net", interval=10))
    new.save(out)
    atomic_write_json(os.path.splitext(out)[0] + "_recalibration.json", report)
    line = f"  fit: measured = {report['slope']:.3f} x table {report['intercept_ms']:+.3f} ms"
    if "holdout_before" in report:
        b, a = report["holdout_before"], report["holdout_after"]
        line += (f"; held out ({args.holdout} nets): MAPE {b['mape_pct']:.1f}% -> {a['mape_pct']:.1f}%, "
                 f"bias {b['mean_bias_pct']:+.1f}% -> {a['mean_bias_pct']:+.1f}%, within ±10% "
                 f"{100 * b['within_10pct']:.0f}% -> {100 * a['within_10pct']:.0f}%")
    print(line)
    print(f"  written: {out} (report {os.path.splitext(out)[0]}_recalibration.json)")
    return report
