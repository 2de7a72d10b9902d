"""Table-estimated latency of a net_config in a given search space."""
from __future__ import annotations

from configs import load_config
from search_space.cost_table import load_cost_table
from search_space.derive import lut_cost
from search_space.topology import space_from_config


def estimate_net_latency(config_path: str, table_path: str, net_config, overrides=(), calibrated=True) -> float:
    cfg = load_config(config_path, overrides, kind="search")
    space = space_from_config(cfg)
    table = load_cost_table(table_path, space)
    raw = lut_cost(space, table, net_config)
    cal = table.meta.get("calibration") if calibrated else None
    return raw if not cal else cal["slope"] * raw + cal["intercept"]
