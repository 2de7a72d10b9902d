"""run_apis.derive on a real (tiny) search run, and target-seeking search."""
import json
import os
import subprocess
import sys

import pytest

from search_space.search_config import load_search_config
from dataset.demo import generate
from engine.search_loop import RunOptions, run_search
from models import load_net_config
from run_apis.derive import main as derive_main
from search_space import flops_table, lut_cost, space_from_config
from search_space.budget import cost_range
from tests.run_apis.test_search import SEARCH_OPTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    data = generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=4,
                    quiet=True)
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH_OPTS)
    run_dir = run_search(cfg, RunOptions(data, str(tmp_path_factory.mktemp("runs")), device="cpu", quiet=True))
    return data, cfg, run_dir


def _space_table(cfg):
    space = space_from_config(cfg)
    return space, flops_table(space, cfg.data.input_size)


def test_plain_derive_reproduces_the_search(search_run, tmp_path):
    _, _, run_dir = search_run
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "d")])
    assert load_net_config(str(tmp_path / "d")) == load_net_config(run_dir)
    for name in ("net_config", "arch.png", "derived.json"):
        assert os.path.getsize(tmp_path / "d" / name) > 0


def test_budgets_pareto_and_topk(search_run, tmp_path, capsys):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    budgets = [lo + f * (hi - lo) for f in (0.3, 0.5, 0.7)]
    out = tmp_path / "b"
    derive_main(["--load_path", run_dir, "--out", str(out), "--budgets", ",".join(f"{b:.4f}" for b in budgets),
                 "--json"])
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 3
    for r, b in zip(records, budgets):
        nc = load_net_config(r["folder"])
        assert r["table_cost"] == pytest.approx(lut_cost(space, table, nc)) and r["table_cost"] <= b + 1e-3
    pareto = json.load(open(out / "pareto.json"))
    assert pareto["front"] and len(pareto["budgets"]) == 3
    assert os.path.getsize(out / "pareto.png") > 10000
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "k"), "--max_cost", f"{budgets[1]:.4f}",
                 "--topk", "3", "--json"])
    records = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert records[0]["log_score"] >= records[1]["log_score"] >= records[2]["log_score"]
    assert os.path.isfile(tmp_path / "k" / "topk" / "3" / "net_config")


def test_measure_latency_on_the_tables_device(search_run, tmp_path, capsys):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    table.meta.update(units="ms", device="this CPU", device_type="cpu", threads=1, batch_size=1)  # a stand-in ms table
    table.save(str(tmp_path / "ms.json"))
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "m"), "--table", str(tmp_path / "ms.json"),
                 "--measure_latency", "--json"])
    (record,) = json.loads(capsys.readouterr().out)
    assert record["measured_ms"] > 0 and record["measured_batch"] == 1
    assert len(record["measured_ms_runs"]) == 3 and "fresh processes" in record["measured_how"]
    assert record["measured_ms"] == min(record["measured_ms_runs"])


@pytest.mark.parametrize("args,message", [
    (["--max_cost", "0.001"], "below the cheapest architecture of the space"),
    (["--budgets", "1,x"], "--budgets"),
    (["--table", "latency_tables/demo_cpu_b1_32.json"], "another search space"),
    (["--measure_latency"], "needs a latency table"),
    (["--window", "0.05"], "--window needs --max_cost or --budgets"),
    (["--window", "1.5", "--max_cost", "100"], "--window must be in (0, 1)"),
    (["--window", "0.05", "--max_cost", "100", "--topk", "2"], "drop --topk"),
    (["--window", "0.001", "--max_cost", "1e9"], "no architecture has a table cost in"),
])
def test_bad_input_one_line_nothing_written(search_run, tmp_path, args, message):
    _, _, run_dir = search_run
    out = tmp_path / "never"
    r = subprocess.run([sys.executable, "-m", "run_apis.derive", "--load_path", run_dir, "--out", str(out), *args],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr
    assert not out.exists()


def test_run_folder_without_arch_params(tmp_path):
    (tmp_path / "config.yaml").write_text(open(os.path.join(ROOT, "configs", "demo_search.yaml")).read())
    r = subprocess.run([sys.executable, "-m", "run_apis.derive", "--load_path", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no arch_params.json or checkpoint.pt" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["config.yaml"]


def test_target_search_logs_and_derives_within_target(search_run, tmp_path):
    data, cfg, _ = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    target = lo + 0.5 * (hi - lo)
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                      SEARCH_OPTS + ["optim.sub_obj.target_mode=abs", f"optim.sub_obj.target={target}"])
    run_dir = run_search(cfg, RunOptions(data, str(tmp_path), device="cpu", quiet=True))
    info = json.load(open(os.path.join(run_dir, "derived.json")))
    assert info["target"] == pytest.approx(target) and info["derive"] == "window"
    assert not info["window_empty"] and 0.95 * target - 1e-6 <= info["table_cost"] <= target + 1e-6
    assert info["window"] == pytest.approx([0.95 * target, target])
    assert info["budget_table_cost"] <= target + 1e-6 and "argmax_table_cost" in info
    assert info["log_scores"]["window"] <= info["log_scores"]["budget"] + 1e-9  # the window can only cost score
    nc = load_net_config(run_dir)
    assert lut_cost(space, table, nc) == pytest.approx(info["table_cost"])
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert f"target {target:g}, window derive" in log
    # derive reproduces what the search wrote, as its note says
    r = subprocess.run([sys.executable, "-m", "run_apis.derive", "--load_path", run_dir, "--out", str(tmp_path / "p")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    again = r.stdout.split(" gives that one")[0].split("derive: ")[-1].split()
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "w"), *again])
    assert load_net_config(str(tmp_path / "w")) == nc


def test_what_a_search_emits_does_not_change_its_trajectory(search_run, tmp_path):
    """Describing a derived net builds a model: it must not draw from the RNG that drives data
    order and augmentation (the three derives of a target run describe different nets)."""
    import torch
    from engine.derive_run import describe_net
    data, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    state = torch.get_rng_state()
    describe_net(load_net_config(run_dir), space, table, cfg.data.input_size)
    assert torch.equal(state, torch.get_rng_state())
    lo, hi = cost_range(space, table)
    target = [f"optim.sub_obj.target_mode=abs", f"optim.sub_obj.target={lo + 0.5 * (hi - lo)}"]
    params = []
    for derive in ("window", "argmax"):
        c = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"),
                        SEARCH_OPTS + target + [f"optim.sub_obj.target_derive={derive}"])
        rd = run_search(c, RunOptions(data, str(tmp_path / derive), device="cpu", quiet=True))
        params.append({k: v for k, v in json.load(open(os.path.join(rd, "arch_params.json"))).items()})
    assert params[0] == params[1]


def test_window_budgets(search_run, tmp_path, capsys):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    budgets = [lo + f * (hi - lo) for f in (0.3, 0.5, 0.7)]
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "w"), "--json", "--window", "0.05",
                 "--budgets", ",".join(f"{b:.4f}" for b in budgets)])
    records = json.loads(capsys.readouterr().out)
    for r in records:
        b = r["budget"]
        assert 0.95 * b - 1e-9 <= r["table_cost"] <= b + 1e-9 and r["window"] == pytest.approx([0.95 * b, b])
        assert r["table_cost"] == pytest.approx(lut_cost(space, table, load_net_config(r["folder"])))
        assert r["max_rounding_error"] < 1e-3 * b
    pareto = json.load(open(tmp_path / "w" / "pareto.json"))
    assert [x for p in pareto["budgets"] for x in p["window"]] == pytest.approx(
        [x for r in records for x in (0.95 * r["budget"], r["budget"])])


@pytest.mark.parametrize("opts,message", [
    (["optim.sub_obj.target=-1"], "optim.sub_obj.target"),
    (["optim.sub_obj.target_mode=abs"], "needs a target"),
    (["optim.sub_obj.target_mode=abs", "optim.sub_obj.target=0.0001"], "below the cheapest"),
    ([], "needs a latency table"),  # --measure_latency with a FLOPs search
])
def test_bad_target_is_a_one_line_error(search_run, tmp_path, opts, message):
    data, _, _ = search_run
    extra = ["--measure_latency"] if not opts else []
    r = subprocess.run([sys.executable, "-m", "run_apis.search", "--data_path", data, "--save", str(tmp_path),
                        "--device", "cpu", *extra, "--opts", *SEARCH_OPTS, *opts], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


def test_random_baseline_in_window(search_run, tmp_path, capsys):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    x = lo + 0.6 * (hi - lo)
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "r"), "--random", "4", "--max_cost", f"{x:.6f}",
                 "--window", "0.1", "--seed", "3", "--json"])
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 4
    texts = set()
    for r in records:
        nc = load_net_config(r["folder"])
        assert x * 0.9 - 1e-9 <= lut_cost(space, table, nc) <= x + 1e-9
        texts.add(nc.to_text())
    assert len(texts) == 4
    assert len(json.load(open(tmp_path / "r" / "random" / "random.json"))) == 4
    derive_main(["--load_path", run_dir, "--out", str(tmp_path / "r2"), "--random", "4", "--max_cost", f"{x:.6f}",
                 "--window", "0.1", "--seed", "3", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert [load_net_config(r["folder"]).to_text() for r in again] == \
        [load_net_config(r["folder"]).to_text() for r in records]  # seeded


@pytest.mark.parametrize("args,message", [
    (["--random", "3"], "needs --max_cost"),
    (["--random", "0", "--max_cost", "1"], "must be >= 1"),
    (["--random", "2", "--max_cost", "LO/2"], "no architecture has a table cost"),
    (["--random", "100000000", "--max_cost", "HI"], "asked for"),
    (["--random", "2", "--max_cost", "HI", "--topk", "2"], "not --budgets/--topk"),
])
def test_random_baseline_bad_input(search_run, tmp_path, capsys, args, message):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    args = [{"LO/2": f"{lo / 2:.6f}", "HI": f"{hi:.6f}"}.get(a, a) for a in args]
    with pytest.raises(SystemExit) as e:
        derive_main(["--load_path", run_dir, "--out", str(tmp_path / "bad")] + args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not os.path.exists(tmp_path / "bad")


def test_search_history_has_collapse_diagnostics(search_run):
    _, _, run_dir = search_run
    history = json.load(open(os.path.join(run_dir, "history.json")))
    d = history[-1]["diagnostics"]
    assert 0 < d["op_entropy_rel"] <= 1 and 0 <= d["skip_share"] <= 1
    assert d["depth_blocks"] >= 1 and d["depth_layers"] >= d["depth_blocks"]
    assert history[0]["diagnostics"]["changed"] is None and isinstance(d["changed"], bool)
    assert history[-1]["net_config"] == load_net_config(run_dir).to_text()
    from search_space.diagnostics import net_depth  # the benchmark's depth of any net = the diagnostics' one
    from engine.derive_run import load_search_result
    space = load_search_result(run_dir).space
    assert list(net_depth(space, load_net_config(run_dir))) == [d["depth_blocks"], d["depth_layers"]]


def test_one_empty_window_does_not_sink_the_others(search_run, tmp_path, capsys):
    _, cfg, run_dir = search_run
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    budgets = [lo + 0.5 * (hi - lo), 1e9, hi]
    out = tmp_path / "e"
    derive_main(["--load_path", run_dir, "--out", str(out), "--window", "0.05", "--budgets",
                 ",".join(f"{b:.6f}" for b in budgets)])
    text = capsys.readouterr().out
    assert "budget 1e+09: no architecture has a table cost in" in text
    pareto = json.load(open(out / "pareto.json"))
    entries = {round(e["budget"], 3): e for e in pareto["budgets"]}
    assert entries[1e9]["empty"] and "nearest below" in entries[1e9]["error"]
    assert sum(1 for e in pareto["budgets"] if not e.get("empty")) == 2
    assert os.path.getsize(out / "pareto.png") > 10000
    with pytest.raises(SystemExit) as e:  # every window empty: one line, exit 2
        derive_main(["--load_path", run_dir, "--out", str(tmp_path / "none"), "--window", "0.05",
                     "--budgets", "1e9,2e9"])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("searched_at,derived_at,target", [
    ("quality_fmnist_1.0ms_sandwich", "quality_fmnist_1.5ms_sandwich", 1.5),
    ("quality_fmnist_1.5ms_controls", "quality_fmnist_1.0ms", 1.0)])
def test_a_finished_search_rederived_at_another_target_gives_that_targets_nets(searched_at, derived_at, target,
                                                                               tmp_path, capsys):
    """docs/search_quality.md, sandwich at 1.0 ms: under the paper's cost term the target enters only the derive, so the
    committed searches of one target, derived at another, give the nets that target's benchmark retrained."""
    results = os.path.join(ROOT, "tools", "results")
    with open(os.path.join(results, derived_at, "quality.json"), encoding="utf-8") as f:
        expected = {s["seed"]: s["net_config"].strip() for s in json.load(f)["searches"]}
    for seed, want in expected.items():
        parent = os.path.join(results, searched_at, "units", "searches", f"seed_{seed}")
        (run,) = [os.path.join(parent, d) for d in os.listdir(parent) if d.startswith("search-")]
        out = tmp_path / f"seed_{seed}"
        derive_main(["--load_path", run, "--max_cost", str(target), "--window", "0.05", "--out", str(out)])
        assert (out / "net_config").read_text(encoding="utf-8").strip() == want, seed
    capsys.readouterr()


def test_inherited_weights_derive_validate_and_fine_tune(search_run, tmp_path, capsys):
    """The search writes inherited_weights.pt beside its net_config; derive --with_weights writes one
    per derived net; it loads strictly into the net_config's network, validation evaluates it and
    retrain --init_weights fine-tunes from it. Hostile files are refused with one line."""
    import torch
    from models import build_model
    from models.state_dict import load_weights
    from run_apis.retrain import main as retrain_main
    from run_apis.validation import main as validation_main
    data, cfg, run_dir = search_run
    own = os.path.join(run_dir, "inherited_weights.pt")
    load_weights(build_model(load_net_config(run_dir), num_classes=5), own)
    out = tmp_path / "w"
    space, table = _space_table(cfg)
    lo, hi = cost_range(space, table)
    derive_main(["--load_path", run_dir, "--out", str(out), "--max_cost", f"{(lo + hi) / 2:.4f}", "--with_weights",
                 "--json"])
    rec = json.loads(capsys.readouterr().out)[0]
    assert rec["inherited_weights"] == "inherited_weights.pt" and rec["inherited_exact"] is True
    weights = str(out / "inherited_weights.pt")
    load_weights(build_model(load_net_config(str(out)), num_classes=5), weights)
    train_cfg = os.path.join(ROOT, "configs", "demo_train.yaml")
    validation_main(["--load_path", str(out), "--weights", weights, "--data_path", data, "--config", train_cfg,
                     "--device", "cpu", "--json", "--opts", "data.num_classes=5"])
    assert 0 <= json.loads(capsys.readouterr().out)["top1"] <= 100
    opts = ["train_params.epochs=1", "data.batch_size=16", "data.num_classes=5", "data.steps_per_epoch=2",
            "train_params.warmup_epochs=0", "optim.weight.init_lr=0", "optim.weight.min_lr=0"]  # lr 0: the weights stay inherited
    retrain_main(["--load_path", str(out), "--init_weights", weights, "--config", train_cfg, "--data_path", data,
                  "--save", str(tmp_path / "r"), "--quiet", "--device", "cpu", "--opts"] + opts)
    rdir = capsys.readouterr().out.strip().splitlines()[-1]
    trained, start = torch.load(os.path.join(rdir, "weights.pt"), weights_only=True), torch.load(weights,
                                                                                                weights_only=True)
    assert all(torch.equal(trained[k], start[k]) for k in start if not k.endswith(("running_mean", "running_var",
                                                                                    "num_batches_tracked")))
    # hostile or foreign init weights: one line, exit 2, no run folder
    bad_pickle = tmp_path / "evil.pt"
    import pickle
    bad_pickle.write_bytes(pickle.dumps({"x": 1}))
    foreign = tmp_path / "foreign.pt"
    torch.save({"foo": torch.ones(1)}, str(foreign))
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(open(weights, "rb").read()[:200])
    for bad in (bad_pickle, foreign, truncated):
        with pytest.raises(SystemExit) as e:
            retrain_main(["--load_path", str(out), "--init_weights", str(bad), "--config", train_cfg, "--data_path",
                          data, "--save", str(tmp_path / "bad"), "--quiet", "--device", "cpu", "--opts"] + opts)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(bad) in err[0]
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as e:  # no checkpoint: say so
        packed = tmp_path / "packed"
        packed.mkdir()
        for name in ("config.yaml", "arch_params.json"):
            (packed / name).write_bytes(open(os.path.join(run_dir, name), "rb").read())
        derive_main(["--load_path", str(packed), "--with_weights"])
    assert e.value.code == 2 and "checkpoint.pt" in capsys.readouterr().err


def test_inherited_weights_carry_the_derived_nets_bn_statistics(search_run, tmp_path, capsys):
    """Issue 54 §6: the super network's BN statistics belong to its mixture of paths. derive
    --with_weights recalibrates them on the derived net with the one-shot score's batches, so
    run_apis.validation of the written weights gives the one-shot score; the search's own
    inherited_weights.pt is recalibrated too; --recal_batches 0 keeps the old statistics."""
    import torch
    from engine.derive_run import load_search_result, load_supernet
    from engine.supernet_rank import OneShotScorer
    from run_apis.validation import main as validation_main
    data, cfg, run_dir = search_run
    with open(os.path.join(run_dir, "derived.json"), encoding="utf-8") as f:
        assert json.load(f)["inherited_bn"] == "recalibrated on 10 batches of search_train"
    out = tmp_path / "w"
    derive_main(["--load_path", run_dir, "--out", str(out), "--with_weights", "--data_path", data,
                 "--recal_batches", "2", "--json"])
    assert json.loads(capsys.readouterr().out)[0]["inherited_bn"] == "recalibrated on 2 batches of search_train"
    result = load_search_result(run_dir)
    score = OneShotScorer(result.cfg, data, recal_batches=2, eval_images=10 ** 6)(load_supernet(result),  # all of it
                                                                                 load_net_config(str(out)))
    opts = ["data.num_classes=5", f"data.batch_size={result.cfg.data.batch_size}",
            f"data.input_size={result.cfg.data.input_size}"]
    validation_main(["--load_path", str(out), "--weights", str(out / "inherited_weights.pt"), "--data_path", data,
                     "--config", os.path.join(ROOT, "configs", "demo_train.yaml"), "--split", "search_val",
                     "--device", "cpu", "--json", "--opts"] + opts)
    assert json.loads(capsys.readouterr().out)["top1"] == pytest.approx(score, abs=1e-6)
    stale = tmp_path / "stale"
    derive_main(["--load_path", run_dir, "--out", str(stale), "--with_weights", "--recal_batches", "0", "--json"])
    assert json.loads(capsys.readouterr().out)[0]["inherited_bn"] == "the super network's"
    a = torch.load(str(out / "inherited_weights.pt"), weights_only=True)
    b = torch.load(str(stale / "inherited_weights.pt"), weights_only=True)
    means = [k for k in a if k.endswith("running_mean")]
    assert means and any(not torch.equal(a[k], b[k]) for k in means)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
