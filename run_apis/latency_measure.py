r"""Measure a latency lookup table, convert a legacy one, or check a table's accuracy.

    # measure every op at every position of a space (resumes from OUT.partial.json)
    python -m run_apis.latency_measure --config configs/imagenet_search_cfg_mbv2.yaml \
        --device cpu --batch_size 1 --input_size 224 --out latency_tables/mbv2_cpu_b1_224.json
    # convert a legacy DenseNAS text table (with --config: shaped to that space, fingerprint kept)
    python -m run_apis.latency_measure --convert_legacy lat_list_densenas_mbv2_xp32 --out mbv2_xp.json \
        --config configs/imagenet_search_cfg_mbv2.yaml
    # accuracy report: N random architectures, table estimates vs measured end-to-end latency
    # (CPU: each network timed by run_apis.profile --measure in 3 fresh processes, the smallest)
    python -m run_apis.latency_measure --validate 50 --lut TABLE [TABLE2 ...] --config CFG --device cpu
    # an ONNX Runtime table (CPU execution provider, 1 thread): the nets as run_apis.export writes them
    python -m run_apis.latency_measure --runtime onnxruntime --config configs/fashion_mnist_search.yaml \
        --refine_nets 60 --out latency_tables/fashion_mnist_ort_cpu_b1_32.json
    # a table from another machine: refit it here on 10 random nets (MAPE before/after on 10 held out)
    python -m run_apis.latency_measure --recalibrate latency_tables/mbv2_cpu_b1_224.json [--nets 10]
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard


def build_parser():
    p = argparse.ArgumentParser(prog="python -m run_apis.latency_measure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="search config of the space")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch_size", type=int, default=None, help="default: the table's (validate) or 1")
    p.add_argument("--input_size", type=int, default=None, help="default: the config's data.input_size")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads, recorded in the table (default 1: the most repeatable timing)")
    p.add_argument("--passes", type=int, default=None,
                   help="measurement passes; each entry or network keeps its smallest per-pass value (default 3; "
                        "for onnxruntime 15 short sessions: a whole ORT session can run slow)")
    p.add_argument("--out", help="output table (.json)")
    p.add_argument("--convert_legacy", metavar="LEGACY_TABLE", help="convert a legacy DenseNAS table")
    p.add_argument("--runtime", default=None, choices=["torch", "onnxruntime"],
                   help="what the milliseconds are measured with: torch (PyTorch eager; the default for a new "
                        "table) or onnxruntime (CPU execution provider, ORT's default graph optimisations). "
                        "--validate / --recalibrate default to the table's own runtime")
    p.add_argument("--recalibrate", metavar="TABLE",
                   help="time --nets random nets (+ --holdout more) on this machine as the table was measured, fold "
                        "the fitted linear correction into TABLE (or --out) and record this machine")
    p.add_argument("--nets", type=int, default=10, help="--recalibrate: networks the correction is fitted on (default 10)")
    p.add_argument("--holdout", type=int, default=10,
                   help="--recalibrate: held-out networks for the MAPE before/after (default 10)")
    p.add_argument("--method", default="incontext", choices=["incontext", "isolated"],
                   help="incontext (default): ops timed inside random networks + an end-to-end linear fit folded "
                        "into the entries; isolated: each op timed alone (the earlier method)")
    p.add_argument("--calibration_nets", type=int, default=40,
                   help="incontext: random networks timed end to end for the linear fit (default 40)")
    p.add_argument("--min_samples", type=int, default=3,
                   help="incontext: networks each op signature is timed in, at least (default 3)")
    p.add_argument("--forwards", type=int, default=15, help="incontext: forwards per network (default 15)")
    p.add_argument("--refine_nets", type=int, default=0,
                   help="incontext: time this many more networks end to end and fit every entry by least "
                        "squares, pulled towards the in-context values (default 0: linear fit only)")
    p.add_argument("--ridge", type=float, default=1.0, help="incontext --refine_nets: pull towards in-context values")
    p.add_argument("--fit_timing", choices=["profile", "fresh", "here"], default="profile",
                   help="incontext on CPU: how the fit networks are timed: profile (default) = each by "
                        "run_apis.profile --measure in --fit_processes fresh processes, the smallest (the project's "
                        "latency, what --validate checks); fresh = all in one new process; here = in the build "
                        "process (the earlier tables: +7%% bias on MBV2 224 px)")
    p.add_argument("--fit_processes", type=int, default=2,
                   help="--fit_timing profile: fresh processes per fit network (default 2)")
    p.add_argument("--validate", type=int, metavar="N", help="accuracy report on N random architectures")
    p.add_argument("--lut", nargs="+", help="table(s) to validate, all against the same measured networks")
    p.add_argument("--timing", choices=["profile", "process"], default="profile",
                   help="validate on CPU: profile (default) = each network timed by run_apis.profile --measure in "
                        "--processes fresh processes, the smallest kept: the project's latency, what tables must "
                        "predict; process = every network timed in this process (--repeats evaluations; faster)")
    p.add_argument("--processes", type=int, default=3, help="validate --timing profile: fresh processes per network")
    p.add_argument("--repeats", type=int, default=2,
                   help="validate --timing process: independent end-to-end evaluations, interleaved (default 2: "
                        "reports their spread)")
    p.add_argument("--calibrate", action="store_true", help="store the fitted linear correction in --lut")
    p.add_argument("--plot", default=None, help="scatter plot PNG (default: next to the table)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random architectures of --validate")
    p.add_argument("--multi_branch", type=int, default=1, metavar="K",
                   help="validate on multi-branch nets: about half the MBConv layers get up to K branches "
                        "(table cost = sum of the branches' entries; default 1: plain nets)")
    return p


def _ort_sessions() -> int:
    from latency.ort_runtime import SESSIONS
    return SESSIONS


def validate(args, space, device, threads) -> dict:
    """Accuracy of one or more tables on the same N random networks, timed end to end
    ``--repeats`` times (interleaved), as the search uses them (lut_cost)."""
    import random
    from common.errors import InputError
    from common.logging_utils import progress
    from search_space.cost_table import load_cost_table
    from search_space.derive import lut_cost
    from latency.measure import accuracy_report, error_stats, random_architecture, scatter_plot
    from latency.fit import measure_networks, spread_stats
    if not args.lut:
        raise InputError("--validate needs --lut TABLE")
    tables = [load_cost_table(path, space, expect_units="ms") for path in args.lut]
    first = tables[0]
    input_size = args.input_size or first.meta.get("input_size") or 224
    batch = args.batch_size or first.meta.get("batch_size") or 1
    for path, t in zip(args.lut, tables):
        if t.meta.get("input_size") not in (None, input_size):
            raise InputError(f"--lut {path}: measured at input size {t.meta['input_size']}, validating at {input_size}")
    if device.type == "cpu" and first.meta.get("threads") and first.meta["threads"] != threads:
        print(f"note: the table was measured with {first.meta['threads']} threads, validating with {threads}")
    rng = random.Random(args.seed)
    archs = [random_architecture(space, rng) for _ in range(args.validate)]
    if args.multi_branch > 1:
        from latency.stats import add_branches
        archs = [add_branches(space, a, rng, args.multi_branch) for a in archs]
        report_extra = {"multi_branch": args.multi_branch}
    else:
        report_extra = {}
    shown = lambda it: progress(it, "timing networks", unit="net", interval=25)  # noqa: E731
    runtime = args.runtime or first.meta.get("runtime") or "torch"
    args.passes = args.passes or (_ort_sessions() if runtime == "onnxruntime" else 3)
    report = {"num": args.validate, "seed": args.seed, "passes": args.passes, "tables": {}, **report_extra}
    if runtime == "onnxruntime":
        from latency.ort_runtime import time_networks_ort
        ort_threads = int(first.meta.get("threads") or args.threads or 1)
        measured = [time_networks_ort(archs, space.num_classes, input_size, batch, ort_threads, args.passes, shown)
                    for _ in range(max(1, args.repeats))]  # independent evaluations (new sessions each)
        if len(measured) >= 2:
            report["spread"] = spread_stats(measured[0], measured[1])
        report.update(timing=f"onnxruntime {first.meta.get('onnxruntime', '')} CPU, one session per network, "
                             f"{ort_threads} thread(s), smallest of {args.passes} sessions' 5th-percentile run times",
                      runtime=runtime)
        print(f"{args.validate} random architectures (seed {args.seed}), onnxruntime CPU, batch {batch}, "
              f"{input_size}px, {ort_threads} thread(s)")
    elif device.type == "cpu" and args.timing == "profile":
        from latency.network_timing import profile_networks
        if args.processes < 1:
            raise InputError(f"--processes must be >= 1, got {args.processes}")
        runs = profile_networks(archs, input_size, space.num_classes, batch, threads, args.processes, shown)
        measured = [[min(r) for r in runs]]
        report.update(timing=f"run_apis.profile --measure cpu, smallest of {args.processes} fresh processes",
                      processes=args.processes, measured_runs_ms=runs)
        print(f"{args.validate} random architectures (seed {args.seed}), cpu, batch {batch}, {input_size}px, "
              f"{threads} threads, each timed by profile --measure in {args.processes} fresh processes (smallest)")
        if args.processes >= 2:  # how far two single fresh processes disagree on the same network
            report["spread"] = spread_stats([r[0] for r in runs], [r[1] for r in runs])
    else:
        measured = measure_networks(space, archs, input_size, batch, device, passes=args.passes,
                                    repeats=args.repeats, progress=shown)
        report.update(timing="this process", repeats=args.repeats)
        print(f"{args.validate} random architectures (seed {args.seed}), {device.type}, batch {batch}, {input_size}px, "
              f"{threads if device.type == 'cpu' else ''} threads, {args.passes} passes, {args.repeats} evaluation(s)")
        if args.repeats >= 2:
            report["spread"] = spread_stats(measured[0], measured[1])
    report["measured_ms"] = measured
    if args.multi_branch > 1:
        layers = [op for a in archs for b in a.blocks for op in (b.head_op,) + b.stack_ops]
        print(f"  multi-branch nets: {sum('+' in op for op in layers)} of {len(layers)} layers have 2..{args.multi_branch} "
              "branches")
    if "spread" in report:
        sp = report["spread"]
        print(f"  two timings of the same networks differ by {sp['median_rel_diff_pct']:.2f}% (median), "
              f"{sp['max_rel_diff_pct']:.2f}% (max); Kendall τ between them {sp['kendall_tau_between_repeats']:.3f}")
    for path, table in zip(args.lut, tables):
        pred = [lut_cost(space, table, a) for a in archs]
        per_repeat = [error_stats(pred, m) for m in measured]
        report["tables"][path] = {"method": table.meta.get("method", table.meta.get("source", "")),
                                  "pred_ms": pred, "per_repeat": per_repeat}
        print(f"  {path} ({report['tables'][path]['method']}):")
        for r, st in enumerate(per_repeat, start=1):
            print(f"    evaluation {r}: MAPE {st['mape_pct']:.2f}%  max {st['max_err_pct']:.2f}%  "
                  f"within ±10% {100 * st['within_10pct']:.0f}%  Kendall τ {st['kendall_tau']:.3f}  "
                  f"bias {st['mean_bias_pct']:+.2f}%")
    plot_report = accuracy_report(report["tables"][args.lut[0]]["pred_ms"], measured[0])
    cal = plot_report["calibration"]
    plot = args.plot or os.path.splitext(args.lut[0])[0] + "_accuracy.png"
    scatter_plot(plot_report, plot, f"{os.path.basename(args.lut[0])}: {args.validate} random networks")
    from common.io import atomic_write_json
    atomic_write_json(os.path.splitext(plot)[0] + ".json", report)
    print(f"  plot: {plot} (report: {os.path.splitext(plot)[0]}.json)")
    if args.calibrate:
        table = load_cost_table(args.lut[0])
        table.meta["calibration"] = dict(cal, seed=args.seed, mape_before=plot_report["raw"]["mape_pct"],
                                         mape_after_in_sample=plot_report["calibrated"]["mape_pct"])
        table.save(args.lut[0])
        print(f"  calibration stored in {args.lut[0]}")
    return report


@main_guard
def main(argv=None):
    import torch
    from search_space.search_config import load_search_config
    from common.device import resolve_device
    from common.errors import InputError
    from common.logging_utils import progress
    from search_space.cost_table import convert_legacy
    from latency.measure import measure_table
    from search_space.topology import space_from_config

    args = build_parser().parse_args(argv)
    if args.recalibrate:
        from latency.recalibrate import recalibrate_command
        recalibrate_command(args)
        return
    if args.convert_legacy:
        if not args.out:
            raise InputError("--convert_legacy needs --out")
        space = space_from_config(load_search_config(args.config, args.opts)) if args.config else None
        table = convert_legacy(args.convert_legacy, args.out, space)
        print(f"{args.out}: converted ({len(table.head)} routing blocks, units {table.units})")
        return
    if not args.config:
        raise InputError("--config is required (the search space to measure / validate)")
    cfg = load_search_config(args.config, args.opts)
    space = space_from_config(cfg)
    device = resolve_device(args.device)
    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    if args.validate:
        validate(args, space, device, threads)
        return
    if not args.out:
        raise InputError("--out is required to measure a table")
    input_size = args.input_size or cfg.data.input_size
    batch = args.batch_size or 1
    partial = args.out + ".partial.json"
    args.passes = args.passes or (_ort_sessions() if args.runtime == "onnxruntime" else 3)
    if args.runtime == "onnxruntime":
        import time
        from latency.measure import table_meta
        from latency.ort_table import build_ort_table
        if device.type != "cpu":
            raise InputError("--runtime onnxruntime times the CPU execution provider: use --device cpu")
        t0 = time.monotonic()
        ort_threads = args.threads if args.threads > 0 else 1
        table = build_ort_table(space, input_size, batch, ort_threads,
                                table_meta(device, batch, input_size, ort_threads, runtime="onnxruntime"),
                                calibration_nets=args.calibration_nets, refine_nets=args.refine_nets, ridge=args.ridge,
                                seed=args.seed, passes=args.passes, partial_path=partial, log=print,
                                progress=lambda it: progress(it, "timing in ORT", unit="item", interval=50))
        table.meta["build_seconds"]["total"] = round(time.monotonic() - t0, 1)
    elif args.method == "isolated":
        table = measure_table(space, input_size, batch, device, threads if device.type == "cpu" else 0, partial,
                              progress=lambda it: progress(it, "measuring ops", unit="op", interval=50),
                              passes=args.passes)
        table.meta["method"] = "isolated ops (smallest of per-pass medians)"
    else:
        import time
        from latency.measure import table_meta
        from latency.fit import build_table
        t0 = time.monotonic()
        table = build_table(space, input_size, batch, device,
                            table_meta(device, batch, input_size, threads if device.type == "cpu" else 0),
                            calibration_nets=args.calibration_nets, min_samples=args.min_samples,
                            forwards=args.forwards, seed=args.seed, partial_path=partial, log=print,
                            refine_nets=args.refine_nets, ridge=args.ridge, fit_timing=args.fit_timing,
                            fit_processes=args.fit_processes,
                            progress=lambda it: progress(it, "timing networks", unit="net", interval=25))
        table.meta["build_seconds"]["total"] = round(time.monotonic() - t0, 1)
    table.meta["config"] = os.path.basename(args.config)
    table.save(args.out)
    if os.path.exists(partial):
        os.remove(partial)
    print(f"{args.out}: {table.meta['method']} on {table.meta['device']} (threads {table.meta['threads']})"
          + (f", {table.meta['in_context_networks']} networks in context, fit {table.meta['fit']['slope']:.3f} x + "
             f"{table.meta['fit']['intercept_ms']:.3f} ms, built in {table.meta['build_seconds']['total']:.0f}s"
             if args.method == "incontext" and args.runtime != "onnxruntime" else "")
          + (f", fit {table.meta['fit']['slope']:.3f} x + {table.meta['fit']['intercept_ms']:.3f} ms, in sample after: "
             f"MAPE {table.meta['fit']['in_sample_after']['mape_pct']:.2f}%, built in "
             f"{table.meta['build_seconds']['total']:.0f}s" if args.runtime == "onnxruntime" else ""))


if __name__ == "__main__":
    main()
