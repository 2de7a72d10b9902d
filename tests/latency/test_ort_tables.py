"""ONNX Runtime latency tables, machine fingerprints and recalibration (issue 55) on a tiny space."""
import json
import os

import pytest
import torch

from common.errors import CostTableError
from common.machine import differences, machine_fingerprint, mismatch_warning, table_fingerprint, warn_if_foreign
from search_space import load_cost_table, space_from_config
from search_space.derive import lut_cost
from tests.conftest import ROOT, TINY_OPTS

pytest.importorskip("onnxruntime")
CONFIG = os.path.join(ROOT, "configs", "demo_search.yaml")


def _cli(args, capsys):
    from run_apis.latency_measure import main
    main(["--config", CONFIG, "--opts", *TINY_OPTS, *args])
    return capsys.readouterr()


@pytest.fixture(scope="module")
def ort_table(tmp_path_factory):
    """A tiny space's ORT table, built by the CLI (1 pass, 4 + 2 fit networks)."""
    from run_apis.latency_measure import main
    out = tmp_path_factory.mktemp("ort") / "tiny_ort.json"
    main(["--config", CONFIG, "--opts", *TINY_OPTS, "--runtime", "onnxruntime", "--passes", "1",
          "--calibration_nets", "4", "--refine_nets", "2", "--out", str(out)])
    return out


def test_ort_table_loads_prices_and_records_its_runtime(ort_table, tiny_cfg):
    space = space_from_config(tiny_cfg)
    table = load_cost_table(str(ort_table), space, expect_units="ms")
    meta = table.meta
    import onnxruntime
    assert meta["runtime"] == "onnxruntime" and meta["onnxruntime"] == onnxruntime.__version__
    assert meta["threads"] == 1 and meta["onnx_opset"] == 17 and meta["fingerprint"] == space.fingerprint()
    assert meta["machine"] == machine_fingerprint("cpu", "onnxruntime", 1)
    assert meta["fit"]["in_sample_after"]["mape_pct"] >= 0 and meta["refine_networks"] == 2
    from latency.stats import random_architecture
    import random
    net = random_architecture(space, random.Random(0))
    assert lut_cost(space, table, net) > 0
    assert not os.path.exists(str(ort_table) + ".partial.json")  # finished: no partial files left
    from search_space.search_config import load_search_config
    other = space_from_config(load_search_config(CONFIG))
    with pytest.raises(CostTableError, match="another search space"):
        load_cost_table(str(ort_table), other)


def test_ort_validate_and_recalibrate(ort_table, tmp_path, capsys):
    table = tmp_path / "t.json"
    table.write_bytes(ort_table.read_bytes())
    out = _cli(["--validate", "3", "--passes", "1", "--lut", str(table)], capsys).out
    assert "onnxruntime CPU" in out and "MAPE" in out  # the table's runtime is the ground truth
    report = json.loads((tmp_path / "t_accuracy.json").read_text())
    assert report["runtime"] == "onnxruntime" and len(report["measured_ms"][0]) == 3
    # recalibrate: from "another machine" to this one; the correction is folded into the entries
    data = json.loads(table.read_text())
    data["meta"]["machine"] = dict(data["meta"]["machine"], cpu_model="Another CPU 9000", cores=64)
    before = data["input"]
    table.write_text(json.dumps(data))
    out = _cli(["--recalibrate", str(table), "--nets", "3", "--holdout", "2"], capsys).out
    assert "held out (2 nets): MAPE" in out
    after = json.loads(table.read_text())
    rec = after["meta"]["recalibration"]
    assert rec["from_machine"]["cpu_model"] == "Another CPU 9000" and after["meta"]["machine"]["cores"] == os.cpu_count()
    assert after["input"] == pytest.approx(before * rec["slope"] + rec["intercept_ms"])
    assert mismatch_warning(after["meta"], "t.json") is None  # measured for this machine now
    assert json.loads((tmp_path / "t_recalibration.json").read_text())["holdout_after"]["mape_pct"] >= 0


def test_profile_and_validation_measure_in_ort(capsys, tmp_path):
    from run_apis.profile import main
    main(["--net_config", "densenas_a", "--input_size", "32", "--num_classes", "10", "--measure", "onnxruntime",
          "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["measured_ms"] > 0 and result["measured_with"] == "onnxruntime"
    from run_apis.validation import build_parser
    assert build_parser().parse_args(["--load_path", "x", "--measure_latency", "onnxruntime"]).measure_latency


def test_a_table_from_another_machine_warns_once(tmp_path, capsys):
    meta = {"units": "ms", "device_type": "cpu", "runtime": "torch",
            "machine": dict(machine_fingerprint("cpu", "torch", 1), cpu_model="Another CPU 9000")}
    line = warn_if_foreign(meta, "elsewhere.json")
    warn_if_foreign(meta, "elsewhere.json")
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and err.strip() == line
    assert "cpu_model Another CPU 9000 there" in line
    assert "python -m run_apis.latency_measure --recalibrate elsewhere.json" in line
    here = {"units": "ms", "device_type": "cpu", "machine": machine_fingerprint("cpu", "torch", 1)}
    assert mismatch_warning(here, "x") is None
    # older tables: compared on the fields they have; converted legacy tables: another project's, no warning
    assert mismatch_warning({"units": "ms", "source": "run_apis.latency_measure", "device": "Other",
                             "torch": torch.__version__}, "x")
    assert table_fingerprint({"source": "original DenseNAS release (legacy text table)", "device": "TITAN"}) == {}
    assert differences({"cores": 2, "threads": 8}, {"cores": 2, "threads": 1}) == []  # threads: a setting


def test_the_same_cpu_name_with_another_simd_level_warns():
    """Same model name and cores, AVX-512 hidden: the case that made the eager tables ~2x fast here."""
    from common.machine import cpu_capability
    here = machine_fingerprint("cpu", "torch", 1)
    assert here["cpu_capability"] == cpu_capability() != ""
    other = "AVX2" if here["cpu_capability"] != "AVX2" else "AVX512"
    line = mismatch_warning({"units": "ms", "device_type": "cpu", "machine": dict(here, cpu_capability=other)}, "t.json")
    assert line and f"cpu_capability {other} there, {here['cpu_capability']} here" in line
    # tables recorded before the field existed are compared on what they have: no warning from it
    assert mismatch_warning({"units": "ms", "device_type": "cpu",
                             "machine": {k: v for k, v in here.items() if k != "cpu_capability"}}, "t.json") is None


def test_profile_prints_the_warning_for_a_foreign_table(tiny_cfg, tmp_path, capsys):
    import random
    from common import machine
    from latency.stats import random_architecture
    from search_space.cost_table import flops_table
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    table.meta.update(units="ms", device_type="cpu", machine={"cpu_model": "Another CPU 9000", "cores": 64})
    path = str(tmp_path / "foreign.json")
    table.save(path)
    net = tmp_path / "net_config"
    net.write_text(random_architecture(space, random.Random(1)).to_text())
    machine._WARNED.discard(path)
    from run_apis.profile import main
    for _ in range(2):
        main(["--net_config", str(net), "--config", CONFIG, "--opts", *TINY_OPTS, "--lut", path, "--json"])
    captured = capsys.readouterr()
    assert captured.err.count("--recalibrate " + path) == 1 and json.loads(captured.out.splitlines()[-1])["lut_ms"] > 0


@pytest.mark.parametrize("meta, message", [
    ({"runtime": "tensorrt", "units": "ms"}, "meta.runtime"),
    ({"machine": "AMD EPYC", "units": "ms"}, "meta.machine"),
    ("not an object", "meta: expected an object"),
])
def test_hostile_ort_table_meta_is_refused(meta, message, tiny_cfg, tmp_path, capsys):
    from search_space.cost_table import flops_table
    data = flops_table(space_from_config(tiny_cfg), 32).to_json()
    data["meta"] = meta
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CostTableError, match=message):
        load_cost_table(str(path))
    from run_apis.profile import main
    with pytest.raises(SystemExit) as e:
        main(["--net_config", "densenas_a", "--config", CONFIG, "--opts", *TINY_OPTS, "--lut", str(path)])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_eager_repeatability_reports_the_spread_and_a_split_half_from_four_processes():
    from tools.latency.runtimes import eager_repeatability
    three = eager_repeatability([[1.0, 2.0, 1.5], [2.0, 2.2, 2.1]])
    assert three["processes"] == 3 and three["split_half"] is None
    assert three["spread_median_pct"] == pytest.approx(55.0) and three["spread_max_pct"] == pytest.approx(100.0)
    four = eager_repeatability([[1.0, 3.0, 1.1, 1.2], [2.0, 2.0, 4.0, 2.5], [3.0, 3.3, 3.0, 3.1]])
    sh = four["split_half"]  # halves: min(1.0, 3.0) vs min(1.1, 1.2), 2.0 vs 2.5, 3.0 vs 3.0
    assert sh["halves_of"] == 2 and sh["max_diff_pct"] == pytest.approx(25.0)
    assert sh["median_diff_pct"] == pytest.approx(10.0) and sh["kendall_tau"] == pytest.approx(1.0)


def test_eager_noise_marks_slow_windows_and_compares_their_steal(tmp_path, capsys):
    from tools.latency.eager_noise import main, summarize
    windows = [{"median_ms": 2.0, "p5_ms": 1.9, "steal_pct": 1.0}, {"median_ms": 2.1, "p5_ms": 1.9, "steal_pct": 3.0},
               {"median_ms": 3.0, "p5_ms": 2.0, "steal_pct": 10.0}]
    s = summarize(windows)  # 3.0 > 1.2 x 2.0: one slow window
    assert s["slow_windows"] == 1 and s["steal_pct_slow"] == 10.0 and s["steal_pct_other"] == 2.0
    assert s["median_ms"]["spread_pct"] == pytest.approx(50.0) and s["p5_ms"]["spread_pct"] == pytest.approx(100 / 19)
    main(["--net_config", "fmnist_1p5ms_uniform_k5_t6", "--input_size", "16", "--windows", "2", "--forwards", "2",
          "--out", str(tmp_path / "noise")])
    rep = json.loads((tmp_path / "noise.json").read_text())
    assert len(rep["windows"]) == 2 and all(w["median_ms"] > 0 for w in rep["windows"])
    assert (tmp_path / "noise.md").read_text() in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["--windows", "1", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "--windows" in capsys.readouterr().err


@pytest.mark.slow  # eager timing in fresh processes: ~40 s idle (make test-slow)
def test_runtimes_comparison_on_a_tiny_space(ort_table, tiny_cfg, tmp_path, capsys):
    from latency.measure import measure_table
    from tools.latency.runtimes import main
    space = space_from_config(tiny_cfg)
    eager = measure_table(space, 32, 1, torch.device("cpu"), threads=1, passes=1,
                          timing_kwargs={"warmup": 1, "min_repeats": 3, "max_repeats": 6, "max_seconds": 0.2})
    eager.save(str(tmp_path / "eager.json"))
    main(["--config", CONFIG, "--opts", *TINY_OPTS, "--eager", str(tmp_path / "eager.json"), "--ort", str(ort_table),
          "--nets", "3", "--processes", "1", "--out", str(tmp_path / "cmp")])
    report = json.loads((tmp_path / "cmp.json").read_text())
    assert len(report["eager_ms"]) == len(report["ort_ms"]) == 3 and -1 <= report["kendall_tau_eager_vs_ort"] <= 1
    assert report["eager_repeatability"]["processes"] == 1 and report["machine"]["cpu_capability"]
    ops = {o["op"] for o in report["op_ratios"]}
    assert {"mbconv_k3_t3", "input_block", "classifier"} <= ops
    assert (tmp_path / "cmp.md").read_text() in capsys.readouterr().out


def test_ort_noise_times_one_net_in_new_sessions_per_setting(tmp_path, capsys):
    from tools.latency.ort_noise import main
    out = tmp_path / "noise"
    main(["--config", CONFIG, "--opts", *TINY_OPTS, "--nets", "3", "--ids", "2", "--sessions", "2",
          "--settings", "default", "pinned", "--out", str(out)])
    rep = json.loads((tmp_path / "noise.json").read_text())
    row = rep["nets"]["2"]
    assert set(row) == {"default", "pinned"} and all(len(r["sessions"]) == 2 and r["spread_pct"] >= 0 for r in row.values())
    assert "| 2 | " in (tmp_path / "noise.md").read_text()
    with pytest.raises(SystemExit) as e:
        main(["--config", CONFIG, "--opts", *TINY_OPTS, "--nets", "3", "--ids", "5", "--out", str(out)])
    assert e.value.code == 2 and "--ids" in capsys.readouterr().err


def _fake_search_run(folder, cfg, net, table_path, target):
    """A finished search folder as run_apis.search leaves it (the files runtime_searches reads)."""
    import yaml
    folder.mkdir(parents=True)
    conf = {k: v for k, v in cfg.to_dict().items() if not k.startswith("_")}
    conf["optim"]["sub_obj"]["latency_list_path"] = str(table_path)
    (folder / "config.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
    (folder / "net_config").write_text(net.to_text())
    (folder / "derived.json").write_text(json.dumps({"target": target, "derive": "window"}))
    return str(folder)


def test_runtime_searches_match_a_target_and_refuse_an_unfinished_run(ort_table, tiny_cfg, tmp_path, capsys):
    from search_space.cost_table import flops_table
    from tools.latency.runtime_searches import main, matched_target, quantile
    assert quantile([3, 1, 2], 0.5) == 2 and quantile([0, 10], 0.25) == 2.5
    m = matched_target([1, 2, 3, 4], [10, 20, 30, 40], 2.0)  # the target sits at the median of the eager costs
    assert m["quantile"] == 0.5 and m["ort_target"] == 25
    space = space_from_config(tiny_cfg)
    eager = flops_table(space, 32)
    eager.meta["units"] = "ms"
    eager.save(str(tmp_path / "eager.json"))
    base = ["--config", CONFIG, "--opts", *TINY_OPTS, "--eager", str(tmp_path / "eager.json"), "--ort", str(ort_table)]
    main(["match", *base, "--target", "5", "--nets", "200"])
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["quantile"] <= 1 and out["ort_target"] > 0 and out["nets"] == 200
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["time", *base, "--runs", str(tmp_path / "empty"), "--targets", "1", "1", "--out", str(tmp_path / "r")])
    assert e.value.code == 2 and "not a finished search folder" in capsys.readouterr().err


@pytest.mark.slow  # eager timing in fresh processes: ~20 s idle (make test-slow)
def test_runtime_searches_time_two_runs_on_both_runtimes(ort_table, tiny_cfg, tmp_path, capsys):
    import random
    from latency.stats import random_architecture
    from search_space.cost_table import flops_table
    from tools.latency.runtime_searches import main
    space = space_from_config(tiny_cfg)
    eager = flops_table(space, 32)
    eager.meta["units"] = "ms"
    eager.save(str(tmp_path / "eager.json"))
    rng = random.Random(3)
    runs = [_fake_search_run(tmp_path / name, tiny_cfg, random_architecture(space, rng), table, 1.0)
            for name, table in (("eager", tmp_path / "eager.json"), ("ort", ort_table))]
    main(["time", "--config", CONFIG, "--opts", *TINY_OPTS, "--eager", str(tmp_path / "eager.json"), "--ort",
          str(ort_table), "--runs", *runs, "--targets", "1.0", "0.5", "--processes", "1", "--out", str(tmp_path / "r")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert [n["searched_with"] for n in report["nets"]] == ["eager.json", ort_table.name]
    assert all(n["eager_ms"] > 0 and n["ort_ms"] > 0 and n["ort_table_ms"] > 0 for n in report["nets"])
    assert (tmp_path / "r.md").read_text() in capsys.readouterr().out
