"""Derived DenseNAS networks: operations, net_config, builders, zoo."""
from models.complexity import count_macs, count_params
from models.densenas import DerivedNetwork, build_model
from models.net_config import BlockSpec, NetConfig, format_net_config, load_net_config
from models.operations import OPS
from models.state_dict import load_weights  # noqa: E402  (after models.*: models.state_dict reads models lazily)
from models.weights import DenseNASWeights, Weights
from models.zoo import (DenseNAS_A_Weights, DenseNAS_B_Weights, DenseNAS_C_Weights,
                        FMNIST_1p5ms_Searched_Ada1630a_Weights, FMNIST_1p5ms_Uniform_K5_T6_Weights, densenas_a,
                        densenas_b, densenas_c, fmnist_1p5ms_searched_ada1630a, fmnist_1p5ms_uniform_k5_t6, get_model,
                        get_model_weights, list_models)

__all__ = ["OPS", "BlockSpec", "NetConfig", "DerivedNetwork", "build_model", "load_net_config",
           "format_net_config", "count_macs", "count_params", "load_weights", "Weights", "DenseNASWeights",
           "DenseNAS_A_Weights", "DenseNAS_B_Weights", "DenseNAS_C_Weights", "densenas_a", "densenas_b",
           "densenas_c", "FMNIST_1p5ms_Uniform_K5_T6_Weights", "fmnist_1p5ms_uniform_k5_t6",
           "FMNIST_1p5ms_Searched_Ada1630a_Weights", "fmnist_1p5ms_searched_ada1630a", "get_model",
           "get_model_weights", "list_models"]
