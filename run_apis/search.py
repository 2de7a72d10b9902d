"""DenseNAS architecture search.

    python -m run_apis.search                                  # demo: built-in data, configs/demo_search.yaml
    python -m run_apis.search --config configs/imagenet_search_cfg_mbv2.yaml --data_path /data/imagenet
    python -m run_apis.search --resume runs/search-20261122-120000
    torchrun --nproc_per_node 8 -m run_apis.search --config ... --data_path ...

Outputs in a time-stamped folder under --save: log.txt, tb/ (TensorBoard), net_config (last
epoch; usable by run_apis.retrain --load_path), derived.json (its MACs, params, table cost,
target), topk/<rank>/net_config, arch_params.json, arch.png, routes.png, search.png,
checkpoint.pt, config.yaml, history.json.

Searching for a cost target (table units): --opts optim.sub_obj.target_mode=abs optim.sub_obj.target=12
(see docs/budget_search.md); python -m run_apis.derive then derives for any other budget.
"""
from __future__ import annotations

import argparse
import os

from common.cli import main_guard
from engine.cli import add_common_args

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo_search.yaml")


def build_parser():
    p = argparse.ArgumentParser(prog="python -m run_apis.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, "search config (default: configs/demo_search.yaml; on resume: the run's config.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--stop_after_epochs", type=int, default=0, metavar="N",
                   help="stop after N epochs in this invocation (e.g. a time-limited job); continue with --resume")
    p.add_argument("--measure_latency", action="store_true",
                   help="time the final derived network on the latency table's device (same statistic as "
                        "profile --measure) and log it next to the table estimate (also in derived.json)")
    return p


@main_guard
def main(argv=None):
    from search_space.search_config import load_search_config
    from engine.run_setup import RunOptions, find_resume_dir
    from engine.search_loop import run_search
    args = build_parser().parse_args(argv)
    config = args.config
    if args.resume and config is None:
        config = os.path.join(find_resume_dir(args.resume, args.save, "search"), "config.yaml")
    cfg = load_search_config(config or DEMO_CONFIG, args.opts)
    run_dir = run_search(cfg, RunOptions(args.data_path, args.save, args.resume, args.device, args.amp,
                                         args.channels_last, args.quiet, args.stop_after_epochs,
                                         args.measure_latency))
    print(run_dir)


if __name__ == "__main__":
    main()
