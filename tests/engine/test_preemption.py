"""SIGTERM / SIGUSR1 stop a search or retrain at a step with a step-level checkpoint; --resume
then ends with exactly the parameters of an uninterrupted run."""
import json
import os
import signal

import pytest
import torch

import engine.search_loop as search_loop
import engine.train_loop as train_loop
from search_space.search_config import load_search_config
from dataset.demo import generate
from engine.checkpoint import load_file
from engine.preemption import PREEMPTED_EXIT_CODE, Preempted
from engine.run_setup import RunOptions
from models import load_net_config
from tests.conftest import ROOT
from tests.run_apis.test_search import SEARCH_OPTS

NET = ("[[16,16],'mbconv_k3_t1',[],0,1] | [[16,24],'mbconv_k3_t3',[],0,2] | "
       "[[24,32],'mbconv_k3_t3',['mbconv_k3_t3'],1,2] | [[32,128],'conv1_1']\nnet_type: mbv2")
TRAIN_OPTS = ["train_params.epochs=2", "data.batch_size=16", "data.num_classes=5", "data.steps_per_epoch=4",
              "train_params.warmup_epochs=0"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=4,
                    quiet=True)


def _signal_at(monkeypatch, module, call, signals=(signal.SIGTERM,)):
    """Raise ``signals`` in this process during the ``call``-th training step (counted by topk_correct),
    and a SIGUSR1 while the checkpoint is being written."""
    real, count = module.topk_correct, {"n": 0}

    def counting(*a, **k):
        count["n"] += 1
        if count["n"] == call:
            for s in signals:
                signal.raise_signal(s)
        return real(*a, **k)
    monkeypatch.setattr(module, "topk_correct", counting)
    save = module.open_run.__globals__["Checkpointer"].save

    def noisy_save(self, state):
        if "position" in state:
            signal.raise_signal(signal.SIGUSR1)  # a second signal while writing: recorded, ignored
        return save(self, state)
    monkeypatch.setattr(module.open_run.__globals__["Checkpointer"], "save", noisy_save)


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(data_root, tmp_path_factory):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH_OPTS)
    return search_loop.run_search(cfg, RunOptions(data_root, str(tmp_path_factory.mktemp("a")), device="cpu",
                                                  quiet=True))


@pytest.mark.parametrize("call,phase", [(5, "arch"), (7, "weight")])  # 3 weight, 2 arch steps per epoch
def test_search_stops_and_resumes_exactly(data_root, uninterrupted, tmp_path, monkeypatch, call, phase):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH_OPTS)
    full = uninterrupted
    ref = load_file(os.path.join(full, "checkpoint.pt"))["model"]
    with monkeypatch.context() as m:
        _signal_at(m, search_loop, call, (signal.SIGTERM, signal.SIGTERM))
        with pytest.raises(Preempted, match=rf"SIGTERM at epoch 1, {phase} step 2: .*--resume"):
            search_loop.run_search(cfg, RunOptions(data_root, str(tmp_path / "b"), device="cpu", quiet=True))
    (run_dir,) = [os.path.join(tmp_path / "b", d) for d in os.listdir(tmp_path / "b")]
    state = load_file(os.path.join(run_dir, "checkpoint.pt"))
    assert json.loads(state["position"])["phase"] == phase and state["epoch"] == 0
    search_loop.run_search(cfg, RunOptions(data_root, str(tmp_path / "b"), resume=run_dir, device="cpu", quiet=True))
    got = load_file(os.path.join(run_dir, "checkpoint.pt"))["model"]
    for k, v in ref.items():
        assert torch.equal(v, got[k]), k
    assert load_net_config(run_dir) == load_net_config(full)


def test_retrain_stops_resumes_exactly_and_cli_exit_code(data_root, tmp_path, monkeypatch, capsys):
    from run_apis.retrain import main as retrain_main
    net = tmp_path / "net_config"
    net.write_text(NET)
    cfg = os.path.join(ROOT, "configs", "demo_train.yaml")
    common = ["--net_config", str(net), "--config", cfg, "--data_path", data_root, "--quiet", "--device", "cpu"]
    retrain_main(common + ["--save", str(tmp_path / "a"), "--opts"] + TRAIN_OPTS)
    full = capsys.readouterr().out.strip().splitlines()[-1]
    with monkeypatch.context() as m:
        _signal_at(m, train_loop, 6, (signal.SIGUSR1,))
        with pytest.raises(SystemExit) as e:
            retrain_main(common + ["--save", str(tmp_path / "b"), "--opts"] + TRAIN_OPTS)
    assert e.value.code == PREEMPTED_EXIT_CODE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stopped: SIGUSR1 at epoch 1, step 2") and "--resume" in err[0]
    (run_dir,) = [os.path.join(tmp_path / "b", d) for d in os.listdir(tmp_path / "b")]
    retrain_main(["--resume", run_dir, "--data_path", data_root, "--quiet", "--device", "cpu", "--net_config", str(net),
                  "--config", cfg, "--save", str(tmp_path / "b"), "--opts"] + TRAIN_OPTS)
    a = load_file(os.path.join(full, "checkpoint.pt"))["model"]
    b = load_file(os.path.join(run_dir, "checkpoint.pt"))["model"]
    for k, v in a.items():
        assert torch.equal(v, b[k]), k
    hist_a = json.load(open(os.path.join(full, "history.json")))
    hist_b = json.load(open(os.path.join(run_dir, "history.json")))
    assert hist_a[-1]["train"]["loss"] == pytest.approx(hist_b[-1]["train"]["loss"])


def test_torchrun_two_processes_stop_together_and_resume(data_root, tmp_path):
    """SIGTERM to the torchrun agent: both ranks stop at the same step, rank 0 writes, --resume
    under torchrun ends with the arch params of an uninterrupted 2-process run."""
    import subprocess
    import sys
    import time
    opts = [o for o in SEARCH_OPTS if not o.startswith("train_params.epochs")] + ["train_params.epochs=5"]

    def torchrun(save, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "run_apis.search", "--data_path", data_root, "--save", str(save), "--device", "cpu",
               *extra, "--opts", *opts]
        return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    full = torchrun(tmp_path / "a")
    assert full.wait(timeout=600) == 0, full.stderr.read()[-3000:]
    proc = torchrun(tmp_path / "b")
    deadline = time.time() + 300
    log = None
    while time.time() < deadline and proc.poll() is None:
        logs = [os.path.join(tmp_path / "b", d, "log.txt") for d in os.listdir(tmp_path / "b")] \
            if os.path.isdir(tmp_path / "b") else []
        logs = [p for p in logs if os.path.isfile(p)]  # the run folder appears before its log file
        if logs and "epoch 1:" in open(logs[0]).read():
            log = logs[0]
            break
        time.sleep(0.2)
    assert log is not None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    run_dir = os.path.dirname(log)
    state = load_file(os.path.join(run_dir, "checkpoint.pt"))
    assert state.get("position"), open(log).read()[-2000:]
    assert "stopped by SIGTERM" in open(log).read()
    resumed = torchrun(tmp_path / "b", "--resume", run_dir)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-3000:]
    (a,) = os.listdir(tmp_path / "a")
    arch_a = json.load(open(os.path.join(tmp_path / "a", a, "arch_params.json")))
    arch_b = json.load(open(os.path.join(run_dir, "arch_params.json")))
    for key in ("betas", "head_alphas", "stack_alphas"):
        assert arch_a[key] == arch_b[key]
    assert "across 2 ranks: max difference 0" in open(log).read()
