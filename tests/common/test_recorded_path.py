"""common.io.recorded_path: what a committed report records of a path it read."""
import os

from common.io import recorded_path


def test_a_path_under_the_working_directory_is_recorded_relative(tmp_path, monkeypatch):
    (tmp_path / "runs" / "search-1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert recorded_path(str(tmp_path / "runs" / "search-1")) == os.path.join("runs", "search-1")
    assert recorded_path("runs/search-1/") == os.path.join("runs", "search-1")


def test_a_path_outside_it_stays_absolute(tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert recorded_path(str(tmp_path / "other" / "x.json")) == str(tmp_path / "other" / "x.json")
    assert recorded_path("..") == str(tmp_path)
