"""CIFAR binary release -> folders; search configs for small inputs."""
import os

import numpy as np
import pytest
from PIL import Image

from search_space.search_config import load_search_config
from dataset.cifar_to_folders import convert, main as cifar_main
from dataset.lists import list_images
from common.errors import DataError
from search_space import build_super_network
from search_space.presets import make_search_config, scaled_fm_sizes
from tests.conftest import ROOT


def _write_cifar10(folder, n_per_file=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    truth = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 3, n_per_file, dtype=np.uint8)
        pixels = rng.integers(0, 256, (n_per_file, 3, 32, 32), dtype=np.uint8)
        rec = np.concatenate([labels[:, None], pixels.reshape(n_per_file, -1)], axis=1)
        rec.tofile(str(folder / name))
        truth[name] = (labels, pixels)
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\nbird\n\n")
    return truth


def test_cifar10_binary_to_folders(tmp_path):
    truth = _write_cifar10(tmp_path / "bin")
    stats = convert(str(tmp_path / "bin"), str(tmp_path / "out"))
    assert stats == {"kind": "cifar10", "train": 30, "val": 6}
    labels, pixels = truth["test_batch.bin"]
    names = ["airplane", "automobile", "bird"]
    img = np.asarray(Image.open(tmp_path / "out" / "val" / names[labels[2]] / "test_batch_00002.png"))
    assert np.array_equal(img, pixels[2].transpose(1, 2, 0))  # lossless, channels in the right order
    entries = list_images(str(tmp_path / "out"), "train")
    assert len(entries) == 30


def test_cifar100_fine_and_coarse(tmp_path):
    src = tmp_path / "c100"
    src.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train.bin", 8), ("test.bin", 4)):
        coarse, fine = rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 4, n, dtype=np.uint8)
        np.concatenate([coarse[:, None], fine[:, None], rng.integers(0, 256, (n, 3072), dtype=np.uint8)],
                       axis=1).tofile(str(src / name))
    (src / "fine_label_names.txt").write_text("a\nb\nc\nd\n")
    (src / "coarse_label_names.txt").write_text("x\ny\n")
    assert convert(str(src), str(tmp_path / "fine"))["train"] == 8
    assert set(os.listdir(tmp_path / "fine" / "train")) <= {"a", "b", "c", "d"}
    convert(str(src), str(tmp_path / "coarse"), coarse=True)
    assert set(os.listdir(tmp_path / "coarse" / "train")) <= {"x", "y"}


def test_truncated_file_is_a_one_line_error(tmp_path, capsys):
    _write_cifar10(tmp_path / "bin")
    with open(tmp_path / "bin" / "data_batch_3.bin", "ab") as f:
        f.write(b"xx")
    with pytest.raises(DataError, match="not a whole number of 3073-byte"):
        convert(str(tmp_path / "bin"), str(tmp_path / "out"))
    with pytest.raises(SystemExit) as e:
        cifar_main(["--src", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "no data_batch_1.bin" in capsys.readouterr().err


def test_small_input_search_configs():
    assert scaled_fm_sizes([112, 56, 28, 28, 14, 7], 224, 4) == [112, 56, 28, 28, 14, 7]
    assert scaled_fm_sizes([112, 56, 28, 28, 14, 7], 32, 4) == [16, 16, 16, 16, 8, 4]
    assert scaled_fm_sizes([112, 56, 28, 28, 14, 7], 32, 4, drop="late") == [16, 8, 4, 4, 4, 4]
    cfg = load_search_config(os.path.join(ROOT, "configs", "cifar10_search_mbv2.yaml"))
    assert cfg.data.input_size == 32 and cfg.data.num_classes == 10
    made = make_search_config("resnet", 64, 200)
    assert made["search_params"]["net_scale"]["fm_sizes"][0] == 32 and made["optim"]["sub_obj"]["type"] == "flops"
    import torch
    small = load_search_config(os.path.join(ROOT, "configs", "cifar10_search_mbv2.yaml"),
                        ["search_params.net_scale.num_layers=[0,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0]"])
    net = build_super_network(small)
    net.sample("weight")
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
