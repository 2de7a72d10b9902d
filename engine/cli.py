"""Shared command-line plumbing: one-line errors with exit code 2, common arguments."""
from __future__ import annotations

import argparse
import functools
import sys

from engine.errors import InputError


def main_guard(fn):
    """Run a CLI main; user mistakes (InputError) print one line and exit 2, no traceback."""
    @functools.wraps(fn)
    def wrapper(argv=None):
        try:
            return fn(argv)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
    return wrapper


def add_common_args(parser: argparse.ArgumentParser, config_help: str = "YAML config") -> None:
    parser.add_argument("--config", default=None, help=config_help)
    parser.add_argument("--data_path", default=None,
                        help="dataset root (ImageNet layout or LMDB); default: the built-in demo dataset")
    parser.add_argument("--save", default="runs", help="parent folder of the run folder (default: runs)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--amp", action="store_true", help="mixed precision (bf16 on CPU, fp16/bf16 on CUDA)")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dotted config overrides, e.g. train_params.epochs=1 data.batch_size=8")
