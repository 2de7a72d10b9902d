"""ONNX Runtime timing: the runtime users deploy on, beside PyTorch eager.

A network (or one op of a table) is exported as ``run_apis.export`` writes it
(:mod:`models.onnx_export`), loaded into an ``InferenceSession`` on the CPU execution provider with
ORT's default graph optimisations (``ORT_ENABLE_ALL``: conv+BN folding, conv+activation fusion,
...), ``threads`` intra-op threads (default 1) and one inter-op thread, and timed with the project's
statistic: warm-up, rounds until the median settles, the smallest of ``passes`` medians
(:func:`common.timing.time_module` drives the session). A fresh session per network: sessions
share nothing, so the build process's history does not leak into a timing.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from common.errors import InputError

RUNTIMES = ("torch", "onnxruntime")


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
    """An ORT session that looks like a module to :func:`common.timing.time_module` (``eval()``,
    called with a tensor); the input is converted once."""

    def __init__(self, session, x: torch.Tensor):
        self.session, self.name = session, session.get_inputs()[0].name
        self.feed = {self.name: np.ascontiguousarray(x.detach().cpu().numpy())}

    def eval(self):
        return self

    def __call__(self, _x=None):
        return self.session.run(None, self.feed)


def session_for(module: torch.nn.Module, x: torch.Tensor, threads: int = 1):
    from models.onnx_export import onnx_bytes
    with torch.random.fork_rng(devices=[]):
        data = onnx_bytes(module.eval(), x)
    return make_session(data, threads)


def time_module_ort(module: torch.nn.Module, x: torch.Tensor, threads: int = 1, passes: int = 1, **timing_kwargs):
    """``common.timing.Timing`` of ``module`` exported and run in ORT (smallest of ``passes`` medians)."""
    from common.timing import time_module
    runner = SessionModule(session_for(module, x, threads), x)
    return min((time_module(runner, x, **timing_kwargs) for _ in range(passes)), key=lambda t: t.median_ms)


def time_networks_ort(net_configs: Sequence, num_classes: int, input_size: int, batch_size: int = 1,
                      threads: int = 1, passes: int = 3, progress: Optional[Callable] = None) -> List[float]:
    """End-to-end ORT latency (ms) of each derived network: one session per network, the smallest
    of ``passes`` medians, passes interleaved over the networks (drift hits every network alike)."""
    from common.timing import time_module
    from models import build_model
    x = torch.randn(batch_size, 3, input_size, input_size)
    out = [float("inf")] * len(net_configs)
    runners = {}
    jobs = [(p, i) for p in range(passes) for i in range(len(net_configs))]
    for _, i in (progress(jobs) if progress else jobs):
        if i not in runners:
            with torch.random.fork_rng(devices=[]):
                model = build_model(net_configs[i], num_classes=num_classes).eval()
            runners[i] = SessionModule(session_for(model, x, threads), x)
        out[i] = min(out[i], time_module(runners[i], x).median_ms)
    return out
