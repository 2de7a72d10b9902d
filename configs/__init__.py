"""Config loading: YAML merged over typed defaults, dotted overrides, validation that names the key.

>>> cfg = load_config("configs/imagenet_search_cfg_mbv2.yaml", ["optim.weight.init_lr=0.1"])
>>> cfg.search_params.net_scale.chs[:3]
[16, 24, 32]
"""
from __future__ import annotations

import ast
import copy
import difflib
import os
from typing import Iterable, Mapping, Optional

import yaml

from configs.defaults import SEARCH_DEFAULTS, TRAIN_DEFAULTS
from common.errors import ConfigError

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(CONFIG_DIR)


class Config(dict):
    """A dict with attribute access (``cfg.optim.weight.init_lr``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return Config({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, Config) else copy.deepcopy(v) for k, v in self.items()}


def _wrap(value):
    if isinstance(value, Mapping):
        return Config({k: _wrap(v) for k, v in value.items()})
    return value


def _suggest(key: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(value, default, where: str):
    """Check ``value`` against the default's type; parse strings that stand for tuples."""
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{where}': expected true/false, got {value!r}")
    if isinstance(default, int) and where.endswith("input_size"):
        return _parse_input_size(value, where)
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{where}': expected an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 4e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{where}': expected a number, got {value!r}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        if isinstance(value, bool) and where in ON_OFF_KEYS:  # YAML 1.1 reads on/off as booleans
            return "on" if value else "off"
        raise ConfigError(f"config key '{where}': expected a string, got {value!r}")
    if isinstance(default, list):
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{where}': expected a list, got {value!r}")
        return value
    return value


def _parse_input_size(value, where: str) -> int:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ConfigError(f"config key '{where}': expected 224 or (3,224,224), got {value!r}") from None
    if isinstance(value, (list, tuple)) and len(value) == 3 and value[1] == value[2]:
        value = value[1]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ConfigError(f"config key '{where}': expected a positive size or (3,S,S), got {value!r}")


def _merge(base: dict, new: Mapping, prefix: str = "") -> None:
    for key, value in new.items():
        where = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown config key '{where}'{_suggest(key, base)}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{where}': expected a mapping, got {value!r}")
            # Mappings with free-form content (resume) accept any sub-keys.
            if where == "optim.resume":
                base[key].update(value)
                continue
            _merge(base[key], value, where + ".")
        else:
            base[key] = _coerce(value, base[key], where)


def parse_override(item: str):
    """``"a.b.c=VALUE"`` -> (["a", "b", "c"], parsed VALUE). VALUE is YAML (numbers, lists, true)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}': expected KEY=VALUE")
    key, _, raw = item.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def _apply_override(cfg: dict, path, value) -> None:
    node = cfg
    for i, part in enumerate(path[:-1]):
        if part not in node or not isinstance(node[part], dict):
            where = ".".join(path[:i + 1])
            raise ConfigError(f"unknown config key '{where}'{_suggest(part, node)}")
        node = node[part]
    _merge(node, {path[-1]: value}, ".".join(path[:-1]) + "." if len(path) > 1 else "")


def find_config(path: str) -> str:
    """A config path as given when it exists (relative to the cwd); else a shipped config of that
    name (``configs/X.yaml`` or ``X.yaml``), so names work from any directory and installs."""
    if os.path.isfile(path):
        return path
    rel = path[len("configs/"):] if path.replace(os.sep, "/").startswith("configs/") else path
    candidate = os.path.join(CONFIG_DIR, rel)
    return candidate if not os.path.isabs(path) and os.path.isfile(candidate) else path


def detect_kind(data: Mapping) -> str:
    return "search" if "search_params" in data else "train"


ON_OFF_KEYS = ("data.array_cache",)
# Keys whose values are one of a few words, or a count (checked after merging and overrides).
CHOICES = {("data", "array_cache"): ("auto", "on", "off")}
NON_NEGATIVE = (("train_params", "val_every"),)


def _check_choices(cfg: dict) -> None:
    for (section, key), allowed in CHOICES.items():
        value = cfg.get(section, {}).get(key)
        if key in cfg.get(section, {}) and value not in allowed:
            raise ConfigError(f"config key '{section}.{key}': expected one of {', '.join(allowed)}, got {value!r}")
    for section, key in NON_NEGATIVE:
        if key in cfg.get(section, {}) and cfg[section][key] < 0:
            raise ConfigError(f"config key '{section}.{key}': expected 0 or more, got {cfg[section][key]!r}")


def load_config(path: Optional[str], overrides: Iterable[str] = (), kind: Optional[str] = None) -> Config:
    """Load ``path`` (YAML) over the defaults of its kind ("search" or "train"), then apply
    dotted overrides. Validates keys and types; the search space's own figures are checked by
    ``search_space.load_search_config`` (this package sits below search_space: no import of it)."""
    data = {}
    if path is not None:
        path = find_config(path)
        if not os.path.isfile(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else path
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"config {where}: invalid YAML: {problem}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config {path}: top level must be a mapping")
    kind = kind or detect_kind(data)
    if kind not in ("search", "train"):
        raise ConfigError(f"config kind must be 'search' or 'train', got {kind!r}")
    cfg = copy.deepcopy(SEARCH_DEFAULTS if kind == "search" else TRAIN_DEFAULTS)
    try:
        _merge(cfg, data)
        for item in overrides:
            _apply_override(cfg, *parse_override(item))
        _check_choices(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    cfg["_kind"] = kind
    cfg["_path"] = os.path.abspath(path) if path else None
    return _wrap(cfg)


# Table names used by the original release's configs -> the converted tables shipped here.
LEGACY_TABLE_NAMES = {"lat_list_densenas_mbv2_xp32": "mbv2_titanxp_b32_224.json",
                      "lat_list_resv2_32": "resnet_titanxp_b32_224.json"}


def resolve_path(name: str, cfg: Optional[Config] = None) -> str:
    """Find a file named in a config: as given, beside the config file, or under the repo root
    and ``latency_tables/`` (where the original release's table names find their conversions)."""
    if not name:
        return name
    candidates = [name]
    legacy = LEGACY_TABLE_NAMES.get(os.path.basename(name))
    if cfg is not None and cfg.get("_path"):
        candidates.append(os.path.join(os.path.dirname(cfg["_path"]), name))
    candidates += [os.path.join(ROOT_DIR, name), os.path.join(ROOT_DIR, "latency_tables", name)]
    if legacy:
        candidates.append(os.path.join(ROOT_DIR, "latency_tables", legacy))
    for c in candidates:
        if os.path.isfile(c):
            return c
    return name


__all__ = ["Config", "find_config", "load_config", "parse_override", "resolve_path", "ConfigError"]
