"""Kill it anywhere: a tiny quality benchmark run once uninterrupted, then from scratch with SIGKILL sent
to its whole process tree at many moments (power loss, the OOM killer), resumed after each kill. The
final numbers equal the uninterrupted run's, no unit is counted twice, and no orphaned child keeps
writing into the folder the next run resumes (units die with their benchmark: common.process).
``kill_anywhere`` is the harness; tests/tools/supernet/test_kill.py uses it for the ranking set and
the super-network benchmark."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children die with their parent via prctl")]

TINY = ["--quick", "--seeds", "1", "--random", "2", "--retrain_seeds", "1", "--noise_seeds", "1", "--jobs", "1",
        "--opts", "train_params.epochs=3", "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1",
        "data.steps_per_epoch=3", "--train_opts", "train_params.epochs=2", "data.steps_per_epoch=3"]
SEARCH = "searches/seed_1/search-*/"
RETRAIN = "retrains/*/"
# (moment, files whose creation or change after a (re)start triggers the kill; None: 0.5 s after it):
# together they cover start-up, a search and a retrain right after each checkpoint, between units,
# the one-shot scores, the random draw and the report being written
KILLS = [
    ("start-up", None),
    ("search wrote its first checkpoint", SEARCH + "checkpoint.pt"),
    ("resumed search wrote another checkpoint", SEARCH + "checkpoint.pt"),
    ("search just finished", SEARCH + "history.json"),
    ("one-shot scores written", "one_shot/seed_1.json"),
    ("random draw written", "random/seed_1.json"),
    ("a retrain started", RETRAIN + "net_config"),
    ("a retrain wrote a checkpoint", RETRAIN + "retrain-*/checkpoint.pt"),
    ("a retrain finished (between units)", RETRAIN + "result.json"),
    ("a retrain wrote a checkpoint", RETRAIN + "retrain-*/checkpoint.pt"),
    ("a retrain finished (between units)", RETRAIN + "result.json"),
    ("a retrain started", RETRAIN + "net_config"),
    ("a retrain finished (between units)", RETRAIN + "result.json"),
    ("report being written", "quality.json"),
]


def _start(module, args, save, log):
    cmd = [sys.executable, "-m", module, "--save", str(save)] + (args(save) if callable(args) else list(args))
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def _state(save, pattern) -> set:
    out = set()
    for path in glob.glob(os.path.join(str(save), pattern)):
        try:
            out.add((path, os.stat(path).st_mtime_ns))
        except OSError:
            pass
    return out


def command_lines() -> list:
    """The command line of every running process (those that end while read are skipped)."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(os.path.join(d, "cmdline"), "rb") as f:
                out.append(f.read().decode(errors="replace").replace("\0", " "))
        except OSError:
            continue
    return out


def units_alive(save) -> list:
    """Processes other than the benchmark itself still running with this save folder (orphans)."""
    return [cmd[:120] for cmd in command_lines() if str(save) in cmd and " -m tools." not in cmd]


def kill_anywhere(module, args, tmp_path, kills, stage):
    """Run ``module args`` (a list, or a function of the save folder) once uninterrupted, then again,
    killed with SIGKILL to its process group and restarted, until it finishes on its own. ``kills``:
    (moment, file pattern) pairs; the first is 0.5 s after a start (pattern None), then each restart
    is killed at the first creation or change, after the restart, of a file matching any pattern not
    yet used up (a pattern is used as many times as it is listed), whatever the order the run writes
    them in. Returns (uninterrupted folder, killed folder, a line per kill: moment and ``stage``)."""
    ref, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    with open(tmp_path / "uninterrupted.log", "w") as log:
        t0 = time.monotonic()
        assert _start(module, args, ref, log).wait(timeout=900) == 0, open(tmp_path / "uninterrupted.log").read()[-2000:]
        took = time.monotonic() - t0
    report = [f"uninterrupted {took:.0f} s"]
    left = {}
    for moment, pattern in kills:
        if pattern:
            left.setdefault(pattern, [moment, 0])[1] += 1
    with open(tmp_path / "killed.log", "w") as log:
        first = True
        while True:
            watched = [p for p, (_, n) in left.items() if n > 0]
            if not first and not watched:
                break
            seen = {p: _state(killed, p) for p in watched}
            proc = _start(module, args, killed, log)
            t0, hit = time.monotonic(), None
            while proc.poll() is None and hit is None:
                if first:
                    hit = "start-up" if time.monotonic() - t0 >= 0.5 else None
                else:
                    hit = next((p for p in watched if not _state(killed, p) <= seen[p]), None)
                time.sleep(0.02)
            if proc.poll() is not None:  # finished on its own: nothing left to kill
                assert proc.returncode == 0, open(tmp_path / "killed.log").read()[-2000:]
                report.append("finished on its own")
                break
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if first:
                first = False
                report.append(f"start-up: killed ({stage(killed)})")
            else:
                left[hit][1] -= 1
                report.append(f"{left[hit][0]}: killed ({stage(killed)})")
            deadline = time.monotonic() + 5
            while units_alive(killed) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert units_alive(killed) == [], "a unit kept running after its benchmark was killed"
        if report[-1] != "finished on its own":
            assert _start(module, args, killed, log).wait(timeout=900) == 0, open(tmp_path / "killed.log").read()[-2000:]
    print("\n".join(report))
    (tmp_path / "kills.txt").write_text("\n".join(report) + "\n")  # what was killed where, for the docs
    assert sum(1 for line in report if ": killed" in line) >= min(10, len(kills) - 2)
    return ref, killed, report


def _stage(save) -> str:
    searched = bool(glob.glob(os.path.join(save, SEARCH, "history.json")))
    retrains = len(glob.glob(os.path.join(save, RETRAIN, "result.json")))
    return f"search {'done' if searched else 'running'}, {retrains} retrains done" + \
        (", report" if os.path.isfile(os.path.join(save, "quality.json")) else "")


def _numbers(save) -> dict:
    with open(os.path.join(save, "quality.json"), encoding="utf-8") as f:
        rep = json.load(f)
    s = rep["searches"][0]
    return {"net": s["net_config"], "acc": s["acc"], "random": [(r["net_config"], r["acc"]) for r in s["random"]],
            "gap": rep["mean_gap"], "noise": rep["retrain_noise"]["test_top1"],
            "units": rep["compute"]["retrain_units"], "one_shot": s["one_shot"], "tau": rep["kendall_tau"]}


def test_quality_benchmark_killed_anywhere_loses_and_double_counts_nothing(tmp_path):
    ref, killed, _ = kill_anywhere("tools.quality.benchmark", TINY, tmp_path, KILLS, _stage)
    assert _numbers(killed) == _numbers(ref)
    assert len(glob.glob(os.path.join(killed, RETRAIN, "result.json"))) == \
        len(glob.glob(os.path.join(ref, RETRAIN, "result.json")))
