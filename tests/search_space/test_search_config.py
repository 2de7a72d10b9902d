import os

import pytest

from common.errors import ConfigError
from configs import load_config
from search_space.search_config import load_search_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MBV2 = os.path.join(ROOT, "configs", "imagenet_search_cfg_mbv2.yaml")


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
        load_search_config(MBV2, [override])


def test_configs_checks_keys_and_types_only():
    """configs sits below search_space: a space that cannot form a network loads there, and
    load_search_config (what every search and derive uses) rejects it."""
    bad = ["search_params.adjoin_connect_nums=[0,4,4,4,4,4,4]"]
    assert load_config(MBV2, bad).search_params.adjoin_connect_nums == [0, 4, 4, 4, 4, 4, 4]
    with pytest.raises(ConfigError, match="adjoin_connect_nums"):
        load_search_config(MBV2, bad)
