"""Latency lookup tables: measuring every position of a space, estimating a net_config's latency,
and checking how well a table predicts measured end-to-end latency."""
from __future__ import annotations

import datetime
import json
import os
import random
from typing import Callable, Dict, List, Optional, Sequence

import torch

from common.io import atomic_write_json
from common.timing import time_module
from search_space.cost_table import (CostTable, Signature, build_position_module, load_cost_table, positions,
                                     table_from_values)
from search_space.derive import lut_cost
from search_space.search_config import load_search_config
from search_space.topology import SearchSpace, space_from_config
from latency.stats import error_stats, fit_calibration, kendall_tau, random_architecture  # noqa: F401 (re-exported)


def estimate_net_latency(config_path: str, table_path: str, net_config, overrides=(),
                         input_size: Optional[int] = None) -> dict:
    """Table latency of a net_config: ``lut_ms`` (the plain sum) and, when the table carries a
    calibration, ``lut_calibrated_ms``. A table measured at another input size is an error."""
    from common.errors import InputError
    cfg = load_search_config(config_path, overrides)
    space = space_from_config(cfg)
    table = load_cost_table(table_path, space, expect_units="ms")
    from common.machine import warn_if_foreign
    warn_if_foreign(table.meta, table_path)
    measured_at = table.meta.get("input_size")
    size = input_size if input_size is not None else cfg.data.input_size
    if measured_at is not None and int(measured_at) != size:
        raise InputError(f"--lut {table_path}: measured at input size {measured_at}, the network is profiled at {size}")
    raw = lut_cost(space, table, net_config)
    out = {"lut_ms": raw}
    if table.meta.get("calibration"):
        out["lut_calibrated_ms"] = apply_calibration(table, raw)
    return out


def table_device(table: CostTable) -> torch.device:
    """The device a latency table was measured on (``meta.device_type``; legacy GPU tables: cuda).
    Raises InputError for FLOPs tables or a device this machine lacks."""
    from common.errors import InputError
    if table.units != "ms":
        raise InputError(f"--measure_latency needs a latency table (ms); the cost table is in {table.units}")
    kind = table.meta.get("device_type")
    if kind is None:
        name = str(table.meta.get("device", "")).lower()
        kind = "cuda" if any(w in name for w in ("nvidia", "gpu", "cuda", "titan")) else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--measure_latency: the table was measured on {table.meta.get('device', 'a GPU')} (cuda) "
                         "but no CUDA device is available here")
    return torch.device(kind)


def measure_on_table_device(net_config, table: CostTable, num_classes: int, processes: int = 3) -> dict:
    """Time a derived network end to end as the table was measured (device, batch, input size,
    threads; eval, no grad) with the tables' statistic (smallest of 3 medians).

    On CPU the network is timed by ``run_apis.profile --measure`` in ``processes`` fresh Python
    processes and the smallest value is reported (with every run): a process that has just
    trained a super network timed the same network ~30% slower, and on a shared VM fresh
    processes differ by tens of percent when neighbours are busy; interference only adds time,
    so the smallest is the tables' statistic extended over processes (docs/budget_search.md "Budget-aware
    search"). ``processes=0`` times it here, in this process; CUDA is always timed here."""
    device = table_device(table)
    batch = int(table.meta.get("batch_size") or 1)
    size = int(table.meta.get("input_size") or 224)
    threads = table.meta.get("threads")
    out = {"measured_on": str(table.meta.get("device", device.type)), "measured_batch": batch,
           "measured_input_size": size}
    if device.type == "cpu" and processes > 0:
        from latency.network_timing import profile_networks
        runs = profile_networks([net_config], size, num_classes, batch, threads, processes)[0]
        return dict(out, measured_ms=min(runs), measured_ms_runs=runs,
                    measured_how=f"smallest of {processes} fresh processes (run_apis.profile --measure cpu)")
    from common.timing import time_module_robust
    from models import build_model
    old = torch.get_num_threads()
    if device.type == "cpu" and threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.random.fork_rng(devices=[]):
            model = build_model(net_config, num_classes=num_classes).to(device).eval()
            x = torch.randn(batch, 3, size, size, device=device)
        with torch.no_grad():
            ms = time_module_robust(model, x).median_ms
    finally:
        torch.set_num_threads(old)
    return dict(out, measured_ms=ms, measured_how="this process")


def apply_calibration(table: CostTable, raw: float) -> float:
    cal = table.meta.get("calibration")
    return raw if not cal else cal["slope"] * raw + cal["intercept"]


def _sig_key(sig: Signature) -> str:
    return "|".join(map(str, sig))


def _input_for(sig: Signature, batch_size: int, device) -> torch.Tensor:
    return torch.randn(batch_size, sig.in_ch, sig.fm, sig.fm, device=device)


def table_meta(device: torch.device, batch_size: int, input_size: int, threads: int = 0,
               runtime: str = "torch") -> dict:
    """Metadata of a table measured here (sets the CPU thread count when given), with the
    runtime and this machine's fingerprint (``common.machine``)."""
    from common.device import device_name
    from common.machine import machine_fingerprint
    from common.timing import stable_allocator
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    threads_used = None
    if device.type == "cpu":  # ORT sessions get exactly the asked threads (1 by default)
        threads_used = (threads or 1) if runtime == "onnxruntime" else torch.get_num_threads()
    meta = {"device": device_name(device), "device_type": device.type, "runtime": runtime, "torch": torch.__version__,
            "allocator": stable_allocator() if device.type == "cpu" else "cuda caching allocator",
            "dtype": "float32", "batch_size": batch_size, "input_size": input_size,
            "threads": threads_used, "units": "ms",
            "date": datetime.date.today().isoformat(), "source": "run_apis.latency_measure",
            "machine": machine_fingerprint(device.type, runtime, threads_used)}
    if runtime == "onnxruntime":
        from latency.ort_runtime import ort_version
        from models.onnx_export import OPSET
        meta.update(onnxruntime=ort_version(), onnx_opset=OPSET, execution_provider="CPUExecutionProvider",
                    graph_optimization="ORT default (ORT_ENABLE_ALL)")
    return meta


def measure_table(space: SearchSpace, input_size: int, batch_size: int, device: torch.device,
                  threads: int = 0, partial_path: Optional[str] = None,
                  progress: Optional[Callable] = None, timing_kwargs: Optional[dict] = None,
                  passes: int = 3, timer: Optional[Callable] = None, meta: Optional[dict] = None) -> CostTable:
    """Measure every position (eval mode, no grad). Identical signatures are measured once;
    measured entries are saved to ``partial_path`` as they come, so an interrupted run resumes.
    ``timer(module, x, **timing_kwargs)`` -> ``Timing`` (default: PyTorch eager, ``time_module``)."""
    meta = meta or table_meta(device, batch_size, input_size, threads)
    timer = timer or time_module
    done: Dict[str, List[List[float]]] = {}  # signature -> [[median_ms, cv] per pass]
    if partial_path and os.path.isfile(partial_path):
        with open(partial_path) as f:
            partial = json.load(f)
        same = {k: partial.get("meta", {}).get(k) for k in ("batch_size", "input_size", "device", "threads", "runtime")}
        if same == {k: meta.get(k) for k in same} and partial.get("fingerprint") == space.fingerprint():
            done = partial.get("measured", {})
    pos = list(positions(space, input_size))
    unique = list(dict.fromkeys(p.sig for p in pos))
    # Several passes over all signatures, keeping the smallest per-pass median: a burst of
    # interference (shared machines) then biases one pass of an entry, not the entry.
    todo = [(r, s) for r in range(passes) for s in unique if len(done.get(_sig_key(s), [])) <= r]
    iterator = progress(todo) if progress else todo
    # ops are small and measured in several passes: a short warm-up each time is enough
    timing_kwargs = dict({"warmup_seconds": 0.05}, **(timing_kwargs or {}))
    modules = {}
    for i, (_, sig) in enumerate(iterator):
        if sig not in modules:
            modules[sig] = build_position_module(sig, space).to(device).eval()
        t = timer(modules[sig], _input_for(sig, batch_size, device), **timing_kwargs)
        done.setdefault(_sig_key(sig), []).append([t.median_ms, t.cv])
        if partial_path and (i % 20 == 19 or i == len(todo) - 1):
            atomic_write_json(partial_path, {"meta": meta, "fingerprint": space.fingerprint(), "measured": done})
    best = {k: min(v, key=lambda mc: mc[0]) for k, v in done.items()}
    values = {p.key: best[_sig_key(p.sig)][0] for p in pos}
    cv = {p.key: best[_sig_key(p.sig)][1] for p in pos}
    meta["unique_signatures"] = len(unique)
    meta["passes"] = passes
    meta["statistic"] = "min over passes of the per-pass median"
    return table_from_values(space, values, meta, cv)


def accuracy_report(pred: Sequence[float], meas: Sequence[float], table: Optional[CostTable] = None) -> dict:
    """Errors of ``pred`` against ``meas``: raw, after a linear fit on these networks (in-sample),
    and after the table's stored calibration (fitted elsewhere) when it has one."""
    cal = fit_calibration(pred, meas)
    report = {"pred_ms": list(pred), "measured_ms": list(meas), "raw": error_stats(pred, meas), "calibration": cal,
              "calibrated": error_stats([cal["slope"] * p + cal["intercept"] for p in pred], meas)}
    if table is not None and table.meta.get("calibration"):
        report["stored_calibration"] = error_stats([apply_calibration(table, p) for p in pred], meas)
    return report


def validate_table(space: SearchSpace, table: CostTable, num: int, device: torch.device, input_size: int,
                   batch_size: int, seed: int = 0, progress: Optional[Callable] = None,
                   timing_kwargs: Optional[dict] = None, passes: int = 3) -> dict:
    """Predicted (table) vs measured end-to-end latency of ``num`` random architectures."""
    from latency.fit import measure_networks
    rng = random.Random(seed)
    archs = [random_architecture(space, rng) for _ in range(num)]
    pred = [lut_cost(space, table, nc) for nc in archs]
    meas = measure_networks(space, archs, input_size, batch_size, device, passes=passes, progress=progress,
                            timing_kwargs=timing_kwargs)[0]
    return dict(accuracy_report(pred, meas, table), num=num, passes=passes)


def scatter_plot(report: dict, path: str, title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pred, meas = report["pred_ms"], report["measured_ms"]
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.scatter(pred, meas, s=14, label="raw table sum")
    cal = report["calibration"]
    ax.scatter([cal["slope"] * p + cal["intercept"] for p in pred], meas, s=10, marker="x",
               label="calibrated")
    lo, hi = min(pred + meas) * 0.95, max(pred + meas) * 1.05
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="grey", alpha=0.15, label="±10%")
    ax.set_xlabel("table estimate (ms)")
    ax.set_ylabel("measured end-to-end (ms)")
    r = report["raw"]
    lines = [f"raw table sum: MAPE {r['mape_pct']:.1f}%, τ {r['kendall_tau']:.2f}"]
    if report.get("calibrated"):
        lines.append(f"calibration fitted on these nets (in-sample): MAPE {report['calibrated']['mape_pct']:.1f}%")
    if report.get("stored_calibration"):
        lines.append(f"table's stored calibration (held out): MAPE {report['stored_calibration']['mape_pct']:.1f}%")
    ax.set_title((title + "\n" if title else "") + "\n".join(lines), fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
