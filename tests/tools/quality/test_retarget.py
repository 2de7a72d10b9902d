"""tools.quality.retarget: a finished densenas search of one benchmark, re-derived at another target,
is what a search at that target writes; only a target-free search of the same config is taken."""
import json
import os
import shutil
import types

import pytest
import yaml

from common.errors import InputError
from search_space.search_config import load_search_config
from tests.conftest import ROOT
from tools.quality.benchmark import main
from tools.quality.report import _diagnostics
from tools.quality.retarget import (check_retargetable, finished_search, rederived_fields, retarget_info,
                                    retarget_search)

RESULTS = os.path.join(ROOT, "tools", "results")
PAPER_15 = os.path.join(RESULTS, "quality_fmnist_1.5ms_controls", "units")     # densenas, paper default, 1.5 ms
SANDWICH_10 = os.path.join(RESULTS, "quality_fmnist_1.0ms_sandwich", "units")  # densenas + sandwich, 1.0 ms
CONFIG = os.path.join(ROOT, "configs", "fashion_mnist_search.yaml")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_rederived_at_its_own_target_is_exactly_what_the_search_wrote(tmp_path):
    for seed in (1, 2):
        source = finished_search(SANDWICH_10, seed)
        out = retarget_search(source, str(tmp_path / f"seed_{seed}"), 1.0)
        assert json.loads(_read(os.path.join(out, "derived.json"))) == json.loads(_read(os.path.join(source, "derived.json")))
        for name in ("net_config", "history.json", "arch_params.json"):
            assert _read(os.path.join(out, name)) == _read(os.path.join(source, name)), name
        assert os.listdir(tmp_path / f"seed_{seed}") == [os.path.basename(source)]  # no temporary folder left
        assert retarget_info(out)["source_target"] == 1.0 and retarget_info(source) is None


def test_rederived_at_another_target_gives_the_nets_that_targets_searches_emitted(tmp_path):
    with open(os.path.join(RESULTS, "quality_fmnist_1.0ms", "quality.json"), encoding="utf-8") as f:
        searched_at_1ms = {s["seed"]: s for s in json.load(f)["searches"]}
    for seed in (1, 2):
        out = retarget_search(finished_search(PAPER_15, seed), str(tmp_path / f"seed_{seed}"), 1.0)
        derived, want = json.loads(_read(os.path.join(out, "derived.json"))), searched_at_1ms[seed]
        assert _read(os.path.join(out, "net_config")).strip() == want["net_config"].strip()
        assert (derived["table_cost"], derived["params_m"], derived["macs_m"]) == pytest.approx(
            (want["cost"], want["params_m"], want["macs_m"]))
        assert derived["target"] == 1.0 and derived["window"] == pytest.approx([0.95, 1.0])
        assert load_search_config(os.path.join(out, "config.yaml")).optim.sub_obj.target == 1.0
        assert retarget_info(out)["source_target"] == 1.5
        # the report's diagnostics of the final derived net are this target's; when it last changed is not known
        fields = rederived_fields(out, retarget_info(out), _diagnostics(out, arch_start=8))
        final = ("skip_share_final", "depth_blocks_final", "depth_layers_final", "op_entropy_rel_final")
        assert {k: fields["diagnostics"][k] for k in final} == {k: want["diagnostics"][k] for k in final}
        assert fields["diagnostics"]["last_change_epoch"] is None and fields["rederived_from"]["source_target"] == 1.5


def test_only_a_target_free_search_of_the_same_config_is_taken(tmp_path):
    source = finished_search(PAPER_15, 1)
    check_retargetable(source, load_search_config(CONFIG, ["train_params.seed=1", "optim.sub_obj.target=1.0"]))
    with pytest.raises(InputError, match=r"differs .* in search_params.weight_sharing.strategy \('uniform' there, "
                                         r"'sandwich' here\)"):
        check_retargetable(source, load_search_config(CONFIG, ["train_params.seed=1",
                                                               "search_params.weight_sharing.strategy=sandwich"]))
    with pytest.raises(InputError, match="train_params.seed"):  # another seed's search is not this seed's
        check_retargetable(source, load_search_config(CONFIG, ["train_params.seed=2"]))
    tfnas = finished_search(os.path.join(RESULTS, "quality_fmnist_1.5ms_tfnas_controls", "units"), 1)
    with pytest.raises(InputError, match="method tfnas"):
        check_retargetable(tfnas, load_search_config(CONFIG, ["search_params.method=tfnas"]))
    abs_run = tmp_path / "search-abs"
    shutil.copytree(source, abs_run)
    cfg = yaml.safe_load(_read(abs_run / "config.yaml"))
    cfg["optim"]["sub_obj"]["target_mode"] = "abs"
    (abs_run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(InputError, match="target_mode abs"):
        check_retargetable(str(abs_run), load_search_config(CONFIG, ["optim.sub_obj.target_mode=abs"]))


def test_a_benchmark_unit_takes_its_search_from_the_other_folder_once(tmp_path):
    from tools.quality.report import _search_time_s
    from tools.quality.units import QualityUnits
    args = types.SimpleNamespace(save=str(tmp_path / "q"), train_config=os.path.join(ROOT, "configs", "demo_train.yaml"),
                                 train_opts=[], test_split="test", no_channels_last=False, threads=1, data_path=None,
                                 searches_from=PAPER_15, target=1.0)
    bench = QualityUnits(args)
    assert bench.search_dir(1) is None
    run = bench.search(1)
    assert bench.search_dir(1) == run and run.startswith(str(tmp_path / "q" / "searches" / "seed_1" / "search-"))
    stamp = os.path.getmtime(os.path.join(run, "derived.json"))
    assert bench.search(1) == run and os.path.getmtime(os.path.join(run, "derived.json")) == stamp  # not redone
    assert _search_time_s(run) == 0.0 and _search_time_s(finished_search(PAPER_15, 1)) > 0


@pytest.mark.parametrize("extra,message", [
    (["--opts", "search_params.method=tfnas", "--target", "1.0"], "differs from this benchmark's in search_params.method"),
    ([], "give --target"),
])
def test_searches_that_do_not_fit_stop_the_benchmark_before_it_starts(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as e:
        main(["--config", CONFIG, "--train_config", os.path.join(ROOT, "configs", "fashion_mnist_quality_train.yaml"),
              "--data_path", str(tmp_path / "no_data"), "--save", str(tmp_path / "q"), "--searches_from", PAPER_15]
             + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "q").exists()
