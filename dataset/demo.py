"""Built-in demo dataset: procedurally drawn shapes and textures, written as JPEGs in the
ImageNet layout (``train/<class>/*.jpg``, ``val/<class>/*.jpg``, plus a held-out ``test/``) so the real list -> LMDB ->
loader path runs on it. Deterministic by seed; generated once into a cache folder.

    python -m dataset.demo --out .cache/demo_data [--num_classes 10 --train_per_class 200]

Each class is a shape or texture (circle, square, triangle, cross, ring, star, stripes...) with a
random colour, position, scale and rotation over a noisy background, plus distractor blobs:
learnable by a small CNN, but not in one epoch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil

from PIL import Image, ImageDraw, ImageFilter

CLASSES = ["circle", "square", "triangle", "cross", "ring", "star", "hstripes", "vstripes",
           "checker", "diamond", "hexagon", "dots"]
def cache_dir() -> str:
    """Where generated data goes: ``$DENSENAS_CACHE``; else ``.cache`` of a source checkout; else
    ``~/.cache/densenas`` (an installed package never writes into site-packages)."""
    if os.environ.get("DENSENAS_CACHE"):
        return os.environ["DENSENAS_CACHE"]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(repo, "setup.py")) and os.access(repo, os.W_OK):
        return os.path.join(repo, ".cache")
    return os.path.join(os.path.expanduser("~"), ".cache", "densenas")


DEFAULT_ROOT = os.path.join(cache_dir(), "demo_data")


def draw_sample(cls: str, size: int, rng: random.Random) -> Image.Image:
    bg = tuple(rng.randint(0, 255) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    # distractor blobs
    for _ in range(rng.randint(0, 2)):
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(1.5, size / 8)
        d.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randint(0, 255) for _ in range(3)))
    fg = tuple((c + rng.randint(80, 176)) % 256 for c in bg)
    r = rng.uniform(0.22, 0.42) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    rot = rng.uniform(0, 2 * math.pi)
    w = max(2, int(r / 4))
    if cls == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif cls == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fg, width=w)
    elif cls in ("square", "triangle", "diamond", "hexagon"):
        n = {"square": 4, "triangle": 3, "diamond": 4, "hexagon": 6}[cls]
        pts = [(cx + r * math.cos(rot + 2 * math.pi * i / n) * (0.6 if cls == "diamond" and i % 2 else 1),
                cy + r * math.sin(rot + 2 * math.pi * i / n)) for i in range(n)]
        d.polygon(pts, fill=fg)
    elif cls == "star":
        pts = [(cx + (r if i % 2 == 0 else r * 0.4) * math.cos(rot + math.pi * i / 5),
                cy + (r if i % 2 == 0 else r * 0.4) * math.sin(rot + math.pi * i / 5)) for i in range(10)]
        d.polygon(pts, fill=fg)
    elif cls == "cross":
        for a in (rot, rot + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            d.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=fg, width=w)
    elif cls in ("hstripes", "vstripes"):
        step = rng.randint(4, 8)
        for t in range(-size, 2 * size, step):
            jitter = rng.uniform(-0.15, 0.15) * size
            if cls == "hstripes":
                d.line([0, t, size, t + jitter], fill=fg, width=max(1, step // 2))
            else:
                d.line([t, 0, t + jitter, size], fill=fg, width=max(1, step // 2))
    elif cls == "checker":
        step = rng.randint(5, 9)
        for i in range(0, size, step):
            for j in range(0, size, step):
                if (i // step + j // step) % 2 == 0:
                    d.rectangle([i, j, i + step - 1, j + step - 1], fill=fg)
    elif cls == "dots":
        for _ in range(rng.randint(6, 12)):
            x, y, rr = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(1.5, 3.5)
            d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=fg)
    # pixel noise
    noise = Image.frombytes("L", (size, size), rng.randbytes(size * size)).convert("RGB")
    img = Image.blend(img, noise, rng.uniform(0.05, 0.2))
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    return img


def generate(root: str = DEFAULT_ROOT, num_classes: int = 10, train_per_class: int = 200,
             val_per_class: int = 50, image_size: int = 40, seed: int = 0, quiet: bool = False,
             test_per_class: int = 50) -> str:
    """Generate (once) and return ``root``. Regenerates when the parameters differ."""
    if not 1 <= num_classes <= len(CLASSES):
        from common.errors import DataError
        raise DataError(f"demo dataset: num_classes must be 1..{len(CLASSES)}, got {num_classes}")
    params = {"num_classes": num_classes, "train_per_class": train_per_class, "val_per_class": val_per_class,
              "test_per_class": test_per_class, "image_size": image_size, "seed": seed, "version": 2}
    marker = os.path.join(root, "demo_dataset.json")
    if _matches(marker, params):
        return root
    import fcntl
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f".{os.path.basename(os.path.abspath(root))}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers / processes: one generates, the others wait
        if _matches(marker, params):
            return root
        return _generate(root, marker, params, quiet)


def _matches(marker: str, params: dict) -> bool:
    if not os.path.isfile(marker):
        return False
    with open(marker) as f:
        return json.load(f) == params


def _generate(root: str, marker: str, params: dict, quiet: bool) -> str:
    num_classes, seed, image_size = params["num_classes"], params["seed"], params["image_size"]
    train_per_class, val_per_class = params["train_per_class"], params["val_per_class"]
    test_per_class = params["test_per_class"]
    for split in ("train", "val", "test", "lmdb", "lists"):  # stale content of other parameters
        shutil.rmtree(os.path.join(root, split), ignore_errors=True)
    if not quiet:
        print(f"generating the demo dataset in {root} ({num_classes} classes, "
              f"{train_per_class}+{val_per_class} images per class)")
    # test: a third split that neither a search nor retrain's model selection sees (--test_split test)
    for split, per_class in (("train", train_per_class), ("val", val_per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES[:num_classes]):
            folder = os.path.join(root, split, f"{c:02d}_{name}")
            os.makedirs(folder, exist_ok=True)
            rng = random.Random(f"{seed}-{split}-{name}")
            for i in range(per_class):
                draw_sample(name, image_size, rng).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
    from common.io import atomic_write_json
    atomic_write_json(marker, params)
    return root


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dataset.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_ROOT, help="dataset root to write")
    p.add_argument("--num_classes", type=int, default=10, help="number of classes")
    p.add_argument("--train_per_class", type=int, default=200, help="training images per class")
    p.add_argument("--val_per_class", type=int, default=50, help="validation images per class")
    p.add_argument("--image_size", type=int, default=40, help="side length of the JPEGs")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    a = p.parse_args(argv)
    print(generate(a.out, a.num_classes, a.train_per_class, a.val_per_class, a.image_size, a.seed))


if __name__ == "__main__":
    main()
