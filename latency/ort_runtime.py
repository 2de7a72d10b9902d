"""ONNX Runtime timing: the runtime users deploy on, beside PyTorch eager.

A network (or one op of a table) is exported as ``run_apis.export`` writes it
(:mod:`models.onnx_export`), loaded into an ``InferenceSession`` on the CPU execution provider with
ORT's default graph optimisations (``ORT_ENABLE_ALL``: conv+BN folding, conv+activation fusion,
...), ``threads`` intra-op threads (default 1) and one inter-op thread, and timed with the project's
statistic: warm-up, then a low percentile of single runs over at least 0.3 s, the smallest over
``passes`` (:func:`time_runner` says why not the median). A fresh session per network: sessions
share nothing, so the build process's history does not leak into a timing.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from common.errors import InputError

RUNTIMES = ("torch", "onnxruntime")
PERCENTILE = 5.0  # the ORT statistic: a low percentile of single runs (time_runner)
# ... in each of SESSIONS new sessions of SESSION_SECONDS, the smallest kept. Measured (idle 2-core VM,
# tools/results/runtimes/ort_noise.md): a session is fast or slow, +0.1-0.2 ms, for its whole life,
# with any session setting; 33-57% of sessions of a net are fast. Many short sessions find the fast
# value; few long ones miss it (5 sessions: up to 13% of nets slow).
SESSIONS = 15
SESSION_SECONDS = 0.1
EXPORT_SEED = 0  # weights of a net exported for timing (docs/latency.md: ORT speed can depend on them)


def require_ort():
    try:
        import onnxruntime
    except ImportError:
        raise InputError("--runtime onnxruntime needs onnxruntime: pip install 'densenas[onnx]' "
                         "(or pip install onnx onnxruntime)") from None
    return onnxruntime


def ort_version() -> str:
    return require_ort().__version__


def make_session(model_bytes: bytes, threads: int = 1):
    """A CPU session with ORT's default optimisations; ``threads`` intra-op threads (0: ORT's default)."""
    ort = require_ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or 0)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


class SessionModule:
    """An ORT session bound to one input (converted once); calling it runs the session."""

    def __init__(self, session, x: torch.Tensor):
        self.session, self.name = session, session.get_inputs()[0].name
        self.feed = {self.name: np.ascontiguousarray(x.detach().cpu().numpy())}

    def __call__(self, _x=None):
        return self.session.run(None, self.feed)


def session_for(module: torch.nn.Module, x: torch.Tensor, threads: int = 1):
    from models.onnx_export import onnx_bytes
    with torch.random.fork_rng(devices=[]):
        data = onnx_bytes(module.eval(), x)
    return make_session(data, threads)


def time_runner(runner: SessionModule, warmup_seconds: float = 0.1, min_seconds: float = SESSION_SECONDS, min_runs: int = 50,
                max_runs: int = 20000, percentile: float = PERCENTILE):
    """The ORT statistic of one session: the ``percentile``-th percentile (default the 5th) of single-run
    times over at least ``min_seconds`` and ``min_runs`` runs, after ``warmup_seconds``.

    Why not the median, as for eager PyTorch: on the 2-core VM a sub-millisecond ORT run has two
    modes, the second ~0.1 ms slower, and which one a block of runs falls into drifts over
    seconds, within one session as across sessions (measured: the medians of 1,000 runs of one net
    range over 0.27-0.33 ms, their 5th percentiles over 0.189-0.204 ms, one outlier 0.254). The
    extra time is interference, which only adds; a low percentile is the stable cost of the graph.
    A whole session can also be slow (``SESSIONS``): callers keep the smallest over many sessions.
    Returned as a ``common.timing.Timing`` whose ``median_ms`` holds that percentile."""
    import time
    from common.timing import Timing
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup_seconds:
        runner()
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_seconds):
        t = time.perf_counter()
        runner()
        times.append((time.perf_counter() - t) * 1e3)
    arr = np.asarray(times)
    return Timing(float(np.percentile(arr, percentile)), float(arr.std() / arr.mean()), len(times))


def time_module_ort(module: torch.nn.Module, x: torch.Tensor, threads: int = 1, passes: int = 1, **_torch_timing):
    """``common.timing.Timing`` of ``module`` exported and run in ORT (:func:`time_runner`, smallest
    over ``passes``). Eager timing options (``warmup`` ...) do not apply and are ignored."""
    runner = SessionModule(session_for(module, x, threads), x)
    return min((time_runner(runner) for _ in range(passes)), key=lambda t: t.median_ms)


def time_networks_ort(net_configs: Sequence, num_classes: int, input_size: int, batch_size: int = 1,
                      threads: int = 1, passes: int = SESSIONS, progress: Optional[Callable] = None) -> List[float]:
    """End-to-end ORT latency (ms) of each derived network: the smallest of ``passes`` :func:`time_runner`
    values, each pass in a new session, passes interleaved over the networks (drift hits every
    network alike), each pass in its own order (seeded): in a fixed order a net's session always
    follows the same net's, and inherits the same allocator history, pass after pass."""
    from models import build_model
    from models.onnx_export import onnx_bytes
    x = torch.randn(batch_size, 3, input_size, input_size)
    out = [float("inf")] * len(net_configs)
    exported = {}
    import random
    jobs = []
    for p in range(passes):
        order = list(range(len(net_configs)))
        if p:  # the first pass in the given order
            random.Random(p).shuffle(order)
        jobs += [(p, i) for i in order]
    for _, i in (progress(jobs) if progress else jobs):
        if i not in exported:
            with torch.random.fork_rng(devices=[]):
                # the same weights every time a net is timed: in ORT a net's speed can depend on them
                torch.manual_seed(EXPORT_SEED)
                exported[i] = onnx_bytes(build_model(net_configs[i], num_classes=num_classes).eval(), x)
        # a new session each pass: a slow mode can last as long as a session (time_runner)
        runner = SessionModule(make_session(exported[i], threads), x)
        out[i] = min(out[i], time_runner(runner).median_ms)
    return out
