import json
import os

import torch

from models import build_model, load_net_config
from tools.demo import run_demo


def test_ci_sized_pipeline(tmp_path):
    """make demo in miniature: every artefact exists and loads."""
    summary = run_demo(str(tmp_path), device="cpu", tiny=True)
    art = summary["artefacts"]
    for key in ("dataset", "lmdb", "latency_table", "latency_accuracy_plot", "search_run", "net_config",
                "arch_picture", "top_k", "retrain_run", "weights"):
        assert os.path.exists(art[key]), key
    for split in ("train", "val", "search_train", "search_val"):
        assert os.path.isfile(os.path.join(art["lmdb"], split, "data.mdb"))
    net_config = load_net_config(art["net_config"])
    model = build_model(net_config, num_classes=5)
    model.load_state_dict(torch.load(art["weights"], weights_only=True))
    with open(art["latency_table"]) as f:
        assert json.load(f)["format"] == "densenas-cost-table"
    for tb in art["tensorboard"].split():
        assert any(name.startswith("events") for name in os.listdir(tb))
    assert os.path.isfile(os.path.join(art["top_k"], "1", "net_config"))
    assert summary["table_latency_ms"] > 0 and summary["measured_latency_ms"] > 0
    t = summary["measured_latency"]
    assert t["repeats"] == 5 and t["min_ms"] == summary["measured_latency_ms"] == min(t["runs_ms"])
    assert 0 <= summary["val_top1"] <= 100
    with open(tmp_path / "summary.json") as f:
        assert json.load(f)["artefacts"] == art
