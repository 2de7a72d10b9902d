"""--executor ray (issue 56): the units as Ray tasks on a local Ray, the same numbers as the local
pool, and the failures the local pool handles, handled alike."""
import json
import sys

import pytest

from common.errors import InputError

ray = pytest.importorskip("ray")


def test_executor_options_are_checked():
    from tools.quality import ray_units
    ray_units.start("local", None, 2)  # the local pool: nothing to start
    assert not ray_units.active()
    with pytest.raises(InputError, match="--ray_address needs --executor ray"):
        ray_units.start("local", "auto", 2)


def test_a_node_that_cannot_see_the_run_folder_says_which(tmp_path):
    from tools.quality.ray_units import _unit_task
    out = _unit_task([sys.executable, "-c", "pass"], str(tmp_path / "gone" / "unit.log"), 1, str(tmp_path))
    assert out["error"].startswith("node ") and str(tmp_path / "gone") in out["error"]


@pytest.fixture
def local_ray():
    from tools.quality import ray_units
    ray_units.start("ray", None, 2)
    yield ray_units
    ray_units.stop()


def test_units_run_as_ray_tasks_with_exit_codes_and_logs(local_ray, tmp_path):
    from tools.quality.child_runs import run_child
    log = tmp_path / "unit" / "unit.log"
    assert run_child([sys.executable, "-c", "print('hello from a unit')"], str(log), 1) == 0
    assert run_child([sys.executable, "-c", "import sys; sys.exit(3)"], str(log), 1) == 3  # as the local pool
    text = log.read_text()
    assert "hello from a unit" in text and "(ray, node " in text
    with pytest.raises(InputError, match="cannot see"):  # the folder vanished (no shared filesystem)
        local_ray.run_on_ray([sys.executable, "-c", "pass"], str(tmp_path / "nowhere" / "u.log"), 1,
                             __import__("threading").RLock(), lambda started=True: None)


def _ranking(executor, tmp_path, capsys):
    from tools.supernet.ranking_set import main
    save = tmp_path / executor
    main(["--quick", "--strata", "3", "--window", "1", "--save", str(save), "--out", str(save / "set.json"),
          "--executor", executor, "--jobs", "2"])
    capsys.readouterr()
    data = json.loads((save / "set.json").read_text())
    return [(n["id"], n["net_config"], [(r["seed"], r["test_top1"], r["val_top1_final"]) for r in n["retrains"]])
            for n in data["nets"]], data["reliability"]


@pytest.mark.slow  # two ranking sets: ~1.5 min idle (make test-slow)
def test_ranking_set_quick_on_ray_equals_the_local_pool(tmp_path, capsys):
    from tools.quality import ray_units
    assert not ray_units.active()
    assert _ranking("ray", tmp_path, capsys) == _ranking("local", tmp_path, capsys)
    assert not ray_units.active()  # the local Ray is stopped with the run
