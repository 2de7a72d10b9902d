r"""Why do two ORT timings of the same net disagree? One net, many new sessions, under session settings
that could explain it (issue 55 §2: the ground truth's own noise).

    python -m tools.latency.ort_noise --config configs/fashion_mnist_search.yaml --nets 30 --ids 19 11 1 \
        --sessions 6 --out tools/results/runtimes/ort_noise

The nets are the ``--nets`` random nets of ``latency_measure --validate`` (same seed, so ``--ids``
can name the ones two validations timed furthest apart), exported once with the fixed export seed.
Each setting times each net in ``--sessions`` new sessions (interleaved: net, setting, session),
with the project's statistic (``latency.ort_runtime.time_runner``). Settings:

``default``      the project's session (1 intra-op thread, sequential, ORT_ENABLE_ALL)
``fresh_input``  the default session, a new random input each session (does the input matter?)
``copied_input`` the default session, the same input values in a new buffer each session (its address?)
``no_spin``      intra-op threads do not spin (``session.intra_op.allow_spinning = 0``)
``no_arena``     no CPU memory arena (``enable_cpu_mem_arena = False``)
``pinned``       the process pinned to one core while it times

Per net and setting: the smallest, median and largest session value and the spread (largest /
smallest − 1). Writes OUT.json and OUT.md. Timing: idle machine only.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, atomic_write_text  # noqa: E402

SETTINGS = ("default", "fresh_input", "copied_input", "no_spin", "no_arena", "pinned")


def _session(model: bytes, setting: str):
    from latency.ort_runtime import require_ort
    ort = require_ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if setting == "no_spin":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if setting == "no_arena":
        opts.enable_cpu_mem_arena = False
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def measure(models: dict, x, sessions: int, settings=SETTINGS) -> dict:
    """{net id: {setting: [ms per session]}}, interleaved so that drift hits every setting alike."""
    import torch
    from latency.ort_runtime import SessionModule, time_runner
    out = {i: {s: [] for s in settings} for i in models}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    for _ in range(sessions):
        for i, model in models.items():
            for s in settings:
                feed = torch.randn_like(x) if s == "fresh_input" else (x.clone() if s == "copied_input" else x)
                if s == "pinned" and cores:
                    os.sched_setaffinity(0, {cores[-1]})
                try:
                    out[i][s].append(time_runner(SessionModule(_session(model, s), feed)).median_ms)
                finally:
                    if s == "pinned" and cores:
                        os.sched_setaffinity(0, set(cores))
    return out


def summary(values: list) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "spread_pct": 100 * (max(values) / min(values) - 1), "sessions": values}


def markdown(rep: dict) -> str:
    lines = [f"ORT {rep['onnxruntime']}, {rep['input_size']} px, batch 1, 1 thread; {rep['sessions']} new sessions per "
             "net and setting (ms, the project's statistic per session; spread = largest / smallest − 1):", "",
             "| net | " + " | ".join(rep["settings"]) + " |", "| --- |" + " --- |" * len(rep["settings"])]
    for i, row in rep["nets"].items():
        cells = [f"{row[s]['min']:.3f}–{row[s]['max']:.3f} ({row[s]['spread_pct']:.0f}%)" for s in rep["settings"]]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.latency.ort_noise", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the search space (as latency_measure --config)")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--nets", type=int, default=30, help="random nets drawn as latency_measure --validate N (30)")
    p.add_argument("--seed", type=int, default=0, help="their seed (latency_measure --seed, default 0)")
    p.add_argument("--ids", type=int, nargs="+", required=True, help="which of them to time")
    p.add_argument("--sessions", type=int, default=6, help="new sessions per net and setting (6)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS,
                   help="session settings to compare (default: all, see above)")
    p.add_argument("--out", required=True, help="write OUT.json and OUT.md")
    return p


@main_guard
def main(argv=None):
    a = build_parser().parse_args(argv)
    if any(not 0 <= i < a.nets for i in a.ids) or a.sessions < 2:
        raise InputError(f"--ids {a.ids}: each in 0..{a.nets - 1}; --sessions >= 2")
    import torch
    from latency.measure import random_architecture
    from latency.ort_runtime import EXPORT_SEED, ort_version
    from models import build_model
    from models.onnx_export import onnx_bytes
    from search_space.search_config import load_search_config
    from search_space.topology import space_from_config
    cfg = load_search_config(a.config, a.opts)
    space = space_from_config(cfg)
    rng = random.Random(a.seed)
    archs = [random_architecture(space, rng) for _ in range(a.nets)]
    size = int(cfg["data"]["input_size"])
    torch.manual_seed(0)
    x = torch.randn(1, 3, size, size)
    models = {}
    for i in a.ids:
        torch.manual_seed(EXPORT_SEED)
        models[i] = onnx_bytes(build_model(archs[i], num_classes=space.num_classes).eval(), x)
    raw = measure(models, x, a.sessions, a.settings)
    rep = {"onnxruntime": ort_version(), "input_size": size, "sessions": a.sessions, "settings": a.settings,
           "config": os.path.basename(a.config), "seed": a.seed, "nets_drawn": a.nets,
           "nets": {str(i): {s: summary(v) for s, v in raw[i].items()} for i in a.ids}}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    atomic_write_json(a.out + ".json", rep)
    text = markdown(rep)
    atomic_write_text(a.out + ".md", text)
    print(text, end="")
    print(f"written: {a.out}.json/.md")


if __name__ == "__main__":
    main()
