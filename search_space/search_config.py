"""Search config checks: a loaded config's space figures, cost objective and method settings must
form a searchable network; every error names the key. Above topology, chained cost and the methods
(it asks each of them), so none of those imports this module."""
from __future__ import annotations

from common.errors import ConfigError
from models.operations import OPS, op_expansion
from search_space.topology import SearchSpace, space_from_config


def _ints(name: str, values, positive=True):
    for i, v in enumerate(values):
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if positive else 0):
            kind = "positive" if positive else "non-negative"
            raise ConfigError(f"config key '{name}': entry {i} must be a {kind} integer, got {v!r}")


def load_search_config(path, overrides=()):
    """A search config: ``configs.load_config`` (keys, types) plus the space checks of
    :func:`validate_search_config`. Every command that searches or derives loads its config here."""
    from configs import load_config
    cfg = load_config(path, overrides, kind="search")
    validate_search_config(cfg)
    return cfg


def validate_search_config(cfg) -> SearchSpace:
    """Check that the space figures can form a network; raise ConfigError naming the field."""
    sp = cfg.search_params
    scale = sp.net_scale
    key = "search_params.net_scale."
    n = len(scale.chs)
    if n < 2:
        raise ConfigError(f"config key '{key}chs': need at least 2 blocks, got {n}")
    _ints(key + "chs", scale.chs)
    _ints(key + "fm_sizes", scale.fm_sizes)
    _ints(key + "stage", scale.stage, positive=False)
    _ints(key + "num_layers", scale.num_layers, positive=False)
    for name, want in (("fm_sizes", n), ("num_layers", n), ("stage", n + 1)):
        got = len(scale[name])
        if got != want:
            extra = " (one more than chs: the final block)" if name == "stage" else ""
            raise ConfigError(f"config key '{key}{name}': has {got} entries, chs has {n}; expected {want}{extra}")
    for i in range(1, n):
        ratio = scale.fm_sizes[i - 1] / scale.fm_sizes[i]
        if ratio not in (1, 2):
            raise ConfigError(f"config key '{key}fm_sizes': block {i} goes from {scale.fm_sizes[i - 1]} to "
                              f"{scale.fm_sizes[i]} (only equal or halved sizes between neighbours)")
    for i in range(1, n + 1):
        step = scale.stage[i] - scale.stage[i - 1]
        if step not in (0, 1):
            raise ConfigError(f"config key '{key}stage': entry {i} goes from {scale.stage[i - 1]} to "
                              f"{scale.stage[i]} (stages must increase by 0 or 1 per block)")
    if scale.stage[0] != 0:
        raise ConfigError(f"config key '{key}stage': must start at 0, got {scale.stage[0]}")
    if scale.stage[n] == scale.stage[n - 1]:
        raise ConfigError(f"config key '{key}stage': the final block needs a stage of its own "
                          f"(last entry {scale.stage[n]} equals the one before)")
    adjoin = sp.adjoin_connect_nums
    _ints("search_params.adjoin_connect_nums", adjoin)
    if len(adjoin) < scale.stage[n - 1] + 1:
        raise ConfigError(f"config key 'search_params.adjoin_connect_nums': needs one entry per stage "
                          f"0..{scale.stage[n - 1]} ({scale.stage[n - 1] + 1}), got {len(adjoin)}")
    for name in ("PRIMITIVES_head", "PRIMITIVES_stack"):
        ops = sp[name]
        if not ops:
            raise ConfigError(f"config key 'search_params.{name}': empty")
        for op in ops:
            if op not in OPS:
                raise ConfigError(f"config key 'search_params.{name}': unknown op {op!r} "
                                  f"(known: {', '.join(sorted(OPS))})")
    expansions = {op_expansion(op) for op in list(sp.PRIMITIVES_head) + list(sp.PRIMITIVES_stack)
                  if op != "skip_connect"}
    if len(expansions) > 1:
        raise ConfigError("config key 'search_params.PRIMITIVES_stack': bottle_neck cannot be mixed with ops of "
                          "another output width (the original widens the whole space by 4 for bottle_neck)")
    if 4 in expansions and cfg.net_type != "res":
        raise ConfigError("config key 'search_params.PRIMITIVES_stack': bottle_neck needs net_type res")
    if "skip_connect" in sp.PRIMITIVES_head:
        raise ConfigError("config key 'search_params.PRIMITIVES_head': skip_connect cannot be a head op")
    if cfg.net_type not in ("mbv2", "res"):
        raise ConfigError(f"config key 'net_type': must be 'mbv2' or 'res', got {cfg.net_type!r}")
    if sp.sample_policy not in ("prob", "uniform"):
        raise ConfigError(f"config key 'search_params.sample_policy': must be prob or uniform, got {sp.sample_policy!r}")
    for name in ("weight_sample_num", "arch_sample_num"):
        if sp[name] < 1:
            raise ConfigError(f"config key 'search_params.{name}': must be >= 1, got {sp[name]}")
    if cfg.optim.sub_obj.type not in ("latency", "flops"):
        raise ConfigError(f"config key 'optim.sub_obj.type': must be latency or flops, got {cfg.optim.sub_obj.type!r}")
    if cfg.optim.sub_obj.cost_mode not in ("sampled", "expected"):
        raise ConfigError(f"config key 'optim.sub_obj.cost_mode': must be sampled or expected, "
                          f"got {cfg.optim.sub_obj.cost_mode!r}")
    sub = cfg.optim.sub_obj
    from search_space.chained_cost import TARGET_MODES
    if sub.target_mode not in TARGET_MODES:
        raise ConfigError(f"config key 'optim.sub_obj.target_mode': must be one of {', '.join(TARGET_MODES)}, "
                          f"got {sub.target_mode!r}")
    if sub.target < 0:
        raise ConfigError(f"config key 'optim.sub_obj.target': must be >= 0, got {sub.target}")
    if sub.target_mode != "none" and sub.target <= 0:
        raise ConfigError(f"config key 'optim.sub_obj.target': target_mode {sub.target_mode} needs a target > 0 "
                          "(in the cost table's units)")
    if sub.target_weight < 0:
        raise ConfigError(f"config key 'optim.sub_obj.target_weight': must be >= 0, got {sub.target_weight}")
    if sub.target_derive not in ("window", "budget", "argmax"):
        raise ConfigError(f"config key 'optim.sub_obj.target_derive': must be window, budget or argmax, "
                          f"got {sub.target_derive!r}")
    if not 0 < sub.target_tolerance < 1:
        raise ConfigError(f"config key 'optim.sub_obj.target_tolerance': must be in (0, 1), "
                          f"got {sub.target_tolerance}")
    from search_space.methods import validate_method
    validate_method(cfg)
    if sp.softmax_temp <= 0:
        raise ConfigError(f"config key 'search_params.softmax_temp': must be > 0, got {sp.softmax_temp}")
    if cfg.optim.sub_obj.log_base <= 1:
        raise ConfigError(f"config key 'optim.sub_obj.log_base': must be > 1, got {cfg.optim.sub_obj.log_base}")
    width_key, width = (("optim.head_dim", cfg.optim.head_dim) if cfg.net_type == "mbv2"
                         else ("optim.init_dim", cfg.optim.init_dim))
    if width != scale.chs[0]:
        raise ConfigError(f"config key '{width_key}': the input block outputs {width} channels but block 0 "
                          f"of '{key}chs' has {scale.chs[0]}")
    space = space_from_config(cfg)
    for j in range(1, space.final + 1):
        if not space.in_routes[j]:
            what = "the final block" if j == space.final else f"block {j}"
            raise ConfigError(f"config key 'search_params.adjoin_connect_nums': {what} has no incoming route "
                              f"(check stage / fm_sizes around it)")
    downsample = 2 * scale.fm_sizes[0] // scale.fm_sizes[-1]
    if cfg.data.input_size < downsample:
        raise ConfigError(f"config key 'data.input_size': {cfg.data.input_size} is smaller than the space's "
                          f"total downsampling ({downsample}x)")
    return space
