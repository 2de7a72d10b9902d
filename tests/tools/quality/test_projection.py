"""The paper projection of a benchmark on W workers (issue 56 §4): the priority pool's schedule."""
import json
import os

import pytest

from tests.conftest import ROOT
from tools.quality.projection import main, makespan, units_of_report


def test_one_worker_runs_everything_back_to_back():
    r = makespan([10, 20], [2, 1], 5.0, 1)
    assert r["wall_s"] == pytest.approx(45.0) and r["busy_share"] == pytest.approx(1.0)


def test_retrains_wait_for_their_search_and_fill_free_workers():
    # t=0 both searches; t=10 seed 0's two retrains run one after another on the freed worker
    # (10-15, 15-20); t=20 seed 1's search ends, its retrain runs 20-25
    assert makespan([10, 20], [2, 1], 5.0, 2)["wall_s"] == pytest.approx(25.0)


def test_a_later_seeds_search_waits_behind_an_earlier_seeds_retrains():
    # the pool's (seed, kind) priority: seed 0's retrains (0, 1) go before seed 2's search (2, 0)
    r = makespan([10, 10, 10], [2, 0, 0], 100.0, 2)
    assert r["wall_s"] == pytest.approx(120.0)
    assert r["wall_s"] >= r["lower_bound_s"]


def test_overhead_is_paid_per_unit_and_many_workers_hit_the_critical_path():
    base = makespan([30, 30], [4, 4], 10.0, 64)
    assert base["wall_s"] == pytest.approx(40.0) == base["lower_bound_s"]
    assert makespan([30, 30], [4, 4], 10.0, 64, unit_overhead_s=1.0)["wall_s"] == pytest.approx(42.0)


@pytest.mark.parametrize("folder", ["quality_fmnist_1.5ms_sandwich", "quality_fmnist_1.5ms_nse_controls"])
def test_units_of_a_committed_report_match_its_compute_record(folder):
    with open(os.path.join(ROOT, "tools", "results", folder, "quality.json"), encoding="utf-8") as f:
        report = json.load(f)
    u = units_of_report(report)
    assert sum(u["retrains_per_seed"]) == report["compute"]["retrain_units"]
    assert len(u["search_s"]) == len(report["searches"])


def test_cli_writes_the_projection_and_rejects_bad_inputs(tmp_path, capsys):
    q = os.path.join(ROOT, "tools", "results", "quality_fmnist_1.5ms_sandwich", "quality.json")
    overhead = tmp_path / "o.json"
    overhead.write_text(json.dumps({"dispatch": {"ray": {"overhead_per_unit_s": 0.5, "start_stop_s": 12.0}}}))
    main(["--quality", q, "--workers", "1", "8", "--overhead", str(overhead), "--out", str(tmp_path / "p")])
    out = json.loads((tmp_path / "p.json").read_text())
    one, eight = out["rows"]
    assert one["ray"]["wall_s"] == pytest.approx(one["local_pool"]["wall_s"] + 0.5 * (5 + 89) + 12.0)
    assert eight["local_pool"]["wall_s"] < one["local_pool"]["wall_s"]
    assert "| 8 |" in (tmp_path / "p.md").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["--quality", q, "--overhead", str(q)])  # a quality.json is not an overhead record
    assert e.value.code == 2 and "--overhead" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"searches": [{}], "protocol": {}}))
    with pytest.raises(SystemExit) as e:
        main(["--quality", str(old)])
    assert e.value.code == 2 and "compute record" in capsys.readouterr().err
