"""Fashion-MNIST IDX files -> folders and lists (small IDX files written here; no Debian package)."""
import gzip
import os

import numpy as np
import pytest
from PIL import Image

from dataset.fashion_mnist_to_folders import CLASSES, convert, folder_name, main
from dataset.lists import read_list
from common.errors import DataError


def _idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _write(folder, n_train=40, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    data = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, 0x803)
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, 0x801)
        data[split] = (images, labels)
    return data


def test_convert_pads_and_lists(tmp_path):
    data = _write(tmp_path / "src")
    counts = convert(str(tmp_path / "src"), str(tmp_path / "out"), val_per_class=1, expect_counts=False)
    assert counts == {"train": 30, "val": 10, "test": 10, "search_train": 30, "search_val": 10}
    images, labels = data["test"]
    img = np.asarray(Image.open(tmp_path / "out" / "test" / folder_name(int(labels[3])) / "test_00003.png"))
    assert img.shape == (32, 32)
    assert np.array_equal(img[2:30, 2:30], images[3]) and img[:2].sum() == 0 and img[:, 30:].sum() == 0
    train = read_list(str(tmp_path / "out" / "lists" / "train.txt"))
    val = read_list(str(tmp_path / "out" / "lists" / "val.txt"))
    assert not {p for p, _ in train} & {p for p, _ in val}          # held-out part is disjoint
    assert sorted(l for _, l in val) == list(range(10))             # one per class
    for rel, label in train[:5] + val[:5]:
        assert rel.split("/")[1] == folder_name(label)
    assert sorted(os.listdir(tmp_path / "out" / "train")) == [folder_name(i) for i in range(10)]  # sorted = label order
    assert folder_name(0) == "0_T-shirt_top" and CLASSES[9] == "Ankle boot"


def test_rerun_completes_a_partial_output(tmp_path):
    _write(tmp_path / "src")
    convert(str(tmp_path / "src"), str(tmp_path / "out"), 1, expect_counts=False)
    victim = tmp_path / "out" / "train" / folder_name(0) / "train_00000.png"
    victim.unlink()
    convert(str(tmp_path / "src"), str(tmp_path / "out"), 1, expect_counts=False)
    assert victim.is_file()


@pytest.mark.parametrize("damage,message", [
    ("missing", "missing"), ("corrupt", "not a readable gzip"), ("truncated", "truncated"),
    ("magic", "magic number"), ("count", "has 60000"), ("labels", "labels in"),
])
def test_bad_files_one_line_exit_2(tmp_path, capsys, damage, message):
    src = tmp_path / "src"
    _write(src)
    images = src / "train-images-idx3-ubyte.gz"
    if damage == "missing":
        images.unlink()
    elif damage == "corrupt":
        images.write_bytes(b"not gzip at all")
    elif damage == "truncated":
        raw = gzip.decompress(images.read_bytes())
        images.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "magic":
        raw = bytearray(gzip.decompress(images.read_bytes()))
        raw[3] = 0x01
        images.write_bytes(gzip.compress(bytes(raw)))
    elif damage == "labels":
        _idx(src / "train-labels-idx1-ubyte.gz", np.zeros(7), 0x801)
    with pytest.raises(SystemExit) as e:
        main(["--src", str(src), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and message in err
    if damage != "count":
        with pytest.raises(DataError):
            convert(str(src), str(tmp_path / "out2"), 1, expect_counts=False)
