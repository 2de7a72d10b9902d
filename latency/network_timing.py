"""End-to-end timing of derived networks, in this process or in fresh ones (the project's one
statistic of latency).

``run_apis.profile --measure`` times a network in a fresh process; ``--measure_latency`` and the
tables' accuracy report use the smallest of 3 such processes. A table must predict that number.
A process that has already built and timed hundreds of networks (a table build's in-context
phase) times the same networks a few percent slower (MBV2 224 px: +4%, the bias the old tables
carried), so the networks a table is fitted to are timed here, in a child process started for
them, and held-out networks are checked with ``profile --measure`` itself
(:func:`profile_networks`).

Run as a module it is that child: ``python -m latency.network_timing IN.json OUT.json``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Callable, List, Optional, Sequence

import torch

from common.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where the packages live


def _child_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


@torch.no_grad()
def measure_network_list(archs, num_classes: int, input_size: int, batch_size: int, device: torch.device,
                         passes: int = 3, repeats: int = 1, progress: Optional[Callable] = None,
                         timing_kwargs: Optional[dict] = None) -> List[List[float]]:
    """End-to-end latency (ms) of each net_config: ``repeats`` independent evaluations, each the
    smallest of ``passes`` medians; passes and repeats are interleaved over the networks so drift
    affects every network and every evaluation alike. Returns [repeat][arch]."""
    from common.timing import time_module
    from models import build_model
    x = torch.randn(batch_size, 3, input_size, input_size, device=device)
    out = [[float("inf")] * len(archs) for _ in range(repeats)]
    jobs = [(p, i, r) for p in range(passes) for i in range(len(archs)) for r in range(repeats)]
    models = {}
    for p, i, r in (progress(jobs) if progress else jobs):
        if i not in models:
            models = {i: build_model(archs[i], num_classes=num_classes).to(device).eval()}
        out[r][i] = min(out[r][i], time_module(models[i], x, **(timing_kwargs or {})).median_ms)
    return out


def time_in_fresh_process(net_configs: Sequence, input_size: int, batch_size: int, threads: int, num_classes: int,
                          passes: int = 3) -> List[float]:
    """Each network's end-to-end latency (ms, smallest of ``passes`` interleaved medians; CPU,
    fixed malloc thresholds, eval, no grad) measured by one new Python process that does nothing
    else. Network order and statistic are those of :func:`measure_network_list`."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "nets.json"), os.path.join(tmp, "ms.json")
        with open(src, "w", encoding="utf-8") as f:
            json.dump({"nets": [n.to_text() for n in net_configs], "input_size": input_size,
                       "batch_size": batch_size, "threads": threads, "num_classes": num_classes,
                       "passes": passes}, f)
        r = subprocess.run([sys.executable, "-m", "latency.network_timing", src, dst], capture_output=True,
                           text=True, env=_child_env(), cwd=tmp)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"timing networks in a fresh process failed: {last}")
        with open(dst, encoding="utf-8") as f:
            return [float(v) for v in json.load(f)]


def profile_in_fresh_process(net_config, input_size: int, num_classes: int, batch_size: int, threads) -> float:
    """``run_apis.profile --measure cpu`` in a new process: the network's measured ms."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net_config")
        with open(path, "w", encoding="utf-8") as f:
            f.write(net_config.to_text())
        cmd = [sys.executable, "-m", "run_apis.profile", "--net_config", path, "--input_size", str(input_size),
               "--num_classes", str(num_classes), "--measure", "cpu", "--batch_size", str(batch_size),
               "--threads", str(int(threads or 0)), "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=tmp)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"timing in a fresh process (run_apis.profile --measure) failed: {last}")
    return float(json.loads(r.stdout.strip().splitlines()[-1])["measured_ms"])


def profile_networks(net_configs: Sequence, input_size: int, num_classes: int, batch_size: int, threads,
                     processes: int = 3, progress: Optional[Callable] = None) -> List[List[float]]:
    """Every network timed by ``profile --measure`` in ``processes`` fresh processes, rounds
    interleaved over the networks (drift hits all alike): [network][process] ms. The project's
    latency of a network is the smallest of its row."""
    out = [[] for _ in net_configs]
    jobs = [(k, i) for k in range(processes) for i in range(len(net_configs))]
    for _, i in (progress(jobs) if progress else jobs):
        out[i].append(profile_in_fresh_process(net_configs[i], input_size, num_classes, batch_size, threads))
    return out


def _main(argv=None) -> None:
    from common.timing import stable_allocator
    from models.net_config import parse_text
    src, dst = (argv if argv is not None else sys.argv[1:])[:2]
    with open(src, encoding="utf-8") as f:
        job = json.load(f)
    stable_allocator()
    if job["threads"]:
        torch.set_num_threads(int(job["threads"]))
    nets = [parse_text(t) for t in job["nets"]]
    ms = measure_network_list(nets, job["num_classes"], job["input_size"], job["batch_size"], torch.device("cpu"),
                              passes=job["passes"])[0]
    from common.io import atomic_write_json
    atomic_write_json(dst, ms)


if __name__ == "__main__":
    _main()
