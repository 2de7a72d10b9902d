import os

import pytest

from configs import load_config
from common.errors import ConfigError
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


def test_original_release_configs_load_identically(reference):
    for name in ("mbv2", "resnet"):
        ours = load_config(os.path.join(ROOT, "configs", f"imagenet_search_cfg_{name}.yaml"))
        theirs = load_config(os.path.join(reference, "configs", f"imagenet_search_cfg_{name}.yaml"))
        assert space_from_config(ours) == space_from_config(theirs)
        assert ours.search_params == theirs.search_params
        n1, n2 = build_super_network(ours, seed=0), build_super_network(theirs, seed=0)
        assert [p.shape for p in n1.parameters()] == [p.shape for p in n2.parameters()]
