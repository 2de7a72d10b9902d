"""Write list files (``relative/path label``) for the train and val splits of an ImageNet folder.

    python dataset/mk_img_list.py --image_path ROOT --output_path ROOT/lists
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataset.lists import list_classes, list_images, write_list  # noqa: E402
from common.cli import main_guard  # noqa: E402
from common.logging_utils import progress  # noqa: E402


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image_path", required=True, help="dataset root with train/ and val/ class folders")
    p.add_argument("--output_path", required=True, help="folder for train.txt and val.txt")
    a = p.parse_args(argv)
    classes = list_classes(os.path.join(a.image_path, "train"))
    mapping = {c: i for i, c in enumerate(classes)}
    for split in ("train", "val"):
        if split == "val" and not os.path.isdir(os.path.join(a.image_path, "val")):
            print("no val/ folder: only train.txt written")
            continue
        entries = list_images(a.image_path, split, classes, mapping,
                              progress=lambda it, s=split: progress(it, f"listing {s}", unit="class", interval=100))
        out = os.path.join(a.output_path, f"{split}.txt")
        write_list(out, entries)
        print(f"{out}: {len(entries)} images, {len(classes)} classes")


if __name__ == "__main__":
    main()
