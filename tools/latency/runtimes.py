r"""What the runtime changes: the same random nets timed in PyTorch eager and in ONNX Runtime, and
the two tables' entries op by op (issue 55 §3).

    python -m tools.latency.runtimes --config configs/fashion_mnist_search.yaml \
        --eager latency_tables/fashion_mnist_cpu_b1_32.json --ort latency_tables/fashion_mnist_ort_cpu_b1_32.json \
        --nets 50 --out tools/results/runtimes/fashion_mnist

Eager latency is the project's statistic (``run_apis.profile --measure`` in ``--processes`` fresh
processes, the smallest); ORT latency is the smallest of 15 short sessions' 5th-percentile run times
(``latency.ort_runtime.time_runner``).
Writes OUT.json (every timing) and OUT.md (the tables of docs/latency.md). Timing: idle machine only.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402


def op_ratios(space, eager, ort, input_size: int) -> list:
    """Per op name: the median, min and max over positions of ORT entry / eager entry (positions
    where both are > 0), most cheapened first."""
    from latency.fit import _free, entry_of
    from search_space.cost_table import positions
    by_op = {}
    for p in positions(space, input_size):
        if _free(space, p.key):
            continue
        e, o = entry_of(eager, p.key), entry_of(ort, p.key)
        if e > 0 and o > 0:
            by_op.setdefault(p.sig.op, []).append(o / e)
    rows = [{"op": op, "positions": len(r), "median": statistics.median(r), "min": min(r), "max": max(r)}
            for op, r in by_op.items()]
    return sorted(rows, key=lambda r: r["median"])


def eager_repeatability(runs) -> dict:
    """How repeatable the eager timing was: per net, the spread of its fresh processes (largest /
    smallest − 1), and, with 4 or more processes, the split half: the smallest of the first half of
    each net's processes against the smallest of the second half (relative difference, τ)."""
    from latency.stats import kendall_tau
    spread = [100 * (max(r) / min(r) - 1) for r in runs]
    out = {"processes": min(len(r) for r in runs), "spread_median_pct": statistics.median(spread),
           "spread_max_pct": max(spread), "split_half": None}
    if out["processes"] >= 4:
        h = out["processes"] // 2
        a, b = [min(r[:h]) for r in runs], [min(r[h:2 * h]) for r in runs]
        diff = [100 * abs(x - y) / min(x, y) for x, y in zip(a, b)]
        out["split_half"] = {"halves_of": h, "median_diff_pct": statistics.median(diff), "max_diff_pct": max(diff),
                             "kendall_tau": kendall_tau(a, b)}
    return out


def space_and_tables(config: str, opts, eager_path: str, ort_path: str):
    """The space of ``config`` and its eager and ORT tables (each checked against it)."""
    from search_space.cost_table import load_cost_table
    from search_space.search_config import load_search_config
    from search_space.topology import space_from_config
    space = space_from_config(load_search_config(config, opts))
    return space, load_cost_table(eager_path, space, expect_units="ms"), load_cost_table(ort_path, space, expect_units="ms")


def write_report(out: str, report: dict, markdown) -> None:
    """OUT.json (every number) and OUT.md (``markdown(report)``), written atomically; the table printed."""
    from common.io import atomic_write_json, atomic_write_text
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic_write_json(out + ".json", report)
    text = markdown(report)
    atomic_write_text(out + ".md", text)
    print(text)


def compare(args) -> dict:
    from common.logging_utils import progress
    from latency.network_timing import profile_networks
    from latency.ort_runtime import SESSIONS, time_networks_ort
    from common.machine import machine_fingerprint, table_fingerprint
    from latency.stats import error_stats, kendall_tau, random_architecture
    from search_space.derive import lut_cost
    space, eager, ort = space_and_tables(args.config, args.opts, args.eager, args.ort)
    size, batch = int(eager.meta.get("input_size") or 224), int(eager.meta.get("batch_size") or 1)
    rng = random.Random(args.seed)
    nets = [random_architecture(space, rng) for _ in range(args.nets)]
    shown = lambda it: progress(it, "timing networks", unit="net", interval=25)  # noqa: E731
    runs = profile_networks(nets, size, space.num_classes, batch, eager.meta.get("threads") or 1, args.processes, shown)
    eager_ms = [min(r) for r in runs]
    ort_ms = time_networks_ort(nets, space.num_classes, size, batch, int(ort.meta.get("threads") or 1),
                               progress=shown)
    eager_pred = [lut_cost(space, eager, n) for n in nets]
    ort_pred = [lut_cost(space, ort, n) for n in nets]
    ratio = [o / e for o, e in zip(ort_ms, eager_ms)]
    return {"config": os.path.basename(args.config), "eager_table": os.path.basename(args.eager),
            "ort_table": os.path.basename(args.ort), "nets": args.nets, "seed": args.seed, "input_size": size,
            "eager_timing": f"run_apis.profile --measure cpu, smallest of {args.processes} fresh processes",
            "ort_timing": f"onnxruntime CPU, the smallest of {SESSIONS} sessions' 5th-percentile run times",
            "onnxruntime": ort.meta.get("onnxruntime"), "torch": eager.meta.get("torch"),
            # the SIMD level of this host and of each table's host: eager kernels differ between them
            "machine": machine_fingerprint(runtime="onnxruntime"),
            "table_cpu_capability": {"eager": table_fingerprint(eager.meta).get("cpu_capability", "not recorded"),
                                     "ort": table_fingerprint(ort.meta).get("cpu_capability", "not recorded")},
            "kendall_tau_eager_vs_ort": kendall_tau(eager_ms, ort_ms),
            "eager_repeatability": eager_repeatability(runs),
            "ort_over_eager": {"median": statistics.median(ratio), "min": min(ratio), "max": max(ratio)},
            "eager_table_vs_eager": error_stats(eager_pred, eager_ms), "ort_table_vs_ort": error_stats(ort_pred, ort_ms),
            "eager_table_vs_ort": error_stats(eager_pred, ort_ms),
            "op_ratios": op_ratios(space, eager, ort, size),
            "net_configs": [n.to_text() for n in nets], "eager_ms": eager_ms, "eager_runs_ms": runs, "ort_ms": ort_ms}


def markdown(r: dict) -> str:
    def stats(s):
        return (f"MAPE {s['mape_pct']:.1f}%, max {s['max_err_pct']:.1f}%, within ±10% {100 * s['within_10pct']:.0f}%, "
                f"τ {s['kendall_tau']:.3f}, bias {s['mean_bias_pct']:+.1f}%")
    q = r["ort_over_eager"]
    host = r.get("machine", {}).get("cpu_capability")
    caps = r.get("table_cpu_capability")
    lines = [f"{r['nets']} random nets of `{r['config']}` (seed {r['seed']}, {r['input_size']} px, batch 1, 1 thread), "
             f"each timed in PyTorch eager ({r['torch']}) and ONNX Runtime ({r['onnxruntime']})"
             + (f" on a host with PyTorch CPU capability {host}" if host else "")
             + (f" (the tables' recorded capability: eager {caps['eager']}, ORT {caps['ort']})" if caps else "") + ":", "",
             "| measure | value |", "| --- | --- |",
             f"| Kendall τ, eager-measured vs ORT-measured | {r['kendall_tau_eager_vs_ort']:.3f} |"]
    rep = r.get("eager_repeatability")
    if rep:
        lines.append(f"| eager timing: spread of a net's {rep['processes']} fresh processes (largest / smallest − 1), "
                     f"median [max] | {rep['spread_median_pct']:.1f}% [{rep['spread_max_pct']:.1f}%] |")
        sh = rep.get("split_half")
        if sh:
            lines.append(f"| eager timing repeated: smallest of processes 1–{sh['halves_of']} against the next "
                         f"{sh['halves_of']}, median [max] difference, τ | {sh['median_diff_pct']:.1f}% "
                         f"[{sh['max_diff_pct']:.1f}%], τ {sh['kendall_tau']:.3f} |")
    lines += [f"| ORT / eager latency, median [min, max] | {q['median']:.2f} [{q['min']:.2f}, {q['max']:.2f}] |",
             f"| `{r['eager_table']}` vs eager | {stats(r['eager_table_vs_eager'])} |",
             f"| `{r['ort_table']}` vs ORT | {stats(r['ort_table_vs_ort'])} |",
             f"| `{r['eager_table']}` vs ORT (an eager table priced for ORT) | {stats(r['eager_table_vs_ort'])} |", "",
             "Per op, ORT entry / eager entry over the table's positions (below 1: cheaper in ORT):", "",
             "| op | positions | median | min | max |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| `{o['op']}` | {o['positions']} | {o['median']:.2f} | {o['min']:.2f} | {o['max']:.2f} |"
              for o in r["op_ratios"]]
    return "\n".join(lines) + "\n"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.latency.runtimes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="search config of the space")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--eager", required=True, help="PyTorch eager latency table of the space")
    p.add_argument("--ort", required=True, help="ONNX Runtime latency table of the space")
    p.add_argument("--nets", type=int, default=50, help="random nets timed on both runtimes (default 50)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random nets (default 1)")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per net for eager timing (default 3)")
    p.add_argument("--out", required=True, help="output prefix: writes OUT.json and OUT.md")
    return p


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    write_report(args.out, compare(args), markdown)


if __name__ == "__main__":
    main()
