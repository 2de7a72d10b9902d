"""tools.quality.window_pool and tools.quality.ceiling (issue 54 §3): every retrain of a window pooled
once, the hand-designed net's place, the headroom on fresh seeds, and --retrain end to end on tiny data."""
import json
import os
import shutil

import pytest

from dataset.demo import generate
from tests.conftest import ROOT
from engine.stats import pooled_within_std
from tools.quality.ceiling import ceiling_report, gap_interval, main, select_nets
from tools.quality.window_pool import WindowPool

TRAIN = ["train_params.epochs=1", "data.steps_per_epoch=2", "data.batch_size=16", "train_params.warmup_epochs=0"]


def _retrains(accs, vals=None):
    return [{"seed": i, "test_top1": a, "val_top1_final": v} for i, (a, v) in enumerate(zip(accs, vals or accs))]


def _pool(nets):
    pool = WindowPool("c.yaml", 1.5, "h")
    for name, group, accs in nets:
        pool.add_net({"net_config": name, "cost": 1.5, "params_m": 0.2}, group, "f.json", _retrains(accs),
                     op="k5" if group == "uniform" else None)
    return pool


def test_pooled_std_and_gap_interval():
    s = pooled_within_std([[1.0, 3.0], [5.0], [2.0, 2.0, 5.0]])
    assert s["df"] == 3 and s["std"] == pytest.approx(((2 + 6) / 3) ** 0.5)
    g = gap_interval([85.0, 85.0], [84.0] * 6, 0.6)
    assert g["gap"] == pytest.approx(1.0) and g["se"] == pytest.approx(0.6 * (1 / 2 + 1 / 6) ** 0.5)
    assert g["ci"][0] == pytest.approx(1.0 - 1.959964 * g["se"], abs=1e-4)
    few = gap_interval([85.0, 85.0], [84.0] * 6, 0.6, df=2)  # a std of 2 degrees of freedom: Student t
    assert few["ci"][0] == pytest.approx(1.0 - 4.3027 * g["se"], abs=1e-3)
    assert gap_interval([85.0], [84.0], 0.6, df=500)["ci"] == gap_interval([85.0], [84.0], 0.6)["ci"]


def test_one_seed_per_net_ranks_means_without_intervals():
    from tools.quality.ceiling import report_markdown
    pool = _pool([("hand", "uniform", [89.0]), ("a", "random", [89.5]), ("b", "searched", [88.0])])
    rep = ceiling_report(pool, {"seeds": {"a": [0]}})
    assert rep["seed_std"] is None and [r["net_config"] for r in rep["ranking"]] == ["a", "hand", "b"]
    assert all(r["ci95"] is None for r in rep["ranking"]) and rep["headroom"] == []
    assert rep["hand_designed"]["above"] == 1 and rep["hand_designed"]["above_within_noise"] is None
    text = report_markdown(rep)
    assert "no noise estimate" in text and "| 2 | **uniform k5** (best hand-designed)" in text
    assert "1 seed," in text and "within the 95% noise" not in text


def test_a_net_counted_once_and_conflicts_named():
    pool = _pool([("a", "random", [84.0, 84.4])])
    pool.add_net({"net_config": "a", "cost": 1.5, "params_m": 0.2}, "searched", "g.json", _retrains([84.0, 84.4, 83.9]))
    assert pool.summary(pool.nets["a"])["n"] == 3 and pool.nets["a"]["groups"] == {"random", "searched"}
    pool.add_net({"net_config": "a", "cost": 1.5, "params_m": 0.2}, "random", "h.json", _retrains([80.0]))
    assert pool.summary(pool.nets["a"])["n"] == 3 and "h.json: seed 0" in pool.conflicts[0]


def test_report_places_the_hand_designed_net_and_measures_headroom_on_fresh_seeds():
    nets = [("hand", "uniform", [84.0, 84.2, 84.1, 83.9, 84.0, 84.2]), ("lucky", "random", [85.5, 85.3, 84.0, 84.1, 83.9]),
            ("better", "params_pick", [86.0, 85.8, 86.1, 85.9, 86.2]), ("other", "uniform", [80.0, 80.2])]
    nets += [(f"r{i}", "random", [82.0 + i / 10, 82.2 + i / 10]) for i in range(10)]
    pool = _pool(nets)
    assert pool.best_hand_designed()["net_config"] == "hand"
    sel = {"lucky": [0, 1], "better": [0, 1], "hand": [0, 1]}
    rep = ceiling_report(pool, {"seeds": sel})
    assert rep["nets"] == 14 and rep["hand_designed"]["rank"] == 3 and rep["hand_designed"]["above"] == 2
    head = {r["net_config"]: r for r in rep["headroom"]}
    assert set(head) == {"lucky", "better"}  # only nets with fresh seeds are compared
    assert head["lucky"]["fresh_seeds"] == 3 and head["lucky"]["fresh_mean"] == pytest.approx(84.0)
    assert head["lucky"]["control_seeds"] == 4 and not head["lucky"]["reliably_better"]  # its pool mean was luck
    assert head["better"]["reliably_better"] and head["better"]["fresh"]["gap"] == pytest.approx(86.067 - 84.05, abs=1e-3)
    assert head["better"]["fresh_bonferroni"]["ci"][0] < head["better"]["fresh"]["ci"][0]
    # without a ceiling file no seed is fresh: nothing to compare
    assert ceiling_report(pool)["headroom"] == []
    # a control picked once stays the control, whatever its later seeds do to its mean val
    pool.nets["other"]["retrains"].update({k: {"seed": k, "test_top1": 95.0, "val_top1_final": 95.0, "source": "x"}
                                           for k in (2, 3)})
    assert pool.best_hand_designed()["net_config"] == "other"
    assert ceiling_report(pool, {"seeds": sel, "hand": "hand"})["hand_designed"]["net_config"] == "hand"


def test_selection_by_val_keeps_the_hand_designed_net_apart():
    pool = _pool([("hand", "uniform", [85.0, 85.0]), ("a", "random", [84.0, 84.0]), ("b", "params_pick", [83.0, 83.0]),
                  ("c", "params_pick", [82.0, 82.0]), ("d", "random", [81.0, 81.0])])
    picked = select_nets(pool, top=2, params_picks=1)
    assert [(n["group"], n["net_config"]) for n in picked] == [("top", "a"), ("top", "b"), ("params_pick", "c"),
                                                             ("hand_designed", "hand")]
    assert picked[0]["selection_seeds"] == [0, 1] and len({n["id"] for n in picked}) == 4


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=4,
                    test_per_class=4, quiet=True)


def test_retrain_end_to_end_resumes_and_is_pooled(data_root, tmp_path, capsys):
    """A committed demo benchmark, its recipe made this test's: the top net and the hand-designed one
    get a third seed, the file is pooled by the report, a second run retrains nothing."""
    import argparse
    from tools.quality.units import QualityUnits
    with open(os.path.join(ROOT, "tools", "results", "quality_demo_quick", "quality.json"), encoding="utf-8") as f:
        report = json.load(f)
    s0 = report["searches"][0]
    s0["uniform"] = {"nets": [dict(s0["random"][0], op="mbconv_k3_t3")]}  # one of its random nets, as the hand-designed one
    units = QualityUnits(argparse.Namespace(save=str(tmp_path), train_config=os.path.join(ROOT, "configs", "demo_train.yaml"),
                                            train_opts=TRAIN, test_split="test", no_channels_last=False, threads=1,
                                            data_path=data_root))
    report["recipe"] = dict(units.recipe, hash=units.recipe_hash)
    results = tmp_path / "results"
    (results / "demo").mkdir(parents=True)
    (results / "demo" / "quality.json").write_text(json.dumps(report))
    args = ["--target", "0.75", "--config", "demo_search.yaml", "--train_config", "demo_train.yaml", "--train_opts",
            *TRAIN, "--data_path", data_root, "--results", str(results), "--save", str(tmp_path / "units"),
            "--retrain", "--top", "1", "--params_picks", "0", "--seeds", "3", "--control_seeds", "3"]
    rep = main(args)
    out = results / "ceiling" / "demo_search_0.75ms_demo_train.json"
    data = json.loads(out.read_text())
    assert data["kind"] == "ceiling" and [n["group"] for n in data["nets"]] == ["top", "hand_designed"]
    assert all([r["seed"] for r in n["retrains"]] == [0, 1, 2] for n in data["nets"])
    assert all(n["retrains"][2]["source"] == "this file" and n["selection_seeds"] == [0, 1] for n in data["nets"])
    assert rep["hand_designed"]["seeds"] == 3 and len(rep["headroom"]) == 1 and rep["headroom"][0]["fresh_seeds"] == 1
    capsys.readouterr()
    again = main(args)
    assert "0 retrains to run" in capsys.readouterr().out and again["ranking"] == rep["ranking"]
    # the same nets at another recipe (--nets_from): every seed there is fresh
    longer = [o.replace("epochs=1", "epochs=2") for o in TRAIN]
    i = args.index("--train_opts")
    args2 = args[:i + 1] + longer + args[i + 1 + len(TRAIN):]
    args2[args2.index("--seeds") + 1], args2[args2.index("--control_seeds") + 1] = "2", "2"
    rep2 = main(args2 + ["--nets_from", str(out), "--out", str(results / "ceiling" / "long.json")])
    assert rep2["retrains"] == 4 and len(rep2["headroom"]) == 1 and rep2["headroom"][0]["fresh_seeds"] == 2
    shutil.rmtree(tmp_path / "units")


@pytest.mark.parametrize("extra,message", [
    (["--target", "1.5", "--results", "nosuch"], "--results nosuch"),
    (["--target", "1.5", "--cost_tolerance", "2"], "--cost_tolerance"),
    (["--target", "9.9"], "no retrained net in the window"),
])
def test_bad_input_one_line_exit_2(extra, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(extra)
    assert e.value.code == 2 and message in capsys.readouterr().err
