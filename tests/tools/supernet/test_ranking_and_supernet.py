"""tools.supernet.ranking_set and tools.supernet.benchmark end to end on a tiny space and tiny data: nets
drawn as asked, retrains cached and restored from the committed JSON, split-half reliability, a
super network trained per strategy and scored against the set, bad input one line with exit 2."""
import json
import os
import subprocess
import sys

import pytest

from dataset.demo import generate
from tests.conftest import ROOT, TINY_OPTS
from tools.supernet.ranking_set import split_half_tau

SEARCH = TINY_OPTS + ["data.batch_size=8", "optim.sub_obj.type=flops"]
TRAIN = ["train_params.epochs=1", "data.steps_per_epoch=2", "data.batch_size=16", "data.num_classes=5"]


def test_split_half_tau():
    rows = [[1.0, 1.1, 1.2, 0.9], [2.0, 2.1, 2.2, 1.9], [3.0, 3.1, 3.2, 2.9]]
    sh = split_half_tau(rows)
    assert sh["mean"] == 1.0 and sh["splits"] == 3  # 4 seeds: {0,x} against the rest
    noisy = [[1.0, 3.0, 2.0], [3.0, 1.0, 2.5], [2.0, 2.5, 1.2]]
    sh = split_half_tau(noisy)
    assert sh["splits"] == 3 and sh["min"] < 1.0
    assert split_half_tau([[1.0], [2.0]]) is None


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=4,
                    test_per_class=4, quiet=True)


@pytest.fixture(scope="module")
def target():
    from search_space import flops_table, space_from_config
    from search_space.budget import cost_range
    from search_space.search_config import load_search_config
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH)
    space = space_from_config(cfg)
    lo, hi = cost_range(space, flops_table(space, 32))
    return (lo + hi) / 2


def _ranking_args(data, save, out, target):
    return ["--config", os.path.join(ROOT, "configs", "demo_search.yaml"),
            "--train_config", os.path.join(ROOT, "configs", "demo_train.yaml"), "--data_path", data,
            "--target", f"{target:.6g}", "--cost_tolerance", "0.2", "--strata", "2", "--window", "1",
            "--seeds", "2", "--save", str(save), "--out", str(out), "--opts"] + SEARCH + ["--train_opts"] + TRAIN


@pytest.fixture(scope="module")
def ranking(data_root, target, tmp_path_factory):
    from tools.supernet.ranking_set import main
    tmp = tmp_path_factory.mktemp("ranking")
    out = tmp / "set.json"
    report = main(_ranking_args(data_root, tmp / "units", out, target))
    return out, report, tmp


def test_ranking_set_built_and_restored(ranking, data_root, target, capsys):
    out, report, tmp = ranking
    data = json.load(open(out))
    assert data["total"] == 3 and data["complete"] == 3
    groups = [n["group"] for n in data["nets"]]
    assert groups.count("stratum") == 2 and groups.count("window") == 1
    lo, hi = target * 0.8, target * 1.2
    for n in data["nets"]:
        assert len(n["retrains"]) == 2 and n["test_top1_mean"] is not None
        assert {"net_config", "cost", "params_m", "macs_m", "depth_blocks", "depth_layers"} <= set(n)
        if n["group"] == "window":
            assert lo <= n["cost"] <= hi
    costs = sorted(n["cost"] for n in data["nets"] if n["group"] == "stratum")
    assert costs[0] < costs[-1]
    assert data["reliability"]["all"]["nets"] == 3 and data["reliability"]["all"]["split_half_tau"]["splits"] == 1
    assert data["recipe_hash"] and data["recipe"]["train_config"] == "demo_train.yaml"
    # the unit cache lost: the committed JSON puts every retrain back, nothing is retrained
    import shutil
    shutil.rmtree(tmp / "units" / "retrains")
    from tools.supernet.ranking_set import main
    capsys.readouterr()
    again = main(_ranking_args(data_root, tmp / "units", out, target))
    text = capsys.readouterr().out
    assert "(6 restored" in text
    assert [n["retrains"] for n in again["nets"]] == [n["retrains"] for n in data["nets"]]
    # --uniform adds the window's hand-designed nets apart: the set, its draws and taus unchanged
    capsys.readouterr()
    with_uniform = main(_ranking_args(data_root, tmp / "units", out, target) + ["--uniform"])
    text = capsys.readouterr().out
    assert [n["net_config"] for n in with_uniform["nets"][:3]] == [n["net_config"] for n in data["nets"]]
    uniform = [n for n in with_uniform["nets"] if n["group"] == "uniform"]
    assert uniform and all(lo <= n["cost"] <= hi and n["id"].startswith("uniform_mbconv") for n in uniform)
    assert with_uniform["reliability"] == again["reliability"] and with_uniform["complete"] == with_uniform["total"] == 3
    u = with_uniform["uniform"]
    window = [n["test_top1_mean"] for n in data["nets"] if n["group"] == "window"]
    assert u["window_random_mean"] == pytest.approx(sum(window) / len(window)) and len(u["nets"]) == len(uniform)
    assert u["uniform_minus_random"] == pytest.approx(
        sum(n["test_top1_mean"] for n in uniform) / len(uniform) - u["window_random_mean"])
    assert "uniform nets of the window" in text


def test_ranking_set_from_another_sets_nets_with_another_recipe(ranking, data_root, target, tmp_path):
    """--nets_from keeps the ids and nets; --ids retrains only those, seed-major; a later run with
    more seeds for a few nets keeps the first run's retrains of the others (issue 54 §2)."""
    from tools.supernet.ranking_set import main
    first = json.load(open(ranking[0]))
    out = tmp_path / "long.json"
    args = _ranking_args(data_root, tmp_path / "units", out, target)
    args[args.index("--seeds") + 1] = "1"
    args = args[:args.index("--train_opts") + 1] + [o.replace("epochs=1", "epochs=2") for o in TRAIN]
    one = main(args + ["--nets_from", str(ranking[0]), "--ids", "window_*", "stratum_0"])
    assert [n["id"] for n in one["nets"]] == [n["id"] for n in first["nets"]]
    assert [n["net_config"] for n in one["nets"]] == [n["net_config"] for n in first["nets"]]
    assert one["recipe_hash"] != first["recipe_hash"] and one["nets_from"]
    have = {n["id"]: len(n["retrains"]) for n in one["nets"] if n["group"] != "uniform"}
    assert have == {"stratum_0": 1, "stratum_1": 0, "window_0": 1}
    assert one["complete"] == 2 and one["reliability"]["all"]["split_half_tau"] is None
    args[args.index("--seeds") + 1] = "2"
    two = main(args + ["--nets_from", str(ranking[0]), "--ids", "window_0"])
    have = {n["id"]: len(n["retrains"]) for n in two["nets"] if n["group"] != "uniform"}
    assert have == {"stratum_0": 1, "stratum_1": 0, "window_0": 2} and two["seeds"] == [0, 1]
    assert two["partial"] == {"nets": 1, "seeds": [1]}
    s0 = next(n for n in two["nets"] if n["id"] == "stratum_0")
    assert s0["test_top1_mean"] == s0["retrains"][0]["test_top1"]
    with pytest.raises(SystemExit) as e:
        main(args + ["--nets_from", str(ranking[0]), "--ids", "nothing_*"])
    assert e.value.code == 2


def test_benchmark_supernet(ranking, data_root, tmp_path, capsys):
    from tools.supernet.benchmark import main
    out = ranking[0]
    args = ["--config", os.path.join(ROOT, "configs", "demo_search.yaml"), "--data_path", data_root,
            "--ranking", str(out), "--steps", "4", "--eval_every", "2", "--rank_every", "2", "--probe", "1",
            "--recal_batches", "1", "--eval_images", "16", "--proxy_batch", "8", "--save", str(tmp_path),
            "--strategies", "uniform", "fair", "--opts"] + SEARCH
    rep = main(args)
    for name in ("uniform", "fair"):
        r = rep["strategies"][name]
        assert [p["step"] for p in r["curve"]] == [2, 4]
        assert all(0 <= p["train_top1"] <= 100 and p["probe_one_shot_top1"] is not None for p in r["curve"])
        assert [x["step"] for x in r["rankings"]] == [2, 4]
        assert len(r["rankings"][-1]["one_shot_top1"]) == 3
        assert rep["summary"][name]["tau_all"]["n"] == 3
    assert rep["summary"]["fair"]["train_s"] > 0 and rep["summary"]["fair"]["train_top1_at_uniform_wall"] is not None
    for k in ("params_m", "macs_m", "cost", "synflow", "naswot"):
        assert len(rep["proxies"]["scores"][k]) == 3 and "all" in rep["proxies"]["taus"][k]
    for f in ("supernet.json", "supernet.md", "supernet.png", "proxies.json"):
        assert (tmp_path / f).is_file()
    assert "| fair |" in (tmp_path / "supernet.md").read_text()
    # a rerun reuses every finished strategy
    capsys.readouterr()
    main(args)
    assert "[uniform] step" not in capsys.readouterr().out


def test_entangled_strategy_and_readout_probe(ranking, data_root, tmp_path, capsys):
    """An entangled strategy trains; tools.supernet.probe_readout scores its snapshot under every read-out
    (``prob`` = what the benchmark's scorer gives), caches, and refuses a snapshot of another space."""
    from tools.supernet.benchmark import main as bench
    from tools.supernet.probe_readout import main as probe
    out = ranking[0]
    cfg = os.path.join(ROOT, "configs", "demo_search.yaml")
    bench(["--config", cfg, "--data_path", data_root, "--ranking", str(out), "--steps", "2", "--eval_every", "2",
           "--probe", "0", "--recal_batches", "1", "--eval_images", "16", "--proxy_batch", "8", "--save", str(tmp_path),
           "--strategies", "uniform_entangled", "--opts"] + SEARCH)
    rep = json.load(open(tmp_path / "supernet.json"))
    snap = tmp_path / "uniform_entangled_2" / "weights_2.pt"
    args = ["--config", cfg, "--data_path", data_root, "--snapshot", str(snap), "--ranking", str(out),
            "--recal_batches", "1", "--eval_images", "16", "--out", str(tmp_path / "readout.json"), "--opts"] + SEARCH
    with pytest.raises(SystemExit) as e:  # without the entangle key: another super network
        probe(args)
    assert e.value.code == 2 and "--snapshot" in capsys.readouterr().err
    args += ["search_params.weight_sharing.entangle=true"]
    res = probe(args)
    assert set(res["taus"]) == {"prob", "unit", "dense_sum"}
    nets = json.load(open(out))["nets"]
    scores = [res["scores"]["prob"][n["net_config"]] for n in nets if n["group"] != "uniform"]
    assert scores == rep["strategies"]["uniform_entangled"]["rankings"][-1]["one_shot_top1"]
    stamp = os.path.getmtime(tmp_path / "readout.json")
    assert probe(args)["scores"] == res["scores"] and os.path.getmtime(tmp_path / "readout.json") >= stamp


def test_bad_input_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    for cmd in (["tools.supernet.benchmark", "--config", "configs/demo_search.yaml", "--ranking", str(tmp_path / "no.json")],
                ["tools.supernet.ranking_set", "--config", "configs/demo_search.yaml", "--train_config", "configs/demo_train.yaml",
                 "--target", "1", "--seeds", "1"]):
        p = subprocess.run([sys.executable, "-m"] + cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        assert p.returncode == 2, p.stderr
        assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error:")


def test_noise_projection_matches_simulated_split_halves():
    import random
    from engine.stats import projected_tau, seed_variance_components
    from tools.supernet.ranking_set import noise_projection
    rng = random.Random(0)
    truth = [rng.gauss(0, 1.0) for _ in range(300)]
    rows = [[t + rng.gauss(0, 0.8) for _ in range(4)] for t in truth]
    var_net, var_seed = seed_variance_components(rows)
    assert var_net == pytest.approx(1.0, rel=0.2) and var_seed == pytest.approx(0.64, rel=0.15)
    measured = split_half_tau(rows)["mean"]
    pr = noise_projection(rows)
    assert pr["check"] == pytest.approx(measured, abs=0.05)           # 2 vs 2 seeds, as measured
    assert pr["split_half_tau"]["3"] < pr["split_half_tau"]["6"] < pr["split_half_tau"]["10"] < 1
    from engine.stats import kendall_tau
    ceiling = kendall_tau(truth, [sum(r) / 4 for r in rows])       # the true means against 4-seed means
    assert pr["predictor_ceiling"] == pytest.approx(ceiling, abs=0.05) and pr["predictor_ceiling"] > measured
    assert projected_tau(0.0, 1.0, 1, 1) == 0.0 and projected_tau(1.0, 0.0, 1, 2) == pytest.approx(1.0)
    assert seed_variance_components([[1.0, 2.0]]) is None
