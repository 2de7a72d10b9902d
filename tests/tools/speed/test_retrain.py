"""tools.speed.retrain: a cached retrain is reused only for what it measured."""
import os

from tests.conftest import ROOT
from tools.speed.retrain import build_parser, unit_key


def test_unit_key_changes_with_the_net_the_recipe_and_the_overrides(tmp_path):
    net_a, net_b = tmp_path / "a", tmp_path / "b"
    net_a.write_text("[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, 256], 'conv1_1']\nnet_type: mbv2\n")
    net_b.write_text("[[16, 24], 'mbconv_k3_t1', [], 0, 1]|\n[[24, 256], 'conv1_1']\nnet_type: mbv2\n")
    recipe = os.path.join(ROOT, "configs", "fashion_mnist_quality_train.yaml")
    base = build_parser().parse_args(["--config", recipe])
    key = unit_key(base, str(net_a))
    assert key == unit_key(build_parser().parse_args(["--config", recipe]), str(net_a))
    assert key != unit_key(base, str(net_b))
    assert key != unit_key(build_parser().parse_args(["--config", os.path.join(ROOT, "configs", "demo_train.yaml")]),
                           str(net_a))
    assert key != unit_key(build_parser().parse_args(["--config", recipe, "--opts", "train_params.epochs=2"]),
                           str(net_a))
