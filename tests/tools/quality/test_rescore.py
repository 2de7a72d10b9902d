"""A committed benchmark rescored at another recipe without new searches (issue 54 §4)."""
import copy
import json
import os

import pytest

from tests.conftest import ROOT
from tools.quality.rescore import build_parser, main, plan, read_source

SOURCE = os.path.join(ROOT, "tools", "results", "quality_fmnist_1.5ms_sandwich", "quality.json")
LONG_RECIPE = "fad4c86b5c23"


def test_score_seed_and_summary_reproduce_a_committed_report():
    """The statistics the rescore recomputes are the benchmark's own: from a committed report's
    accuracies they give back its committed per-seed numbers and summary."""
    from tools.quality.comparisons import restat
    from tools.quality.report import RESULT_FIELDS_OF_SEED, score_seed, summary_stats
    report = json.loads(open(SOURCE, encoding="utf-8").read())
    searches = copy.deepcopy(report["searches"])
    for s in searches:
        for holder in [s, s.get("params_pick") or {}] + [s.get(g) or {} for g in ("uniform", "multi_branch")] + \
                [n for g in ("uniform", "multi_branch") for n in (s.get(g) or {}).get("nets", [])]:
            for k in RESULT_FIELDS_OF_SEED:
                holder.pop(k, None)
        score_seed(s)
    assert searches == report["searches"]
    out = summary_stats(searches)
    for k in ("wilcoxon_p", "mean_gap", "gap_ci95", "mean_percentile", "best_of_n_gap", "kendall_tau"):
        assert out[k] == report[k]
    again = restat(report)
    assert out["controls"]["uniform"] == again["controls"]["uniform"] and out["attribution"] == again["attribution"]


def test_plan_cuts_random_nets_and_gives_shared_controls_more_seeds():
    report = read_source(SOURCE)
    searches, units, shared = plan(report, random=3, retrain_seeds=1, control_seeds=6)
    hand = next(t for t in shared if "mbconv_k5_t6" in t)  # seeds 1, 4, 5's best uniform net by val
    assert sum(1 for t, _, _ in units if t == hand) == 6 and units[0][0] in shared
    for s, src in zip(searches, report["searches"]):
        assert s["random"] == src["random"][:3] and len(s["uniform"]["nets"]) == 1
        best = max(src["uniform"]["nets"], key=lambda n: sum(n["val_final"]))
        assert s["uniform"]["nets"][0]["net_config"] == best["net_config"]
    assert [s["uniform"]["nets"][0]["net_config"] == hand for s in searches] == [True, False, False, True, True]
    assert len(set((t, r) for t, r, _ in units)) == len(units)
    for t in {t for t, _, _ in units} - set(shared):  # the rest: one seed each
        assert sum(1 for u, _, _ in units if u == t) == 1
    with pytest.raises(Exception, match="--random 9"):
        plan(report, random=9, retrain_seeds=1, control_seeds=6)


def test_rescore_imports_committed_retrains_and_writes_the_benchmarks_format(tmp_path, monkeypatch, capsys):
    from tools.cli_args import resolve_configs
    from tools.quality.ceiling import recipe_units
    from tools.results_tables import _paired_cell
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "fashion_mnist").mkdir(parents=True)
    argv = ["--quality", SOURCE, "--train_config", "fashion_mnist_quality_train_long.yaml", "--save", "units",
            "--out", "out", "--results", os.path.join(ROOT, "tools", "results")]
    args = build_parser().parse_args(argv)
    resolve_configs(args, ("train_config",))
    units = recipe_units(args)
    assert units.recipe_hash == LONG_RECIPE  # the committed long recipe: its ceiling retrains are imported
    report = read_source(SOURCE)
    _, todo, shared = plan(report, 3, 1, 6)
    hand = next(t for t in shared if "mbconv_k5_t6" in t)
    for i, (text, seed, _) in enumerate(todo):  # every unit done already, but the control's first seed
        if not (text == hand and seed == 0):
            units.import_result(text, seed, 88.0 + (i % 7) / 10, 88.5, 60.0, "test")
    rep = main(argv)
    out = capsys.readouterr().out
    assert "0 to run" in out and "written:" in out
    assert rep["recipe"]["hash"] == LONG_RECIPE and rep["rescored_from"]["recipe_hash"] == report["recipe"]["hash"]
    control = rep["searches"][0]["uniform"]["nets"][0]
    assert control["net_config"] == hand and len(control["acc"]) == 6 and control["acc"][0] == pytest.approx(90.26)
    assert all(len(s["acc"]) == 1 and len(s["random"]) == 3 for s in rep["searches"])
    rows = {r["comparison"]: r for r in rep["attribution"]}
    assert rows["searched − uniform (best by val)"].get("shared")  # the shared control's error is carried
    assert _paired_cell(rows["searched − random"])
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert saved["compute"]["retrain_units"] == len(todo) and "rescored" in (tmp_path / "out" / "quality.md").read_text()


def test_a_committed_partial_file_resumes_on_another_machine(tmp_path, monkeypatch, capsys):
    # another machine's finished units, committed as OUT/retrains.partial.json: imported, nothing rerun
    from tools.quality.rescore import PARTIAL, write_partial
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "fashion_mnist").mkdir(parents=True)
    _, todo, _ = plan(read_source(SOURCE), 3, 1, 6)

    class Finished:  # the other machine's unit cache: every planned unit done
        def cached(self, text, seed):
            return {"test_top1": 88.0 + seed / 10, "val_top1_final": 88.5, "time_s": 700.0}
    (tmp_path / "out").mkdir()
    write_partial(str(tmp_path / "out" / PARTIAL), LONG_RECIPE, todo, Finished())
    argv = ["--quality", SOURCE, "--train_config", "fashion_mnist_quality_train_long.yaml", "--save", "units",
            "--out", "out", "--results", str(tmp_path / "none")]
    rep = main(argv)
    assert f"0 imported, {len(todo)} resumed, 0 to run" in capsys.readouterr().out
    assert rep["searches"][0]["acc"] == [88.0]
    assert rep["compute"]["retrain_units_imported"] == 0  # run by this study, elsewhere: not imports
    assert not (tmp_path / "out" / PARTIAL).exists()  # quality.json holds every unit now


@pytest.mark.parametrize("content,message", [
    ("{not json", "not a readable partial rescore"),
    ('{"units": [{"net_config": "x", "seed": "0"}], "recipe_hash": "fad4c86b5c23"}', "units[0] is not a retrain"),
    ('{"units": [], "recipe_hash": "eb038557d02c"}', "recipe 'eb038557d02c'"),
])
def test_a_damaged_partial_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys, content, message):
    from tools.quality.rescore import PARTIAL
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "fashion_mnist").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / PARTIAL).write_text(content)
    with pytest.raises(SystemExit) as e:
        main(["--quality", SOURCE, "--train_config", "fashion_mnist_quality_train_long.yaml", "--save", "units",
              "--out", "out", "--results", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("extra,message", [
    (["--quality", "nosuch.json"], "--quality nosuch.json"),
    (["--random", "0"], "--random 0"),
])
def test_bad_input_one_line_exit_2(tmp_path, extra, message, capsys):
    argv = ["--quality", SOURCE, "--train_config", "fashion_mnist_quality_train_long.yaml", "--data_path", "demo",
            "--out", str(tmp_path / "o"), "--save", str(tmp_path / "u")] + extra
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow  # real retrains of the demo benchmark's nets (~1 min)
def test_rescore_runs_the_units_and_resumes(tmp_path, capsys):
    src = os.path.join(ROOT, "tools", "results", "quality_demo_quick", "quality.json")
    argv = ["--quality", src, "--train_config", "demo_train.yaml", "--train_opts", "train_params.epochs=1",
            "data.steps_per_epoch=2", "--data_path", "demo", "--random", "1", "--results", str(tmp_path / "none"),
            "--save", str(tmp_path / "units"), "--out", str(tmp_path / "out")]
    rep = main(argv)
    assert "0 imported, 0 resumed, 6 to run" in capsys.readouterr().out
    assert all(len(s["acc"]) == 1 and len(s["random"]) == 1 for s in rep["searches"])
    assert not (tmp_path / "out" / "retrains.partial.json").exists()
    again = main(argv)  # every unit cached: nothing runs, the same numbers
    assert "0 to run" in capsys.readouterr().out and again["searches"] == rep["searches"]
