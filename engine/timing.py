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
