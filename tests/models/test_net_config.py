import pytest
from hypothesis import given, settings, strategies as st

from common.errors import NetConfigError
from models import build_model, load_net_config
from models.net_config import BlockSpec, NetConfig, format_net_config, parse_yaml, to_yaml_dict
from models.zoo import ZOO


@pytest.mark.parametrize("name", list(ZOO))
def test_round_trip(name):
    cfg = ZOO[name].net_config
    text = format_net_config(cfg)
    again = load_net_config(text)
    assert again == cfg
    assert parse_yaml(to_yaml_dict(cfg)) == cfg


def test_load_from_file_and_folder(tmp_path):
    text = format_net_config(ZOO["densenas_a"].net_config)
    (tmp_path / "net_config").write_text(text)
    assert load_net_config(str(tmp_path)) == ZOO["densenas_a"].net_config
    assert load_net_config(str(tmp_path / "net_config")) == ZOO["densenas_a"].net_config


def test_yaml_form(tmp_path):
    import yaml
    p = tmp_path / "net.yaml"
    p.write_text(yaml.safe_dump(to_yaml_dict(ZOO["densenas_c"].net_config)))
    assert load_net_config(str(p)) == ZOO["densenas_c"].net_config


BAD = [
    ("[[16,16],'mbconv_k3_t1',[],0,1] | __import__('os').system('echo pwned')", "block 1: not a literal"),
    ("[[16,16],'mbconv_k9_t1',[],0,1] | [[16,32],'conv1_1']", "block 0: unknown head op"),
    ("[[16,16],'mbconv_k3_t1',[],0,1] | [[24,32],'mbconv_k3_t3',[],0,2] | [[32,64],'conv1_1']",
     "block 1: in_ch 24 does not match"),
    ("[[16,16],'mbconv_k3_t1',[],0,3] | [[16,64],'conv1_1']", "block 0: stride must be 1 or 2"),
    ("[[16,16],'mbconv_k3_t1',['mbconv_k3_t3'],2,1] | [[16,64],'conv1_1']", "block 0: num_stack_layers is 2"),
    ("[[16,16],'mbconv_k3_t1',[],0,1 | [[16,64],'conv1_1']", "block 0: not a literal"),
    ("[[16,-3],'mbconv_k3_t1',[],0,1] | [[16,64],'conv1_1']", "block 0: channels must be two positive"),
    ("[['a',16],'mbconv_k3_t1',[],0,1] | [[16,64],'conv1_1']", "block 0: channels"),
    ("[[16,16],'mbconv_k3_t1',[],0,1] | [[8,64],'conv1_1']", "block 1 (conv1_1): in_ch 8"),
    ("[[16,16],'mbconv_k3_t1',['bad_op'],1,1] | [[16,64],'conv1_1']", "block 0: unknown stack op"),
]


@pytest.mark.parametrize("text,msg", BAD)
def test_malformed_rejected(text, msg):
    with pytest.raises(NetConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        load_net_config(text)


def test_res_net_config_builds():
    cfg = load_net_config("[[32,48],'basic_block',['basic_block','skip_connect'],2,2] | "
                          "[[48,64],'bottle_neck',[],0,2]\nnet_type: res")
    model = build_model(cfg, num_classes=7)
    import torch
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)
    assert model.num_features == 256  # bottleneck: 4x features


ops = st.sampled_from(["mbconv_k3_t3", "mbconv_k5_t6", "mbconv_k7_t1", "skip_connect"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 512), st.sampled_from(["mbconv_k3_t3", "mbconv_k5_t6"]),
                          st.lists(ops, max_size=4), st.sampled_from([1, 2])), min_size=1, max_size=6),
       st.integers(1, 4096))
def test_round_trip_property(blocks, last_dim):
    specs, ch = [], 16
    for out, head, stack, stride in blocks:
        specs.append(BlockSpec(ch, out, head, tuple(stack), stride))
        ch = out
    cfg = NetConfig("mbv2", tuple(specs), (ch, last_dim))
    assert load_net_config(format_net_config(cfg)) == cfg
