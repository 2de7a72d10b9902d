r"""Retrain a derived network from scratch (or fine-tune it from --init_weights).

    python -m run_apis.retrain --load_path runs/search-X     # a search run's net_config, demo data + demo config
    python -m run_apis.retrain --net_config densenas_a      # a zoo architecture
    python -m run_apis.retrain --load_path runs/search-X --init_weights runs/search-X/inherited_weights.pt
    python -m run_apis.retrain --net_config densenas_a --data_path /data/imagenet \
        --config configs/imagenet_train_cfg.yaml
    torchrun --nproc_per_node 8 -m run_apis.retrain --load_path ... --data_path ...

Writes a run folder with weights.pt (best val top-1), net_config, checkpoint.pt, log.txt, tb/,
results.json (best val epoch, final epoch, and with --test_split the final weights' accuracy on a
split that model selection never saw).
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard
from engine.cli import add_common_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, "configs", "demo_train.yaml")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m run_apis.retrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, "train config (default: configs/demo_train.yaml without --data_path, "
                       "configs/imagenet_train_cfg.yaml with it)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--load_path", help="folder with a net_config (e.g. a search run)")
    src.add_argument("--net_config", help="zoo name (densenas_a/b/c) or net_config file")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--test_split", default=None, metavar="SPLIT",
                   help="after the last epoch, evaluate the final weights once on this held-out split (e.g. test: "
                        "DATA/test/ or DATA/lists/test.txt); never used for model selection; results.json 'test'")
    p.add_argument("--init_weights", default=None, metavar="FILE",
                   help="start from these weights instead of a random init: a state_dict of this net_config, e.g. "
                        "the super network's weights a search or run_apis.derive --with_weights wrote "
                        "(inherited_weights.pt); loaded with weights_only, keys and shapes checked")
    p.add_argument("--stop_after_epochs", type=int, default=0, metavar="N",
                   help="stop after N epochs in this invocation; continue with --resume")
    return p


@main_guard
def main(argv=None):
    from configs import load_config
    from common.errors import InputError
    from engine.run_setup import RunOptions, find_resume_dir
    from engine.train_loop import run_retrain
    from models import load_net_config
    args = build_parser().parse_args(argv)
    resume_dir = find_resume_dir(args.resume, args.save, "retrain") if args.resume else None
    config = args.config or (os.path.join(resume_dir, "config.yaml") if resume_dir else None)
    if config is None:
        config = DEMO_CONFIG if args.data_path is None else os.path.join(ROOT, "configs", "imagenet_train_cfg.yaml")
    cfg = load_config(config, args.opts, kind="train")
    source = args.load_path or args.net_config or resume_dir
    if source is None:
        raise InputError("give --load_path DIR (a folder with a net_config) or --net_config NAME|PATH")
    net_config = load_net_config(source)
    run_dir = run_retrain(cfg, net_config, RunOptions(args.data_path, args.save, resume_dir, args.device,
                                                      args.amp, args.channels_last, args.quiet,
                                                      args.stop_after_epochs, test_split=args.test_split,
                                                      init_weights=args.init_weights))
    print(run_dir)


if __name__ == "__main__":
    main()
