"""Evaluate a derived network: net_config + weights.pt on the val split (or --split NAME).

    python -m run_apis.validation --load_path runs/retrain-X [--data_path /data/imagenet]
    python -m run_apis.validation --pretrained densenas_a --data_path /data/imagenet
    python -m run_apis.validation --pretrained fmnist_1p5ms_uniform_k5_t6 --data_path data/fashion_mnist --split test
    python -m run_apis.validation --load_path DIR --measure_latency cpu

Prints MACs and params, then top-1 / top-5 (and latency when asked). Weights load with
torch.load(weights_only=True); checkpoints saved under DDP (``module.`` keys) load too.
"""
from __future__ import annotations

import argparse
import json
import os

from common.cli import main_guard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser():
    p = argparse.ArgumentParser(prog="python -m run_apis.validation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--load_path", help="folder with net_config and weights.pt")
    src.add_argument("--pretrained", help="zoo name to download (see tools.download)")
    p.add_argument("--weights", default=None, help="weights file (default: LOAD_PATH/weights.pt)")
    p.add_argument("--registry", default=None, help="extra weights registry (JSON) for --pretrained")
    p.add_argument("--cache_dir", default=None, help="download folder for --pretrained")
    p.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    p.add_argument("--config", default=None,
                   help="train config (data settings); default: a --pretrained entry's own, else demo or imagenet")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="dotted overrides of --config keys")
    p.add_argument("--split", default="val", metavar="SPLIT",
                   help="split to evaluate: val (default), or e.g. test (DATA/test/ or DATA/lists/test.txt)")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto")
    p.add_argument("--amp", action="store_true", help="autocast (bf16 on CPU, bf16/fp16 on CUDA)")
    p.add_argument("--measure_latency", choices=["cpu", "cuda", "onnxruntime"], default=None,
                   help="also time the network (batch 1) on this device, or exported in ONNX Runtime (CPU, 1 thread)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


@main_guard
def main(argv=None):
    from configs import load_config
    from engine.train_loop import validate_weights
    from models.state_dict import num_classes_of, read_state_dict
    from models import build_model, count_macs, count_params, load_net_config
    args = build_parser().parse_args(argv)
    folder = args.load_path
    entry_config = None
    if args.pretrained:
        from models.download import download_model, registry
        folder = download_model(args.pretrained, args.cache_dir, args.registry)
        entry_config = registry(args.registry)[args.pretrained].get("config")  # the recipe it was trained with
    weights = args.weights or os.path.join(folder, "weights.pt")
    net_config = load_net_config(folder)
    config = args.config or entry_config or os.path.join(
        ROOT, "configs", "demo_train.yaml" if args.data_path is None else "imagenet_train_cfg.yaml")
    cfg = load_config(config, args.opts, kind="train")
    state = read_state_dict(weights)
    num_classes = num_classes_of(state, cfg.data.num_classes)
    model = build_model(net_config, num_classes=num_classes)
    result = {"macs_m": count_macs(model, cfg.data.input_size) / 1e6, "params_m": count_params(model) / 1e6}
    if not args.json:
        print(f"{net_config.net_type} network: {result['macs_m']:.2f}M MACs at {cfg.data.input_size}px, "
              f"{result['params_m']:.3f}M params, {num_classes} classes")
    result.update(validate_weights(net_config, weights, cfg, args.data_path, args.device, args.amp, quiet=args.json,
                                   state=state, split=args.split))
    if args.measure_latency == "onnxruntime":
        from latency.ort_runtime import time_networks_ort
        result["measured_ms"] = time_networks_ort([net_config], num_classes, cfg.data.input_size)[0]
    elif args.measure_latency:
        import torch
        from common.device import resolve_device
        from common.timing import time_module_robust
        dev = resolve_device(args.measure_latency)
        x = torch.randn(1, 3, cfg.data.input_size, cfg.data.input_size, device=dev)
        result["measured_ms"] = time_module_robust(model.to(dev), x).median_ms
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.split}: top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  loss {result['loss']:.4f} "
              f"({result['count']} images)" + (f"  latency {result['measured_ms']:.2f} ms" if args.measure_latency else ""))


if __name__ == "__main__":
    main()
