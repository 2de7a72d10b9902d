import pytest
import torch

from models import build_model, count_macs
from models.zoo import ZOO, densenas_a


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_forward_small_input(name):
    model = build_model(name, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_macs_match_published(name):
    macs_m = count_macs(build_model(name, num_classes=ZOO[name].num_classes), ZOO[name].input_size) / 1e6
    assert abs(macs_m - ZOO[name].published["macs_m"]) <= 0.005 * ZOO[name].published["macs_m"], macs_m


def test_builder_function_and_init():
    model = densenas_a(num_classes=3)
    conv = model.stem[0]
    std = conv.weight.std().item()
    expected = (2.0 / (3 * 3 * conv.out_channels)) ** 0.5
    assert 0.5 * expected < std < 1.5 * expected
    bn = model.stem[1]
    assert bn.momentum == 0.1 and bn.eps == 1e-3
