"""Every file kind the benchmark harness reads refuses hostile or damaged content: one line naming the
file and what is wrong, exit 2, no traceback, no code run, nothing overwritten -- or, for the harness's
own unit files, the damaged file is set aside and its unit redone, never read as finished."""
import argparse
import copy
import glob
import json
import os
import pickle
import shutil

import pytest
import torch

from tests.conftest import ROOT

RESULTS = os.path.join(ROOT, "tools", "results")
REPORT = os.path.join(RESULTS, "quality_fmnist_1.5ms_controls", "quality.json")
PACKED = os.path.join(RESULTS, "quality_fmnist_1.5ms_controls", "units")
RANKING = os.path.join(RESULTS, "ranking", "fmnist_4op.json")
MARKER = "/tmp/densenas-hostile-payload-ran"


class Payload:
    """Unpickling this runs a command: a weights_only load must refuse it before it runs."""
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _files(folder) -> dict:
    out = {}
    for path in glob.glob(os.path.join(str(folder), "**", "*"), recursive=True):
        if os.path.isfile(path):
            st = os.stat(path)
            out[path] = (st.st_size, st.st_mtime_ns)
    return out


def refused(main, argv, capsys, watch=None, match=""):
    """``main(argv)`` exits 2 with one line naming what is wrong; nothing under ``watch`` changes."""
    before = _files(watch) if watch else None
    if os.path.exists(MARKER):
        os.remove(MARKER)
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert match in err, err
    assert not os.path.exists(MARKER), "a payload ran"
    if watch:  # every file that was there is unchanged (new cache files may appear)
        after = _files(watch)
        assert {k: after.get(k) for k in before} == before
    return err


# -- quality.json given to --reuse -------------------------------------------------------------

def _report_with(change):
    report = json.load(open(REPORT, encoding="utf-8"))
    change(report)
    return report


def _set(path, value):
    def change(report):
        node = report
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return change


REUSE_CASES = {
    "not JSON": ("{\"recipe\": {\"hash\": ", "not a readable quality.json"),
    "no recipe hash": (_report_with(_set(["recipe"], {"name": "x"})), "recipe hash"),
    "NaN accuracy": (_report_with(_set(["searches", 0, "acc", 0], float("nan"))), "finite percentages"),
    "accuracy over 100": (_report_with(_set(["searches", 1, "random", 2, "acc"], [250.0, 83.0])), "finite percentages"),
    "accuracy as text": (_report_with(_set(["searches", 0, "val_final", 1], "83.1")), "finite percentages"),
    "net_config that is not one": (_report_with(_set(["searches", 0, "random", 0, "net_config"], "__import__('os')")),
                                   "is not a net_config"),
    "run_dir that escapes": (_report_with(_set(["searches", 2, "run_dir"], "../../../etc")), "outside the benchmark"),
    "absolute run_dir": (_report_with(_set(["searches", 0, "run_dir"], "/etc")), "outside the benchmark"),
}


@pytest.mark.parametrize("case", list(REUSE_CASES))
def test_reuse_refuses_a_hostile_quality_json(case, tmp_path, capsys):
    from tools.quality.benchmark import main
    content, match = REUSE_CASES[case]
    bad = tmp_path / "quality.json"
    bad.write_text(content if isinstance(content, str) else json.dumps(content))
    good = tmp_path / "good" / "quality.json"  # a valid file first: nothing of it is imported either
    good.parent.mkdir()
    shutil.copy(REPORT, good)
    save = tmp_path / "bench"
    refused(main, ["--quick", "--save", str(save), "--reuse", str(good), str(bad)], capsys, match=match)
    assert glob.glob(os.path.join(save, "retrains", "*", "result.json")) == []


# -- packed searches given to --searches_from ------------------------------------------------------

def _packed(tmp_path, change):
    src = tmp_path / "units"
    shutil.copytree(os.path.join(PACKED, "searches", "seed_1"), src / "searches" / "seed_1")
    run = glob.glob(str(src / "searches" / "seed_1" / "search-*"))[0]
    change(run)
    return src


def _edit_json(name, edit):
    def change(run):
        path = os.path.join(run, name)
        data = json.load(open(path))
        edit(data)
        json.dump(data, open(path, "w"))
    return change


def _edit_text(name, old, new):
    def change(run):
        path = os.path.join(run, name)
        text = open(path).read()
        assert old in text
        open(path, "w").write(text.replace(old, new, 1))
    return change


SEARCHES_FROM_CASES = {
    "no arch_params.json": (lambda run: os.remove(os.path.join(run, "arch_params.json")), "no arch_params.json"),
    "arch params of the wrong shape": (_edit_json("arch_params.json", lambda d: d["betas"][0].append(0.5)), "searches_from"),
    "arch params that are not numbers": (_edit_json("arch_params.json", lambda d: d.update(betas="rm -rf")), "searches_from"),
    "a config of another space": (_edit_text("config.yaml", "num_layers", "num_layerz"), "searches_from"),
    "a config with a python tag": (_edit_text("config.yaml", "train_params:", "evil: !!python/object/apply:os.system ["
                                              f"'touch {MARKER}']\ntrain_params:"), "searches_from"),
}


@pytest.mark.parametrize("case", list(SEARCHES_FROM_CASES))
def test_searches_from_refuses_a_damaged_source(case, tmp_path, capsys):
    from tools.quality.benchmark import main
    change, match = SEARCHES_FROM_CASES[case]
    src = _packed(tmp_path, change)
    refused(main, ["--config", "configs/fashion_mnist_search.yaml", "--train_config",
                   "configs/fashion_mnist_quality_train.yaml", "--target", "1.0", "--seeds", "1",
                   "--searches_from", str(src), "--save", str(tmp_path / "bench")], capsys, watch=src, match=match)


# -- ranking-set JSON ------------------------------------------------------------------------------

def _ranking_with(edit):
    data = json.load(open(RANKING, encoding="utf-8"))
    edit(data)
    return data


RANKING_CASES = {
    "duplicate ids": (lambda d: d["nets"][3].update(id=d["nets"][2]["id"]), "duplicate id"),
    "nets without retrains": (lambda d: [n.update(retrains=[], test_top1_mean=None) for n in d["nets"]], "complete nets"),
    "a mean without retrains": (lambda d: d["nets"][0].update(retrains=[]), "without retrains"),
    "NaN mean": (lambda d: d["nets"][5].update(test_top1_mean=float("nan")), "finite percentage"),
    "net_config that is not one": (lambda d: d["nets"][1].update(net_config="[[16, 16], 'evil']"), "not a net_config"),
    "retrain without a seed": (lambda d: d["nets"][1]["retrains"][0].pop("seed"), "integer seed"),
    "not a list of nets": (lambda d: d.update(nets={"a": 1}), "no list of nets"),
    "a net without MACs": (lambda d: d["nets"][7].pop("macs_m"), "macs_m"),
}


@pytest.mark.parametrize("case", list(RANKING_CASES))
def test_supernet_benchmark_refuses_a_hostile_ranking_set(case, tmp_path, capsys):
    from tools.supernet.benchmark import main
    edit, match = RANKING_CASES[case]
    bad = tmp_path / "ranking.json"
    bad.write_text(json.dumps(_ranking_with(edit)))
    refused(main, ["--config", "configs/fashion_mnist_search.yaml", "--ranking", str(bad), "--strategies", "uniform",
                   "--steps", "10", "--save", str(tmp_path / "sn")], capsys, match=match)


def test_ranking_set_refuses_a_hostile_out_file_and_keeps_it(tmp_path, capsys):
    from tools.supernet.ranking_set import main
    out = tmp_path / "set" / "ranking.json"
    out.parent.mkdir()
    out.write_text(json.dumps(_ranking_with(RANKING_CASES["duplicate ids"][0])))
    refused(main, ["--quick", "--save", str(tmp_path / "units"), "--out", str(out)], capsys, watch=out.parent,
            match="duplicate id")


# -- weight snapshots and inherited weights --------------------------------------------------------

@pytest.fixture(scope="module")
def demo_snapshot_inputs(tmp_path_factory):
    """A ranking set of the demo space (nets drawn, accuracies made up) and a real snapshot of its super network."""
    from search_space import build_super_network, space_from_config
    from search_space.search_config import load_search_config
    from engine.search_cost import load_cost_for_search
    from search_space.random_arch import WindowCounts, sample_in_window
    folder = tmp_path_factory.mktemp("snap")
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"))
    space = space_from_config(cfg)
    table = load_cost_for_search(cfg, space)
    counts = WindowCounts(space, table)
    nets = sample_in_window(space, table, counts.cheapest, counts.dearest, 4, torch.Generator().manual_seed(0), counts)
    ranking = {"nets": [{"id": f"n{i}", "group": "stratum", "net_config": n.to_text(), "cost": 1.0, "params_m": 0.1, "macs_m": 5.0,
                         "retrains": [{"seed": 0, "test_top1": 50.0 + i, "val_top1_final": 50.0}],
                         "test_top1_mean": 50.0 + i} for i, n in enumerate(nets)]}
    (folder / "ranking.json").write_text(json.dumps(ranking))
    torch.save(build_super_network(cfg).state_dict(), folder / "good.pt")
    return folder


def _write_snapshot(folder, kind):
    path = folder / f"{kind.replace(' ', '_')}.pt"
    good = torch.load(folder / "good.pt", weights_only=True)
    if kind == "pickle payload":
        with open(path, "wb") as f:
            pickle.dump({"weights": Payload()}, f)
    elif kind == "truncated":
        data = open(folder / "good.pt", "rb").read()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "another net's tensors":
        from models import build_model
        torch.save(build_model("densenas_a", num_classes=10).state_dict(), path)
    elif kind == "a tensor of the wrong shape":
        bad = copy.copy(good)
        k = next(k for k, v in bad.items() if v.dim() == 4)
        bad[k] = torch.zeros(1, 1, 1, 1)
        torch.save(bad, path)
    elif kind == "not a state_dict":
        torch.save([1, 2, 3], path)
    return path


@pytest.mark.parametrize("kind", ["pickle payload", "truncated", "another net's tensors", "a tensor of the wrong shape",
                                  "not a state_dict"])
def test_probe_readout_refuses_a_hostile_snapshot(kind, demo_snapshot_inputs, capsys):
    from tools.supernet.probe_readout import main
    snap = _write_snapshot(demo_snapshot_inputs, kind)
    refused(main, ["--config", "configs/demo_search.yaml", "--ranking", str(demo_snapshot_inputs / "ranking.json"),
                   "--snapshot", str(snap), "--out", str(demo_snapshot_inputs / "out.json")], capsys,
            match=str(snap))
    assert not (demo_snapshot_inputs / "out.json").exists()


@pytest.mark.parametrize("kind", ["pickle payload", "truncated", "another net's tensors"])
def test_supernet_benchmark_refuses_a_damaged_snapshot_of_its_own(kind, demo_snapshot_inputs, tmp_path, capsys):
    """A strategy's snapshot replaced behind the benchmark's back: scoring stops with one line."""
    from tools.supernet.benchmark import main
    save = tmp_path / "sn"
    folder = save / "uniform_4"
    folder.mkdir(parents=True)
    shutil.copy(_write_snapshot(demo_snapshot_inputs, kind), folder / "weights_4.pt")
    (folder / "result.json").write_text(json.dumps({"strategy": "uniform", "overrides": [], "steps": 4, "probe_nets": [],
                                                    "threads": 1, "curve": [],
                                                    "snapshots": [{"step": 4, "train_s": 1.0, "snapshot": "weights_4.pt"}]}))
    refused(main, ["--config", "configs/demo_search.yaml", "--ranking", str(demo_snapshot_inputs / "ranking.json"),
                   "--strategies", "uniform", "--steps", "4", "--save", str(save)], capsys, watch=save,
            match="weights_4.pt")


# -- the harness's own unit files: damaged means redone, never trusted ------------------------------

def _units(tmp_path):
    from tools.quality.units import QualityUnits
    args = argparse.Namespace(save=str(tmp_path / "bench"), train_config=os.path.join(ROOT, "configs", "demo_train.yaml"),
                              train_opts=[], test_split="test", no_channels_last=False, threads=1, data_path=None)
    return QualityUnits(args)


NET = open(os.path.join(PACKED, "searches", "seed_1", os.listdir(os.path.join(PACKED, "searches", "seed_1"))[0],
                        "net_config")).read()


@pytest.mark.parametrize("content", ["{\"net_config\": \"x\", \"te", "", "[1, 2]", "OTHER NET", "NaN"])
def test_a_damaged_retrain_result_is_set_aside_not_trusted(content, tmp_path, capsys):
    units = _units(tmp_path)
    good = {"net_config": NET, "seed": 0, "recipe": units.recipe_hash, "label": "x", "test_top1": 80.0,
            "val_top1_final": 79.0, "val_top1_best": 79.0, "time_s": 1.0}
    if content == "OTHER NET":
        content = json.dumps(dict(good, net_config=NET.replace("16", "24", 1)))
    elif content == "NaN":
        content = json.dumps(dict(good, test_top1=float("nan")))
    folder = units.retrain_dir(NET, 0)
    os.makedirs(folder)
    with open(os.path.join(folder, "result.json"), "w") as f:
        f.write(content)
    assert units.cached(NET, 0) is None
    assert "set aside as result.json.damaged-1" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(folder, "result.json"))
    with open(os.path.join(folder, "result.json"), "w") as f:
        json.dump(good, f)
    assert units.cached(NET, 0)["test_top1"] == 80.0


def test_a_truncated_checkpoint_is_not_resumed(tmp_path, capsys):
    from tools.quality.units import _resumable_attempt
    folder = tmp_path / "unit"
    older, newer = folder / "retrain-1", folder / "retrain-2"
    for d in (older, newer):
        d.mkdir(parents=True)
    torch.save({"model": {"w": torch.zeros(2)}}, older / "checkpoint.pt")
    data = open(older / "checkpoint.pt", "rb").read()
    (newer / "checkpoint.pt").write_bytes(data[:len(data) // 3])
    assert _resumable_attempt(str(folder)) == str(older)  # the loadable one; the truncated one set aside
    assert "checkpoint does not load" in capsys.readouterr().err
    (older / "checkpoint.pt").write_bytes(b"\x80\x02garbage")
    assert _resumable_attempt(str(folder)) is None


def test_damaged_draws_and_scores_are_redone(tmp_path, monkeypatch):
    units = _units(tmp_path)
    units.a.random, units.a.cost_tolerance, units.a.recal_batches, units.a.eval_images = 2, 0.025, 1, 10
    os.makedirs(os.path.join(units.save, "random"))
    with open(os.path.join(units.save, "random", "seed_1.json"), "w") as f:
        f.write("[{\"net_config\": ")
    drawn = []
    monkeypatch.setattr("tools.quality.controls.window_sample", lambda *a: drawn.append(a) or [{"net_config": NET}])
    assert units.random_nets(1, "run") == [{"net_config": NET}] and len(drawn) == 1
    os.makedirs(os.path.join(units.save, "one_shot"))
    with open(os.path.join(units.save, "one_shot", "seed_1.json"), "w") as f:
        f.write("{\"top1\": \"all\"}")
    assert units.one_shot(1, str(tmp_path / "no-checkpoint"), [NET]) == [None]  # rescored (nothing to score with)
    assert os.path.exists(os.path.join(units.save, "one_shot", "seed_1.json.damaged-1"))


def test_array_cache_with_another_shape_of_the_same_size_is_rebuilt(tmp_path, capsys):
    import numpy as np
    from dataset.array_cache import load_or_build
    from dataset.demo import generate
    from dataset.lists import list_images
    from dataset.transforms import val_transform
    root = generate(str(tmp_path / "demo"), num_classes=2, train_per_class=2, val_per_class=3, quiet=True)
    entries = list_images(root, "val")
    arr = load_or_build(root, "val", entries, "val32", val_transform(32))
    base = arr.filename[:-len(".u8")]
    meta = json.load(open(base + ".json"))
    n, c, h, w = meta["shape"]
    meta["shape"] = [n, h, c, w]  # same byte count, pixels read in the wrong order
    json.dump(meta, open(base + ".json", "w"))
    del arr
    again = load_or_build(root, "val", entries, "val32", val_transform(32))
    assert again.shape == (n, c, h, w) and "rebuilding" in capsys.readouterr().out
    assert np.asarray(again).dtype == np.uint8
