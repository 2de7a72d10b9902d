"""torchvision-style builders and weights, torch.hub, timm-style helpers."""
import hashlib

import pytest
import torch

import models
from common.errors import InputError
from models.weights import registry_weights
from tests.conftest import ROOT


def test_builders_and_timm_helpers():
    m = models.densenas_b(num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    feats = m.forward_features(x)
    assert feats.shape[1] == m.num_features == 1984
    assert torch.equal(m.forward_head(feats), m(x))
    m.reset_classifier(3)
    assert m(x).shape == (2, 3)
    m.reset_classifier(0)
    assert m(x).shape == (2, 1984)
    assert models.list_models() == ["densenas_a", "densenas_b", "densenas_c", "fmnist_1p5ms_searched_ada1630a",
                                    "fmnist_1p5ms_uniform_k5_t6"]
    assert models.get_model("densenas_c", num_classes=5)(x).shape == (2, 5)
    assert models.get_model_weights("densenas_a") is models.DenseNAS_A_Weights


def test_zoo_weights_are_not_invented():
    w = models.DenseNAS_A_Weights.DEFAULT
    assert w is models.DenseNAS_A_Weights.IMAGENET1K_ORIGINAL and w.url == ""
    assert w.meta["published_top1"] == 73.1 and w.meta["macs_m"] == 251
    assert w.transforms().crop_size == [224]
    with pytest.raises(InputError, match="no hosted weights file"):
        models.densenas_a(weights="DEFAULT")


def test_registry_weights_plug_into_the_same_type(tmp_path):
    ref = models.densenas_a(num_classes=1000)
    path = tmp_path / "a.pt"
    torch.save(ref.state_dict(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    member = registry_weights("my_a", {"weights_url": path.as_uri(), "weights_sha256": sha})
    assert isinstance(member, models.DenseNASWeights)
    model = models.densenas_a(weights=member, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
    bad = registry_weights("bad_a", {"weights_url": path.as_uri(), "weights_sha256": "0" * 64})
    with pytest.raises(InputError, match="sha256 does not match"):
        bad.get_state_dict(cache_dir=str(tmp_path / "cache"))
    with pytest.raises(InputError, match="without weights_sha256"):
        registry_weights("x", {"weights_url": path.as_uri()})


def test_torch_hub_local():
    m = torch.hub.load(ROOT, "densenas_a", source="local", num_classes=7)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 7)
    assert models.load_weights is not None
