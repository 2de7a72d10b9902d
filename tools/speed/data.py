"""Images/s of the training input pipeline, image files vs LMDB; or (--compare_augment) the
distribution of the train augmentation, per-image torchvision path vs the array cache's batched one.

    python -m tools.speed.data --data_path ROOT [--workers 0 2] [--split train] [--input_size 224]
    python -m tools.speed.data --data_path data/fashion_mnist --input_size 32 --compare_augment 20000

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
    p = argparse.ArgumentParser(prog="python -m tools.speed.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_path", default=None, help="default: the demo dataset (packed to LMDB if needed)")
    p.add_argument("--split", default="train", help="split to read (train, val, search_train, ...)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to compare")
    p.add_argument("--batch_size", type=int, default=64, help="images per batch")
    p.add_argument("--input_size", type=int, default=224, help="training crop size")
    p.add_argument("--max_batches", type=int, default=50, help="batches read per setting")
    p.add_argument("--compare_augment", type=int, default=0, metavar="N",
                   help="instead: the train augmentation of N images (--data_path folders, --input_size, "
                        "--min_scale) through torchvision per image and through the array cache's batched "
                        "path; prints both paths' pixel statistics and crop-size histograms")
    p.add_argument("--min_scale", type=float, default=0.6, help="RandomResizedCrop scale minimum (--compare_augment)")
    a = p.parse_args(argv)
    if a.compare_augment:
        return compare_augment(a)
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


def compare_augment(a) -> dict:
    """Both augmentation paths on the same N images (cycled): mean/std of all pixels, the mean
    absolute difference of the per-pixel means and stds, and histograms of the crop boxes' area
    fraction and aspect ratio (torchvision's get_params against dataset.batch_augment.crop_boxes)."""
    import torch
    from torchvision.transforms import RandomResizedCrop
    from configs import load_config
    from dataset.batch_augment import crop_boxes
    from dataset.loader import build_dataset
    if not a.data_path:
        raise SystemExit("error: --compare_augment needs --data_path (image folders)")
    opts = [f"data.input_size={a.input_size}", "data.train_data_type=img", f"data.random_sized.min_scale={a.min_scale}"]
    fast = build_dataset(a.data_path, a.split, load_config(None, opts + ["data.array_cache=on"], kind="train"), train=True)
    slow = build_dataset(a.data_path, a.split, load_config(None, opts + ["data.array_cache=off"], kind="train"), train=True)
    torch.set_num_threads(1)
    n = a.compare_augment
    idx = [i % len(fast) for i in range(n)]
    gen = torch.Generator().manual_seed(0)
    batched = torch.cat([fast.batch(idx[i:i + 256], gen)[0] for i in range(0, n, 256)]).float()
    torch.manual_seed(0)
    per_image = torch.stack([slow[i][0] for i in idx]).float()
    out = {"images": n}
    for name, x in (("torchvision", per_image), ("batched", batched)):
        out[name] = {"mean": float(x.mean()), "std": float(x.std())}
        print(f"{name:11s}: pixel mean {x.mean():7.3f}, std {x.std():7.3f}")
    out["per_pixel_mean_abs_diff"] = float((per_image.mean(0) - batched.mean(0)).abs().mean())
    out["per_pixel_std_abs_diff"] = float((per_image.std(0) - batched.std(0)).abs().mean())
    print(f"per-pixel mean: mean |difference| {out['per_pixel_mean_abs_diff']:.3f} grey levels; per-pixel std: "
          f"{out['per_pixel_std_abs_diff']:.3f}")
    h, w = fast.images.shape[2:]
    ours = crop_boxes(n, h, w, (a.min_scale, 1.0), generator=torch.Generator().manual_seed(1)).float()
    img = torch.zeros(1, h, w)
    ref = torch.tensor([RandomResizedCrop.get_params(img, [a.min_scale, 1.0], [3 / 4, 4 / 3]) for _ in range(n)]).float()
    for label, f, lo, hi in (("area fraction", lambda b: b[:, 2] * b[:, 3] / (h * w), a.min_scale * 0.9, 1.0),
                             ("aspect w/h", lambda b: b[:, 3] / b[:, 2], 0.7, 1.4)):
        hr, ho = torch.histc(f(ref), 10, lo, hi) / n, torch.histc(f(ours), 10, lo, hi) / n
        out[label] = {"torchvision": hr.tolist(), "batched": ho.tolist(), "range": [lo, hi]}
        print(f"{label} histogram ({lo:.2f}..{hi:.2f}, 10 bins), share of crops:")
        print("  torchvision " + " ".join(f"{v:.3f}" for v in hr.tolist()))
        print("  batched     " + " ".join(f"{v:.3f}" for v in ho.tolist()))
    return out


if __name__ == "__main__":
    main()
