"""One-shot accuracies of architectures on a finished search run's super network (its
``checkpoint.pt``), scored by :class:`engine.supernet_rank.OneShotScorer`. Apart from the scorer:
it loads the run (``engine.derive_run``), which itself uses the scorer for inherited weights."""
from __future__ import annotations

from typing import List, Sequence

from common.errors import InputError


def supernet_accuracies(run_dir: str, net_configs: Sequence, data_path, recal_batches: int = 10,
                        eval_images: int = 2000, device: str = "cpu") -> List[float]:
    """Top-1 (%) of each net_config with the weights of the search run's super network
    (``run_dir/checkpoint.pt``), evaluated on ``eval_images`` images of ``search_val`` (a fixed random subset)."""
    from dataset.loader import resolve_data_root
    from engine.derive_run import load_search_result, load_supernet
    from engine.supernet_rank import OneShotScorer
    result = load_search_result(run_dir)
    cfg = result.cfg
    if result.space.net_type != "mbv2":
        raise InputError(f"{run_dir}: one-shot accuracy needs an MBV2-type space (a ResNet-space derived net has no "
                         "final 1x1 branch, so it is not a path of its super network)")
    net = load_supernet(result)
    scorer = OneShotScorer(cfg, resolve_data_root(data_path, cfg, announce=False), recal_batches, eval_images, device)
    return [scorer(net, nc) for nc in net_configs]
