"""Faults under --executor ray (issue 56 §3), as the local pool survives them: the driver killed
anywhere (SIGKILL to its process group, ≥ 10 times), a Ray worker killed under a running unit, and a
SIGTERM of the driver. Final numbers equal an uninterrupted run's; no unit is counted twice; no
unit or Ray process is left behind. Harness: tests/tools/quality/test_kill.py."""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.tools.quality.test_kill import (KILLS, RETRAIN, TINY, _numbers, _stage, command_lines, kill_anywhere,
                                          units_alive)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children die with their parent via prctl")]
pytest.importorskip("ray")
RAY = TINY + ["--executor", "ray"]


def ray_processes() -> list:
    """Ray's own processes (a local Ray left behind by a killed driver would show here)."""
    return [cmd[:100] for cmd in command_lines() if "ray/core/src/ray" in cmd or cmd.startswith("ray::")]


def _wait_gone(what, timeout=20):
    deadline = time.monotonic() + timeout
    while what() and time.monotonic() < deadline:
        time.sleep(0.2)
    return what()


def test_ray_driver_killed_anywhere_loses_and_double_counts_nothing(tmp_path):
    ref, killed, report = kill_anywhere("tools.quality.benchmark", RAY, tmp_path, KILLS, _stage)
    assert _numbers(killed) == _numbers(ref)
    assert len(glob.glob(os.path.join(killed, RETRAIN, "result.json"))) == \
        len(glob.glob(os.path.join(ref, RETRAIN, "result.json")))
    assert _wait_gone(ray_processes) == []


def _start(save, log):
    cmd = [sys.executable, "-m", "tools.quality.benchmark", "--save", str(save)] + RAY
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for(pattern_dir, pattern, proc, timeout=600):
    deadline = time.monotonic() + timeout
    while not glob.glob(os.path.join(str(pattern_dir), pattern)):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the moment came"
        time.sleep(0.05)


def test_a_killed_ray_worker_is_retried_and_counted_once(tmp_path):
    save = tmp_path / "run"
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(save, log)
        _wait_for(save, RETRAIN + "retrain-*/checkpoint.pt", proc)
        workers = [int(os.path.basename(d)) for d in glob.glob("/proc/[0-9]*")
                   if open(os.path.join(d, "cmdline"), "rb").read().startswith(b"ray::_unit_task")]
        assert workers, "no Ray worker was running a unit"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=900) == 0, (tmp_path / "log.txt").read_text()[-2000:]
    ref = tmp_path / "ref"
    with open(tmp_path / "ref.txt", "w") as log:
        assert _start(ref, log).wait(timeout=900) == 0
    assert _numbers(save) == _numbers(ref)
    assert len(glob.glob(os.path.join(save, RETRAIN, "result.json"))) == len(glob.glob(os.path.join(ref, RETRAIN, "result.json")))
    assert _wait_gone(ray_processes) == [] and units_alive(save) == []


def test_sigterm_cancels_the_tasks_leaves_nothing_and_resumes(tmp_path):
    save = tmp_path / "run"
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(save, log)
        _wait_for(save, "searches/seed_1/search-*/checkpoint.pt", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 75, (tmp_path / "log.txt").read_text()[-2000:]
    text = (tmp_path / "log.txt").read_text()
    assert "Traceback" not in text and "ray.exceptions" not in text
    assert _wait_gone(lambda: units_alive(save)) == [] and _wait_gone(ray_processes) == []
    with open(tmp_path / "log2.txt", "w") as log:
        assert _start(save, log).wait(timeout=900) == 0
    assert os.path.isfile(save / "quality.json")
    assert len(glob.glob(os.path.join(save, "searches", "seed_1", "search-*"))) == 1  # resumed, not started over
