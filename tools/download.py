"""Download a zoo model's net_config and weights, hash-checked and cached.

    python -m tools.download densenas_a --out DIR [--registry extra.json]

The registry is ``models.zoo`` (name -> net_config, weights URL, sha256, metadata); an extra JSON
registry may add entries: {"name": {"net_config": "<text>", "weights_url": "...",
"weights_sha256": "...", "published": {...}}}. Files come through torch.hub's downloader.
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard
from models.download import (DEFAULT_CACHE, HashMismatchError, download_model, fetch, registry,  # noqa: F401
                             sha256_of)  # re-exported: the library code lives in models.download


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.download", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo or registry name (e.g. densenas_a)")
    p.add_argument("--out", default=None, help=f"folder (default: {DEFAULT_CACHE}/NAME)")
    p.add_argument("--registry", default=None, help="extra registry JSON")
    a = p.parse_args(argv)
    out = download_model(a.name, a.out, a.registry, require_weights=False)
    if not os.path.isfile(os.path.join(out, "weights.pt")):
        print(f"note: {a.name} has no downloadable weights; only its net_config was written")
    print(out)


if __name__ == "__main__":
    main()
