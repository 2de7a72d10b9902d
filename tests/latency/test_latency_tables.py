import json
import math
import os
import subprocess
import sys

import pytest
import torch

from common.errors import CostTableError
from search_space import load_cost_table, space_from_config
from search_space.cost_table import convert_legacy, flops_table
from latency.measure import kendall_tau, measure_table, validate_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 6, "max_seconds": 0.2}


def test_json_round_trip(tiny_cfg, tmp_path):
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    table.meta["units"] = "ms"
    table.save(str(tmp_path / "t.json"))
    again = load_cost_table(str(tmp_path / "t.json"), space, expect_units="ms")
    assert again.head == table.head and again.stack == table.stack and again.final == table.final
    assert again.input == table.input and again.classifier == table.classifier


def test_fingerprint_and_units_refused(tiny_cfg, tmp_path):
    from search_space.search_config import load_search_config
    space = space_from_config(tiny_cfg)
    flops_table(space, 32).save(str(tmp_path / "t.json"))
    with pytest.raises(CostTableError, match="units"):
        load_cost_table(str(tmp_path / "t.json"), space, expect_units="ms")
    other = space_from_config(load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml")))
    with pytest.raises(CostTableError, match="another search space"):
        load_cost_table(str(tmp_path / "t.json"), other)


def test_shipped_tables_fit_their_spaces():
    from search_space.search_config import load_search_config
    for cfg_name, table in (("imagenet_search_cfg_mbv2", "mbv2_cpu_b1_224.json"),
                            ("imagenet_search_cfg_resnet", "resnet_cpu_b1_224.json"),
                            ("demo_search", "demo_cpu_b1_32.json"),
                            ("fashion_mnist_search", "fashion_mnist_ort_cpu_b1_32.json"),
                            ("imagenet_search_cfg_mbv2_cpu", "mbv2_ort_cpu_b1_224.json")):
        space = space_from_config(load_search_config(os.path.join(ROOT, "configs", f"{cfg_name}.yaml")))
        t = load_cost_table(os.path.join(ROOT, "latency_tables", table), space, expect_units="ms")
        assert t.meta["threads"] >= 1 and t.meta["batch_size"] == 1
        assert t.meta.get("runtime", "torch") == ("onnxruntime" if "_ort_" in table else "torch")
        if "_ort_" in table:  # measured since fingerprints: profile/search compare it with this machine
            assert t.meta["machine"]["cpu_model"] and t.meta["machine"]["onnxruntime"] == t.meta["onnxruntime"]


def test_legacy_conversion_equals_direct_load(reference, tmp_path):
    from search_space.search_config import load_search_config
    src = os.path.join(reference, "lat_list_densenas_mbv2_xp32")
    r = subprocess.run([sys.executable, "-m", "run_apis.latency_measure", "--convert_legacy", src, "--out",
                        str(tmp_path / "xp.json")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    space = space_from_config(load_search_config(os.path.join(reference, "configs", "imagenet_search_cfg_mbv2.yaml")))
    direct = load_cost_table(src, space)
    converted = load_cost_table(str(tmp_path / "xp.json"), space)
    assert direct.head == converted.head and direct.stack == converted.stack
    assert converted.meta["device"] == "NVIDIA TITAN Xp" and converted.meta["batch_size"] == 32
    assert converted.meta["input_size"] == 224 and converted.units == "ms"
    assert convert_legacy(src, str(tmp_path / "again.json")).final == direct.final


def test_legacy_parser_refuses_code(tmp_path):
    p = tmp_path / "evil"
    p.write_text("__import__('os').system('touch pwned')")
    with pytest.raises(CostTableError, match="not a legacy"):
        load_cost_table(str(p))


def test_measure_tiny_space_and_resume(tiny_cfg, tmp_path):
    space = space_from_config(tiny_cfg)
    partial = str(tmp_path / "t.partial.json")
    table = measure_table(space, 32, 1, torch.device("cpu"), threads=1, partial_path=partial,
                          timing_kwargs=FAST, passes=2)
    values = [table.input, table.classifier, *table.final]
    values += [c for b in table.head for r in b for c in r] + [c for b in table.stack for l in b for c in l]
    assert all(v > 0 and math.isfinite(v) for v in values)
    assert table.meta["threads"] == 1 and table.meta["units"] == "ms" and table.meta["fingerprint"]
    assert table.cv is not None
    # a finished partial file makes a re-run measure nothing new
    with open(partial) as f:
        assert len(json.load(f)["measured"]) == table.meta["unique_signatures"]
    again = measure_table(space, 32, 1, torch.device("cpu"), threads=1, partial_path=partial,
                          timing_kwargs={"warmup": 0, "min_repeats": 1, "max_repeats": 1}, passes=2)
    assert again.head == table.head


def test_validation_report_on_tiny_space(tiny_cfg, tmp_path):
    space = space_from_config(tiny_cfg)
    table = measure_table(space, 32, 1, torch.device("cpu"), threads=1, timing_kwargs=FAST, passes=1)
    report = validate_table(space, table, 6, torch.device("cpu"), 32, 1, timing_kwargs=FAST, passes=1)
    for k in ("mape_pct", "max_err_pct", "within_10pct", "kendall_tau"):
        assert k in report["raw"]
    assert len(report["pred_ms"]) == 6 and all(m > 0 for m in report["measured_ms"])
    from latency.measure import scatter_plot
    scatter_plot(report, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_kendall_tau():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == -1.0


def test_measure_cli_on_tiny_space(tmp_path):
    from tests.conftest import TINY_OPTS
    out = tmp_path / "tiny.json"
    r = subprocess.run([sys.executable, "-m", "run_apis.latency_measure", "--config",
                        os.path.join(ROOT, "configs", "demo_search.yaml"), "--opts", *TINY_OPTS, "--device", "cpu",
                        "--passes", "1", "--calibration_nets", "3", "--fit_processes", "1", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "run_apis.latency_measure", "--config",
                        os.path.join(ROOT, "configs", "demo_search.yaml"), "--opts", *TINY_OPTS, "--device", "cpu",
                        "--passes", "1", "--validate", "2", "--processes", "2", "--lut", str(out), "--calibrate"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Kendall" in r.stdout and os.path.isfile(tmp_path / "tiny_accuracy.png")
    table_meta = json.loads(out.read_text())["meta"]
    assert "calibration" in table_meta and table_meta["fit_timing"] == "profile --measure, smallest of 1 fresh processes"
    report = json.loads((tmp_path / "tiny_accuracy.json").read_text())
    # every network timed by profile --measure in 2 fresh processes; the smallest is the latency
    runs = report["measured_runs_ms"]
    assert len(runs) == 2 and all(len(r) == 2 for r in runs) and report["timing"].startswith("run_apis.profile")
    assert report["measured_ms"] == [[min(r) for r in runs]] and "spread" in report
