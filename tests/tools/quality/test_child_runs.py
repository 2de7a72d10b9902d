"""tools.quality.child_runs: a stop signal of a benchmark reaches its running children (SIGTERM, their
checkpointing signal), no new child starts, and a stopped unit raises Preempted; a retrain unit
whose earlier attempt left a checkpoint is resumed from it, not started over."""
import os
import signal
import sys
import threading
import time
import types

import pytest
import torch

from common.errors import Preempted
from tools.quality import child_runs
from tools.quality.child_runs import request_stop, run_child, stop_children_on_signal

# a child that, like run_apis.search / retrain, exits 75 on SIGTERM (after "writing its checkpoint")
CHILD = ("import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, lambda *a: (print('checkpoint', flush=True), sys.exit(75)))\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n")


@pytest.fixture(autouse=True)
def fresh_state():
    child_runs.reset()
    yield
    child_runs.reset()


def _start_in_thread(log, script=CHILD):
    box = {}

    def target():
        try:
            box["code"] = run_child([sys.executable, "-c", script], str(log), 1)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            box["error"] = e
    thread = threading.Thread(target=target)
    thread.start()
    for _ in range(300):  # the child has installed its handler
        if log.is_file() and "ready" in log.read_text().splitlines():  # its output, not the command line
            return thread, box
        time.sleep(0.05)
    raise AssertionError("child never started")


def test_run_child_returns_the_exit_code_and_appends_to_the_log(tmp_path):
    log = tmp_path / "sub" / "log.txt"
    assert run_child([sys.executable, "-c", "print('hello')"], str(log), 1) == 0
    assert run_child([sys.executable, "-c", "import sys; sys.exit(3)"], str(log), 1) == 3
    text = log.read_text()
    assert text.count("$ ") == 2 and "hello" in text


def test_a_stop_terminates_running_children_and_starts_no_new_one(tmp_path):
    log = tmp_path / "log.txt"
    thread, box = _start_in_thread(log)
    assert request_stop(signal.SIGTERM) == 1
    thread.join(10)
    assert not thread.is_alive() and isinstance(box.get("error"), Preempted)
    assert "SIGTERM" in str(box["error"]) and "checkpoint" in log.read_text().splitlines()
    with pytest.raises(Preempted, match="not started"):  # nothing new starts once stopping, nor is logged
        run_child([sys.executable, "-c", "open('started', 'w')"], str(tmp_path / "log2.txt"), 1)
    assert not (tmp_path / "started").exists() and not (tmp_path / "log2.txt").exists()


def test_a_child_that_finishes_during_a_stop_still_counts(tmp_path):
    """A child that ends well after the stop (it ignored it, or was finishing) returns 0: its unit is kept."""
    log = tmp_path / "log.txt"
    thread, box = _start_in_thread(log, CHILD.replace("sys.exit(75)", "None").replace("time.sleep(60)", "time.sleep(1)"))
    request_stop(signal.SIGTERM)
    thread.join(10)
    assert box == {"code": 0} and "checkpoint" in log.read_text().splitlines()


def test_the_signal_handler_forwards_sigterm_and_is_removed_after(tmp_path):
    if threading.current_thread() is not threading.main_thread():  # no handler there: SIGTERM would kill the runner
        pytest.skip("signal handlers are installed from the main thread only")
    before = signal.getsignal(signal.SIGTERM)
    log = tmp_path / "log.txt"
    with stop_children_on_signal():
        thread, box = _start_in_thread(log)
        os.kill(os.getpid(), signal.SIGTERM)   # this process: the handler only asks the children to stop
        thread.join(10)
        assert isinstance(box.get("error"), Preempted) and "checkpoint" in log.read_text().splitlines()
    assert signal.getsignal(signal.SIGTERM) is before and child_runs._stop_signal is None


def test_a_retrain_unit_resumes_its_checkpointed_attempt(tmp_path, monkeypatch):
    import json
    import tools.quality.units as qu
    seen = []

    def fake_run(cmd, log_path, threads):
        seen.append(cmd)
        folder = cmd[cmd.index("--save") + 1]
        run = cmd[cmd.index("--resume") + 1] if "--resume" in cmd else os.path.join(folder, "retrain-3")
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(run, "results.json"), "w") as f:
            json.dump({"test": {"top1": 80.0}, "final": {"top1": 79.0}, "best": {"top1": 79.5}}, f)
    monkeypatch.setattr(qu, "run_unit", fake_run)
    bench = qu.QualityUnits.__new__(qu.QualityUnits)
    bench.a = types.SimpleNamespace(train_config="recipe.yaml", test_split="test", train_opts=[], no_channels_last=True, threads=1,
                                    data_path=None)
    bench.save, bench.py, bench.recipe_hash = str(tmp_path), sys.executable, "abc"
    folder = tmp_path / "retrains" / bench.retrain_key("net", 0)
    for name, ckpt in (("retrain-1", True), ("retrain-2", True), ("retrain-3", False)):  # newest has no checkpoint
        (folder / name).mkdir(parents=True)
        if ckpt:
            torch.save({"step": 1}, folder / name / "checkpoint.pt")  # a checkpoint that loads
    out = bench._retrain("net", 0, "label")
    assert seen[0][seen[0].index("--resume") + 1] == str(folder / "retrain-2")
    assert sorted(os.listdir(folder)) == ["net_config", "result.json", "retrain-2"] and out["resumed"] is True
    assert out["test_top1"] == 80.0
    from tools.quality.report import _resumed_note
    assert "1 retrains resumed" in _resumed_note({"retrain_units_resumed": 1}) and _resumed_note({}) == ""
    # a unit without any checkpointed attempt starts over, clean
    folder2 = tmp_path / "retrains" / bench.retrain_key("net", 1)
    (folder2 / "retrain-1").mkdir(parents=True)
    out = bench._retrain("net", 1, "label")
    assert "--resume" not in seen[1] and "resumed" not in out and not (folder2 / "retrain-1").exists()
