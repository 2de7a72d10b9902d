import os

import pytest

from configs import load_config
from engine.errors import ConfigError
from search_space import build_super_network, space_from_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MBV2 = os.path.join(ROOT, "configs", "imagenet_search_cfg_mbv2.yaml")


def test_attribute_access_and_overrides():
    cfg = load_config(MBV2, ["optim.weight.init_lr=0.1", "data.batch_size=8"])
    assert cfg.optim.weight.init_lr == 0.1 and cfg.data.batch_size == 8
    assert cfg.search_params.net_scale.chs[:3] == [16, 24, 32]
    assert cfg.optim.arch.betas == [0.5, 0.999]


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match="unknown config key 'optim.weight.init_rl'.*init_lr"):
        load_config(MBV2, ["optim.weight.init_rl=0.1"])


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match="'data.batch_size': expected an integer"):
        load_config(MBV2, ["data.batch_size=big"])


@pytest.mark.parametrize("override,field", [
    ("search_params.net_scale.fm_sizes=[112,56]", "fm_sizes"),
    ("search_params.net_scale.fm_sizes=[112,28,28,28,28,14,14,14,14,14,14,7,7,7,7,7,7]", "fm_sizes"),
    ("search_params.adjoin_connect_nums=[0,4,4,4,4,4,4]", "adjoin_connect_nums"),
    ("search_params.PRIMITIVES_head=[mbconv_k9_t3]", "PRIMITIVES_head"),
    ("search_params.net_scale.stage=[0,1,2,2,2,3,3,3,4,4,4,5,5,5,6,6,6,5]", "stage"),
    ("optim.head_dim=24", "optim.head_dim"),
])
def test_space_errors_name_field(override, field):
    with pytest.raises(ConfigError, match=field):
        load_config(MBV2, [override])


def test_original_release_configs_load_identically(reference):
    for name in ("mbv2", "resnet"):
        ours = load_config(os.path.join(ROOT, "configs", f"imagenet_search_cfg_{name}.yaml"))
        theirs = load_config(os.path.join(reference, "configs", f"imagenet_search_cfg_{name}.yaml"))
        assert space_from_config(ours) == space_from_config(theirs)
        assert ours.search_params == theirs.search_params
        n1, n2 = build_super_network(ours, seed=0), build_super_network(theirs, seed=0)
        assert [p.shape for p in n1.parameters()] == [p.shape for p in n2.parameters()]
