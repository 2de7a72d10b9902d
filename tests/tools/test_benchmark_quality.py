"""tools.benchmark_quality end to end on a tiny space and tiny data: every part runs, every raw
number is written, finished units are reused, bad input is one line with exit 2."""
import glob
import json
import os

import pytest

from dataset.demo import generate
from tests.conftest import ROOT, TINY_OPTS
from tools.benchmark_quality import main

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
    from tools.benchmark_quality import most_params
    nets = [{"net_config": "a", "params_m": 0.2}, {"net_config": "b", "params_m": 0.5}, {"net_config": "c", "params_m": 0.5}]
    assert most_params(nets)["net_config"] == "b"
    with pytest.raises(InputError, match="no nets"):
        most_params([])


def test_multi_branch_layers_are_counted_in_the_searched_net_itself():
    from tools.quality_report import _multi_branch_layers
    text = ("[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n"
            "[[16, 24], 'mbconv_k3_t6+mbconv_k5_t3', ['mbconv_k5_t3', 'mbconv_k5_t6+mbconv_k3_t3'], 2, 2]|\n"
            "[[24, 256], 'conv1_1']\nnet_type: mbv2\n")
    assert _multi_branch_layers(text) == 2
    assert _multi_branch_layers(text.replace("+mbconv_k5_t3", "").replace("+mbconv_k3_t3", "")) == 0
