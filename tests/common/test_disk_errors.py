"""A full disk or a folder one cannot write: one line naming the file, exit 75 (free space and rerun:
it resumes) or 2, and what was written before is intact (writes are temp file + rename)."""
import errno
import glob
import json
import os
import shutil

import pytest

from common.cli import main_guard
from common.io import atomic_write_json, atomic_write_text
from tests.conftest import ROOT

SEARCH = glob.glob(os.path.join(ROOT, "tools", "results", "quality_fmnist_1.5ms_controls", "units", "searches",
                                "seed_1", "search-*"))[0]


def _fail_fsync(code):
    def fsync(fd):
        raise OSError(code, os.strerror(code))
    return fsync


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_failed_write_names_the_file_and_keeps_the_old_one(code, tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    atomic_write_json(str(path), {"ok": 1})
    monkeypatch.setattr(os, "fsync", _fail_fsync(code))
    with pytest.raises(OSError) as e:
        atomic_write_json(str(path), {"ok": 2})
    assert e.value.errno == code and e.value.filename == str(path)
    assert json.load(open(path)) == {"ok": 1}
    assert os.listdir(tmp_path) == ["result.json"]  # no temp file left behind


@pytest.mark.parametrize("code, exit_code, start", [(errno.ENOSPC, 75, "stopped: cannot write"),
                                                     (errno.EROFS, 2, "error: cannot write"),
                                                     (errno.EACCES, 2, "error: cannot write")])
def test_the_cli_guard_says_it_in_one_line(code, exit_code, start, tmp_path, monkeypatch, capsys):
    target = tmp_path / "out" / "quality.json"

    @main_guard
    def main(argv=None):
        atomic_write_text(str(target), "x")
    monkeypatch.setattr(os, "fsync", _fail_fsync(code))
    with pytest.raises(SystemExit) as e:
        main([])
    err = capsys.readouterr().err.strip()
    assert e.value.code == exit_code and len(err.splitlines()) == 1 and err.startswith(start) and str(target) in err


def test_a_derive_on_a_full_disk_stops_resumably_and_keeps_its_outputs(tmp_path, monkeypatch, capsys):
    from run_apis.derive import main
    run = tmp_path / "search"
    shutil.copytree(SEARCH, run)
    out = tmp_path / "derived"
    main(["--load_path", str(run), "--max_cost", "1.5", "--out", str(out)])
    before = {p: open(p, "rb").read() for p in glob.glob(str(out / "**" / "*"), recursive=True) if os.path.isfile(p)}
    assert before
    capsys.readouterr()
    monkeypatch.setattr(os, "fsync", _fail_fsync(errno.ENOSPC))
    with pytest.raises(SystemExit) as e:
        main(["--load_path", str(run), "--max_cost", "1.2", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 75 and len(err.splitlines()) == 1 and "No space left on device" in err
    after = {p: open(p, "rb").read() for p in glob.glob(str(out / "**" / "*"), recursive=True) if os.path.isfile(p)}
    assert after == before


def test_a_unit_that_stops_on_a_full_disk_stops_the_benchmark_resumably(tmp_path, monkeypatch):
    from common.errors import Preempted
    from tools.quality import units
    monkeypatch.setattr(units, "run_child", lambda cmd, log, threads: 75)
    with pytest.raises(Preempted, match="the same command resumes it"):
        units.run_unit(["python", "-m", "run_apis.retrain"], str(tmp_path / "log.txt"), 1)
