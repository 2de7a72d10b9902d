"""Multi-branch layers (NSE): ``'op_a+op_b'`` in a net_config is the mean of the branches, plus the
identity in a residual position; MACs add up; the text and YAML forms round-trip."""
import subprocess
import sys

import pytest
import torch

from common.errors import NetConfigError
from models import build_model, count_macs
from models.net_config import format_net_config, parse_text, parse_yaml
from models.operations import MBConv, MultiBranch

NET = """[[16, 16], 'mbconv_k3_t1', [], 0, 1]|
[[16, 24], 'mbconv_k3_t3+mbconv_k5_t6', ['mbconv_k3_t3+mbconv_k7_t3', 'skip_connect'], 2, 2]|
[[24, 32], 'mbconv_k5_t3', ['mbconv_k3_t6'], 1, 2]|
[[32, 64], 'conv1_1']
net_type: mbv2
"""


def test_text_and_yaml_forms_round_trip():
    nc = parse_text(NET)
    assert nc.blocks[1].head_op == "mbconv_k3_t3+mbconv_k5_t6"
    assert parse_text(format_net_config(nc)) == nc
    yaml_form = {"net_type": "mbv2", "blocks": [
        {"channels": [16, 16], "head_op": "mbconv_k3_t1"},
        {"channels": [16, 24], "head_op": "mbconv_k3_t3+mbconv_k5_t6",
         "stack_ops": ["mbconv_k3_t3+mbconv_k7_t3", "skip_connect"], "stride": 2},
        {"channels": [24, 32], "head_op": "mbconv_k5_t3", "stack_ops": ["mbconv_k3_t6"], "stride": 2}],
        "last": {"channels": [32, 64], "op": "conv1_1"}}
    assert parse_yaml(yaml_form) == nc


@pytest.mark.parametrize("stride,in_ch,out_ch,residual", [(1, 8, 8, True), (2, 8, 8, False), (1, 8, 12, False)])
def test_forward_is_the_mean_of_branches_plus_identity_when_residual(stride, in_ch, out_ch, residual):
    torch.manual_seed(0)
    cell = MultiBranch(["mbconv_k3_t3", "mbconv_k5_t6", "mbconv_k7_t1"], in_ch, out_ch, stride).eval()
    assert cell.use_residual is residual
    x = torch.randn(2, in_ch, 8, 8)
    parts = [b(x) for b in cell.branches]
    want = (x + sum(parts)) / 4 if residual else sum(parts) / 3
    torch.testing.assert_close(cell(x), want)
    # each branch is an MBConv body: same structure and parameter count as the single op
    assert sum(p.numel() for p in cell.branches[0].parameters()) == \
        sum(p.numel() for p in MBConv(in_ch, out_ch, stride, 3, 3).parameters())


def test_single_op_layers_build_as_before():
    single = "[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, 24], 'mbconv_k3_t3', [], 0, 2]|\n[[24, 64], 'conv1_1']\nnet_type: mbv2\n"
    model = build_model(single, num_classes=10)
    assert type(model.blocks[1][0]) is MBConv


def test_macs_are_the_sum_of_the_branches():
    def net(head):
        return build_model(f"[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, 24], '{head}', [], 0, 2]|\n"
                           "[[24, 64], 'conv1_1']\nnet_type: mbv2\n", num_classes=10)
    a, b, ab = (count_macs(net(h), 32) for h in ("mbconv_k3_t3", "mbconv_k5_t6", "mbconv_k3_t3+mbconv_k5_t6"))
    rest = a - _layer_macs("mbconv_k3_t3")  # everything but the layer: the same in all three nets
    assert ab == rest + _layer_macs("mbconv_k3_t3") + _layer_macs("mbconv_k5_t6")
    assert ab == a + b - rest


def _layer_macs(op):
    from torch.utils.flop_counter import FlopCounterMode
    from models.operations import build_op
    layer = build_op(op, 16, 24, 2).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        layer(torch.zeros(1, 16, 16, 16))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("op,message", [
    ("mbconv_k3_t3+mbconv_k9_t3", "unknown op 'mbconv_k9_t3'"),
    ("mbconv_k3_t3+basic_block", "'basic_block' cannot be a branch"),
    ("mbconv_k3_t3+skip_connect", "'skip_connect' cannot be a branch"),
    ("mbconv_k3_t3+mbconv_k3_t3", "listed twice"),
    ("mbconv_k3_t3+", "two or more op names"),
])
def test_bad_branches_are_one_line_errors(op, message):
    text = f"[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, 24], '{op}', [], 0, 2]|\n[[24, 64], 'conv1_1']\nnet_type: mbv2\n"
    with pytest.raises(NetConfigError, match="block 1: multi-branch op") as e:
        parse_text(text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_profile_cli_takes_multi_branch_nets(tmp_path):
    path = tmp_path / "net_config"
    path.write_text(NET)
    r = subprocess.run([sys.executable, "-m", "run_apis.profile", "--net_config", str(path), "--input_size", "32",
                        "--num_classes", "10", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    path.write_text(NET.replace("mbconv_k5_t6", "mbconv_k5_t9"))
    r = subprocess.run([sys.executable, "-m", "run_apis.profile", "--net_config", str(path), "--input_size", "32"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "mbconv_k5_t9" in r.stderr


def test_onnx_export_of_a_multi_branch_net(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "net_config"
    path.write_text(NET)
    r = subprocess.run([sys.executable, "-m", "run_apis.export", "--net_config", str(path), "--out",
                        str(tmp_path / "m.onnx"), "--input_size", "32", "--num_classes", "10"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 10000
