"""Profile a derived network: MACs, params, table latency (--lut) and measured latency (--measure).

    python -m run_apis.profile --net_config densenas_a
    python -m run_apis.profile --net_config runs/X/net_config --config CFG --lut TABLE --json
"""
from __future__ import annotations

import argparse
import json

from common.cli import main_guard


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m run_apis.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net_config", required=True, help="zoo name (densenas_a/b/c), file or run folder")
    p.add_argument("--input_size", type=int, default=None,
                   help="input side length (default: data.input_size of --config, else 224)")
    p.add_argument("--num_classes", type=int, default=None,
                   help="classifier width (default: data.num_classes of --config, else 1000)")
    p.add_argument("--config", default=None, help="search config of the space the --lut table belongs to")
    p.add_argument("--lut", default=None, help="cost table (JSON or legacy) for the table-estimated latency")
    p.add_argument("--measure", default=None, choices=["cpu", "cuda", "onnxruntime"],
                   help="measure real latency: PyTorch eager on cpu / cuda, or the network exported as run_apis.export "
                        "writes it, in ONNX Runtime (CPU execution provider; --threads, default 1)")
    p.add_argument("--batch_size", type=int, default=1, help="batch size for --measure")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for --measure (0: torch default)")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of --config keys")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def profile(args) -> dict:
    from engine.cli import input_settings
    from common.errors import InputError
    from models import build_model, count_macs, count_params, load_net_config
    net_config = load_net_config(args.net_config)
    size, classes, _ = input_settings(args.input_size, args.num_classes, args.config, overrides=args.opts)
    classes = classes or 1000
    model = build_model(net_config, num_classes=classes)
    result = {"macs_m": count_macs(model, size) / 1e6, "params_m": count_params(model) / 1e6,
              "input_size": size, "num_classes": classes}
    if args.lut:
        if not args.config:
            raise InputError("--lut needs --config (the search space the table belongs to)")
        from latency.measure import estimate_net_latency
        result.update(estimate_net_latency(args.config, args.lut, net_config, args.opts, input_size=size))
    if args.measure == "onnxruntime":
        from latency.ort_runtime import time_networks_ort
        result["measured_ms"] = time_networks_ort([net_config], classes, size, args.batch_size, args.threads or 1)[0]
        result["measured_with"] = "onnxruntime"
    elif args.measure:
        import torch
        from common.device import resolve_device
        from common.timing import time_module_robust
        device = resolve_device(args.measure)
        if args.threads:
            torch.set_num_threads(args.threads)
        x = torch.randn(args.batch_size, 3, size, size, device=device)
        result["measured_ms"] = time_module_robust(model.to(device), x).median_ms
    return result


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    result = profile(args)
    if args.json:
        print(json.dumps(result))
    else:
        from models import load_net_config
        from models.net_config import blocks_summary
        print("\n".join(blocks_summary(load_net_config(args.net_config))))
        for k, v in result.items():
            print(f"{k:12s} {v:.3f}" if isinstance(v, float) else f"{k:12s} {v}")


if __name__ == "__main__":
    main()
