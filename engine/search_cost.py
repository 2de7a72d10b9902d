"""The cost a search optimises: its table (latency file or FLOPs) and target, checked up front.
Shared by the search loop and by derive / benchmark commands that reopen a search run."""
from __future__ import annotations

from common.errors import ConfigError


def load_cost_for_search(cfg, space):
    """The cost table the search optimises: a latency table (file) or FLOPs computed from the space."""
    from configs import resolve_path
    from search_space.cost_table import flops_table, load_cost_table
    sub = cfg.optim.sub_obj
    if sub.type == "flops" or (not cfg.optim.if_sub_obj and not sub.latency_list_path):
        # without a cost term the table is only logged: FLOPs need no measurement
        return flops_table(space, cfg.data.input_size, skip_reg=sub.skip_reg)
    path = resolve_path(sub.latency_list_path, cfg)
    if not path:
        raise ConfigError("config key 'optim.sub_obj.latency_list_path': empty; measure a table with "
                          "python -m run_apis.latency_measure or set optim.sub_obj.type=flops")
    table = load_cost_table(path, space, expect_units="ms")
    from common.machine import warn_if_foreign
    warn_if_foreign(table.meta, sub.latency_list_path)
    return table.with_skip_reg(space) if sub.skip_reg else table


def check_target(cfg, space, table) -> float:
    """``optim.sub_obj.target`` (0 = none), checked against the cheapest architecture."""
    target = cfg.optim.sub_obj.target
    if target > 0:
        from search_space.budget import cost_range
        cheapest, dearest = cost_range(space, table)
        if target < cheapest:
            raise ConfigError(f"config key 'optim.sub_obj.target': {target:g} {table.units} is below the cheapest "
                              f"architecture of the space ({cheapest:.4g} {table.units}; dearest {dearest:.4g})")
    return target


def describe_table(table) -> str:
    """One line naming a cost table: file, units, device, batch, input size."""
    m = table.meta
    where = m.get("path") or m.get("source", "")
    parts = [f"{table.units} table {where}"]
    if m.get("device"):
        parts.append(f"device {m['device']}")
    if m.get("batch_size"):
        parts.append(f"batch {m['batch_size']}")
    if m.get("input_size"):
        parts.append(f"input {m['input_size']}")
    return ", ".join(parts)
