r"""Measure a latency lookup table, convert a legacy one, or check a table's accuracy.

    # measure every op at every position of a space (resumes from OUT.partial.json)
    python -m run_apis.latency_measure --config configs/imagenet_search_cfg_mbv2.yaml \
        --device cpu --batch_size 1 --input_size 224 --out latency_tables/mbv2_cpu_b1_224.json
    # convert a legacy DenseNAS text table (with --config: shaped to that space, fingerprint kept)
    python -m run_apis.latency_measure --convert_legacy lat_list_densenas_mbv2_xp32 --out mbv2_xp.json \
        --config configs/imagenet_search_cfg_mbv2.yaml
    # accuracy report: N random architectures, table estimate vs measured end-to-end latency
    python -m run_apis.latency_measure --validate 50 --lut TABLE --config CFG --device cpu [--calibrate]
"""
from __future__ import annotations

import argparse
import json
import os

from engine.cli import main_guard


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
    p.add_argument("--passes", type=int, default=3,
                   help="measurement passes; each entry keeps its smallest per-pass median (default 3)")
    p.add_argument("--out", help="output table (.json)")
    p.add_argument("--convert_legacy", metavar="LEGACY_TABLE", help="convert a legacy DenseNAS table")
    p.add_argument("--validate", type=int, metavar="N", help="accuracy report on N random architectures")
    p.add_argument("--lut", help="table to validate")
    p.add_argument("--calibrate", action="store_true", help="store the fitted linear correction in --lut")
    p.add_argument("--plot", default=None, help="scatter plot PNG (default: next to the table)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random architectures of --validate")
    return p


@main_guard
def main(argv=None):
    import torch
    from configs import load_config
    from engine.device import resolve_device
    from engine.errors import InputError
    from engine.logging_utils import progress
    from search_space.cost_table import convert_legacy, load_cost_table
    from search_space.latency import measure_table, scatter_plot, validate_table
    from search_space.topology import space_from_config

    args = build_parser().parse_args(argv)
    if args.convert_legacy:
        if not args.out:
            raise InputError("--convert_legacy needs --out")
        space = space_from_config(load_config(args.config, args.opts, kind="search")) if args.config else None
        table = convert_legacy(args.convert_legacy, args.out, space)
        print(f"{args.out}: converted ({len(table.head)} routing blocks, units {table.units})")
        return
    if not args.config:
        raise InputError("--config is required (the search space to measure / validate)")
    cfg = load_config(args.config, args.opts, kind="search")
    space = space_from_config(cfg)
    device = resolve_device(args.device)
    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    if args.validate:
        if not args.lut:
            raise InputError("--validate needs --lut TABLE")
        table = load_cost_table(args.lut, space, expect_units="ms")
        input_size = args.input_size or table.meta.get("input_size") or cfg.data.input_size
        batch = args.batch_size or table.meta.get("batch_size") or 1
        if device.type == "cpu" and table.meta.get("threads") and table.meta["threads"] != threads:
            print(f"note: the table was measured with {table.meta['threads']} threads, validating with {threads}")
        report = validate_table(space, table, args.validate, device, input_size, batch, args.seed,
                                progress=lambda it: progress(it, "architectures", unit="net", interval=10), passes=args.passes)
        raw, calib = report["raw"], report["calibrated"]
        print(f"{args.validate} random architectures, {device.type}, batch {batch}, {input_size}px, "
              f"{threads if device.type == 'cpu' else ''} threads, {args.passes} passes")
        rows = [("table sum", raw), ("fit here", calib)]
        if "stored_calibration" in report:
            rows.append(("table's calibration", report["stored_calibration"]))
        for name, s in rows:
            print(f"  {name:20s}: MAPE {s['mape_pct']:.2f}%  max {s['max_err_pct']:.2f}%  "
                  f"within ±10% {100 * s['within_10pct']:.0f}%  Kendall τ {s['kendall_tau']:.3f}  "
                  f"bias {s['mean_bias_pct']:+.2f}%")
        cal = report["calibration"]
        print(f"  linear fit here: measured ≈ {cal['slope']:.4f} × table + {cal['intercept']:.4f} ms")
        plot = args.plot or os.path.splitext(args.lut)[0] + "_accuracy.png"
        scatter_plot(report, plot)
        print(f"  plot: {plot}")
        with open(os.path.splitext(plot)[0] + ".json", "w") as f:
            json.dump(report, f, indent=1)
        if args.calibrate:
            table = load_cost_table(args.lut)
            table.meta["calibration"] = dict(cal, seed=args.seed, mape_before=raw["mape_pct"],
                                             mape_after_in_sample=calib["mape_pct"])
            table.save(args.lut)
            print(f"  calibration stored in {args.lut}")
        return
    if not args.out:
        raise InputError("--out is required to measure a table")
    input_size = args.input_size or cfg.data.input_size
    batch = args.batch_size or 1
    partial = args.out + ".partial.json"
    table = measure_table(space, input_size, batch, device, threads if device.type == "cpu" else 0, partial,
                          progress=lambda it: progress(it, "measuring ops", unit="op", interval=50), passes=args.passes)
    table.meta["config"] = os.path.basename(args.config)
    table.save(args.out)
    if os.path.exists(partial):
        os.remove(partial)
    cvs = [c for block in table.cv["head"] for route in block for c in route]
    print(f"{args.out}: {table.meta['unique_signatures']} distinct ops measured on {table.meta['device']} "
          f"(threads {table.meta['threads']}); median CV {sorted(cvs)[len(cvs) // 2]:.3f}")


if __name__ == "__main__":
    main()
