import os
import subprocess
import sys

import pytest
import torch

from configs import load_config
from dataset.datasets import ImageListDataset, LMDBDataset
from dataset.demo import generate
from dataset.lists import list_images, read_list, search_split, write_list
from dataset.lmdb_io import LMDBReader, pack_lmdb
from dataset.loader import build_dataset, check_data_root
from common.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=10, train_per_class=60,
                    val_per_class=10, quiet=True)


def test_demo_deterministic(tmp_path, demo_root):
    other = generate(str(tmp_path / "again"), num_classes=10, train_per_class=60, val_per_class=10, quiet=True)
    for rel, _ in list_images(demo_root, "train")[:10]:
        with open(os.path.join(demo_root, rel), "rb") as a, open(os.path.join(other, rel), "rb") as b:
            assert a.read() == b.read()


def test_lists_and_split_ratio(demo_root):
    train = list_images(demo_root, "train")
    assert len(train) == 600 and sorted({l for _, l in train}) == list(range(10))
    tr, va = search_split(demo_root, num_classes=3, val_ratio=0.2)
    assert len(va) == 36 and len(tr) == 144
    assert not set(tr) & set(va)
    assert {l for _, l in tr} == {0, 1, 2}
    tr2, _ = search_split(demo_root, num_classes=2, val_ratio=0.2, seed=5)
    assert len({l for _, l in tr2}) == 2
    with pytest.raises(DataError, match="fewer than"):
        search_split(demo_root, num_classes=11)


def test_list_cli_and_lmdb_round_trip(demo_root, tmp_path):
    lists = tmp_path / "lists"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "dataset", "mk_img_list.py"),
                        "--image_path", demo_root, "--output_path", str(lists)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    entries = read_list(str(lists / "val.txt"), demo_root, check_files=True)
    assert len(entries) == 100
    r = subprocess.run([sys.executable, "-m", "dataset.img2lmdb", "--image_path", demo_root, "--list_path",
                        str(lists / "val.txt"), "--output_path", str(tmp_path / "lmdb"), "--split", "val"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    a = ImageListDataset(demo_root, entries)
    b = LMDBDataset(str(tmp_path / "lmdb" / "val"), [rel for rel, _ in entries])
    for i in range(len(entries)):
        (ia, la), (ib, lb) = a[i], b[i]
        assert la == lb and list(ia.getdata()) == list(ib.getdata())
    # idempotent re-run
    b.reader.close()
    stats = pack_lmdb(demo_root, entries, str(tmp_path / "lmdb" / "val"))
    assert stats["written"] == 0 and stats["count"] == 100


def test_lmdb_workers(demo_root, tmp_path):
    entries = list_images(demo_root, "train")
    pack_lmdb(demo_root, entries, str(tmp_path / "train"))
    cfg = load_config(None, ["data.input_size=32"], kind="train")
    from dataset.transforms import val_transform
    ds = LMDBDataset(str(tmp_path / "train"), None, val_transform(32))
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2)
    n = sum(x.shape[0] for x, _ in loader)
    assert n == len(entries)
    assert cfg.data.input_size == 32
    with pytest.raises(DataError, match="no record for key 'nope'"):
        ds.reader.get("nope")
    with pytest.raises(DataError, match="not an LMDB"):
        LMDBReader(str(tmp_path))


def test_corrupt_image(tmp_path, demo_root):
    root = tmp_path / "bad"
    (root / "train" / "a").mkdir(parents=True)
    (root / "train" / "a" / "x.jpg").write_bytes(b"not a jpeg")
    entries = list_images(str(root), "train")
    with pytest.raises(DataError, match="corrupt or unreadable image: .*x.jpg"):
        ImageListDataset(str(root), entries)[0]
    with pytest.raises(DataError, match="x.jpg"):
        pack_lmdb(str(root), entries, str(tmp_path / "l1"))
    stats = pack_lmdb(str(root), entries, str(tmp_path / "l2"), skip_corrupt=True)
    assert len(stats["skipped"]) == 1
    (root / "train" / "empty").mkdir()
    with pytest.raises(DataError, match="empty class folder"):
        list_images(str(root), "train")
    lst = tmp_path / "l.txt"
    write_list(str(lst), [("train/a/missing.jpg", 0)])
    with pytest.raises(DataError, match="listed file is missing"):
        read_list(str(lst), str(root), check_files=True)
    r = subprocess.run([sys.executable, "-m", "dataset.img2lmdb", "--image_path", str(root), "--list_path",
                        str(lst), "--output_path", str(tmp_path / "o"), "--split", "train"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    with pytest.raises(DataError, match="no LMDB for split"):
        check_data_root(demo_root, ("train",), "lmdb")


def test_demo_learnable(demo_root):
    """A few epochs of a tiny CNN beat chance (10%) clearly on the held-out split."""
    torch.manual_seed(0)
    cfg = load_config(None, ["data.input_size=32", "data.num_classes=10"], kind="train")
    from dataset.transforms import normalize_batch
    cpu = torch.device("cpu")
    tr = build_dataset(demo_root, "train", cfg, train=False, data_type="img")
    va = build_dataset(demo_root, "val", cfg, train=False, data_type="img")

    def blk(i, o):
        return [torch.nn.Conv2d(i, o, 3, 1, 1), torch.nn.BatchNorm2d(o), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    net = torch.nn.Sequential(*blk(3, 16), *blk(16, 32), *blk(32, 64), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    x, y = next(iter(torch.utils.data.DataLoader(tr, batch_size=len(tr))))
    x = normalize_batch(x, cpu)
    for _ in range(5):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    xv, yv = next(iter(torch.utils.data.DataLoader(va, batch_size=len(va))))
    with torch.no_grad():
        acc = (net(normalize_batch(xv, cpu)).argmax(1) == yv).float().mean().item()
    assert acc > 0.25, acc


def test_skip_corrupt_by_config(tmp_path):
    root = tmp_path / "mixed"
    (root / "train" / "a").mkdir(parents=True)
    from PIL import Image
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(root / "train" / "a" / f"{i}.jpg")
    (root / "train" / "a" / "1.jpg").write_bytes(b"broken")
    cfg = load_config(None, ["data.input_size=8", "data.skip_corrupt=true", "data.val_data_type=img"], kind="train")
    ds = build_dataset(str(root), "train", cfg, train=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    n = sum(x.shape[0] for x, _ in loader)
    assert n == 3 and ds.skipped == 1  # counted across workers
    strict = build_dataset(str(root), "train", load_config(None, ["data.input_size=8", "data.array_cache=off"],
                                                            kind="train"), train=False, data_type="img")
    with pytest.raises(DataError, match="1.jpg"):
        [strict[i] for i in range(3)]
    with pytest.raises(DataError, match="1.jpg"):  # the array cache decodes every image up front
        build_dataset(str(root), "train", load_config(None, ["data.input_size=8"], kind="train"), train=False,
                      data_type="img")


def test_demo_generation_is_safe_from_parallel_processes(tmp_path):
    """Two processes (e.g. pytest-xdist workers) asking for the same demo root: one generates, the
    other waits and finds it complete."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    root = tmp_path / "demo"
    code = ("import sys; from dataset.demo import generate; "
            "generate(sys.argv[1], num_classes=3, train_per_class=6, val_per_class=2, test_per_class=2, quiet=True)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=ROOT) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        folders = sorted((root / split).iterdir())
        assert len(folders) == 3 and all(len(list(f.iterdir())) == n for f in folders)
