"""tools.supernet.probe_arch_gradients: the signal-fraction arithmetic, and a run on a real (tiny) search."""

import pytest
import torch

from tests.tools.supernet.conftest import run_probe

from tools.supernet.probe_arch_gradients import (by_op, excess_fractions, main, markdown, noise_fraction, signal_fractions,
                                                summarise)


def test_a_steady_gradient_is_all_signal_and_noise_is_not():
    steady = torch.tensor([[0.5, -2.0, 0.0]]).repeat(30, 1)  # the third parameter never gets a gradient
    assert signal_fractions(steady) == pytest.approx([1.0, 1.0])
    assert noise_fraction(steady) < 0.35  # its signs flipped at random: ~0.67 / sqrt(30)
    noise = torch.randn(400, 50, generator=torch.Generator().manual_seed(1))
    med = sorted(signal_fractions(noise))[25]
    assert med < 0.1 and abs(med - noise_fraction(noise)) < 0.03
    assert excess_fractions(steady) == pytest.approx([(1 - 1 / 30) ** 0.5] * 2)
    assert sorted(excess_fractions(noise))[25] < 0.03  # noise has no steady part


def test_by_op_averages_each_op_column_over_rows_and_steps():
    g = torch.tensor([[1.0, -2.0, 3.0, -4.0], [3.0, 0.0, 5.0, 0.0]])  # 2 steps, 2 rows of 2 ops
    assert by_op(g, 2) == pytest.approx([3.0, -1.5])


def test_summary_drift_and_terms():
    ce = torch.tensor([[1.0, 0.0]] * 4 + [[-1.0, 0.0]] * 4)  # first parameter: pure noise
    cost = torch.tensor([[0.0, 0.2]] * 8)  # second: a steady cost gradient
    s = summarise(ce + cost, ce, cost, torch.tensor([0.01, 0.3]), lr=0.01, steps=100)
    assert s["signal_fraction_max"] == pytest.approx(1.0)
    assert s["adam_bound"] == pytest.approx(1.0) and s["measured_drift_max"] == pytest.approx(0.3)
    assert s["random_walk_drift"] == pytest.approx(0.1)
    assert s["ce_abs_mean_median"] == pytest.approx(0.0) and s["cost_abs_mean_median"] == pytest.approx(0.1)


def test_probe_on_a_search_reads_and_writes_nothing_there(search_run, tmp_path, capsys):
    data, run_dir = search_run
    rep = run_probe(main, search_run, tmp_path / "g.json", batches=4)
    assert set(rep["groups"]) == {"head_alphas", "stack_alphas", "betas"}
    assert rep["batches"] == 2  # search_val holds 2 batches of 8: as many as there are
    betas = rep["groups"]["betas"]
    assert betas["rms_grad_median"] > 0 and betas["measured_drift_max"] > 0  # the search moved them
    assert betas["arch_steps_of_search"] == 2 * 2  # arch epochs 1..2 of 3, 2 batches each (cap 3)
    assert 0 < rep["op_entropy"] <= 1
    assert "signal" in capsys.readouterr().out
    heads = rep["groups"]["head_alphas"]
    assert len(heads["op_names"]) == len(heads["ce_mean_by_op"]) == len(heads["drift_mean_by_op"]) > 1
    table = markdown({"tiny": rep}).splitlines()
    assert len(table) == 2 + 3 and table[2].startswith("| `tiny` (op entropy") and "| betas |" in table[4]
    with pytest.raises(SystemExit) as e:
        main(["--load_path", run_dir, "--data_path", data, "--batches", "1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--load_path", str(tmp_path), "--data_path", data])
    assert e.value.code == 2 and "config.yaml" in capsys.readouterr().err
