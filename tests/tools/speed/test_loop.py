"""tools.speed.loop: the composition of a full search and a whole benchmark from measured parts,
and the tool end to end on tiny data (two short searches, the retrain times from a report)."""
import glob
import json
import os

import pytest

from common.errors import InputError
from dataset.demo import generate
from tests.conftest import ROOT, TINY_OPTS
from tools.speed.loop import (build_parser, compose_benchmark, compose_search, kind_times, main, schedule_kinds,
                              search_key)


def test_schedule_kinds_follow_the_search_loop_rules():
    # the paper-style Fashion-MNIST schedule: 8 weight-only epochs, arch from 8, val in the last
    assert schedule_kinds(20, 8, 19) == {"weight": 8, "weight+arch": 11, "weight+arch+val": 1}
    assert schedule_kinds(3, 0, 0) == {"weight+arch+val": 3}
    assert schedule_kinds(4, 2, 1) == {"weight": 1, "weight+val": 1, "weight+arch+val": 2}


def _hist(*rows):
    return [{"epoch": e, "arch": a, "val": v, "epoch_time_s": t} for e, (a, v, t) in enumerate(rows)]


def test_kind_times_leave_epoch_zero_out_unless_it_is_the_only_one():
    h = _hist((False, False, 50.0), (False, False, 10.0), (True, False, 20.0), (True, True, 30.0))
    assert kind_times(h) == {"weight": 10.0, "weight+arch": 20.0, "weight+arch+val": 30.0}
    assert kind_times(_hist((True, False, 7.0))) == {"weight+arch": 7.0}
    # real history records carry dicts (or None) for arch and val
    real = [{"epoch": 0, "arch": {"loss": 1.0}, "val": None, "epoch_time_s": 4.0}]
    assert kind_times(real) == {"weight+arch": 4.0}


def test_compose_search_adds_the_missing_epochs_at_their_kind_time():
    h = _hist((False, False, 50.0), (False, False, 10.0), (True, False, 20.0), (True, True, 30.0))
    full = schedule_kinds(20, 8, 19)  # 8 weight, 11 weight+arch, 1 weight+arch+val
    # short wall 120 s; lacks 6 weight epochs, 10 weight+arch, 0 val
    assert compose_search(120.0, h, full) == pytest.approx(120 + 6 * 10 + 10 * 20)
    with pytest.raises(InputError, match="weight\\+val"):
        compose_search(120.0, h, {"weight+val": 1})
    assert compose_benchmark(5, 63, 600.0, 80.0) == 5 * 600 + 63 * 80


def test_bench_loop_end_to_end_on_tiny_data(tmp_path, capsys):
    data = generate(str(tmp_path / "demo"), num_classes=5, train_per_class=20, val_per_class=4,
                    test_per_class=4, quiet=True)
    report_in = tmp_path / "bench_retrain.json"
    report_in.write_text(json.dumps({"summary": {"files": {"wall_s_mean": 12.0}, "array": {"wall_s_mean": 8.0}}}))
    save = tmp_path / "loop"
    args = ["--config", os.path.join(ROOT, "configs", "demo_search.yaml"), "--data_path", data,
            "--retrain_report", str(report_in), "--save", str(save),
            "--opts"] + TINY_OPTS + ["data.batch_size=8", "data.steps_per_epoch=2", "optim.sub_obj.type=flops"]
    rep = main(args)
    out = capsys.readouterr().out
    assert "whole benchmark" in out
    assert rep["units"]["searches"] == 5 and rep["units"]["retrains"] == 63
    assert rep["retrain_s"]["files"] == 12.0 and rep["speedup"]["retrain"] == pytest.approx(1.5)
    for path in ("files", "array"):
        s = rep["searches"][path]
        assert set(s["kind_times_s"]) == {"weight", "weight+arch", "weight+arch+val"}
        assert s["full_search_s"] >= s["short_wall_s"] > 0
        assert rep["benchmark_s"][path] == pytest.approx(5 * s["full_search_s"] + 63 * rep["retrain_s"][path])
    assert json.load(open(save / "bench_loop.json"))["speedup"] == rep["speedup"]
    # finished short searches are reused for the same settings, never for others; bad input is one
    # clear line with exit code 2
    units = glob.glob(str(save / "search" / "*" / "files" / "unit.json"))
    assert len(units) == 1
    stamp = os.path.getmtime(units[0])
    main(args)
    assert os.path.getmtime(units[0]) == stamp
    assert len(glob.glob(str(save / "search" / "*" / "files" / "unit.json"))) == 1
    other = ["--seed", "2"] + args
    assert search_key(build_parser().parse_args(other)) != search_key(build_parser().parse_args(args))
    with pytest.raises(SystemExit) as e:
        main(args + ["--from_quality", str(tmp_path / "missing.json")])
    assert e.value.code == 2
