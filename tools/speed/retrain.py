r"""The benchmark's retrain, before and after the fast input path, side by side in one run.

    python -m tools.speed.retrain --data_path data/fashion_mnist              # NSE seed-1 net, 2 seeds
    python -m tools.speed.retrain --data_path data/fashion_mnist --seeds 5    # + accuracy, 5 seeds a path

Paths (each a set of overrides of the same recipe, --config):
  files   image files decoded per image by PIL, torchvision transforms, val after every epoch
          (the benchmark's recipe before data.array_cache and train_params.val_every existed);
  array   the split's uint8 array cache, the augmentation on whole batches, val after the last
          epoch only (data.array_cache=auto, train_params.val_every=0).
Every retrain runs as its own process (``run_apis.retrain``, --threads CPU threads, as the
quality benchmark runs them), the paths alternating seed by seed, one at a time with --jobs 1 (the
default: a timing needs an idle machine). Per retrain: wall time of the process, training
images/s (the train loop's own figure, mean over epochs), test top-1. Finished retrains are kept
under --save, keyed by recipe, net, overrides, data and threads (a rerun with the same ones reuses
them); writes bench_retrain.json and prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, recorded_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATHS = {"files": ["data.array_cache=off", "train_params.val_every=1"],
         "array": ["data.array_cache=auto", "train_params.val_every=0"]}
DEFAULT_NET_FROM = os.path.join(ROOT, "tools", "results", "quality_fmnist_1.5ms_nse", "quality.json")


def default_net() -> str:
    """The searched net of seed 1 of the NSE Fashion-MNIST benchmark (the net the issue timed)."""
    with open(DEFAULT_NET_FROM, encoding="utf-8") as f:
        return json.load(f)["searches"][0]["net_config"]


def unit_key(args, net_file: str) -> str:
    """What a cached retrain measured: reused only for the same recipe text, net, overrides, data and
    threads (another --net_config or --config must not find this one's result)."""
    import hashlib
    texts = []
    for name in (args.config, net_file):
        with open(name, encoding="utf-8") as f:
            texts.append(f.read())
    blob = json.dumps({"recipe": texts[0], "net": texts[1], "opts": list(args.opts), "data": args.data_path,
                       "threads": args.threads}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def one_retrain(args, net_file: str, path: str, seed: int) -> dict:
    import glob
    from tools.quality.units import run_unit
    folder = os.path.join(args.save, unit_key(args, net_file), path, f"seed_{seed}")
    done = os.path.join(folder, "unit.json")
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [sys.executable, "-m", "run_apis.retrain", "--net_config", net_file, "--config", args.config,
           "--save", folder, "--test_split", "test", "--quiet", "--channels_last"]
    cmd += (["--data_path", args.data_path] if args.data_path else [])
    cmd += ["--opts", f"train_params.seed={seed}"] + PATHS[path] + list(args.opts)
    t0 = time.monotonic()
    run_unit(cmd, os.path.join(folder, "log.txt"), args.threads)
    wall = time.monotonic() - t0
    with open(glob.glob(os.path.join(folder, "retrain-*", "results.json"))[0], encoding="utf-8") as f:
        res = json.load(f)
    hist = res["history"]
    unit = {"path": path, "seed": seed, "wall_s": wall, "test_top1": res["test"]["top1"],
            "train_images_per_s": statistics.mean(h["train"]["images_per_s"] for h in hist),
            "val_passes": sum(1 for h in hist if h["val"] is not None), "epochs": len(hist)}
    atomic_write_json(done, unit)
    return unit


def summarize(units) -> dict:
    out = {}
    for path in PATHS:
        mine = [u for u in units if u["path"] == path]
        if not mine:
            continue
        acc = [u["test_top1"] for u in mine]
        out[path] = {"retrains": len(mine), "wall_s_mean": statistics.mean(u["wall_s"] for u in mine),
                     "train_images_per_s_mean": statistics.mean(u["train_images_per_s"] for u in mine),
                     "test_top1_mean": statistics.mean(acc),
                     "test_top1_std": statistics.stdev(acc) if len(acc) > 1 else None}
    if "files" in out and "array" in out:
        out["speedup_wall"] = out["files"]["wall_s_mean"] / out["array"]["wall_s_mean"]
        out["speedup_train_images_per_s"] = (out["array"]["train_images_per_s_mean"]
                                             / out["files"]["train_images_per_s_mean"])
    return out


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.speed.retrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net_config", default=None,
                   help="net_config file to retrain (default: nse seed 1 of tools/results/quality_fmnist_1.5ms_nse)")
    p.add_argument("--config", default="configs/fashion_mnist_quality_train.yaml", help="the retrain recipe")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo data)")
    p.add_argument("--seeds", type=int, default=2, help="retrain seeds per path (0..seeds-1)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of each retrain")
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS), help="paths to run")
    p.add_argument("--save", default="runs/bench-retrain", help="folder of the cached retrains and the report")
    p.add_argument("--opts", nargs="*", default=[], help="more overrides of the recipe (both paths)")
    return p


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    from tools.cli_args import resolve_configs
    resolve_configs(args, ("config",))
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}: at least 1")
    args.save = os.path.abspath(args.save)
    os.makedirs(args.save, exist_ok=True)
    if args.net_config:
        if not os.path.isfile(args.net_config):
            raise InputError(f"--net_config {args.net_config}: not found")
        net_file = os.path.abspath(args.net_config)
    else:
        net_file = os.path.join(args.save, "net_config")
        with open(net_file, "w", encoding="utf-8") as f:
            f.write(default_net())
    units = []
    for seed in range(args.seeds):
        order = args.paths if seed % 2 == 0 else list(reversed(args.paths))  # no path always goes first
        for path in order:
            u = one_retrain(args, net_file, path, seed)
            units.append(u)
            print(f"{path:6s} seed {seed}: {u['wall_s']:6.1f} s, train {u['train_images_per_s']:6.1f} img/s, "
                  f"val passes {u['val_passes']}, test top-1 {u['test_top1']:.2f}", flush=True)
    summary = summarize(units)
    report = {"config": os.path.basename(args.config), "net_config_file": recorded_path(net_file), "threads": args.threads,
              "opts": args.opts, "paths": PATHS, "units": units, "summary": summary}
    atomic_write_json(os.path.join(args.save, "bench_retrain.json"), report)
    print("\n| path | retrains | wall s / retrain | train img/s | test top-1 mean (std) |")
    print("| --- | --- | --- | --- | --- |")
    for path in args.paths:
        s = summary[path]
        std = f"{s['test_top1_std']:.2f}" if s["test_top1_std"] is not None else "-"
        print(f"| {path} | {s['retrains']} | {s['wall_s_mean']:.1f} | {s['train_images_per_s_mean']:.1f} | "
              f"{s['test_top1_mean']:.2f} ({std}) |")
    if "speedup_wall" in summary:
        print(f"\nspeed-up, array over files: {summary['speedup_wall']:.2f}x wall time per retrain, "
              f"{summary['speedup_train_images_per_s']:.2f}x training images/s")
    return report


if __name__ == "__main__":
    main()
