"""Every command-line option says what it does; search --help lists every output file."""
import argparse
import importlib
import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMMANDS = ["run_apis.search", "run_apis.retrain", "run_apis.validation", "run_apis.profile", "run_apis.derive",
            "run_apis.latency_measure", "run_apis.export", "tools.convert_weights", "tools.download", "tools.demo",
            "tools.speed.data", "tools.speed.search", "tools.benchmark_target", "tools.make_search_space",
            "tools.results_tables", "tools.quality.pack", "tools.supernet.probe_readout",
            "tools.supernet.probe_arch_gradients", "tools.supernet.probe_op_losses",
            "dataset.mk_img_list", "dataset.mk_split_img_list", "dataset.img2lmdb", "dataset.demo",
            "dataset.cifar_to_folders", "tools.quality.projection", "tools.quality.executor_overhead",
            "tools.quality.rescore", "tools.latency.ort_noise", "tools.latency.runtimes",
            "tools.latency.runtime_searches", "tools.latency.eager_noise"]


class _Captured(Exception):
    pass


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name, monkeypatch):
    captured = {}

    def capture(self, args=None, namespace=None):
        captured["parser"] = self
        raise _Captured
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    module = importlib.import_module(name)
    with pytest.raises(_Captured):
        module.main([])
    parser = captured["parser"]
    assert parser.description, name
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help and a.help.strip())]
    assert not missing, f"{name}: options without help: {missing}"


def test_search_help_lists_every_output():
    out = subprocess.run([sys.executable, "-m", "run_apis.search", "--help"], cwd=ROOT, capture_output=True,
                         text=True).stdout
    for name in ("log.txt", "tb/", "net_config", "derived.json", "topk/", "arch_params.json", "arch.png",
                 "routes.png", "search.png", "checkpoint.pt", "config.yaml", "history.json"):
        assert name in out, name
