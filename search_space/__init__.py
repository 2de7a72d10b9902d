"""DenseNAS search space: topology, super network, sampling, chained cost, derive."""
from search_space.cost_table import CostTable, flops_table, load_cost_table
from search_space.derive import derive, derive_from_params, derive_path, lut_cost, map_to_space
from search_space.super_network import SuperNetwork, build_super_network
from search_space.search_config import load_search_config, validate_search_config
from search_space.topology import SearchSpace, space_from_config

__all__ = ["CostTable", "SearchSpace", "SuperNetwork", "build_super_network", "derive", "derive_from_params", "derive_path",
           "flops_table", "load_cost_table", "load_search_config", "lut_cost", "map_to_space", "space_from_config",
           "validate_search_config"]
