"""Derived DenseNAS networks: operations, net_config, builders, zoo."""
from models.complexity import count_macs, count_params
from models.densenas import DerivedNetwork, build_model
from models.net_config import BlockSpec, NetConfig, format_net_config, load_net_config
from models.operations import OPS

__all__ = ["OPS", "BlockSpec", "NetConfig", "DerivedNetwork", "build_model", "load_net_config",
           "format_net_config", "count_macs", "count_params"]
