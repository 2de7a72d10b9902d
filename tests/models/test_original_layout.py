"""Weights in the original release's layout load unchanged (and convert once)."""
import os
import re
import subprocess
import sys

import pytest
import torch

from common.errors import InputError
from models.state_dict import load_weights, read_state_dict
from models import build_model
from models.net_config import parse_text
from models.original_layout import from_original_layout
from tests.conftest import ROOT


def _networks(reference):
    """[(net_config text, [(key, shape)])] from original_weight_keys.txt."""
    nets, cur = [], None
    with open(os.path.join(reference, "original_weight_keys.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("## "):
                cur = {"config": [], "keys": []}
                nets.append(cur)
            elif cur is None:
                continue
            elif line.startswith("#   "):
                cur["config"].append(line[4:])
            elif line and not line.startswith("#"):
                key, shape = line.split("\t")
                cur["keys"].append((key, tuple(int(v) for v in re.findall(r"\d+", shape))))
    return [("\n".join(n["config"]), n["keys"]) for n in nets]


def _original_state(keys, seed):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in keys:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


def test_original_layout_loads_with_equal_logits(reference, tmp_path):
    nets = _networks(reference)
    assert [parse_text(text).net_type for text, _ in nets] == ["mbv2", "res"]
    for i, (text, keys) in enumerate(nets):
        net_config = parse_text(text)
        original = _original_state(keys, i)
        path = str(tmp_path / f"orig{i}.pt")
        torch.save(original, path)
        model = build_model(net_config, num_classes=1000).eval()
        load_weights(model, path)  # strict: every key mapped, every shape checked
        # the same values through this project's layout, by the structural mapping
        converted = from_original_layout({k[len("module."):]: v for k, v in original.items()})
        reference_model = build_model(net_config, num_classes=1000).eval()
        reference_model.load_state_dict(dict(converted), strict=True)
        for k, v in reference_model.state_dict().items():
            assert torch.equal(model.state_dict()[k], v)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(model(x), reference_model(x))
        # the original's BN settings: MBV2_Net eps 1e-3, RES_Net PyTorch's defaults (eps 1e-5); the
        # logits equal those of the same weights under exactly those settings
        eps = {"mbv2": 1e-3, "res": 1e-5}[net_config.net_type]
        for m in reference_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps, m.momentum = eps, 0.1
        with torch.no_grad():
            assert torch.equal(model(x), reference_model(x)), net_config.net_type
        # every original tensor went somewhere distinct
        assert len(converted) == len(keys) == len(model.state_dict())


def test_original_layout_shape_mismatch_names_the_layer(reference, tmp_path):
    text, keys = _networks(reference)[0]
    state = _original_state(keys, 0)
    state["module.blocks.2.head_layer._expand_conv.0.weight"] = torch.zeros(99, 24, 1, 1)
    path = str(tmp_path / "bad.pt")
    torch.save(state, path)
    with pytest.raises(InputError, match=r"blocks\.2\.head_layer\._expand_conv\.0\.weight in the original layout"):
        load_weights(build_model(parse_text(text), num_classes=1000), path)


def test_convert_weights_cli(reference, tmp_path):
    text, keys = _networks(reference)[1]
    src, dst = tmp_path / "orig", tmp_path / "ours"
    src.mkdir()
    (src / "net_config").write_text(text)
    torch.save(_original_state(keys, 3), str(src / "weights.pt"))
    r = subprocess.run([sys.executable, "-m", "tools.convert_weights", str(src), str(dst)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    state = read_state_dict(str(dst / "weights.pt"))
    assert not any("head_layer" in k for k in state) and "stem.0.weight" in state
    model = build_model(str(dst), num_classes=1000)
    load_weights(model, str(dst / "weights.pt"))
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "net_config").write_text(text)
    torch.save({"module.input_block.0.weight": torch.zeros(1)}, str(bad / "weights.pt"))
    r = subprocess.run([sys.executable, "-m", "tools.convert_weights", str(bad), str(tmp_path / "out")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "error:" in r.stderr
    assert not (tmp_path / "out").exists()
