r"""The same search priced by two tables (issue 55 §3): two searches that differ only in their latency
table (PyTorch eager, ONNX Runtime), and both derived nets timed on both runtimes.

    # 1. the ORT target of an eager target: the same quantile of the table cost of random nets
    python -m tools.latency.runtime_searches match --config configs/fashion_mnist_search.yaml \
        --eager latency_tables/fashion_mnist_cpu_b1_32.json --ort latency_tables/fashion_mnist_ort_cpu_b1_32.json \
        --target 1.5
    # 2. the two searches: same config, seed and data; only the table and its target differ
    python -m run_apis.search --config configs/fashion_mnist_search.yaml --data_path data/fashion_mnist \
        --save runs/runtime-search/eager --opts optim.sub_obj.target=1.5
    python -m run_apis.search --config configs/fashion_mnist_search.yaml --data_path data/fashion_mnist \
        --save runs/runtime-search/ort --opts optim.sub_obj.target=T \
        optim.sub_obj.latency_list_path=latency_tables/fashion_mnist_ort_cpu_b1_32.json
    # 3. both derived nets timed on both runtimes (idle machine), against both targets
    python -m tools.latency.runtime_searches time --runs runs/runtime-search/eager/search-* \
        runs/runtime-search/ort/search-* --eager latency_tables/fashion_mnist_cpu_b1_32.json \
        --ort latency_tables/fashion_mnist_ort_cpu_b1_32.json --out tools/results/runtimes/fashion_mnist_searches

Why a matched target: at 32 px ORT runs these nets 3-5x faster than eager, so "1.5 ms" in ORT is
above every net of the space. The paper's cost term, log(cost), has the same gradient at any scale
of the table; the target only picks the derive window. The matched target puts that window at the
same place in the space's latency distribution.
Eager timing: ``run_apis.profile --measure`` in fresh processes (the smallest); ORT timing: the smallest
of 15 short sessions' 5th percentile (``latency.ort_runtime``), the net as ``run_apis.export`` writes it.
"""
from __future__ import annotations

import argparse
import os
import random
import sys

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402


def quantile(values, q: float) -> float:
    """Linear-interpolated quantile ``q`` in [0, 1] of ``values``."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def matched_target(eager_costs, ort_costs, target: float) -> dict:
    """The ORT cost at the quantile where ``target`` sits among the eager costs (same nets)."""
    q = sum(c <= target for c in eager_costs) / len(eager_costs)
    return {"eager_target": target, "quantile": q, "ort_target": quantile(ort_costs, q),
            "nets": len(eager_costs)}


def match(args) -> dict:
    from tools.latency.runtimes import space_and_tables
    from latency.stats import random_architecture
    from search_space.derive import lut_cost
    space, eager, ort = space_and_tables(args.config, args.opts, args.eager, args.ort)
    rng = random.Random(args.seed)
    nets = [random_architecture(space, rng) for _ in range(args.nets)]
    out = matched_target([lut_cost(space, eager, n) for n in nets], [lut_cost(space, ort, n) for n in nets],
                         args.target)
    out.update({"seed": args.seed, "eager_table": os.path.basename(args.eager), "ort_table": os.path.basename(args.ort)})
    return out


def _run_summary(run_dir: str) -> dict:
    """A finished search folder: its net_config, derive target and table (from its config.yaml)."""
    import json
    from common.errors import InputError
    from models import load_net_config
    from search_space.search_config import load_search_config
    paths = {n: os.path.join(run_dir, n) for n in ("net_config", "derived.json", "config.yaml")}
    missing = [n for n, p in paths.items() if not os.path.isfile(p)]
    if missing:
        raise InputError(f"--runs: {run_dir} is not a finished search folder (no {', '.join(missing)})")
    try:
        with open(paths["derived.json"], encoding="utf-8") as f:
            derived = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"--runs: cannot read {paths['derived.json']}: {e}") from None
    cfg = load_search_config(paths["config.yaml"])
    return {"run": run_dir, "net_config": load_net_config(paths["net_config"]), "target": derived.get("target"),
            "table": os.path.basename(cfg.optim.sub_obj.latency_list_path), "seed": cfg.train_params.seed}


def time_runs(args) -> dict:
    from latency.network_timing import profile_networks
    from latency.ort_runtime import SESSIONS, time_networks_ort
    from search_space.derive import lut_cost
    from tools.latency.runtimes import space_and_tables
    space, eager, ort = space_and_tables(args.config, args.opts, args.eager, args.ort)
    runs = [_run_summary(r) for r in args.runs]
    nets = [r["net_config"] for r in runs]
    size = int(eager.meta.get("input_size") or 224)
    eager_runs = profile_networks(nets, size, space.num_classes, 1, int(eager.meta.get("threads") or 1), args.processes)
    ort_ms = time_networks_ort(nets, space.num_classes, size, 1, int(ort.meta.get("threads") or 1))
    rows = []
    for r, e_runs, o in zip(runs, eager_runs, ort_ms):
        rows.append({"run": r["run"], "searched_with": r["table"], "seed": r["seed"], "target": r["target"],
                     "net_config": r["net_config"].to_text(), "eager_table_ms": lut_cost(space, eager, r["net_config"]),
                     "ort_table_ms": lut_cost(space, ort, r["net_config"]), "eager_ms": min(e_runs),
                     "eager_runs_ms": e_runs, "ort_ms": o})
    return {"config": os.path.basename(args.config), "eager_table": os.path.basename(args.eager),
            "ort_table": os.path.basename(args.ort), "input_size": size,
            "eager_timing": f"run_apis.profile --measure cpu, smallest of {args.processes} fresh processes",
            "ort_timing": f"onnxruntime CPU, the smallest of {SESSIONS} sessions' 5th-percentile run times",
            "targets": {"eager_ms": args.targets[0], "ort_ms": args.targets[1]},
            "same_net": len({r["net_config"] for r in rows}) == 1, "nets": rows}


def markdown(r: dict) -> str:
    te, to = r["targets"]["eager_ms"], r["targets"]["ort_ms"]

    def vs(ms, target):
        return f"{ms:.3f} ({100 * (ms / target - 1):+.1f}%)"
    lines = [f"Derived nets of `{r['config']}` searched with each table, timed on both runtimes "
             f"({r['input_size']} px, batch 1, 1 thread). Targets: eager {te} ms, ORT {to:.3f} ms "
             "(in brackets: measured against the runtime's target).", "",
             "| searched with | table cost (eager / ORT) | eager measured, ms | ORT measured, ms |",
             "| --- | --- | --- | --- |"]
    for n in r["nets"]:
        lines.append(f"| `{n['searched_with']}` | {n['eager_table_ms']:.3f} / {n['ort_table_ms']:.3f} | "
                     f"{vs(n['eager_ms'], te)} | {vs(n['ort_ms'], to)} |")
    lines += ["", "The two searches derived " + ("the same net." if r["same_net"] else "different nets:"), ""]
    if not r["same_net"]:
        for n in r["nets"]:
            lines += [f"`{n['searched_with']}`:", "", "```", n["net_config"].rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.latency.runtime_searches", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, help="match: the ORT target; time: time the derived nets")
    for name, text in (("match", "the ORT target of an eager target"), ("time", "time derived nets on both runtimes")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--config", required=True, help="search config of the space")
        s.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
        s.add_argument("--eager", required=True, help="PyTorch eager latency table of the space")
        s.add_argument("--ort", required=True, help="ONNX Runtime latency table of the space")
    m = sub.choices["match"]
    m.add_argument("--target", type=float, required=True, help="eager target (ms)")
    m.add_argument("--nets", type=int, default=5000, help="random nets priced by both tables (default 5000)")
    m.add_argument("--seed", type=int, default=0, help="seed of the random nets (default 0)")
    t = sub.choices["time"]
    t.add_argument("--runs", nargs="+", required=True, help="finished search folders")
    t.add_argument("--targets", nargs=2, type=float, required=True, metavar=("EAGER_MS", "ORT_MS"),
                   help="the eager target and its matched ORT target")
    t.add_argument("--processes", type=int, default=3, help="fresh processes per net for eager timing (default 3)")
    t.add_argument("--out", required=True, help="output prefix: writes OUT.json and OUT.md")
    return p


@main_guard
def main(argv=None):
    import json
    from common.errors import InputError
    from tools.latency.runtimes import write_report
    args = build_parser().parse_args(argv)
    if args.cmd == "match":
        if args.target <= 0 or args.nets < 2:
            raise InputError("--target must be > 0 and --nets >= 2")
        print(json.dumps(match(args), indent=1))
        return
    if min(args.targets) <= 0:
        raise InputError("--targets: both targets must be > 0 ms")
    write_report(args.out, time_runs(args), markdown)


if __name__ == "__main__":
    main()
