"""Zoo nets trained here on Fashion-MNIST (issue 54 §5): package weights with their sha256, figures
that are the committed retrain records, one batch through the weights."""
import gzip
import hashlib
import json
import os

import numpy as np
import pytest
import torch

import models
from models.fashion_mnist_nets import FASHION_MNIST_NETS
from models.net_config import parse_text
from models.zoo import WEIGHTS_DIR, ZOO
from tests.conftest import ROOT

NAMES = list(FASHION_MNIST_NETS)
IDX = "/usr/share/datasets/fashion-mnist"  # the Debian package dataset-fashion-mnist, when installed
# Logits of two seeded random inputs, recorded from the shipped weights.
GOLDEN = {"fmnist_1p5ms_uniform_k5_t6": [
    [1.4507, -1.4049, 2.1471, -0.7781, 0.7547, -2.704, 3.1106, -3.618, 4.6945, -3.5914],
    [1.5243, -1.3547, 2.994, -0.5819, 1.0924, -3.232, 3.5052, -4.6293, 4.8713, -4.1373]],
    "fmnist_1p5ms_searched_ada1630a": [
    [0.2262, -1.6412, 2.8359, 0.2634, 1.3882, -2.3787, 2.608, -3.9475, 3.5994, -2.9697],
    [0.433, -1.7389, 3.1069, 0.164, 1.1364, -2.2758, 2.9224, -4.2202, 3.3288, -2.8835]]}
# Correct predictions among the first 500 test images (the full split: the published top-1).
FIRST_500_CORRECT = {"fmnist_1p5ms_uniform_k5_t6": 460, "fmnist_1p5ms_searched_ada1630a": 465}


@pytest.mark.parametrize("name", NAMES)
def test_package_weights_have_the_registered_hash(name):
    entry = ZOO[name]
    path = WEIGHTS_DIR / FASHION_MNIST_NETS[name]["weights_file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.weights_sha256
    assert path.stat().st_size <= 2 * 1024 * 1024  # the bound: small enough for the repository
    assert models.get_model_weights(name).DEFAULT.meta["sha256"] == entry.weights_sha256


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_the_committed_retrain_records(name):
    spec = FASHION_MNIST_NETS[name]
    with open(os.path.join(ROOT, spec["results"]), encoding="utf-8") as f:
        study = json.load(f)
    assert study["recipe_hash"] == ZOO[name].meta["recipe_hash"]
    assert study["recipe"]["train_config"] == ZOO[name].meta["config"]
    net = next(n for n in study["nets"] if n["id"] == spec["net_id"])
    assert parse_text(net["net_config"]).to_text() == ZOO[name].net_config.to_text()
    retrain = next(r for r in net["retrains"] if r["seed"] == spec["retrain_seed"])
    published = spec["published"]
    assert round(retrain["test_top1"], 2) == published["top1"]
    assert round(retrain["val_top1_final"], 2) == published["val_top1"]
    assert (round(net["macs_m"], 2), round(net["params_m"], 3), round(net["cost"], 3)) == \
        (published["macs_m"], published["params_m"], published["latency_ms"])


@pytest.mark.parametrize("name", NAMES)
def test_one_batch_through_the_weights(name, tmp_path):
    weights = models.get_model_weights(name).DEFAULT
    model = models.get_model(name, weights="DEFAULT").eval()
    torch.manual_seed(0)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert torch.allclose(logits, torch.tensor(GOLDEN[name]), atol=2e-3)
    assert models.get_model(name)(torch.randn(1, 3, 32, 32)).shape == (1, 10)  # no weights: 10 classes still


@pytest.mark.skipif(not os.path.isdir(IDX), reason="real test images need the Debian package dataset-fashion-mnist")
@pytest.mark.parametrize("name", NAMES)
def test_real_test_images_through_the_published_transforms(name):
    from PIL import Image
    from dataset.transforms import normalize_batch, val_transform
    with gzip.open(os.path.join(IDX, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)[:500]
    with gzip.open(os.path.join(IDX, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], np.uint8)[:500]
    pil = [Image.fromarray(np.pad(a, 2)).convert("RGB") for a in images]  # as the folders store them: 32 px
    weights = models.get_model_weights(name).DEFAULT
    batch = torch.stack([weights.transforms()(p) for p in pil])
    # the published preset is the project's evaluation pipeline
    assert torch.equal(batch, normalize_batch(torch.stack([val_transform(32)(p) for p in pil]), torch.device("cpu")))
    model = models.get_model(name, weights=weights).eval()
    with torch.no_grad():
        correct = int((model(batch).argmax(1).numpy() == labels).sum())
    assert correct == FIRST_500_CORRECT[name]


@pytest.mark.parametrize("name", NAMES)
def test_validation_pretrained_uses_the_entrys_recipe(name, tmp_path, capsys):
    """``run_apis.validation --pretrained NAME`` end to end on a small converted folder tree: the
    entry's own train config (32 px, 10 classes) is used without --config."""
    from dataset.fashion_mnist_to_folders import convert
    from run_apis.validation import main
    from tests.dataset.test_fashion_mnist import _write
    _write(tmp_path / "src", n_train=20, n_test=12)
    convert(str(tmp_path / "src"), str(tmp_path / "data"), val_per_class=1, expect_counts=False)
    main(["--pretrained", name, "--cache_dir", str(tmp_path / "cache"), "--data_path", str(tmp_path / "data"),
          "--split", "test", "--device", "cpu", "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["count"] == 12 and 0 <= result["top1"] <= 100
    assert abs(result["macs_m"] - ZOO[name].published["macs_m"]) < 0.01
