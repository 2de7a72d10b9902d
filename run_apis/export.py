"""Export a derived network to ONNX (checked with onnxruntime when it is installed).

    python -m run_apis.export --load_path runs/retrain-X --out model.onnx [--input_size 224]
    python -m run_apis.export --net_config densenas_a --out a.onnx
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard


@main_guard
def main(argv=None):
    import torch
    from common.errors import InputError
    from models.state_dict import load_weights, num_classes_of, read_state_dict
    from models import build_model, load_net_config
    p = argparse.ArgumentParser(prog="python -m run_apis.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--load_path", help="folder with net_config (and weights.pt, used when present)")
    src.add_argument("--net_config", help="zoo name or file (random weights)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--config", default=None,
                   help="config whose data.input_size / data.num_classes apply (default: LOAD_PATH/config.yaml)")
    p.add_argument("--input_size", type=int, default=None,
                   help="input side length (default: from the config, else 224)")
    p.add_argument("--num_classes", type=int, default=None,
                   help="classifier width (default: from the weights, else the config, else 1000)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17: what ORT latency tables time)")
    a = p.parse_args(argv)
    from engine.cli import input_settings
    net_config = load_net_config(a.load_path or a.net_config)
    weights = os.path.join(a.load_path, "weights.pt") if a.load_path else None
    has_weights = weights is not None and os.path.isfile(weights)
    state = read_state_dict(weights) if has_weights else None
    size, cfg_classes, _ = input_settings(a.input_size, a.num_classes, a.config, a.load_path)
    if has_weights and a.num_classes is not None and a.num_classes != num_classes_of(state):
        raise InputError(f"--num_classes {a.num_classes}: the weights have {num_classes_of(state)} classes")
    num_classes = num_classes_of(state) if has_weights else (cfg_classes or 1000)
    model = build_model(net_config, num_classes=num_classes).eval()
    if has_weights:
        load_weights(model, weights, state)
    x = torch.randn(2, 3, size, size)
    from models.onnx_export import export_onnx
    try:
        export_onnx(model, a.out, x, a.opset)
    except OSError as e:
        raise InputError(f"--out {a.out}: cannot write ({e.strerror})") from None
    msg = (f"{a.out}: exported ({'trained weights' if has_weights else 'random weights'}, {num_classes} classes, "
           f"input {size})")
    try:
        import onnxruntime as ort
    except ImportError:
        print(msg + "; onnxruntime not installed, not checked")
        return
    sess = ort.InferenceSession(a.out, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(x).numpy()
    got = sess.run(None, {"images": x.numpy()})[0]
    err = float(abs(ref - got).max())
    if err > 1e-3 * max(1.0, float(abs(ref).max())):
        raise InputError(f"ONNX output differs from PyTorch by {err:.3g}")
    print(msg + f"; onnxruntime output matches PyTorch (max abs diff {err:.2e})")


if __name__ == "__main__":
    main()
