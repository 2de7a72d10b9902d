"""tools.cli_args: --quick presets under explicit options, config paths, minimums (one-line errors)."""
import argparse
import os

import pytest

from common.errors import InputError
from tools.cli_args import check_fraction, check_minimums, fill_defaults, resolve_configs


def test_fill_defaults_quick_under_explicit_options():
    args = argparse.Namespace(quick=True, seeds=None, random=7, save=None)
    fill_defaults(args, ("seeds", "random", "save"), {"seeds": 3, "random": 3}, {"seeds": 5, "save": "runs/x"})
    assert (args.seeds, args.random, args.save) == (3, 7, "runs/x")
    args = argparse.Namespace(quick=False, seeds=None)
    fill_defaults(args, ("seeds",), {"seeds": 3}, {"seeds": 5})
    assert args.seeds == 5


def test_configs_minimums_and_fractions():
    args = argparse.Namespace(config="demo_search.yaml", train_config="nosuch.yaml", jobs=0, cost_tolerance=1.5)
    resolve_configs(args, ("config",))
    assert os.path.isabs(args.config) and args.config.endswith(os.path.join("configs", "demo_search.yaml"))
    with pytest.raises(InputError, match="--train_config nosuch.yaml: file not found"):
        resolve_configs(args, ("train_config",))
    with pytest.raises(InputError, match="--jobs 0: must be at least 1"):
        check_minimums(args, (("jobs", 1),))
    with pytest.raises(InputError, match=r"--cost_tolerance 1.5: must be in \(0, 1\)"):
        check_fraction(args)
