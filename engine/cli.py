"""Command-line arguments shared by the run commands (search, retrain, validation, derive)."""
from __future__ import annotations

import argparse


def add_common_args(parser: argparse.ArgumentParser, config_help: str = "YAML config") -> None:
    parser.add_argument("--config", default=None, help=config_help)
    parser.add_argument("--data_path", default=None,
                        help="dataset root (ImageNet layout or LMDB); default: the built-in demo dataset")
    parser.add_argument("--save", default="runs", help="parent folder of the run folder (default: runs)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (bf16 on CPU, fp16/bf16 on CUDA)")
    parser.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=None,
                        help="memory format: channels_last, or NCHW with --no-channels_last (default: the faster one "
                             "for the device: channels_last on CPU (x1.6-2.3 measured), on CUDA with --amp)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="DIR",
                        help="continue the run in DIR from its last checkpoint (no DIR: the newest run under --save)")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted config overrides, e.g. train_params.epochs=1 data.batch_size=8")


def input_settings(input_size, num_classes, config: str = None, folder: str = None, overrides=()):
    """(input size, class count, where they came from): explicit values win; otherwise the
    ``--config`` file or the run folder's ``config.yaml``; otherwise 224 px / None."""
    import os
    path = config or (os.path.join(folder, "config.yaml") if folder and os.path.isfile(
        os.path.join(folder, "config.yaml")) else None)
    cfg = None
    if path and (input_size is None or num_classes is None):
        from configs import load_config
        cfg = load_config(path, overrides)
    size = input_size if input_size is not None else (cfg.data.input_size if cfg is not None else 224)
    classes = num_classes if num_classes is not None else (cfg.data.num_classes if cfg is not None else None)
    source = "command line" if cfg is None else path
    return size, classes, source
