r"""Convert a model folder of the original DenseNAS release (net_config + weights.pt) to this
project's layout, once, so later loads need no key mapping.

    python -m tools.convert_weights SRC_DIR DST_DIR

SRC_DIR holds ``net_config`` (original text form) and ``weights.pt`` (the original's state_dict,
``module.``-prefixed keys). DST_DIR receives ``net_config`` and ``weights.pt`` (plain state_dict
of :func:`models.build_model`), both written atomically. Every tensor's shape is checked against
the network the net_config describes; a mismatch names the layer and exits 2. Folders already in
this project's layout are copied through the same check.
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.convert_weights", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC_DIR", help="folder with net_config and weights.pt (original layout)")
    p.add_argument("dst", metavar="DST_DIR", help="output folder (created)")
    p.add_argument("--weights", default=None, help="weights file (default: SRC_DIR/weights.pt)")
    return p


def convert_folder(src: str, dst: str, weights: str = None) -> str:
    from common.io import atomic_torch_save, atomic_write_text
    from models.state_dict import load_weights, num_classes_of, read_state_dict
    from models import build_model, load_net_config
    weights = weights or os.path.join(src, "weights.pt")
    net_config = load_net_config(src)
    state = read_state_dict(weights)
    model = build_model(net_config, num_classes=num_classes_of(state))
    load_weights(model, weights, state=state)  # checks every key and shape
    atomic_torch_save(model.state_dict(), os.path.join(dst, "weights.pt"))
    atomic_write_text(os.path.join(dst, "net_config"), net_config.to_text())
    return dst


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    out = convert_folder(args.src, args.dst, args.weights)
    print(f"{out}: net_config and weights.pt in this project's layout")


if __name__ == "__main__":
    main()
