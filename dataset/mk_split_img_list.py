r"""Lists for the search subset: N classes of the train folder, each split into a part for the
weights (search_train.txt) and a held-out part for the architecture (search_val.txt).

    python dataset/mk_split_img_list.py --image_path ROOT --output_path ROOT/lists \
        [--num_classes 100 --val_ratio 0.2 --seed S]

Classes: the first N by sorted name, or a random choice when --seed is given.
"""
import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataset.lists import search_split, write_list  # noqa: E402
from common.cli import main_guard  # noqa: E402
from common.logging_utils import progress  # noqa: E402


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image_path", required=True, help="dataset root with train/<class>/ folders")
    p.add_argument("--output_path", required=True, help="folder for search_train.txt and search_val.txt")
    p.add_argument("--num_classes", type=int, default=100, help="classes in the search subset (paper: 100)")
    p.add_argument("--val_ratio", type=float, default=0.2,
                   help="share of each class's images held out for architecture updates (paper: 0.2)")
    p.add_argument("--seed", type=int, default=None, help="choose classes at random with this seed")
    a = p.parse_args(argv)
    train, val = search_split(a.image_path, a.num_classes, a.val_ratio, a.seed,
                              progress=lambda it: progress(it, "listing search classes", unit="class", interval=20))
    for name, entries in (("search_train", train), ("search_val", val)):
        out = os.path.join(a.output_path, f"{name}.txt")
        write_list(out, entries)
        print(f"{out}: {len(entries)} images")


if __name__ == "__main__":
    main()
