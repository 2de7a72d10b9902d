"""`make demo`: the DenseNAS pipeline on built-in data (filled in as the pipeline grows)."""
from __future__ import annotations

from models import build_model, count_macs, count_params
from models.net_config import blocks_summary
from models.zoo import ZOO


def main():
    for name, entry in ZOO.items():
        model = build_model(name)
        print(f"{name}: {count_macs(model) / 1e6:.1f}M MACs (paper {entry.published['macs_m']}M), "
              f"{count_params(model) / 1e6:.2f}M params")
        print("  " + "\n  ".join(blocks_summary(entry.net_config)))


if __name__ == "__main__":
    main()
