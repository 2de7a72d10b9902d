import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    return subprocess.run([sys.executable, "-m", "run_apis.profile", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_profile_json_zoo():
    r = run("--net_config", "densenas_a", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["macs_m"] - 251) < 1 and 4 < out["params_m"] < 6


def test_profile_lut(reference):
    r = run("--net_config", "densenas_c", "--json", "--config",
            os.path.join(reference, "configs", "imagenet_search_cfg_mbv2.yaml"),
            "--lut", os.path.join(reference, "lat_list_densenas_mbv2_xp32"))
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)["lut_ms"] - 17.9) / 17.9 < 0.03


def test_profile_bad_inputs_exit_2(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"[[16,16],'mbconv_k3_t1',[],0,1] | __import__('os').system('touch {marker}')"
    for bad in (evil, "[[16,16],'mbconv_k3_t1',[],0,1 | [[16,64],'conv1_1']", str(tmp_path / "missing")):
        r = run("--net_config", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr
    assert not marker.exists()


def test_profile_with_shipped_calibrated_table(tmp_path):
    from search_space.search_config import load_search_config
    from search_space import space_from_config
    from search_space.derive import net_config_from_choices
    cfg = os.path.join(ROOT, "configs", "demo_search.yaml")
    space = space_from_config(load_search_config(cfg))
    path = [0, 1, 3, space.final]
    nc = net_config_from_choices(space, path, {1: "mbconv_k3_t3", 3: "mbconv_k5_t6"},
                                 {1: ["mbconv_k3_t3"], 3: ["skip_connect"]})
    (tmp_path / "net_config").write_text(nc.to_text())
    shipped = json.load(open(os.path.join(ROOT, "latency_tables", "demo_cpu_b1_32.json")))
    shipped["meta"]["calibration"] = {"slope": 0.9, "intercept": 0.05}  # a stored correction is applied
    table = str(tmp_path / "calibrated.json")
    json.dump(shipped, open(table, "w"))
    r = run("--net_config", str(tmp_path), "--config", cfg, "--lut", table, "--input_size", "32",
            "--num_classes", "10", "--measure", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    meta = shipped["meta"]["calibration"]
    assert out["lut_calibrated_ms"] == __import__("pytest").approx(meta["slope"] * out["lut_ms"] + meta["intercept"])
    assert out["measured_ms"] > 0


def test_profile_takes_input_size_and_classes_from_the_config():
    cfg = os.path.join(ROOT, "configs", "demo_search.yaml")
    r = run("--net_config", "densenas_a", "--config", cfg, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["input_size"] == 32 and out["num_classes"] == 10
    table = os.path.join(ROOT, "latency_tables", "demo_cpu_b1_32.json")
    r = run("--net_config", "densenas_a", "--config", cfg, "--lut", table, "--input_size", "64")
    assert r.returncode == 2 and "measured at input size 32, the network is profiled at 64" in r.stderr


def test_yaml_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("net_type: mbv2\ndata:\n  batch_size: [1, 2\n  input_size: 32\n")
    r = run("--net_config", "densenas_a", "--config", str(bad))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert f"{bad}, line 4, column" in r.stderr and "invalid YAML" in r.stderr
