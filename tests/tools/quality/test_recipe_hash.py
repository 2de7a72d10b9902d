"""The recipe hash is over the parsed recipe (issue 54 §1), and committed results were moved to it."""
import glob
import json
import os

from tools.quality.migrate_recipe_hash import legacy_recipe_hash, migrate
from tools.quality.units import QualityUnits, recipe_hash

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHORT = os.path.join(ROOT, "configs", "fashion_mnist_quality_train.yaml")
LONG = os.path.join(ROOT, "configs", "fashion_mnist_quality_train_long.yaml")


def _recipe(text, name="fashion_mnist_quality_train.yaml"):
    return {"train_config": name, "train_config_text": text, "train_opts": [], "test_split": "test",
            "channels_last": True, "threads": 1, "data": "data/fashion_mnist"}


def _text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_a_comment_edit_keeps_the_hash_a_value_edit_changes_it():
    text = _text(SHORT)
    h = recipe_hash(_recipe(text))
    assert recipe_hash(_recipe("# a new first line\n" + text.replace("# Its seed", "#   its seed"))) == h
    assert recipe_hash(_recipe(text, name="renamed.yaml")) == h  # the values are the recipe, not the file's name
    assert recipe_hash(_recipe(text.replace("batch_size: 128", "batch_size: 64"))) != h
    assert recipe_hash(_recipe(text.replace("epochs: 4,", "epochs: 5,"))) != h
    assert recipe_hash(dict(_recipe(text), train_opts=["train_params.epochs=2"])) != h
    assert recipe_hash(dict(_recipe(text), threads=2)) != h


def test_the_long_recipe_differs_from_the_short_one_in_its_epochs_only():
    import yaml
    short, long_ = yaml.safe_load(_text(SHORT)), yaml.safe_load(_text(LONG))
    assert short["train_params"]["epochs"] == 4 and long_["train_params"]["epochs"] == 16
    long_["train_params"]["epochs"] = 4
    assert long_ == short


def test_units_hash_the_config_they_are_given(tmp_path):
    import argparse
    args = argparse.Namespace(save=str(tmp_path), train_config=SHORT, train_opts=[], test_split="test",
                              no_channels_last=False, threads=1, data_path="data/fashion_mnist")
    units = QualityUnits(args)
    assert units.recipe_hash == recipe_hash(_recipe(_text(SHORT)))
    # the committed results carry this hash: they were migrated, and reuse finds them
    with open(os.path.join(ROOT, "tools", "results", "ranking", "fmnist_4op.json"), encoding="utf-8") as f:
        assert json.load(f)["recipe_hash"] == units.recipe_hash


def test_no_committed_result_holds_a_text_hash():
    for path in glob.glob(os.path.join(ROOT, "tools", "results", "**", "*.json"), recursive=True):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and isinstance(data.get("recipe"), dict):
            rec = {k: v for k, v in data["recipe"].items() if k != "hash"}
            assert (data["recipe"].get("hash") or data.get("recipe_hash")) == recipe_hash(rec), path


def test_migrate_moves_reports_and_units_once(tmp_path):
    rec = _recipe(_text(SHORT))
    old, new = legacy_recipe_hash(rec), recipe_hash(rec)
    assert old != new
    bench = tmp_path / "bench"
    (bench / "retrains").mkdir(parents=True)
    report = {"recipe": dict(rec, hash=old), "searches": []}
    (bench / "quality.json").write_text(json.dumps(report))
    net = "[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, 256], 'conv1_1']\nnet_type: mbv2\n"
    import hashlib

    def key(h):
        return hashlib.sha256(json.dumps({"net": net, "recipe": h, "seed": 0}, sort_keys=True).encode()).hexdigest()[:16]
    unit = bench / "retrains" / key(old)
    unit.mkdir()
    (unit / "result.json").write_text(json.dumps({"net_config": net, "seed": 0, "recipe": old, "test_top1": 80.0}))
    (unit / "net_config").write_text(net)
    lines = migrate([str(bench)])
    assert f"{old} -> {new}" in lines
    assert json.loads((bench / "quality.json").read_text())["recipe"]["hash"] == new
    moved = bench / "retrains" / key(new)
    assert moved.is_dir() and not unit.exists() and (moved / "net_config").read_text() == net
    assert json.loads((moved / "result.json").read_text())["recipe"] == new
    assert migrate([str(bench)])[-1].startswith("0 reports and 0 retrain units")


def test_a_report_whose_hash_is_not_its_recipes_is_left_alone(tmp_path):
    rec = _recipe(_text(SHORT))
    (tmp_path / "quality.json").write_text(json.dumps({"recipe": dict(rec, hash="0123456789ab")}))
    lines = migrate([str(tmp_path)])
    assert any("left alone" in line for line in lines)
    assert json.loads((tmp_path / "quality.json").read_text())["recipe"]["hash"] == "0123456789ab"
