r"""Pack the images of a list file into an LMDB (see dataset/lmdb_io.py for the record format).

    python dataset/img2lmdb.py --image_path ROOT --list_path ROOT/lists/train.txt \
        --output_path ROOT/lmdb --split train [--image_size 256]

Re-runs are idempotent (records already present are kept); the map grows as needed; the final
count is checked against the list.
"""
import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataset.lists import read_list  # noqa: E402
from dataset.lmdb_io import pack_lmdb  # noqa: E402
from common.cli import main_guard  # noqa: E402


@main_guard
def main(argv=None):
    from common.logging_utils import progress
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image_path", required=True, help="dataset root the list's paths are relative to")
    p.add_argument("--list_path", required=True, help="list file (relative/path label per line)")
    p.add_argument("--output_path", required=True, help="folder that will hold the LMDB folder <split>")
    p.add_argument("--split", required=True, help="name of the LMDB folder (train, val, search_train, ...)")
    p.add_argument("--image_size", type=int, default=0, help="resize the short side to this (0: keep)")
    p.add_argument("--skip_corrupt", action="store_true", help="warn and skip unreadable images")
    a = p.parse_args(argv)
    entries = read_list(a.list_path, a.image_path, check_files=not a.skip_corrupt)
    out = os.path.join(a.output_path, a.split)
    stats = pack_lmdb(a.image_path, entries, out, a.split, a.image_size, a.skip_corrupt,
                      progress=lambda it: progress(it, f"packing {a.split}", total=len(entries), interval=1000))
    for msg in stats["skipped"]:
        print(f"warning: skipped {msg}", file=sys.stderr)
    print(f"{out}: {stats['count']} records ({stats['written']} written now, {len(stats['skipped'])} skipped)")


if __name__ == "__main__":
    main()
