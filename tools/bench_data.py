"""Images/s of the training input pipeline, image files vs LMDB.

    python -m tools.bench_data --data_path ROOT [--workers 0 2] [--split train] [--input_size 224]

ROOT needs the split as folders/lists (img) and as ROOT/lmdb/<split> (lmdb).
"""
import argparse
import os
import time

from common.cli import main_guard


@main_guard
def main(argv=None):
    import torch
    from configs import load_config
    from dataset.loader import build_dataset, check_data_root
    from dataset.demo import generate
    p = argparse.ArgumentParser(prog="python -m tools.bench_data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_path", default=None, help="default: the demo dataset (packed to LMDB if needed)")
    p.add_argument("--split", default="train", help="split to read (train, val, search_train, ...)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to compare")
    p.add_argument("--batch_size", type=int, default=64, help="images per batch")
    p.add_argument("--input_size", type=int, default=224, help="training crop size")
    p.add_argument("--max_batches", type=int, default=50, help="batches read per setting")
    a = p.parse_args(argv)
    root = a.data_path
    if root is None:
        root = generate()
        if not os.path.isdir(os.path.join(root, "lmdb", a.split)):
            from dataset.lists import list_images
            from dataset.lmdb_io import pack_lmdb
            pack_lmdb(root, list_images(root, a.split), os.path.join(root, "lmdb", a.split), a.split)
    cfg = load_config(None, [f"data.input_size={a.input_size}"], kind="train")
    torch.set_num_threads(1)
    for data_type in ("img", "lmdb"):
        check_data_root(root, (a.split,), data_type)
        ds = build_dataset(root, a.split, cfg, train=True, data_type=data_type)
        for w in a.workers:
            loader = torch.utils.data.DataLoader(ds, batch_size=a.batch_size, shuffle=True, num_workers=w)
            n, t0 = 0, time.perf_counter()
            for i, (x, _) in enumerate(loader):
                n += x.shape[0]
                if i + 1 >= a.max_batches:
                    break
            dt = time.perf_counter() - t0
            print(f"{data_type:5s} workers={w}: {n / dt:8.1f} images/s ({n} images, {dt:.2f}s)")


if __name__ == "__main__":
    main()
