"""Kill it anywhere, for the ranking set and the super-network benchmark (harness:
tests/tools/quality/test_kill.py): SIGKILL at many moments, resumed after each; the final JSON
equals the uninterrupted run's, no retrain counted twice, snapshots and score caches never trusted
half-written."""
import glob
import json
import os

import pytest

from tests.tools.quality.test_kill import kill_anywhere

pytestmark = pytest.mark.slow

RANKING_KILLS = [
    ("start-up", None),
    ("nets drawn", "ranking_nets.json"),
    ("a retrain started", "retrains/*/net_config"),
    ("a retrain finished (between units)", "retrains/*/result.json"),
    ("the set rewritten", "set.json"),
    ("a retrain wrote a checkpoint", "retrains/*/retrain-*/checkpoint.pt"),
    ("a retrain finished (between units)", "retrains/*/result.json"),
    ("the set rewritten", "set.json"),
    ("a retrain started", "retrains/*/net_config"),
    ("a retrain finished (between units)", "retrains/*/result.json"),
    ("the set rewritten", "set.json"),
]


def _ranking_args(save):
    return ["--quick", "--strata", "3", "--window", "1", "--out", os.path.join(str(save), "set.json")]


def _ranking_stage(save):
    return f"{len(glob.glob(os.path.join(str(save), 'retrains', '*', 'result.json')))} retrains done"


def _set_numbers(path):
    data = json.load(open(path, encoding="utf-8"))
    return [(n["id"], n["net_config"], [(r["seed"], r["test_top1"], r["val_top1_final"]) for r in n["retrains"]])
            for n in data["nets"]], data["reliability"]


@pytest.fixture(scope="module")
def killed_ranking(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill-ranking")
    return kill_anywhere("tools.supernet.ranking_set", _ranking_args, tmp, RANKING_KILLS, _ranking_stage)


def test_ranking_set_killed_anywhere(killed_ranking):
    ref, killed, _ = killed_ranking
    assert _set_numbers(killed / "set.json") == _set_numbers(ref / "set.json")
    assert len(glob.glob(os.path.join(killed, "retrains", "*", "result.json"))) == \
        len(glob.glob(os.path.join(ref, "retrains", "*", "result.json")))


SUPERNET_KILLS = [
    ("start-up", None),
    ("a training checkpoint written", "uniform_12/supernet.pt"),
    ("a snapshot written", "uniform_12/weights_*.pt"),
    ("the next training checkpoint", "uniform_12/supernet.pt"),
    ("a strategy finished", "uniform_12/result.json"),
    ("the second strategy's checkpoint", "fair_12/supernet.pt"),
    ("its snapshot", "fair_12/weights_*.pt"),
    ("a strategy finished", "fair_12/result.json"),
    ("proxies written", "proxies.json"),
    ("a score cache written", "*_12/scores_*.json"),
    ("another score cache written", "*_12/scores_*.json"),
    ("report being written", "supernet.json"),
]


def test_supernet_benchmark_killed_anywhere(killed_ranking, tmp_path):
    ref_set = killed_ranking[0] / "set.json"
    ref, killed, _ = kill_anywhere("tools.supernet.benchmark", ["--quick", "--ranking", str(ref_set)], tmp_path,
                                   SUPERNET_KILLS, lambda d: ", ".join(sorted(os.listdir(d))) if os.path.isdir(d) else "")

    def numbers(folder):
        rep = json.load(open(os.path.join(folder, "supernet.json"), encoding="utf-8"))
        return {name: ([(p["step"], p["train_top1"], p["train_loss"], p["probe_one_shot_top1"]) for p in s["curve"]],
                       [(r["step"], r["one_shot_top1"]) for r in s["rankings"]])
                for name, s in rep["strategies"].items()}, rep["proxies"]
    assert numbers(killed) == numbers(ref)
