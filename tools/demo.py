"""`make demo`: the whole DenseNAS pipeline on the built-in demo dataset, on a CPU.

    python -m tools.demo [--out demo_out] [--device cpu] [--tiny]

Steps (each prints the equivalent command): demo dataset -> lists -> LMDB -> latency table
(the shipped one when it fits, else measured) and its accuracy report -> search -> derive ->
retrain -> validation -> summary. ``--tiny`` is the CI-sized version (a few images, one epoch each).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from common.cli import main_guard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _step(title: str, command: str):
    print(f"\n== {title}\n   $ {command}", flush=True)


def run_demo(out: str, device: str = "cpu", tiny: bool = False) -> dict:
    import torch
    from configs import load_config
    from search_space.search_config import load_search_config
    from dataset.demo import generate
    from dataset.lists import list_images, search_split, write_list
    from dataset.lmdb_io import pack_lmdb
    from common.errors import CostTableError
    from engine.run_setup import RunOptions
    from engine.search_loop import run_search
    from engine.train_loop import run_retrain, validate_weights
    from models import build_model, count_macs, count_params, load_net_config
    from models.net_config import blocks_summary
    from search_space import load_cost_table, lut_cost, space_from_config
    from latency.measure import apply_calibration, measure_table, scatter_plot, validate_table
    from common.timing import describe_measured, repeated_timing

    t_start = time.time()
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    num_classes = 5 if tiny else 10
    search_opts = [f"data.num_classes={num_classes}", "data.train_data_type=lmdb", "data.val_data_type=lmdb"]
    train_opts = list(search_opts)
    if tiny:
        search_opts += ["train_params.epochs=2", "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1",
                        "data.steps_per_epoch=2", "data.batch_size=8"]
        train_opts += ["train_params.epochs=1", "data.steps_per_epoch=3", "data.batch_size=16"]

    # 1. data
    data_root = os.path.join(out, "demo_data") if tiny else None
    _step("demo dataset", "python -m dataset.demo")
    data_root = generate(data_root, num_classes=num_classes, train_per_class=30 if tiny else 200,
                         val_per_class=10 if tiny else 50) if data_root else generate(num_classes=num_classes)
    print(f"   {data_root}")
    _step("lists", f"python dataset/mk_img_list.py --image_path {data_root} --output_path {data_root}/lists && "
                   f"python dataset/mk_split_img_list.py --image_path {data_root} --output_path {data_root}/lists "
                   f"--num_classes {num_classes}")
    lists = os.path.join(data_root, "lists")
    splits = {"train": list_images(data_root, "train"), "val": list_images(data_root, "val")}
    splits["search_train"], splits["search_val"] = search_split(data_root, num_classes, 0.2)
    for name, entries in splits.items():
        write_list(os.path.join(lists, f"{name}.txt"), entries)
        print(f"   {name}: {len(entries)} images")
    _step("LMDB", f"python dataset/img2lmdb.py --image_path {data_root} --list_path {lists}/<split>.txt "
                  f"--output_path {data_root}/lmdb --split <split>")
    for name, entries in splits.items():
        stats = pack_lmdb(data_root, entries, os.path.join(data_root, "lmdb", name), name)
        print(f"   lmdb/{name}: {stats['count']} records")

    # 2. latency table
    search_cfg_path = os.path.join(ROOT, "configs", "demo_search.yaml")
    cfg = load_search_config(search_cfg_path, search_opts)
    space = space_from_config(cfg)
    from configs import resolve_path
    shipped = resolve_path(cfg.optim.sub_obj.latency_list_path, cfg)
    dev = torch.device(device)
    try:
        table_path = shipped
        table = load_cost_table(shipped, space, expect_units="ms")
        _step("latency table", f"(shipped) {os.path.relpath(shipped, ROOT)}")
        from common.machine import warn_if_foreign
        warn_if_foreign(table.meta, os.path.relpath(shipped, ROOT), stream=sys.stdout)
    except CostTableError as e:
        table_path = os.path.join(out, "latency_demo.json")
        _step("latency table", f"python -m run_apis.latency_measure --config configs/demo_search.yaml "
                               f"--device {device} --batch_size 1 --out {table_path}")
        print(f"   (shipped table not usable: {e})")
        table = measure_table(space, cfg.data.input_size, 1, dev, threads=1, passes=1 if tiny else 3)
        table.save(table_path)
    search_opts.append(f"optim.sub_obj.latency_list_path={table_path}")
    n_val = 5 if tiny else 20
    _step("latency table accuracy", f"python -m run_apis.latency_measure --config configs/demo_search.yaml "
                                    f"--validate {n_val} --lut {table_path}")
    torch.set_num_threads(1)
    report = validate_table(space, table, n_val, dev, cfg.data.input_size, 1, passes=1 if tiny else 2)
    torch.set_num_threads(os.cpu_count() or 1)
    lat_plot = os.path.join(out, "latency_accuracy.png")
    scatter_plot(report, lat_plot)
    for name, key in (("table sum", "raw"), ("table's calibration", "stored_calibration")):
        if key in report:
            r = report[key]
            print(f"   {n_val} random archs, {name}: MAPE {r['mape_pct']:.1f}%, within ±10% "
                  f"{100 * r['within_10pct']:.0f}%, Kendall τ {r['kendall_tau']:.2f}")
    print(f"   plot: {lat_plot}")

    # 3. search
    runs = os.path.join(out, "runs")
    _step("search", f"python -m run_apis.search --data_path {data_root} --save {runs} --opts "
                    + " ".join(search_opts))
    cfg = load_search_config(search_cfg_path, search_opts)
    search_dir = run_search(cfg, RunOptions(data_root, runs, device=device, quiet=tiny))
    net_config = load_net_config(search_dir)

    # 4. retrain + validation
    train_cfg_path = os.path.join(ROOT, "configs", "demo_train.yaml")
    _step("retrain", f"python -m run_apis.retrain --load_path {search_dir} --data_path {data_root} --save {runs} "
                     f"--opts " + " ".join(train_opts))
    tcfg = load_config(train_cfg_path, train_opts, kind="train")
    train_dir = run_retrain(tcfg, net_config, RunOptions(data_root, runs, device=device, quiet=tiny))
    _step("validation", f"python -m run_apis.validation --load_path {train_dir} --data_path {data_root} "
                        f"--config configs/demo_train.yaml --opts " + " ".join(train_opts))
    val = validate_weights(net_config, os.path.join(train_dir, "weights.pt"), tcfg, data_root, device, quiet=True)

    # 5. summary
    model = build_model(net_config, num_classes=num_classes)
    size = cfg.data.input_size
    torch.set_num_threads(table.meta.get("threads") or 1)
    timing = repeated_timing(model, torch.randn(1, 3, size, size), repeats=5)
    measured = timing["min_ms"]
    torch.set_num_threads(os.cpu_count() or 1)
    summary = {
        "net_config": net_config.to_text(),
        "macs_m": count_macs(model, size) / 1e6, "params_m": count_params(model) / 1e6,
        "table_latency_ms": lut_cost(space, table, net_config),
        "table_latency_calibrated_ms": apply_calibration(table, lut_cost(space, table, net_config)),
        "measured_latency_ms": measured, "measured_latency": timing,
        "val_top1": val["top1"], "val_top5": val["top5"], "chance_top1": 100.0 / num_classes,
        "minutes": (time.time() - t_start) / 60,
        "artefacts": {
            "dataset": data_root, "lmdb": os.path.join(data_root, "lmdb"), "latency_table": table_path,
            "latency_accuracy_plot": lat_plot, "search_run": search_dir,
            "net_config": os.path.join(search_dir, "net_config"), "arch_picture": os.path.join(search_dir, "arch.png"),
            "top_k": os.path.join(search_dir, "topk"), "retrain_run": train_dir,
            "weights": os.path.join(train_dir, "weights.pt"),
            "tensorboard": f"{os.path.join(search_dir, 'tb')} {os.path.join(train_dir, 'tb')}",
        },
    }
    from common.io import atomic_write_json
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    print("\n================ DenseNAS demo summary ================")
    print("derived architecture:")
    print("   " + "\n   ".join(blocks_summary(net_config)))
    print(f"MACs {summary['macs_m']:.2f}M at {size}px, params {summary['params_m']:.3f}M")
    calibrated = (f", calibrated {summary['table_latency_calibrated_ms']:.3f} ms"
                  if table.meta.get("calibration") else "")
    print(f"latency (CPU, batch 1, {table.meta.get('threads') or 1} thread): table {summary['table_latency_ms']:.3f} ms"
          f"{calibrated}; " + describe_measured(summary["table_latency_ms"], timing))
    print(f"demo val top-1 {val['top1']:.1f}% (chance {summary['chance_top1']:.0f}%), top-5 {val['top5']:.1f}%")
    print("artefacts:")
    for k, v in summary["artefacts"].items():
        print(f"   {k:22s} {v}")
    print(f"   {'summary':22s} {os.path.join(out, 'summary.json')}")
    print(f"TensorBoard: .venv/bin/tensorboard --logdir {runs}")
    print(f"total {summary['minutes']:.1f} min")
    return summary


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo_out", help="output folder (default: ./demo_out)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--tiny", action="store_true", help="CI-sized: tiny dataset, one epoch each")
    a = p.parse_args(argv)
    summary = run_demo(a.out, a.device, a.tiny)
    if not a.tiny and summary["val_top1"] < 3 * summary["chance_top1"]:
        print(f"warning: top-1 {summary['val_top1']:.1f}% is below 3x chance", file=sys.stderr)


if __name__ == "__main__":
    main()
