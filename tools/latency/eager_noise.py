r"""Why do two eager timings of the same net disagree? One net timed window after window in one
process, with the CPU time the hypervisor stole during each window (issue 55 §3: eager timing's noise).

    python -m tools.latency.eager_noise --net_config fmnist_1p5ms_searched_ada1630a --input_size 32 \
        --num_classes 10 --windows 60 --forwards 100 --out tools/results/runtimes/eager_noise

Each window times ``--forwards`` single forwards (after the project's warm-up) and records their
median and 5th percentile, and the share of all CPUs' time that ``/proc/stat`` counts as *steal*
over the window (None where there is no ``/proc/stat``). A window is *slow* when its median is more
than 20% above the smallest window median. The report compares the steal share of slow and other
windows, and how far the window medians and the window 5th percentiles spread: the statistic a
slow stretch moves less is the one to time with. Writes OUT.json and OUT.md. Idle machine only.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import List, Optional, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402

SLOW = 1.2  # a window median this many times the smallest one is a slow window


def cpu_steal() -> Optional[Tuple[int, int]]:
    """(steal, total) jiffies over all CPUs from /proc/stat, or None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def percentile(values: List[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def summarize(windows: List[dict]) -> dict:
    """Slow windows, their steal share against the others', and the spread of both statistics."""
    meds, p5s = [w["median_ms"] for w in windows], [w["p5_ms"] for w in windows]
    slow = [w for w in windows if w["median_ms"] > SLOW * min(meds)]
    rest = [w for w in windows if w not in slow]

    def steal(ws):
        vals = [w["steal_pct"] for w in ws if w["steal_pct"] is not None]
        return statistics.fmean(vals) if vals else None
    return {"windows": len(windows), "slow_windows": len(slow),
            "median_ms": {"min": min(meds), "median": statistics.median(meds), "max": max(meds),
                          "spread_pct": 100 * (max(meds) / min(meds) - 1)},
            "p5_ms": {"min": min(p5s), "median": statistics.median(p5s), "max": max(p5s),
                      "spread_pct": 100 * (max(p5s) / min(p5s) - 1)},
            "steal_pct_slow": steal(slow), "steal_pct_other": steal(rest)}


def time_windows(net_config, input_size: int, num_classes: int, windows: int, forwards: int, threads: int,
                 progress=None) -> List[dict]:
    import torch
    from common.timing import stable_allocator, time_module
    from models import build_model
    torch.set_num_threads(threads)
    stable_allocator()
    model = build_model(net_config, num_classes=num_classes).eval()
    x = torch.randn(1, 3, input_size, input_size)
    out = []
    with torch.no_grad():
        time_module(model, x)  # the project's warm-up, once
        for _ in (progress(range(windows)) if progress else range(windows)):
            s0 = cpu_steal()
            runs = []
            for _ in range(forwards):
                t0 = time.perf_counter()
                model(x)
                runs.append((time.perf_counter() - t0) * 1e3)
            s1 = cpu_steal()
            stolen = None if s0 is None or s1 is None or s1[1] == s0[1] else 100 * (s1[0] - s0[0]) / (s1[1] - s0[1])
            out.append({"median_ms": statistics.median(runs), "p5_ms": percentile(runs, 0.05), "steal_pct": stolen})
    return out


def markdown(r: dict) -> str:
    s = r["summary"]

    def pct(v):
        return "n/a" if v is None else f"{v:.2f}%"
    m, p = s["median_ms"], s["p5_ms"]
    return "\n".join([
        f"`{r['net']}` at {r['input_size']} px, {r['threads']} thread, one process: {s['windows']} windows of "
        f"{r['forwards']} forwards (PyTorch CPU capability {r['cpu_capability']}).", "",
        "| window statistic | smallest | median | largest | spread |", "| --- | --- | --- | --- | --- |",
        f"| median, ms | {m['min']:.3f} | {m['median']:.3f} | {m['max']:.3f} | {m['spread_pct']:.1f}% |",
        f"| 5th percentile, ms | {p['min']:.3f} | {p['median']:.3f} | {p['max']:.3f} | {p['spread_pct']:.1f}% |", "",
        f"Slow windows (median > {SLOW:g}× the smallest): {s['slow_windows']} of {s['windows']}; CPU time stolen by "
        f"the hypervisor: {pct(s['steal_pct_slow'])} in slow windows, {pct(s['steal_pct_other'])} in the others.", ""])


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.latency.eager_noise", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net_config", default="fmnist_1p5ms_searched_ada1630a", help="zoo name, file or run folder")
    p.add_argument("--input_size", type=int, default=32, help="input side length (default 32)")
    p.add_argument("--num_classes", type=int, default=10, help="classifier width (default 10)")
    p.add_argument("--windows", type=int, default=60, help="timing windows (default 60)")
    p.add_argument("--forwards", type=int, default=100, help="forwards per window (default 100)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--out", required=True, help="output prefix: writes OUT.json and OUT.md")
    return p


@main_guard
def main(argv=None):
    from common.logging_utils import progress
    from common.machine import cpu_capability
    from models import load_net_config
    from tools.latency.runtimes import write_report
    args = build_parser().parse_args(argv)
    if args.windows < 2 or args.forwards < 1 or args.threads < 1 or args.input_size < 8:
        raise InputError("--windows must be >= 2, --forwards and --threads >= 1, --input_size >= 8")
    net = load_net_config(args.net_config)
    shown = lambda it: progress(it, "timing windows", unit="window", interval=10)  # noqa: E731
    windows = time_windows(net, args.input_size, args.num_classes, args.windows, args.forwards, args.threads, shown)
    report = {"net": args.net_config, "input_size": args.input_size, "threads": args.threads, "forwards": args.forwards,
              "cpu_capability": cpu_capability(), "summary": summarize(windows), "windows": windows}
    write_report(args.out, report, markdown)


if __name__ == "__main__":
    main()
