"""tools.supernet.probe_op_losses: the per-op loss statistics, and a run on a real (tiny) search."""

import pytest
import torch

from tests.tools.supernet.conftest import run_probe
from torch import nn

from tools.supernet.probe_op_losses import (body_distance, centred, main, markdown, split_half_r, steady_noise_floor,
                                           summarise)


def test_a_consistently_better_op_is_separable_and_noise_is_not():
    g = torch.Generator().manual_seed(0)
    noise = 0.05 * torch.randn(40, 6, 4, generator=g)
    steady = noise.clone()
    steady[:, :, 2] -= 0.3  # op 2 better at every position, every batch
    assert centred(steady).mean(-1).abs().max() < 1e-6
    assert split_half_r(steady) > 0.9
    assert abs(split_half_r(noise)) < 0.3
    s_steady, s_noise = summarise(steady, [0.5], ["a", "b", "c", "d"]), summarise(noise, [])
    assert s_steady["mean_centred_by_op"][2] < -0.2 and len(s_steady["mean_centred_by_position"]) == 6
    assert s_steady["excess_fraction_median"] > 0.8 and s_noise["excess_fraction_median"] < 0.1
    assert s_steady["steady_spread_rms"] > 5 * s_noise["steady_spread_rms"]
    assert s_steady["body_distance_median"] == 0.5 and s_noise["body_distance_median"] == 0.0
    # noise alone: the steady spread is about its floor; a steady preference stands far above it
    assert 0.5 < s_noise["steady_spread_rms"] / steady_noise_floor(s_noise) < 1.5
    assert s_steady["steady_spread_rms"] > 10 * steady_noise_floor(s_steady)


class _Mixed(nn.Module):
    def __init__(self, candidates, residual):
        super().__init__()
        self.candidates, self.residual = nn.ModuleList(candidates), residual


def test_body_distance_leaves_out_the_input_and_zero_bodies():
    x = torch.randn(2, 3, 4, 4)
    same = _Mixed([nn.Identity(), nn.Identity()], residual=False)
    assert body_distance(same, x, [0, 1]) == pytest.approx(0.0)
    flip = _Mixed([nn.Identity(), _Neg()], residual=False)
    assert body_distance(flip, x, [0, 1]) == pytest.approx(2.0)
    # residual position: identity candidates (skip) have a zero body and are left out
    assert body_distance(_Mixed([nn.Identity(), nn.Identity()], residual=True), x, [0, 1]) is None


class _Neg(nn.Module):
    def forward(self, x):
        return -x


def test_probe_on_a_search_reads_and_writes_nothing_there(search_run, tmp_path, capsys):
    data, run_dir = search_run
    rep = run_probe(main, search_run, tmp_path / "l.json", batches=3)
    assert rep["batches"] == 2  # search_val holds 2 batches of 8
    assert set(rep["groups"]) <= {"heads", "stack_layers"} and "heads" in rep["groups"]
    for s in rep["groups"].values():
        assert s["loss_spread_rms"] > 0 and -1 <= s["split_half_r"] <= 1
        assert s["body_distance_median"] > 0  # distinct ops compute distinct functions
        assert len(s["op_names"]) == len(s["mean_centred_by_op"]) == s["ops"]
    assert "loss spread" in capsys.readouterr().out
    table = markdown({"tiny": rep}).splitlines()
    assert table[2].startswith("| `tiny` (2 batches of 8) | heads") and len(table) == 2 + len(rep["groups"])
    with pytest.raises(SystemExit) as e:
        main(["--load_path", run_dir, "--data_path", data, "--batches", "1"])
    assert e.value.code == 2
