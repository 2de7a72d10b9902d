"""Image lists: ``relative/path label`` per line, paths relative to the dataset root.

ImageNet layout: ``ROOT/train/<class>/*`` and ``ROOT/val/<class>/*``; labels are the index of
the class folder in sorted order.
"""
from __future__ import annotations

import os
import random
from typing import Dict, List, Optional, Sequence, Tuple

from common.errors import DataError
from common.io import atomic_write_text

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm")
Entry = Tuple[str, int]


def list_classes(split_dir: str) -> List[str]:
    if not os.path.isdir(split_dir):
        raise DataError(f"{split_dir}: not a folder (expected ImageNet layout: <root>/train/<class>/*.jpg)")
    classes = sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))
    if not classes:
        raise DataError(f"{split_dir}: no class folders")
    return classes


def list_images(root: str, split: str, classes: Optional[Sequence[str]] = None,
                class_to_label: Optional[Dict[str, int]] = None, progress=None) -> List[Entry]:
    """Entries of ``root/split/<class>/*`` for the given classes (all by default). ``progress``:
    optional wrapper of the class iteration (see common.logging_utils.progress)."""
    split_dir = os.path.join(root, split)
    classes = list(classes) if classes is not None else list_classes(split_dir)
    class_to_label = class_to_label or {c: i for i, c in enumerate(classes)}
    entries = []
    for c in (progress(classes) if progress else classes):
        folder = os.path.join(split_dir, c)
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: class folder missing")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise DataError(f"{folder}: empty class folder (no images)")
        entries += [(f"{split}/{c}/{f}", class_to_label[c]) for f in files]
    return entries


def write_list(path: str, entries: Sequence[Entry]) -> None:
    atomic_write_text(path, "".join(f"{p} {label}\n" for p, label in entries))


def read_list(path: str, root: Optional[str] = None, check_files: bool = False) -> List[Entry]:
    if not os.path.isfile(path):
        raise DataError(f"list file not found: {path}")
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            rel, _, label = line.rpartition(" ")
            if not rel or not label.lstrip("-").isdigit():
                raise DataError(f"{path}:{n}: expected 'relative/path label', got {line!r}")
            if check_files and root is not None and not os.path.isfile(os.path.join(root, rel)):
                raise DataError(f"{path}:{n}: listed file is missing: {os.path.join(root, rel)}")
            entries.append((rel, int(label)))
    if not entries:
        raise DataError(f"list file is empty: {path}")
    return entries


def search_split(root: str, num_classes: int = 100, val_ratio: float = 0.2, seed: Optional[int] = None,
                 split: str = "train", progress=None) -> Tuple[List[Entry], List[Entry]]:
    """The search subset: ``num_classes`` classes of ``root/split`` (first by sorted name, or a
    seeded random choice when ``seed`` is given), each class split into weight/arch parts."""
    classes = list_classes(os.path.join(root, split))
    if num_classes > len(classes):
        raise DataError(f"{os.path.join(root, split)}: {len(classes)} classes, fewer than the "
                        f"{num_classes} asked for")
    if not 0 < val_ratio < 1:
        raise DataError(f"val_ratio must be between 0 and 1, got {val_ratio}")
    chosen = sorted(random.Random(seed).sample(classes, num_classes)) if seed is not None else classes[:num_classes]
    mapping = {c: i for i, c in enumerate(chosen)}
    rng = random.Random(0 if seed is None else seed)
    train, val = [], []
    for c in (progress(chosen) if progress else chosen):
        entries = list_images(root, split, [c], mapping)
        rng.shuffle(entries)
        n_val = max(1, round(len(entries) * val_ratio)) if len(entries) > 1 else 0
        val += sorted(entries[:n_val])
        train += sorted(entries[n_val:])
    return train, val
