import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from configs import load_config
from dataset.demo import generate
from common.errors import InputError
from engine.search_loop import RunOptions
from engine.train_loop import run_retrain, validate_weights
from models.state_dict import load_weights
from models import build_model, load_net_config
from tools.download import HashMismatchError, fetch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NET = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t3',[],0,2] | "
       "[[24,32],'mbconv_k3_t3',['mbconv_k3_t3'],1,2] | [[32,128],'conv1_1']\nnet_type: mbv2")
OPTS = ["train_params.epochs=10", "data.batch_size=32", "data.num_classes=5", "train_params.warmup_epochs=0"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=120,
                    val_per_class=20, quiet=True)


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    cfg = load_config(os.path.join(ROOT, "configs", "demo_train.yaml"), OPTS)
    out = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    run_dir = run_retrain(cfg, load_net_config(NET), RunOptions(data_root, str(out), device="cpu", quiet=True))
    return cfg, run_dir


def test_retrain_beats_untrained_and_validation_reproduces(trained, data_root, tmp_path):
    cfg, run_dir = trained
    with open(os.path.join(run_dir, "results.json")) as f:
        best = json.load(f)["best"]
    untrained = build_model(load_net_config(NET), num_classes=5)
    torch.save(untrained.state_dict(), tmp_path / "untrained.pt")
    before = validate_weights(load_net_config(NET), str(tmp_path / "untrained.pt"), cfg, data_root, "cpu", quiet=True)
    after = validate_weights(load_net_config(run_dir), os.path.join(run_dir, "weights.pt"), cfg, data_root, "cpu",
                             quiet=True)
    assert after["top1"] == pytest.approx(best["top1"])
    assert after["top1"] > before["top1"] + 10
    assert after["top1"] > 30  # chance is 20%


def test_validation_cli_and_ddp_prefix(trained, data_root, tmp_path):
    _, run_dir = trained
    state = torch.load(os.path.join(run_dir, "weights.pt"), weights_only=True)
    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, ddp_dir / "weights.pt")
    (ddp_dir / "net_config").write_text(load_net_config(run_dir).to_text())
    outs = []
    for folder in (run_dir, str(ddp_dir)):
        r = subprocess.run([sys.executable, "-m", "run_apis.validation", "--load_path", folder, "--data_path",
                            data_root, "--device", "cpu", "--json", "--config",
                            os.path.join(ROOT, "configs", "demo_train.yaml"), "--opts", "data.num_classes=5"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert outs[0]["top1"] == outs[1]["top1"] and outs[0]["macs_m"] > 0


def test_bad_weights(trained, tmp_path):
    _, run_dir = trained
    other = build_model("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,48],'mbconv_k3_t3',[],0,2] | [[48,64],'conv1_1']",
                        num_classes=5)
    torch.save(other.state_dict(), tmp_path / "other.pt")
    model = build_model(load_net_config(run_dir), num_classes=5)
    with pytest.raises(InputError, match="missing keys|layer .* has shape"):
        load_weights(model, str(tmp_path / "other.pt"))
    same_keys = build_model(NET.replace("[[24,32]", "[[24,40]").replace("[[32,128]", "[[40,128]")
                            .replace("[[16,24],'mbconv_k3_t3',[],0,2] | ", "[[16,24],'mbconv_k3_t3',[],0,2] | "),
                            num_classes=5)
    torch.save(same_keys.state_dict(), tmp_path / "shape.pt")
    with pytest.raises(InputError, match=r"layer blocks\.2\.0\..* has shape"):
        load_weights(model, str(tmp_path / "shape.pt"))
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(InputError, match="not a valid weights"):
        load_weights(model, str(tmp_path / "corrupt.pt"))
    # a pickle that would run code is refused by weights_only loading
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(InputError):
        load_weights(model, str(tmp_path / "evil.pt"))
    assert not (tmp_path / "pwned").exists()
    r = subprocess.run([sys.executable, "-m", "run_apis.validation", "--load_path", run_dir, "--weights",
                        str(tmp_path / "shape.pt"), "--device", "cpu"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "has shape" in r.stderr and "Traceback" not in r.stderr


def test_download_good_and_bad_hash(trained, data_root, tmp_path):
    _, run_dir = trained
    src = os.path.join(run_dir, "weights.pt")
    digest = hashlib.sha256(open(src, "rb").read()).hexdigest()
    url = "file://" + src
    got = fetch(url, str(tmp_path / "ok"), digest)
    assert open(got, "rb").read() == open(src, "rb").read()
    assert fetch(url, str(tmp_path / "ok"), digest) == got  # cached
    with pytest.raises(ValueError):
        fetch(url, str(tmp_path / "bad"), "0" * 64)
    with pytest.raises(HashMismatchError):
        fetch(url, str(tmp_path / "bad"), "0" * 64)
    assert os.listdir(tmp_path / "bad") == []
    reg = tmp_path / "reg.json"
    reg.write_text(json.dumps({"tiny": {"net_config": load_net_config(run_dir).to_text(), "weights_url": url,
                                        "weights_sha256": digest}}))
    r = subprocess.run([sys.executable, "-m", "tools.download", "tiny", "--out", str(tmp_path / "dl"), "--registry",
                        str(reg)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "dl")) == ["net_config", "weights.pt"]
    reg.write_text(json.dumps({"tiny": {"net_config": load_net_config(run_dir).to_text(), "weights_url": url,
                                        "weights_sha256": "1" * 64}}))
    r = subprocess.run([sys.executable, "-m", "tools.download", "tiny", "--out", str(tmp_path / "dl2"), "--registry",
                        str(reg)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "sha256 does not match" in r.stderr
    assert not os.path.exists(tmp_path / "dl2" / "weights.pt")
    # one command: download (registry entry) + validation
    reg.write_text(json.dumps({"tiny": {"net_config": load_net_config(run_dir).to_text(), "weights_url": url,
                                        "weights_sha256": digest.upper()}}))
    r = subprocess.run([sys.executable, "-m", "run_apis.validation", "--pretrained", "tiny", "--registry", str(reg),
                        "--cache_dir", str(tmp_path / "cache"), "--data_path", data_root, "--config",
                        os.path.join(ROOT, "configs", "demo_train.yaml"), "--device", "cpu", "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["top1"] > 30


def test_onnx_export_round_trip(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    _, run_dir = trained
    r = subprocess.run([sys.executable, "-m", "run_apis.export", "--load_path", run_dir, "--out",
                        str(tmp_path / "m.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "matches PyTorch" in r.stdout and "input 32)" in r.stdout  # input size from the run's config.yaml


def test_retrain_resume_and_missing_source(data_root, tmp_path):
    r = subprocess.run([sys.executable, "-m", "run_apis.retrain", "--data_path", data_root, "--device", "cpu"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--load_path" in r.stderr
    cfg = load_config(os.path.join(ROOT, "configs", "demo_train.yaml"), OPTS + ["data.steps_per_epoch=3", "train_params.epochs=3"])
    full = run_retrain(cfg, load_net_config(NET), RunOptions(data_root, str(tmp_path / "a"), device="cpu", quiet=True))
    part = run_retrain(cfg, load_net_config(NET), RunOptions(data_root, str(tmp_path / "b"), device="cpu", quiet=True,
                                                             stop_after=1))
    resumed = run_retrain(cfg, load_net_config(NET), RunOptions(data_root, str(tmp_path / "b"), resume=part,
                                                                device="cpu", quiet=True))
    a = torch.load(os.path.join(full, "checkpoint.pt"), weights_only=True)["model"]
    b = torch.load(os.path.join(resumed, "checkpoint.pt"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_retrain_torchrun_two_processes_ddp(data_root, tmp_path):
    (tmp_path / "net_config").write_text(load_net_config(NET).to_text())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "run_apis.retrain", "--load_path", str(tmp_path), "--data_path", data_root, "--save",
           str(tmp_path / "runs"), "--device", "cpu", "--quiet", "--config",
           os.path.join(ROOT, "configs", "demo_train.yaml"), "--opts", *OPTS, "train_params.epochs=1",
           "data.steps_per_epoch=3", "data.batch_size=8"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 1
    run_dir = tmp_path / "runs" / runs[0]
    log = (run_dir / "log.txt").read_text()
    assert "world size 2" in log and "batch 4 per process (8 in total)" in log  # batch_size is the total
    model = build_model(load_net_config(str(run_dir)), num_classes=5)
    load_weights(model, str(run_dir / "weights.pt"))  # saved unwrapped: no module. prefix


def test_test_split_final_weights(data_root, tmp_path, capsys):
    from run_apis.retrain import main as retrain_main
    from run_apis.validation import main as validation_main
    net = tmp_path / "net_config"
    net.write_text(NET)
    cfg = os.path.join(ROOT, "configs", "demo_train.yaml")
    opts = ["train_params.epochs=1", "data.batch_size=32", "data.num_classes=5", "data.steps_per_epoch=3",
            "train_params.warmup_epochs=0"]
    retrain_main(["--net_config", str(net), "--config", cfg, "--data_path", data_root, "--save", str(tmp_path / "r"),
                  "--quiet", "--test_split", "test", "--device", "cpu", "--opts"] + opts)
    run_dir = capsys.readouterr().out.strip().splitlines()[-1]
    results = json.load(open(os.path.join(run_dir, "results.json")))
    assert results["test"]["count"] == 5 * 50 and results["test"]["split"] == "test"
    assert results["final"]["epoch"] == 0
    validation_main(["--load_path", run_dir, "--data_path", data_root, "--config", cfg, "--split", "test",
                     "--device", "cpu", "--json", "--opts", "data.num_classes=5"])
    again = json.loads(capsys.readouterr().out)
    assert again["top1"] == pytest.approx(results["test"]["top1"])  # one epoch: best = final weights
    for bad in ("nosuch", "../val"):
        with pytest.raises(SystemExit) as e:
            retrain_main(["--net_config", str(net), "--config", cfg, "--data_path", data_root, "--save",
                          str(tmp_path / "r2"), "--quiet", "--test_split", bad, "--opts"] + opts)
        assert e.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
