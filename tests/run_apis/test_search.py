import json
import os
import subprocess
import sys

import pytest
import torch

from search_space.search_config import load_search_config
from dataset.demo import generate
from engine.search_loop import RunOptions, SearchRun, run_search
from models import build_model, load_net_config
from search_space import lut_cost

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.conftest import TINY_OPTS  # noqa: E402

SEARCH_OPTS = TINY_OPTS + [
    "train_params.epochs=3", "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1",
    "data.batch_size=8", "data.steps_per_epoch=3", "optim.sub_obj.type=flops", "train_params.topk_archs=2",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20,
                    val_per_class=4, quiet=True)


def _cfg(extra=()):
    return load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH_OPTS + list(extra))


def _snap(params):
    return [p.detach().clone() for p in params]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def _arch(run_dir):
    with open(os.path.join(run_dir, "arch_params.json")) as f:
        a = json.load(f)
    return a["betas"], a["head_alphas"], a["stack_alphas"]


def test_search_outputs(data_root, tmp_path):
    run_dir = run_search(_cfg(), RunOptions(data_root, str(tmp_path), device="cpu", quiet=True))
    for name in ("net_config", "arch_params.json", "arch.png", "checkpoint.pt", "config.yaml", "log.txt",
                 "history.json", "routes.png", "search.png", "topk/1/net_config", "topk/2/net_config", "topk/summary.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    tb = os.path.join(run_dir, "tb")
    assert os.listdir(tb) and all(os.path.isfile(os.path.join(tb, f)) for f in os.listdir(tb))  # one run, no side folders
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(tb, size_guidance={"images": 0, "tensors": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    assert {"arch/routes", "arch/op_probabilities"} <= set(tags["images"])
    for tag in ("arch/routes", "arch/op_probabilities"):
        assert all(len(e.encoded_image_string) > 2000 for e in events.Images(tag))  # non-empty pictures
    assert {"step/weight_loss", "step/arch_cost", "time/epoch_s", "final/derived_table_cost"} <= set(tags["scalars"])
    assert any(t.startswith("derived/net_config") for t in tags["tensors"])
    history = json.load(open(os.path.join(run_dir, "history.json")))
    assert all(h["epoch_time_s"] > 0 and h["weight"]["images_per_s"] > 0 for h in history)
    net_config = load_net_config(run_dir)
    assert build_model(net_config, num_classes=5)(torch.randn(1, 3, 32, 32)).shape == (1, 5)
    # the logged table cost equals the cost of the emitted net_config under the same table
    from search_space import flops_table, space_from_config
    cfg = _cfg()
    space = space_from_config(cfg)
    with open(os.path.join(run_dir, "derived.json")) as f:
        logged = json.load(f)["table_cost"]
    assert logged == pytest.approx(lut_cost(space, flops_table(space, 32), net_config))
    # the run's own config reloads
    assert load_search_config(os.path.join(run_dir, "config.yaml")).search_params == cfg.search_params


def test_resume_gives_identical_arch_params(data_root, tmp_path):
    full = run_search(_cfg(), RunOptions(data_root, str(tmp_path / "a"), device="cpu", quiet=True))
    part = run_search(_cfg(), RunOptions(data_root, str(tmp_path / "b"), device="cpu", quiet=True, stop_after=1))
    assert torch.load(os.path.join(part, "checkpoint.pt"), weights_only=True)["epoch"] == 0
    resumed = run_search(_cfg(), RunOptions(data_root, str(tmp_path / "b"), resume=part, device="cpu", quiet=True))
    assert resumed == part
    assert _arch(full) == _arch(resumed)


def test_weights_and_arch_change_only_in_their_pass(data_root, tmp_path):
    run = SearchRun(_cfg(), RunOptions(data_root, str(tmp_path), device="cpu", quiet=True))
    net = run.net
    w0, a0 = _snap(net.weight_parameters()), _snap(net.arch_parameters())
    run.arch_pass(1)
    w1, a1 = _snap(net.weight_parameters()), _snap(net.arch_parameters())
    assert _same(w0, w1)
    assert not _same(a0, a1)
    run.weight_pass(1)
    w2, a2 = _snap(net.weight_parameters()), _snap(net.arch_parameters())
    assert _same(a1, a2)
    assert not _same(w1, w2)
    run.close()


def test_the_target_enters_only_the_derive_under_the_papers_cost_term(data_root, tmp_path):
    """optim.sub_obj.target_mode none (the paper's log term): two targets train the same weights and
    arch params (only the window derive reads the target: docs/search_quality.md, sandwich at 1.0 ms); abs: not."""
    def params_after(extra):
        run = SearchRun(_cfg(["search_params.arch_update_epoch=0"] + extra),
                        RunOptions(data_root, str(tmp_path / "_".join(extra)), device="cpu", quiet=True))
        run.arch_pass(0)  # arch, then weights: the second pass sees the arch step's result
        run.weight_pass(0)
        out = _snap(list(run.net.arch_parameters()) + list(run.net.weight_parameters()))
        run.close()
        return out

    assert _same(params_after(["optim.sub_obj.target=5"]), params_after(["optim.sub_obj.target=50"]))
    abs_mode = ["optim.sub_obj.target_mode=abs"]
    assert not _same(params_after(["optim.sub_obj.target=5"] + abs_mode),
                    params_after(["optim.sub_obj.target=50"] + abs_mode))


def _cli(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "-m", "run_apis.search", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_bad_inputs_exit_2(data_root, tmp_path):
    cases = [
        (["--opts", "optim.weight.init_rl=0.1"], "did you mean 'init_lr'"),
        (["--opts", "optim.sub_obj.latency_list_path=" + os.path.join(ROOT, "latency_tables", "mbv2_cpu_b1_224.json")],
         "another search space"),
        (["--data_path", str(tmp_path)], "no 'train' folder"),
        (["--data_path", data_root, "--save", "/proc/forbidden"], "cannot write run folder"),
        (["--config", str(tmp_path / "nope.yaml")], "config file not found"),
        (["--opts", "search_params.method=nse", "search_params.nse.rounds=2",
          "search_params.PRIMITIVES_stack=[skip_connect]"], "needs a non-empty op pool"),
    ]
    for args, msg in cases:
        r = _cli(*args, "--device", "cpu")
        assert r.returncode == 2, (args, r.stderr[-2000:])
        assert msg in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_nan_loss_stops_cleanly(data_root, tmp_path):
    opts = [o for o in SEARCH_OPTS] + ["optim.weight.init_lr=1e30", "search_params.arch_update_epoch=5"]
    r = _cli("--data_path", data_root, "--save", str(tmp_path), "--device", "cpu", "--quiet", "--opts", *opts)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "loss is" in r.stderr and "Traceback" not in r.stderr


def test_embedded_default_runs(tmp_path):
    r = _cli("--save", str(tmp_path), "--device", "cpu", "--quiet", "--opts", "train_params.epochs=2",
             "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1", "data.steps_per_epoch=2")
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = r.stdout.strip().splitlines()[-1]
    assert os.path.isfile(os.path.join(run_dir, "net_config"))
    build_model(load_net_config(run_dir), num_classes=10)


def test_torchrun_two_processes_gloo(data_root, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "run_apis.search", "--data_path", data_root, "--save", str(tmp_path), "--device", "cpu",
           "--opts", *SEARCH_OPTS]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = os.listdir(tmp_path)
    assert len(runs) == 1  # only rank 0 writes
    log = open(os.path.join(tmp_path, runs[0], "log.txt")).read()
    assert "world size 2" in log and "batch 4 per process (8 in total)" in log  # batch_size is the total
    # output redirected (no terminal): periodic progress lines with throughput and ETAs
    assert "epoch 0 weights 3/3 (100%)" in log and "img/s, data wait" in log and "ETA phase" in log
    assert "across 2 ranks: max difference 0" in log


def test_arch_steps_read_the_held_out_split_with_eval_transforms(data_root, tmp_path):
    run = SearchRun(_cfg(), RunOptions(data_root, str(tmp_path), device="cpu", quiet=True))
    try:
        assert run.loader_a.dataset is run.loader_v.dataset  # held-out split, evaluation transforms
        tf = repr(run.loader_a.dataset.transform)
        assert "Random" not in tf and "CenterCrop" in tf
        assert "Random" in repr(run.loader_w.dataset.transform)  # weight steps keep the augmentation
    finally:
        run.close()


def test_amp_and_channels_last_step(data_root, tmp_path):
    """bf16 autocast on CPU and channels_last run the arch and weight passes."""
    run = SearchRun(_cfg(), RunOptions(data_root, str(tmp_path), device="cpu", quiet=True, amp=True,
                                       channels_last=True))
    arch = run.arch_pass(1)
    weight = run.weight_pass(1)
    assert torch.isfinite(torch.tensor([arch["loss"], weight["loss"]])).all()
    run.close()


def test_tfnas_search_hits_its_target_and_resumes(data_root, tmp_path):
    """search_params.method=tfnas end to end: window derive within 1% of the target, the temperature
    decays per arch epoch and survives a resume with identical arch params."""
    from search_space import flops_table, space_from_config
    from search_space.budget import cost_range
    space = space_from_config(_cfg())
    lo, hi = cost_range(space, flops_table(space, 32))
    target = lo + 0.5 * (hi - lo)
    extra = ["search_params.method=tfnas", f"optim.sub_obj.target={target}", "optim.sub_obj.target_tolerance=0.01"]
    full = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "a"), device="cpu", quiet=True))
    derived = json.load(open(os.path.join(full, "derived.json")))
    assert 0.99 * target - 1e-6 <= derived["table_cost"] <= target + 1e-6
    history = json.load(open(os.path.join(full, "history.json")))
    assert [h["method"]["tau"] for h in history] == pytest.approx([5.0, 5.0 * 0.96, 5.0 * 0.96 ** 2])
    assert "method tfnas (T 5.000)" in open(os.path.join(full, "log.txt")).read()
    part = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "b"), device="cpu", quiet=True, stop_after=2))
    resumed = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "b"), resume=part, device="cpu", quiet=True))
    assert _arch(full) == _arch(resumed)


NSE_EXTRA = ["search_params.method=nse", "train_params.epochs=4", "search_params.nse.rounds=2",
             "search_params.nse.subset_size=2", "search_params.nse.arch_samples=6", "search_params.nse.eval_images=8",
             "search_params.nse.recal_batches=1",
             "search_params.PRIMITIVES_head=[mbconv_k3_t3,mbconv_k5_t3,mbconv_k3_t3_d2]",
             "search_params.PRIMITIVES_stack=[mbconv_k3_t3,mbconv_k5_t3,mbconv_k3_t3_d2,skip_connect]"]


def test_nse_search_rounds_pareto_outputs_and_resume(data_root, tmp_path):
    """search_params.method=nse end to end: two rounds, the space evolves (kept ops stay, dropped
    ops never return), the last round writes the Pareto front and its net closest to the target
    as net_config (a buildable, possibly multi-branch net); a resume mid-search ends the same."""
    from search_space import flops_table, space_from_config
    from search_space.budget import cost_range
    space = space_from_config(_cfg(NSE_EXTRA))
    lo, hi = cost_range(space, flops_table(space, 32))
    target = lo + 0.6 * (hi - lo)
    extra = NSE_EXTRA + [f"optim.sub_obj.target={target}", "optim.sub_obj.target_mode=abs",
                         "optim.sub_obj.target_tolerance=0.5"]
    full = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "a"), device="cpu", quiet=True))
    rounds = [json.load(open(os.path.join(full, "rounds", f"{r}.json"))) for r in (0, 1)]
    for row0, row1 in zip(rounds[0]["rows"], rounds[1]["rows"]):
        assert set(row0["kept"]) <= set(row1["searched"])
        assert not set(row0["searched"]) - set(row0["kept"]) & set(row1["searched"])  # dropped ops never return
        assert row1["searched"] == row0["next"]
    pareto = json.load(open(os.path.join(full, "pareto.json")))
    front = pareto["front"]
    assert front and [e["cost"] for e in front] == sorted(e["cost"] for e in front)
    assert all(b["top1"] > a["top1"] for a, b in zip(front, front[1:]))  # non-dominated
    assert all(pareto["window"][0] - 1e-9 <= e["cost"] <= pareto["window"][1] + 1e-9 for e in front)
    for i in range(len(front)):
        assert os.path.isfile(os.path.join(full, "pareto", str(i), "net_config"))
    assert os.path.isfile(os.path.join(full, "pareto.png"))
    nc = load_net_config(full)
    assert nc.to_text() == front[pareto["chosen"]]["net_config"]
    model = build_model(nc, num_classes=5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert lut_cost(space, flops_table(space, 32), nc) == pytest.approx(front[pareto["chosen"]]["cost"])
    log = open(os.path.join(full, "log.txt")).read()
    assert "round 0 ends" in log and "Pareto front" in log and "method nse (round 1/2" in log
    r = subprocess.run([sys.executable, "-m", "run_apis.derive", "--load_path", full], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Pareto fronts" in r.stderr and "Traceback" not in r.stderr
    part = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "b"), device="cpu", quiet=True, stop_after=3))
    resumed = run_search(_cfg(extra), RunOptions(data_root, str(tmp_path / "b"), resume=part, device="cpu", quiet=True))
    assert _arch(full) == _arch(resumed)
    assert open(os.path.join(full, "net_config")).read() == open(os.path.join(resumed, "net_config")).read()
