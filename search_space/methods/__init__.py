"""Search methods on one routing-block super network (``search_params.method``).

The super network owns topology, ops and the chained cost; a method owns how ops are gated, what a
weight step samples, what an arch step computes (and any reset after it), its temperature
schedule and what it keeps in the checkpoint. ``engine.search_loop`` only calls the method.
Adding a method: one module here and one line in ``METHODS``.
"""
from __future__ import annotations

from common.errors import ConfigError
from search_space.methods.base import SearchMethod, StepOutput
from search_space.methods.densenas import DenseNAS
from search_space.methods.nse import NSE
from search_space.methods.tfnas import TFNAS

METHODS = {"densenas": DenseNAS, "tfnas": TFNAS, "nse": NSE}


def method_class(name: str):
    if name not in METHODS:
        raise ConfigError(f"config key 'search_params.method': unknown method {name!r} (known: {', '.join(METHODS)})")
    return METHODS[name]


def validate_method(cfg) -> None:
    """Config checks of the chosen method (called by validate_search_config)."""
    from search_space.weight_sharing import check_config
    check_config(cfg.search_params.weight_sharing)
    if cfg.search_params.weight_sharing.strategy == "single_path" and cfg.search_params.method == "nse":
        raise ConfigError("config key 'search_params.weight_sharing.strategy': single_path runs one op per "
                          "mixed op on one route path; method nse trains op combinations (use fair, sandwich or hold)")
    method_class(cfg.search_params.method).validate(cfg)


def build_method(cfg, net, cost_table, forward=None) -> SearchMethod:
    """The configured method over ``net``; ``forward(x)`` runs the net (e.g. under autocast)."""
    return method_class(cfg.search_params.method)(cfg, net, cost_table, forward)


__all__ = ["METHODS", "SearchMethod", "StepOutput", "build_method", "method_class", "validate_method"]
