"""Ray's measured overhead against the local pool (issue 56 §4)."""
import json

import pytest

from tools.quality.executor_overhead import _parse_quick, main, markdown


def test_quick_configs_are_parsed_and_checked():
    assert _parse_quick(["local:2", "ray:1"]) == [("local", 2), ("ray", 1)]
    from common.errors import InputError
    for bad in ("dask:2", "ray", "ray:0", "ray:x"):
        with pytest.raises(InputError, match="EXECUTOR:JOBS"):
            _parse_quick([bad])


def test_report_lists_each_quick_run():
    text = markdown({"quick": {"ray:1": {"executor": "ray", "jobs": 1, "units": 30, "wall_s": 400.0, "load_before": 0.1},
                               "local:1": {"executor": "local", "jobs": 1, "units": 30, "wall_s": 380.0, "load_before": 0.0}}})
    rows = [ln for ln in text.splitlines() if ln.startswith("| local")]
    assert rows[0].startswith("| local pool | 1 | 30 | 380 s") and rows[1].startswith("| local Ray | 1 | 30 | 400 s")


@pytest.mark.slow  # starts a local Ray (~15 s)
def test_dispatch_is_measured_and_cached(tmp_path, capsys):
    pytest.importorskip("ray")
    out = tmp_path / "o"
    main(["--out", str(out), "--units", "4", "--jobs", "2", "--work", str(tmp_path / "w")])
    d = json.loads((tmp_path / "o.json").read_text())["dispatch"]
    assert d["units"] == 4 and d["local"]["wall_s"] > 0 and d["ray"]["start_s"] > 0
    assert len(list((tmp_path / "w" / "dispatch" / "ray").glob("unit_*.log"))) == 4
    capsys.readouterr()
    main(["--out", str(out), "--units", "4"])  # cached: not measured again
    assert json.loads((tmp_path / "o.json").read_text())["dispatch"] == d
    assert "empty units, local pool then local Ray" not in capsys.readouterr().out
