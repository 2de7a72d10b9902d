r"""Convert the CIFAR-10 / CIFAR-100 *binary* release into the ImageNet folder layout
(``OUT/train/<class>/*.png``, ``OUT/val/<class>/*.png``) that every command here reads.

    python -m dataset.cifar_to_folders --src cifar-10-batches-bin --out /data/cifar10
    python -m dataset.cifar_to_folders --src cifar-100-binary --out /data/cifar100 [--coarse]

The binary release stores fixed-size records: CIFAR-10 ``<1 label byte><3072 pixel bytes>`` in
``data_batch_1..5.bin`` / ``test_batch.bin`` with class names in ``batches.meta.txt``; CIFAR-100
``<coarse byte><fine byte><3072 pixel bytes>`` in ``train.bin`` / ``test.bin`` with
``fine_label_names.txt`` / ``coarse_label_names.txt``. Pixels are 1024 red, 1024 green, 1024 blue
bytes, row-major 32x32. Only raw bytes are read (no pickle). Images are written as lossless PNGs;
the test split becomes ``val``. Existing files are kept (re-running completes a partial output).
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.cli import main_guard  # noqa: E402
from common.errors import DataError  # noqa: E402

PIXELS = 32 * 32 * 3
LAYOUTS = {  # kind: (label bytes, train files, test files, names file)
    "cifar10": (1, [f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], "batches.meta.txt"),
    "cifar100": (2, ["train.bin"], ["test.bin"], "fine_label_names.txt"),
}


def detect(src: str) -> str:
    for kind, (_, train, _, _) in LAYOUTS.items():
        if os.path.isfile(os.path.join(src, train[0])):
            return kind
    raise DataError(f"--src {src}: no data_batch_1.bin (CIFAR-10) or train.bin (CIFAR-100) binary files")


def read_names(path: str, count: int):
    if not os.path.isfile(path):
        return [f"class_{i:03d}" for i in range(count)]
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) < count:
        raise DataError(f"{path}: {len(names)} class names, labels go up to {count - 1}")
    return names


def records(path: str, label_bytes: int, label_index: int):
    """(label, HxWx3 uint8 array) of every record of a binary file."""
    import numpy as np
    size = os.path.getsize(path)
    rec = label_bytes + PIXELS
    if size == 0 or size % rec:
        raise DataError(f"{path}: {size} bytes is not a whole number of {rec}-byte CIFAR records")
    data = np.fromfile(path, dtype=np.uint8).reshape(-1, rec)
    labels = data[:, label_index].astype(int)
    images = data[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return labels, images


def convert(src: str, out: str, coarse: bool = False, progress=None) -> dict:
    from PIL import Image
    kind = detect(src)
    label_bytes, train_files, test_files, names_file = LAYOUTS[kind]
    label_index = 0 if kind == "cifar10" or coarse else 1
    if kind == "cifar100" and coarse:
        names_file = "coarse_label_names.txt"
    counts = {}
    for split, files in (("train", train_files), ("val", test_files)):
        n = 0
        for name in files:
            path = os.path.join(src, name)
            if not os.path.isfile(path):
                raise DataError(f"{path}: missing")
            labels, images = records(path, label_bytes, label_index)
            classes = read_names(os.path.join(src, names_file), int(labels.max()) + 1)
            items = range(len(labels))
            for i in (progress(items, f"{split} {name}") if progress else items):
                folder = os.path.join(out, split, classes[labels[i]])
                dst = os.path.join(folder, f"{os.path.splitext(name)[0]}_{i:05d}.png")
                if not os.path.exists(dst):
                    os.makedirs(folder, exist_ok=True)
                    tmp = dst + ".tmp"
                    Image.fromarray(images[i]).save(tmp, format="PNG")
                    os.replace(tmp, dst)
                n += 1
        counts[split] = n
    return {"kind": kind, **counts}


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dataset.cifar_to_folders", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="folder of the binary release (cifar-10-batches-bin, cifar-100-binary)")
    p.add_argument("--out", required=True, help="dataset root to write (train/ and val/ class folders)")
    p.add_argument("--coarse", action="store_true", help="CIFAR-100: use the 20 coarse labels instead of the 100 fine ones")
    a = p.parse_args(argv)
    from common.logging_utils import progress
    stats = convert(a.src, a.out, a.coarse,
                    progress=lambda it, desc: progress(it, desc, total=len(it), unit="img", interval=5000))
    print(f"{a.out}: {stats['kind']}, {stats['train']} train and {stats['val']} val images")


if __name__ == "__main__":
    main()
