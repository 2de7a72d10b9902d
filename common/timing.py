"""Latency timing shared by latency tables, their accuracy report and run_apis.profile."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    median_ms: float
    cv: float       # coefficient of variation (stdev / mean) of the repeats
    repeats: int


_ALLOCATOR = None


def stable_allocator() -> str:
    """Fix glibc malloc's mmap and trim thresholds (64 MiB / 256 MiB) for CPU timing.

    With glibc's default *dynamic* thresholds, whether a large activation (e.g. 96x112x112 fp32,
    4.8 MB) is page-faulted afresh on every forward depends on the process's allocation history:
    the same network then times up to ~20% apart in two processes, and an op's cost depends on
    its neighbours. Fixed thresholds (what jemalloc / tcmalloc deployments get anyway) keep such
    buffers in the heap. Applied once per process, before CPU timing; returns a description
    recorded in table metadata ("default" where mallopt is not available)."""
    global _ALLOCATOR
    if _ALLOCATOR is None:
        _ALLOCATOR = "default"
        try:
            import ctypes
            import ctypes.util
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            if libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(m_trim_threshold, 256 << 20):
                _ALLOCATOR = "glibc mmap_threshold=64MiB trim_threshold=256MiB"
        except (OSError, AttributeError):
            pass
    return _ALLOCATOR


@torch.no_grad()
def time_module(module: torch.nn.Module, x: torch.Tensor, warmup: int = 5, min_repeats: int = 10,
                max_repeats: int = 200, rel_tol: float = 0.01, max_seconds: float = 2.0,
                warmup_seconds: float = 0.1) -> Timing:
    """Median latency (ms) of ``module(x)`` in eval mode. Warms up for ``warmup`` calls and at
    least ``warmup_seconds`` (a fresh model in a fresh process runs slower for a while), then
    repeats in rounds until the median of the last round moves by less than ``rel_tol`` (or
    max_repeats / max_seconds is reached). CUDA: timed with synchronisation around each call."""
    module.eval()
    cuda = x.device.type == "cuda"
    if not cuda:
        stable_allocator()

    def once() -> float:
        if cuda:
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        module(x)
        if cuda:
            torch.cuda.synchronize(x.device)
        return (time.perf_counter() - t0) * 1e3

    t_warm = time.perf_counter()
    n = 0
    while n < warmup or time.perf_counter() - t_warm < warmup_seconds:
        once()
        n += 1
    samples = []
    start = time.perf_counter()
    prev = None
    while len(samples) < max_repeats:
        samples.extend(once() for _ in range(min_repeats))
        med = statistics.median(samples)
        if prev is not None and abs(med - prev) <= rel_tol * prev:
            break
        if time.perf_counter() - start > max_seconds:
            break
        prev = med
    mean = statistics.fmean(samples)
    cv = statistics.pstdev(samples) / mean if mean > 0 else 0.0
    return Timing(statistics.median(samples), cv, len(samples))


def time_module_robust(module: torch.nn.Module, x: torch.Tensor, passes: int = 3, **kwargs) -> Timing:
    """The smallest of ``passes`` medians: interference on shared machines only ever adds time,
    so this is the statistic latency tables are built with too."""
    return min((time_module(module, x, **kwargs) for _ in range(passes)), key=lambda t: t.median_ms)


def repeated_timing(module: torch.nn.Module, x: torch.Tensor, repeats: int = 5, **kwargs) -> dict:
    """``repeats`` in-process medians of :func:`time_module` and their spread: ``min_ms`` (the
    robust figure: interference only adds time), ``median_ms``, ``q1_ms`` / ``q3_ms`` (interquartile
    range), ``spread`` ((max - min) / min) and every run."""
    runs = sorted(time_module(module, x, **kwargs).median_ms for _ in range(max(1, repeats)))
    q = statistics.quantiles(runs, n=4, method="inclusive") if len(runs) > 1 else [runs[0]] * 3
    return {"min_ms": runs[0], "median_ms": statistics.median(runs), "q1_ms": q[0], "q3_ms": q[2],
            "spread": (runs[-1] - runs[0]) / runs[0] if runs[0] > 0 else 0.0, "runs_ms": runs,
            "repeats": len(runs)}


def describe_measured(table_ms: float, timing: dict) -> str:
    """One line comparing a table figure with :func:`repeated_timing`; says when the repeats
    themselves spread more than the table is off, so timing noise is not read as table error."""
    gap = (table_ms - timing["min_ms"]) / timing["min_ms"] if timing["min_ms"] > 0 else 0.0
    line = (f"measured {timing['min_ms']:.3f} ms (min of {timing['repeats']} in-process medians; median "
            f"{timing['median_ms']:.3f}, IQR {timing['q1_ms']:.3f}-{timing['q3_ms']:.3f}), table {gap:+.1%} off it")
    if timing["spread"] > abs(gap):
        line += (f"; the repeats alone spread {timing['spread']:.0%}, more than that gap: timing noise on this "
                 "machine, not table error")
    return line
