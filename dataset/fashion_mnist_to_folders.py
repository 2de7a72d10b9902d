r"""Convert Fashion-MNIST (the four gzipped IDX files) into the folder layout every command reads.

    apt-get install dataset-fashion-mnist              # Debian: files in /usr/share/datasets/fashion-mnist
    python -m dataset.fashion_mnist_to_folders --out data/fashion_mnist

Writes, under ``--out ROOT``:

* ``ROOT/train/<k>_<class>/train_NNNNN.png`` (60,000) and ``ROOT/test/<k>_<class>/test_NNNNN.png``
  (10,000): 28x28 images zero-padded to 32x32, stored as 1-channel PNGs (lossless); the readers
  convert them to 3 identical channels, so every space, table and network here applies unchanged.
  Folder names start with the label so that sorted folder order is label order.
* ``ROOT/lists/``: ``train.txt`` / ``val.txt`` -- the 60k training set split into 50,000 / 10,000
  (1,000 per class, seeded), used by retrain (``val`` = model selection); ``search_train.txt`` /
  ``search_val.txt`` -- the same two parts, used by the search (weights / architecture); and
  ``test.txt`` -- the official 10k test set, seen by neither (``--test_split test``).

The IDX files are read directly (gzip + numpy): magic numbers, shapes and counts are checked.
Existing PNGs are kept (re-running completes a partial output); lists are written atomically.
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
import zlib

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.cli import main_guard  # noqa: E402
from common.errors import DataError  # noqa: E402

DEBIAN_SRC = "/usr/share/datasets/fashion-mnist"
# From the dataset's documentation (zalandoresearch/fashion-mnist README), in label order.
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
FILES = {  # split: (images, labels, expected count)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
SIDE, PADDED = 28, 32
VAL_PER_CLASS = 1000


def folder_name(label: int) -> str:
    return f"{label}_{CLASSES[label].replace('/', '_').replace(' ', '_')}"


def _read_gz(path: str) -> bytes:
    if not os.path.isfile(path):
        raise DataError(f"{path}: missing (apt-get install dataset-fashion-mnist, or give --src)")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({type(e).__name__}: {e})") from None


def read_idx(path: str, magic: int, dims: int):
    """The array of an IDX file (unsigned bytes), its magic number and size checked."""
    import numpy as np
    data = _read_gz(path)
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes, shorter than the IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path}: IDX magic number {found:#010x}, expected {magic:#010x}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{path}: {len(data)} bytes, the header's shape {shape} needs {expected} (truncated?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_split(src: str, split: str, expect_count: bool = True):
    """(images N x 28 x 28, labels N) of a split, checked."""
    img_name, lbl_name, count = FILES[split]
    images = read_idx(os.path.join(src, img_name), IMAGE_MAGIC, 3)
    labels = read_idx(os.path.join(src, lbl_name), LABEL_MAGIC, 1)
    where = os.path.join(src, img_name)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{where}: images of {images.shape[1]}x{images.shape[2]} px, expected {SIDE}x{SIDE}")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels in {lbl_name}")
    if expect_count and len(images) != count:
        raise DataError(f"{where}: {len(images)} images, Fashion-MNIST's {split} set has {count}")
    if len(labels) and int(labels.max()) >= len(CLASSES):
        raise DataError(f"{os.path.join(src, lbl_name)}: label {int(labels.max())}, expected 0..{len(CLASSES) - 1}")
    return images, labels


def val_indices(labels, per_class: int, seed: int = 0):
    """Indices of the held-out part of the training set: ``per_class`` per class, seeded."""
    import numpy as np
    rng = np.random.default_rng(seed)
    held = []
    for c in range(len(CLASSES)):
        idx = np.nonzero(labels == c)[0]
        if len(idx) < 2:
            continue
        k = min(per_class, len(idx) // 2)
        held += rng.choice(idx, size=k, replace=False).tolist()
    return sorted(held)


def convert(src: str, out: str, val_per_class: int = VAL_PER_CLASS, expect_counts: bool = True,
            progress=None) -> dict:
    """Write the PNG folders and the lists; returns counts per list."""
    import numpy as np
    from PIL import Image
    from dataset.lists import write_list
    splits = {s: read_split(src, s, expect_counts) for s in FILES}  # every file checked before writing
    entries = {}
    pad = (PADDED - SIDE) // 2
    for split, (images, labels) in splits.items():
        rel = []
        items = range(len(labels))
        for i in (progress(items, split) if progress else items):
            label = int(labels[i])
            path = f"{split}/{folder_name(label)}/{split}_{i:05d}.png"
            rel.append((path, label))
            dst = os.path.join(out, path)
            if not os.path.exists(dst):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                canvas = np.zeros((PADDED, PADDED), dtype=np.uint8)
                canvas[pad:pad + SIDE, pad:pad + SIDE] = images[i]
                tmp = dst + ".tmp"
                Image.fromarray(canvas, mode="L").save(tmp, format="PNG")
                os.replace(tmp, dst)
        entries[split] = rel
    held = set(val_indices(splits["train"][1], val_per_class))
    lists = {"train": [e for i, e in enumerate(entries["train"]) if i not in held],
             "val": [e for i, e in enumerate(entries["train"]) if i in held],
             "test": entries["test"]}
    lists["search_train"], lists["search_val"] = lists["train"], lists["val"]
    for name, rows in lists.items():
        write_list(os.path.join(out, "lists", f"{name}.txt"), rows)
    return {name: len(rows) for name, rows in lists.items()}


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dataset.fashion_mnist_to_folders", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default=DEBIAN_SRC, help=f"folder of the four .gz IDX files (default: {DEBIAN_SRC})")
    p.add_argument("--out", required=True, help="dataset root to write (train/, test/, lists/)")
    p.add_argument("--val_per_class", type=int, default=VAL_PER_CLASS,
                   help=f"training images per class held out as 'val' / 'search_val' (default {VAL_PER_CLASS})")
    a = p.parse_args(argv)
    if a.val_per_class < 1:
        raise DataError(f"--val_per_class {a.val_per_class}: must be at least 1")
    from common.logging_utils import progress
    counts = convert(a.src, a.out, a.val_per_class,
                     progress=lambda it, desc: progress(it, desc, total=len(it), unit="img", interval=10000))
    print(f"{a.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
