r"""Write a search config for another input size / class count (e.g. CIFAR-10 at 32 px), derived
from the paper's MBV2 or ResNet space: same widths, stages, routes and layers, feature maps
fitted to the input (the paper's halvings that fit above --min_fm; --drop early skips the first
ones), cost = FLOPs until you measure a latency table.

    python -m tools.make_search_space --preset mbv2 --input_size 32 --num_classes 10 \
        --dataset cifar10 --out configs/my_cifar10_search.yaml
    # then, for a latency cost on your device:
    python -m run_apis.latency_measure --config configs/my_cifar10_search.yaml --device cpu \
        --batch_size 1 --out latency_tables/my_cifar10.json
    python -m run_apis.search --config configs/my_cifar10_search.yaml --data_path DATA \
        --opts optim.sub_obj.type=latency optim.sub_obj.latency_list_path=latency_tables/my_cifar10.json

The config is validated (load_search_config) before it is written.
"""
from __future__ import annotations

import argparse

from common.cli import main_guard


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.make_search_space", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="mbv2", help="paper space to start from: mbv2 | resnet")
    p.add_argument("--input_size", type=int, required=True, help="input side length (e.g. 32 for CIFAR)")
    p.add_argument("--num_classes", type=int, required=True, help="classes of the dataset")
    p.add_argument("--min_fm", type=int, default=4, help="smallest feature map (default 4)")
    p.add_argument("--drop", default="early",
                   help="which of the paper's halvings small inputs skip: early (keep resolution early, "
                        "default) | late")
    p.add_argument("--dataset", default="custom", help="data.dataset name written into the config")
    p.add_argument("--batch_size", type=int, default=0, help="data.batch_size (default: the preset's)")
    p.add_argument("--out", required=True, help="YAML file to write")
    return p


@main_guard
def main(argv=None):
    import os
    import tempfile
    from search_space.search_config import load_search_config
    from common.io import atomic_write_text
    from search_space.presets import config_text, make_search_config
    a = build_parser().parse_args(argv)
    cfg = make_search_config(a.preset, a.input_size, a.num_classes, a.min_fm, a.dataset, a.batch_size, a.drop)
    header = (f"Search config made by tools.make_search_space: preset {a.preset}, input {a.input_size} px, "
              f"{a.num_classes} classes.\nFeature maps scaled from the paper's 224-px space (min {a.min_fm}); "
              "cost = FLOPs until a latency table is measured.")
    text = config_text(cfg, header)
    with tempfile.TemporaryDirectory() as tmp:  # validate before writing
        check = os.path.join(tmp, "check.yaml")
        with open(check, "w", encoding="utf-8") as f:
            f.write(text)
        load_search_config(check)
    atomic_write_text(a.out, text)
    print(f"{a.out}: fm_sizes {cfg['search_params']['net_scale']['fm_sizes']}")


if __name__ == "__main__":
    main()
