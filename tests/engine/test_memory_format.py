"""The memory format defaults to the faster one for the device; either can be forced."""
import argparse

import torch

from engine.cli import add_common_args
from engine.run_setup import RunOptions, resolve_channels_last, with_memory_format


def test_default_by_device_and_forcing():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_channels_last(None, cpu, False) is True
    assert resolve_channels_last(None, cuda, False) is False and resolve_channels_last(None, cuda, True) is True
    assert resolve_channels_last(False, cpu, False) is False and resolve_channels_last(True, cuda, False) is True
    assert with_memory_format(RunOptions(), cpu).channels_last is True
    assert with_memory_format(RunOptions(channels_last=False), cpu).channels_last is False


def test_cli_flags():
    p = argparse.ArgumentParser()
    add_common_args(p)
    assert p.parse_args([]).channels_last is None
    assert p.parse_args(["--channels_last"]).channels_last is True
    assert p.parse_args(["--no-channels_last"]).channels_last is False
