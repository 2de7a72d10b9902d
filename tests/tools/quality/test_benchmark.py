"""tools.quality.benchmark end to end on a tiny space and tiny data: every part runs, every raw
number is written, finished units are reused, bad input is one line with exit 2."""
import glob
import json
import os
import shutil

import pytest

from dataset.demo import generate
from tests.conftest import ROOT, TINY_OPTS
from tools.quality.benchmark import main

SEARCH = TINY_OPTS + ["train_params.epochs=2", "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1",
                      "data.batch_size=8", "data.steps_per_epoch=3", "optim.sub_obj.type=flops"]
TRAIN = ["train_params.epochs=1", "data.steps_per_epoch=2", "data.batch_size=16", "data.num_classes=5",
         "train_params.warmup_epochs=0"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=4,
                    test_per_class=4, quiet=True)


def _args(data, save, *extra):
    return ["--config", os.path.join(ROOT, "configs", "demo_search.yaml"),
            "--train_config", os.path.join(ROOT, "configs", "demo_train.yaml"), "--data_path", data,
            "--save", str(save), "--seeds", "2", "--random", "2", "--retrain_seeds", "1", "--noise_seeds", "2",
            "--recal_batches", "1", "--eval_images", "16", "--opts"] + SEARCH + ["--train_opts"] + TRAIN + list(extra)


def test_tiny_benchmark_runs_and_resumes(data_root, tmp_path, capsys):
    save = tmp_path / "q"
    main(_args(data_root, save))
    out = capsys.readouterr().out
    assert "Wilcoxon" in out and "[9/9]" in out
    q = json.load(open(save / "quality.json"))
    for key in ("searches", "wilcoxon_p", "mean_gap", "gap_ci95", "kendall_tau", "recipe", "retrain_seed_std"):
        assert key in q
    assert len(q["searches"]) == 2
    for s in q["searches"]:
        assert len(s["acc"]) == 1 and len(s["random"]) == 2
        assert s["gap"] == pytest.approx(s["acc"][0] - sum(r["acc"][0] for r in s["random"]) / 2)
        for r in s["random"]:  # within +-2.5% of the searched net's cost, not the searched net
            assert abs(r["cost"] / s["cost"] - 1) <= 0.025 + 1e-9 and r["net_config"] != s["net_config"]
        assert {"op_entropy_rel_final", "skip_share_final", "depth_blocks_final"} <= set(s["diagnostics"])
        assert 0 <= s["one_shot"] <= 100
    assert set(q["kendall_tau"]) >= {"supernet", "params", "cost"} and q["kendall_tau"]["nets"] == 4
    assert len(q["retrain_noise"]["test_top1"]) == 2 and 0 < q["wilcoxon_p"] <= 1
    assert os.path.getsize(save / "quality.png") > 5000 and (save / "quality.md").is_file()
    assert q["controls"] == {} and "params_pick" not in q["searches"][0]
    # a second run reuses every unit; a lost unit is the only one redone; a control added later
    # (--params_pick) only retrains its own nets
    results = sorted(glob.glob(str(save / "retrains" / "*" / "result.json")))
    units = ({(s["net_config"], 0) for s in q["searches"]} | {(q["searches"][0]["net_config"], 1)}
             | {(r["net_config"], 0) for s in q["searches"] for r in s["random"]})
    assert len(results) == len(units) >= 4  # one unit per (net, seed): nets met twice are retrained once
    stamps = {p: os.path.getmtime(p) for p in results}
    os.remove(results[0])
    main(_args(data_root, save, "--params_pick", "4"))
    out = capsys.readouterr().out
    assert "[11/11]" in out and "most params of 4 uniform nets" in out and "Shape, mean" in out
    q2 = json.load(open(save / "quality.json"))
    assert q2["searches"][1]["net_config"] == q["searches"][1]["net_config"]
    changed = [p for p in results if os.path.getmtime(p) != stamps[p]]
    assert changed == [results[0]]
    assert len(glob.glob(str(save / "retrains" / "*" / "result.json"))) <= 9
    assert len(glob.glob(str(save / "searches" / "*" / "search-*"))) == 2
    for s in q2["searches"]:
        pick = s["params_pick"]
        assert pick["pool"] == 4 and 1 <= pick["pool_drawn"] <= 4
        assert pick["params_m"] == pick["pool_params_m"][1] >= pick["pool_params_m"][0]
        assert len(s["depth"]) == 2 and 1 <= s["depth"][0] <= s["depth"][1]
        assert all(len(r["depth"]) == 2 for r in s["random"])
        assert abs(pick["cost"] / s["cost"] - 1) <= 0.025 + 1e-9 and len(pick["acc"]) == 1
        assert pick["gap"] == pytest.approx(pick["acc"][0] - s["random_mean"])
    c = q2["controls"]["params_pick"]
    assert c["pool"] == 4 and 0 < c["wilcoxon_p"] <= 1
    assert c["searched_minus_pick"] == pytest.approx(
        sum(s["mean_acc"] - s["params_pick"]["mean_acc"] for s in q2["searches"]) / 2)
    # the uniform and multi-branch control groups, added later: only their nets are retrained
    before = {p: os.path.getmtime(p) for p in glob.glob(str(save / "retrains" / "*" / "result.json"))}
    main(_args(data_root, save, "--params_pick", "4", "--uniform", "--multi_branch_random", "2"))
    out = capsys.readouterr().out
    assert "Random multi-branch nets" in out and "Hand-designed uniform nets" in out
    q3 = json.load(open(save / "quality.json"))
    new_units = set()
    for s in q3["searches"]:
        u, mb = s["uniform"], s["multi_branch"]
        assert u["window"] == pytest.approx([s["cost"] * 0.975, s["cost"] * 1.025])
        for n in u["nets"]:
            assert u["window"][0] <= n["cost"] <= u["window"][1] and len(n["acc"]) == 1
            new_units.add(n["net_config"])
        if not u["nets"]:
            assert u["nearest_below"] is not None or u["nearest_above"] is not None
        assert mb["max_branches"] == 5 and len(mb["nets"]) == 2     # the config's nse.subset_size (default 5)
        for n in mb["nets"]:
            assert abs(n["cost"] / s["cost"] - 1) <= 0.025 + 1e-9 and n["gap"] == pytest.approx(n["acc"][0] - s["random_mean"])
            new_units.add(n["net_config"])
        assert mb["mean_acc"] == pytest.approx(sum(n["acc"][0] for n in mb["nets"]) / 2)
    c = q3["controls"]["multi_branch"]
    assert c["seeds"] == [1, 2] and len(c["searched_minus_group"]["per_seed"]) == 2
    assert set(q3["controls"]["uniform"]) >= {"seeds", "seeds_without"}
    after = glob.glob(str(save / "retrains" / "*" / "result.json"))
    assert all(os.path.getmtime(p) == t for p, t in before.items())
    added = {json.load(open(p))["net_config"] for p in after if p not in before}
    assert added <= new_units      # on this tiny window the control nets may all be nets met before
    comp = q3["compute"]           # every unit reported is timed once; nothing else is
    assert comp["retrain_units"] == len(after) and len(comp["search_s"]) == 2 and min(comp["search_s"]) > 0
    assert comp["retrain_units_resumed"] == 1      # the unit whose result.json was lost: its finished
    #                                                attempt's checkpoint is resumed (re-evaluated), not retrained
    assert comp["process_s"] == pytest.approx(sum(comp["search_s"]) + comp["retrain_s_sum"])
    assert comp["retrain_s_sum"] == pytest.approx(sum(json.load(open(p))["time_s"] for p in after))
    assert "Compute: 2 searches" in out and "Where the gain comes from" in out
    names = [r["comparison"] for r in q3["attribution"]]
    assert names[:3] == ["searched − random", "searched − params pick", "searched − multi-branch random"]
    # packed (no checkpoint, no log) and unpacked on "another machine": the same report, nothing rerun
    from tools.quality.pack import main as pack_main
    assert len(glob.glob(str(save / "one_shot" / "seed_*.json"))) == 2
    pack_main([str(save), str(tmp_path / "packed")])
    assert "packed" in capsys.readouterr().out
    packed_pt = glob.glob(str(tmp_path / "packed" / "**" / "*.pt"), recursive=True)
    assert sorted(os.path.basename(p) for p in packed_pt) == ["inherited_weights.pt"] * 2  # no checkpoint
    shutil.copytree(tmp_path / "packed", tmp_path / "elsewhere")
    main(_args(data_root, tmp_path / "elsewhere", "--params_pick", "4", "--uniform", "--multi_branch_random", "2"))
    capsys.readouterr()
    assert not glob.glob(str(tmp_path / "elsewhere" / "retrains" / "*" / "retrain-*"))   # no retrain ran
    assert not glob.glob(str(tmp_path / "elsewhere" / "**" / "checkpoint.pt"), recursive=True)  # nor a search
    q4 = json.load(open(tmp_path / "elsewhere" / "quality.json"))
    for key in ("mean_gap", "kendall_tau", "controls", "attribution"):
        assert q4[key] == q3[key]
    assert [s["one_shot"] for s in q4["searches"]] == [s["one_shot"] for s in q3["searches"]]
    # fine-tuning the searched nets from their inherited weights (tools.quality.finetune_inherited)
    from tools.quality.finetune_inherited import main as finetune_main
    before = set(glob.glob(str(save / "retrains" / "*" / "result.json")))
    ft = ["--bench", str(save), "--train_config", os.path.join(ROOT, "configs", "demo_train.yaml"),
          "--data_path", data_root, "--seeds", "2", "--retrain_seeds", "1", "--out", str(tmp_path / "ft"),
          "--train_opts"] + [o for o in TRAIN if "epochs" not in o] + ["train_params.epochs=2"]
    rep = finetune_main(ft)
    capsys.readouterr()
    added = set(glob.glob(str(save / "retrains" / "*" / "result.json"))) - before
    # per seed 2 inherited units (each search's own weights) + 2 scratch units per distinct net
    # (another recipe than the benchmark's: no hits)
    assert len(added) == 4 + 2 * len(set(rep["nets"].values()))
    inits = [json.load(open(p)).get("init_weights") for p in added]
    assert sum(i is not None for i in inits) == 4
    assert set(rep["summary"]["comparisons"]) == {"inherited - scratch", "inherited_half - scratch",
                                                  "scratch_half - scratch", "inherited_half - scratch_half"}
    assert (tmp_path / "ft" / "finetune.md").is_file()
    finetune_main(ft)  # every unit cached: nothing new
    capsys.readouterr()
    assert set(glob.glob(str(save / "retrains" / "*" / "result.json"))) - before == added


def _group(*nets):
    """A control group of a seed as build_report writes it (mean_acc once it has nets)."""
    out = {"nets": list(nets)}
    if nets:
        out["mean_acc"] = sum(n["mean_acc"] for n in nets) / len(nets)
    return out


def _net(name, acc, val=None):
    """A report entry: a net (its name stands for a net_config) with its retrains' test and val top-1."""
    return {"net_config": name, "acc": list(acc), "val_final": list(val or acc), "mean_acc": sum(acc) / len(acc)}


def test_group_controls_pair_the_seeds_that_have_nets():
    from tools.quality.comparisons import _group_controls
    from tools.quality.report import _group_lines
    searches = [dict(_net("s1", [84.0]), seed=1, random=[_net("r1", [82.6])],
                     uniform=_group(_net("u1", [83.0], [83.5]))),
                dict(_net("s2", [83.0]), seed=2, random=[_net("r2", [82.0])],
                     uniform={"nets": [], "nearest_below": 1.2, "nearest_above": 1.9}),
                dict(_net("s3", [85.0]), seed=3, random=[_net("r3", [83.2])],
                     uniform=_group(_net("u2", [82.0], [82.0]), _net("u3", [84.0], [84.5])))]
    c = _group_controls(searches)["uniform"]
    assert c["seeds"] == [1, 3] and c["nets_per_seed"] == [1, 2]
    assert c["searched_minus_group"]["per_seed"] == [1.0, 2.0] and c["searched_minus_group"]["mean"] == 1.5
    assert c["searched_minus_best"]["per_seed"] == [1.0, 1.0]  # the best by val: u1, u3
    assert c["group_minus_random"]["mean"] == pytest.approx(0.1)
    assert c["seeds_without"] == [{"seed": 2, "nearest_below": 1.2, "nearest_above": 1.9}]
    assert "shared" not in c["searched_minus_best"]  # no net is used by two seeds
    text = "\n".join(_group_lines({"controls": {"uniform": c}, "searches": searches}))
    assert "seed 2: none (nearest cost below 1.200 ms, above 1.900 ms)" in text and "+1.50" in text
    assert _group_controls([dict(_net("s", [84.0]), seed=1, random=[_net("r", [80.0])],
                                 uniform={"nets": [], "nearest_below": None, "nearest_above": 2.0})])["uniform"]["seeds"] == []


def test_attribution_rows_pair_only_the_seeds_that_have_both_sides():
    from tools.quality.comparisons import attribution, attribution_table
    searches = [dict(_net("s1", [84.0]), seed=1, random=[_net("r1", [83.0])], params_pick=_net("p1", [83.5]),
                     uniform=_group(_net("u1", [84.5]))),
                dict(_net("s2", [83.0]), seed=2, random=[_net("r2", [81.0])], params_pick=_net("p2", [82.0]),
                     uniform={"nets": [], "nearest_below": 1.2, "nearest_above": 1.9})]
    rows = {r["comparison"]: r for r in attribution(searches)}
    assert set(rows) == {"searched − random", "searched − params pick", "params pick − random",
                         "searched − uniform (mean)", "searched − uniform (best by val)", "uniform (mean) − random"}
    assert rows["searched − random"]["per_seed"] == [1.0, 2.0] and rows["searched − random"]["seeds"] == [1, 2]
    assert rows["searched − params pick"]["mean"] == pytest.approx(0.75)
    assert rows["searched − uniform (best by val)"] == dict(rows["searched − uniform (best by val)"], seeds=[1],
                                                            per_seed=[-0.5])
    table = attribution_table(attribution(searches))
    assert len(table) == 2 + 6 and "| searched − params pick | 2 | +0.75 |" in table[3]


def test_a_control_the_seeds_share_carries_its_retrain_error():
    """Issue 54: the best hand-designed net of every seed is one net; its error shifts every gap
    together, so the CI of a gap against it widens with its noise and narrows with its retrains."""
    from tools.quality.comparisons import attribution, attribution_table, shared_nets

    def searches(control_acc):
        return [dict(_net(f"s{i}", [84.0 + d, 84.2 + d]), seed=i, random=[_net(f"r{i}", [83.0 + d, 83.4 + d])],
                     uniform=_group(_net("hand", control_acc))) for i, d in enumerate([0.1, -0.2, 0.3, 0.0, -0.1])]
    two = searches([84.0, 84.6])
    assert shared_nets(two) == {"hand"}
    row = {r["comparison"]: r for r in attribution(two)}["searched − uniform (best by val)"]
    assert row["mean"] == pytest.approx(84.12 - 84.3)
    lo, hi = row["ci95_seeds_only"]
    assert hi - lo <= 0.31  # the seeds alone: the same control in every gap looks like no noise at all
    assert row["ci95"][0] < lo - 0.2 and row["ci95"][1] > hi + 0.2
    assert row["shared"] == [{"net": "hand", "seeds": 2}] and 0 < row["p_bootstrap"] < 1
    # the same control with six retrains (more seeds of it found elsewhere): a narrower interval
    six = {r["comparison"]: r for r in attribution(two, {"hand": dict(enumerate([84.0, 84.6, 84.2, 84.4, 84.1, 84.5]))})}
    row6 = six["searched − uniform (best by val)"]
    assert row6["shared"] == [{"net": "hand", "seeds": 6}] and row6["mean"] == pytest.approx(84.12 - 84.3)
    assert row6["ci95"][1] - row6["ci95"][0] < row["ci95"][1] - row["ci95"][0]
    assert "‡ (1 shared net, 6 retrains" in "\n".join(attribution_table(list(six.values())))
    # the random nets are each seed's own: that comparison has no shared net
    assert "shared" not in six["searched − random"]


@pytest.mark.parametrize("extra,message", [
    (["--seeds", "0"], "--seeds 0"),
    (["--test_split", "nosuch"], "no 'nosuch' folder"),
    (["--target", "0.000001"], "below the cheapest"),
    (["--cost_tolerance", "1.5"], "--cost_tolerance"),
])
def test_bad_input_one_line_exit_2(data_root, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as e:
        main(_args(data_root, tmp_path / "bad") + extra)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "bad" / "searches").exists()


def test_most_params_picks_the_largest_and_refuses_an_empty_pool():
    from common.errors import InputError
    from tools.quality.controls import most_params
    nets = [{"net_config": "a", "params_m": 0.2}, {"net_config": "b", "params_m": 0.5}, {"net_config": "c", "params_m": 0.5}]
    assert most_params(nets)["net_config"] == "b"
    with pytest.raises(InputError, match="no nets"):
        most_params([])


def test_multi_branch_layers_are_counted_in_the_searched_net_itself():
    from tools.quality.report import _multi_branch_layers
    text = ("[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n"
            "[[16, 24], 'mbconv_k3_t6+mbconv_k5_t3', ['mbconv_k5_t3', 'mbconv_k5_t6+mbconv_k3_t3'], 2, 2]|\n"
            "[[24, 256], 'conv1_1']\nnet_type: mbv2\n")
    assert _multi_branch_layers(text) == 2
    assert _multi_branch_layers(text.replace("+mbconv_k5_t3", "").replace("+mbconv_k3_t3", "")) == 0


def test_random_nets_are_drawn_again_when_n_or_tolerance_change(tmp_path, monkeypatch):
    import types
    import tools.quality.controls as qc
    from tools.quality.benchmark import QualityBenchmark
    calls = []

    def fake_sample(run_dir, tolerance, n, gen_seed, at_most_window=False):
        calls.append((n, tolerance))
        return [{"net_config": f"net {i}", "tol": tolerance} for i in range(n)]
    monkeypatch.setattr(qc, "window_sample", fake_sample)
    bench = types.SimpleNamespace(save=str(tmp_path), a=types.SimpleNamespace(random=2, cost_tolerance=0.025))
    draw = lambda: QualityBenchmark.random_nets(bench, 1, "run")  # noqa: E731
    assert len(draw()) == 2 and len(draw()) == 2 and calls == [(2, 0.025)]       # cached
    bench.a.random = 3
    assert len(draw()) == 3 and calls[-1] == (3, 0.025)
    bench.a.cost_tolerance = 0.05
    assert draw()[0]["tol"] == 0.05 and len(calls) == 3
    os.remove(tmp_path / "random" / "seed_1.args.json")   # a folder from before the args file: kept when N matches
    assert draw()[0]["tol"] == 0.05 and len(calls) == 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_units_run_seed_by_seed(tmp_path, monkeypatch, jobs):
    """A finished search's retrains start before any later seed's search, with one worker or two;
    so a benchmark cut short holds whole seeds."""
    import threading
    import time
    import types
    import tools.quality.controls as qc
    from tools.quality.benchmark import QualityBenchmark
    started, lock = [], threading.Lock()

    def log(what):
        with lock:
            started.append(what)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "net_config").write_text("searched")
    bench = QualityBenchmark.__new__(QualityBenchmark)
    bench.a = types.SimpleNamespace(seeds=3, retrain_seeds=1, params_pick=0, random=2, noise_seeds=0, jobs=jobs)
    bench.save, bench.done_units, bench.start = str(tmp_path), 0, time.monotonic()
    bench.search = lambda seed: (log(f"search {seed}"), time.sleep(0.05), str(run_dir))[-1]
    bench.random_nets = lambda seed, rd: [{"net_config": f"random {seed}.{i}"} for i in range(2)]
    bench.one_shot = lambda seed, rd, nets: [None] * len(nets)
    bench.retrain = lambda text, r, label: (log(label.split(" ")[2]), time.sleep(0.05),
                                            {"label": label, "test_top1": 0.0, "time_s": 0.0})[-1]
    monkeypatch.setattr(qc, "choose_controls", lambda args, save, seed, rd: ({}, []))
    out = bench.run()
    assert len(out["retrains"]) == 9 and set(out["searches"]) == {1, 2, 3}
    seed_of = [int(w.split()[-1]) for w in started]
    searches_at = {int(w.split()[1]): i for i, w in enumerate(started) if w.startswith("search")}
    for seed in (1, 2):   # every retrain of seed s has started before seed s+2's search (s+1's may overlap)
        last_retrain = max(i for i, (w, s) in enumerate(zip(started, seed_of)) if s == seed and not w.startswith("search"))
        assert last_retrain < searches_at.get(seed + jobs, len(started))


def _bench_stub(save, recipe="abc"):
    import types
    from tools.quality.benchmark import QualityBenchmark
    bench = types.SimpleNamespace(save=str(save), recipe_hash=recipe)
    bench.retrain_key = lambda text, seed, init=None: QualityBenchmark.retrain_key(bench, text, seed, init)
    bench.retrain_dir = lambda text, seed, init=None: QualityBenchmark.retrain_dir(bench, text, seed, init)
    bench.cached = lambda text, seed, init=None: QualityBenchmark.cached(bench, text, seed, init)
    bench.import_result = lambda *a: QualityBenchmark.import_result(bench, *a)
    return bench


def test_reuse_imports_every_retrain_of_the_same_recipe_once(tmp_path):
    from common.errors import InputError
    from tools.quality.reuse import retrain_records, reuse_results
    committed = json.load(open(os.path.join(ROOT, "tools", "results", "quality_fmnist_1.5ms", "quality.json")))
    A, B = committed["searches"][0]["net_config"], committed["searches"][0]["random"][0]["net_config"]
    report = {"recipe": {"hash": "abc"}, "retrain_time_s": 61.0,
              "retrain_noise": {"test_top1": [80.0, 80.5, 79.0]},          # no val: left out
              "searches": [{"net_config": A, "acc": [80.0, 80.5], "val_final": [81.0, 81.5],
                            "random": [{"net_config": B, "acc": [70.0, 71.0], "val_final": [72.0, 73.0]}],
                            "uniform": {"nets": [{"net_config": B, "acc": [70.0, 71.0], "val_final": [72.0, 73.0]}]}}]}
    assert sorted(retrain_records(report)) == sorted([(A, 0, 80.0, 81.0), (A, 1, 80.5, 81.5),
                                                       (B, 0, 70.0, 72.0), (B, 1, 71.0, 73.0)])
    src = tmp_path / "quality.json"
    src.write_text(json.dumps(report))
    bench = _bench_stub(tmp_path / "save")
    assert bench.cached(B, 1) is None
    assert reuse_results(bench, [str(src)]) == [f"reuse {src}: 4 retrains imported, 0 already in the cache"]
    hit = bench.cached(B, 1)
    assert hit["test_top1"] == 71.0 and hit["val_top1_final"] == 73.0 and hit["seed"] == 1
    assert hit["imported_from"] == str(src) and hit["time_s"] == 61.0
    assert "0 retrains imported, 4 already" in reuse_results(bench, [str(src)])[0]
    other = _bench_stub(tmp_path / "other", recipe="xyz")               # another recipe: nothing imported
    assert "nothing imported" in reuse_results(other, [str(src)])[0] and other.cached(A, 0) is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        reuse_results(bench, [str(bad)])


def test_pack_keeps_finished_units_only_and_refuses_bad_folders(tmp_path):
    from common.errors import InputError
    from tools.quality.pack import pack
    src = tmp_path / "bench"
    files = {"searches/seed_1/search-a/history.json": "[]", "searches/seed_1/search-a/config.yaml": "x: 1",
             "searches/seed_1/search-a/checkpoint.pt": "w", "searches/seed_1/search-a/log.txt": "log",
             "searches/seed_2/search-b/checkpoint.pt": "w",                     # unfinished
             "retrains/k1/result.json": "{}", "retrains/k1/net_config": "n", "retrains/k1/retrain-1/checkpoint.pt": "w",
             "retrains/k2/retrain-1/checkpoint.pt": "w",                         # unfinished
             "retrains/k3/result.json": '{"imported_from": "q.json"}',           # --reuse brings it back
             "random/seed_1.json": "[]", "one_shot/seed_1.json": "{}", "controls/uniform_seed_1.json": "{}"}
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    n, left = pack(str(src), str(tmp_path / "out"))
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert got == sorted(["searches/seed_1/search-a/history.json", "searches/seed_1/search-a/config.yaml",
                          "retrains/k1/result.json", "retrains/k1/net_config", "random/seed_1.json",
                          "one_shot/seed_1.json", "controls/uniform_seed_1.json"]) and n == len(got)
    assert left[:2] == ["searches/seed_2/search-b: unfinished search", "retrains/k2: unfinished retrain"]
    assert left[2].startswith("1 retrains imported by --reuse")
    (src / "one_shot" / "seed_1.json").unlink()           # a finished search without its one-shot cache: said
    assert "one-shot scores will be n/a" in pack(str(src), str(tmp_path / "out2"))[1][0]
    with pytest.raises(InputError, match="exists"):
        pack(str(src), str(tmp_path / "out"))
    with pytest.raises(InputError, match="not a tools.quality.benchmark folder"):
        pack(str(tmp_path), str(tmp_path / "out3"))


def test_one_shot_scores_are_cached_and_n_a_without_a_checkpoint(tmp_path, monkeypatch):
    import types
    import engine.supernet_scores as rank
    from tools.quality.benchmark import QualityBenchmark
    calls = []
    monkeypatch.setattr(rank, "supernet_accuracies", lambda run, nets, *a: calls.append(nets) or [50.0] * len(nets))
    bench = types.SimpleNamespace(save=str(tmp_path / "save"), a=types.SimpleNamespace(
        recal_batches=1, eval_images=8, data_path=None))
    run = tmp_path / "run"
    run.mkdir()
    score = lambda nets: QualityBenchmark.one_shot(bench, 1, str(run), nets)  # noqa: E731
    assert score(["a", "b"]) == [None, None] and not calls          # no checkpoint, no cache
    (run / "checkpoint.pt").write_text("w")
    assert score(["a", "b"]) == [50.0, 50.0] and score(["a", "b"]) == [50.0, 50.0] and len(calls) == 1
    (run / "checkpoint.pt").unlink()
    assert score(["a", "b"]) == [50.0, 50.0]                        # the cache outlives the checkpoint
    assert score(["a", "c"]) == [None, None]                        # other nets: not the cached answer
