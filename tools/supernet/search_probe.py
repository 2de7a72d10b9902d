"""What the read-only probes of a finished search share: its super network, method and a loader of
its search_val split (the split its arch steps saw)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class OpenedSearch:
    cfg: Any
    net: Any        # the super network with the checkpoint's weights and arch params
    method: Any     # its search method (search_space.methods), over that network
    data: Any       # the search_val dataset
    loader: Any     # batches of it, shuffled with ``loader_seed``, last partial batch dropped
    root: str       # the dataset root resolved


def add_search_arguments(parser, batches: int, batches_help: str) -> None:
    """The options every probe of a finished search takes."""
    parser.add_argument("--load_path", required=True, help="a finished search run folder (with checkpoint.pt)")
    parser.add_argument("--data_path", default=None, help="dataset root (default: the built-in demo dataset)")
    parser.add_argument("--batches", type=int, default=batches, help=f"{batches_help} ({batches})")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--out", default=None, help="JSON of the figures (default: print only)")


def open_search(load_path: str, data_path: Optional[str], batch_size: Optional[int] = None,
                loader_seed: Optional[int] = None, threads: int = 1) -> OpenedSearch:
    """``load_path``: a search run folder with ``checkpoint.pt``. ``batch_size`` defaults to the
    search's, ``loader_seed`` to its seed + 1."""
    import torch
    from dataset.loader import build_dataset, build_loader, check_data_root, resolve_data_root
    from engine.derive_run import load_search_result, load_supernet
    from engine.search_cost import load_cost_for_search
    from search_space.methods import build_method
    torch.set_num_threads(threads)
    result = load_search_result(load_path)
    cfg = result.cfg
    net = load_supernet(result)
    method = build_method(cfg, net, load_cost_for_search(cfg, result.space), net)
    root = resolve_data_root(data_path, cfg, announce=False)
    check_data_root(root, ("search_val",), cfg.data.val_data_type)
    data = build_dataset(root, "search_val", cfg, train=False)
    seed = cfg.train_params.seed + 1 if loader_seed is None else loader_seed
    loader = build_loader(data, batch_size or cfg.data.batch_size, True, 0, torch.device("cpu"), None, seed,
                          drop_last=True)
    return OpenedSearch(cfg, net, method, data, loader, root)
