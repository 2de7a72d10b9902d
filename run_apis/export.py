"""Export a derived network to ONNX (checked with onnxruntime when it is installed).

    python -m run_apis.export --load_path runs/retrain-X --out model.onnx [--input_size 224]
    python -m run_apis.export --net_config densenas_a --out a.onnx
"""
from __future__ import annotations

import argparse
import os

from engine.cli import main_guard


@main_guard
def main(argv=None):
    import torch
    from engine.errors import InputError
    from engine.weights import load_weights, num_classes_of, read_state_dict
    from models import build_model, load_net_config
    p = argparse.ArgumentParser(prog="python -m run_apis.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--load_path", help="folder with net_config (and weights.pt, used when present)")
    src.add_argument("--net_config", help="zoo name or file (random weights)")
    p.add_argument("--out", required=True)
    p.add_argument("--input_size", type=int, default=224)
    p.add_argument("--num_classes", type=int, default=None, help="default: from the weights, else 1000")
    p.add_argument("--opset", type=int, default=17)
    a = p.parse_args(argv)
    net_config = load_net_config(a.load_path or a.net_config)
    weights = os.path.join(a.load_path, "weights.pt") if a.load_path else None
    has_weights = weights is not None and os.path.isfile(weights)
    state = read_state_dict(weights) if has_weights else None
    num_classes = a.num_classes or (num_classes_of(state) if has_weights else 1000)
    model = build_model(net_config, num_classes=num_classes).eval()
    if has_weights:
        load_weights(model, weights, state)
    x = torch.randn(2, 3, a.input_size, a.input_size)
    import warnings
    try:
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), a.out, dynamo=False, opset_version=a.opset, input_names=["images"],
                              output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    except OSError as e:
        raise InputError(f"--out {a.out}: cannot write ({e.strerror})") from None
    msg = f"{a.out}: exported ({'trained weights' if has_weights else 'random weights'}, {num_classes} classes)"
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
