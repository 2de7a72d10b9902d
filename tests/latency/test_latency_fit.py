"""In-context tables and fits: recovery of known costs, the report functions on fixed inputs."""
import random

import pytest
import torch

from search_space import flops_table, lut_cost, space_from_config
from latency.measure import error_stats, kendall_tau
from latency.fit import (architecture_through, build_table, fit_entries, fold_linear, in_context_table,
                                      measure_in_context, per_signature, random_architecture, signature_counts,
                                      spread_stats)
from search_space.derive import map_to_space


def test_fit_recovers_known_costs_from_synthetic_end_to_end_timings(tiny_cfg):
    space = space_from_config(tiny_cfg)
    rng = random.Random(0)
    fixed = {"input_block", "classifier", "conv1_1"}  # once per network: not separable from the constant
    archs = [random_architecture(space, rng) for _ in range(300)]
    rows = [{s: c for s, c in signature_counts(space, a, 32).items() if s.split("|")[0] not in fixed} for a in archs]
    sigs = sorted({s for r in rows for s in r})
    truth = {s: rng.uniform(0.05, 2.0) for s in sigs}
    constant = 0.7
    measured = [sum(c * truth[s] for s, c in r.items()) + constant for r in rows]
    costs, const = fit_entries(rows, measured)
    # Signatures that every path crosses exactly once (stage entries) are tied to the constant;
    # every cost the timings determine (unit vector in the row space) is recovered exactly.
    import numpy as np
    a = np.array([[r.get(s, 0.0) for s in sigs] + [1.0] for r in rows])
    proj = np.linalg.pinv(a) @ a
    identifiable = [s for i, s in enumerate(sigs) if np.allclose(proj[:, i], np.eye(len(sigs) + 1)[:, i], atol=1e-8)]
    assert len(identifiable) >= 5
    assert all(costs[s] == pytest.approx(truth[s], abs=1e-6) for s in identifiable)
    held_out = [random_architecture(space, rng) for _ in range(50)]
    for nc in held_out:
        r = {s: c for s, c in signature_counts(space, nc, 32).items() if s.split("|")[0] not in fixed}
        assert sum(c * costs[s] for s, c in r.items()) + const == pytest.approx(
            sum(c * truth[s] for s, c in r.items()) + constant, abs=1e-6)
    # with noise and a prior the ridge fit stays close
    noisy = [m * (1 + rng.gauss(0, 0.01)) for m in measured]
    costs, const = fit_entries(rows, noisy, prior={s: truth[s] * 1.2 for s in sigs}, ridge=0.1)
    pred = [sum(c * costs[s] for s, c in r.items()) + const for r in rows]
    assert error_stats(pred, measured)["mape_pct"] < 2.0


def test_every_targeted_architecture_contains_its_position(tiny_cfg):
    from search_space.cost_table import positions
    space = space_from_config(tiny_cfg)
    rng = random.Random(1)
    for p in positions(space, 32):
        if p.key[0] == "stack" and space.stack_ops[p.key[3]] == "skip_connect":
            continue
        nc = architecture_through(space, p.key, rng)
        path, ops = map_to_space(space, nc)
        if p.key[0] == "head":
            k, r, o = p.key[1:]
            i = path.index(k)
            assert path[i - 1] == space.in_routes[k][r] and ops[i - 1][0] == space.head_ops[o]
        elif p.key[0] == "stack":
            k, layer, o = p.key[1:]
            assert ops[path.index(k) - 1][1][layer] == space.stack_ops[o]
        elif p.key[0] == "final":
            assert path[-2] == space.in_routes[space.final][p.key[1]]


def test_in_context_table_and_folded_fit(tiny_cfg, tmp_path):
    space = space_from_config(tiny_cfg)
    torch.set_num_threads(1)
    samples, archs = measure_in_context(space, 32, 1, torch.device("cpu"), min_samples=1, forwards=3,
                                        partial_path=str(tmp_path / "p.json"), warmup_seconds=0.0)
    assert archs > 0 and all(v > 0 for vals in samples.values() for v in vals)
    table = in_context_table(space, 32, samples, {"units": "ms"})
    skip = space.stack_ops.index("skip_connect")
    assert all(layer[skip] == 0.0 for block in table.stack for layer in block)  # derived nets drop skips
    # resuming from the partial file measures nothing new
    again, archs2 = measure_in_context(space, 32, 1, torch.device("cpu"), min_samples=1, forwards=3,
                                       partial_path=str(tmp_path / "p.json"))
    assert archs2 == archs and again == samples
    nc = random_architecture(space, random.Random(3))
    folded = fold_linear(table, 1.5, 0.25)
    assert lut_cost(space, folded, nc) == pytest.approx(1.5 * lut_cost(space, table, nc) + 0.25)
    built = build_table(space, 32, 1, torch.device("cpu"), {"units": "ms", "input_size": 32}, calibration_nets=4,
                        min_samples=1, forwards=2, fit_timing="fresh")
    assert built.meta["method"].startswith("in-context") and built.meta["calibration_networks"] == 4
    assert built.meta["fingerprint"] == space.fingerprint()
    assert built.meta["fit_timing"] == "one fresh process"


def test_fresh_process_times_the_networks_it_is_given(tiny_cfg):
    from latency.network_timing import measure_network_list, time_in_fresh_process
    space = space_from_config(tiny_cfg)
    nets = [random_architecture(space, random.Random(s)) for s in range(3)]
    fresh = time_in_fresh_process(nets, 32, 1, 1, space.num_classes, passes=1)
    here = measure_network_list(nets, space.num_classes, 32, 1, torch.device("cpu"), passes=1)[0]
    assert len(fresh) == 3 and all(0 < f < 1000 for f in fresh)
    # (no timing ratio asserted: on a busy machine the two processes may differ by any factor)
    assert len(here) == 3 and all(h > 0 for h in here)


def test_report_functions_on_fixed_inputs():
    s = error_stats([110.0, 90.0, 100.0, 130.0], [100.0, 100.0, 100.0, 100.0])
    assert s["mape_pct"] == pytest.approx(12.5) and s["max_err_pct"] == pytest.approx(30.0)
    assert s["within_10pct"] == 0.75 and s["mean_bias_pct"] == pytest.approx(7.5)
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    sp = spread_stats([10.0, 20.0, 30.0], [11.0, 20.0, 29.0])
    assert sp["median_rel_diff_pct"] == pytest.approx(100 * 1 / 29.5)
    assert sp["max_rel_diff_pct"] == pytest.approx(100 * 1 / 10.5) and sp["kendall_tau_between_repeats"] == 1.0


def test_flops_table_is_exact_in_context_of_counts(tiny_cfg):
    """signature_counts x per-signature FLOPs = lut_cost of the FLOPs table (same bookkeeping)."""
    space = space_from_config(tiny_cfg)
    table = flops_table(space, 32)
    per_sig = per_signature(space, table, 32)
    for seed in range(5):
        nc = random_architecture(space, random.Random(seed))
        counts = signature_counts(space, nc, 32)
        skip_layers = sum(space.num_layers[k] for k in map_to_space(space, nc)[0][1:-1]) - \
            sum(len(ops[1]) for ops in map_to_space(space, nc)[1])
        skip_cost = table.stack[0][0][space.stack_ops.index("skip_connect")] if skip_layers else 0.0
        assert sum(c * per_sig[s] for s, c in counts.items()) + skip_layers * skip_cost == \
            pytest.approx(lut_cost(space, table, nc), rel=1e-9)


def test_a_fit_that_would_give_negative_entries_goes_through_the_origin(tiny_cfg, monkeypatch):
    """A noisy fit (measured falling as predicted rises: negative slope) must not write negative
    entries (no table may hold them): the build fits through the origin instead and says so."""
    import latency.fit as lf
    space = space_from_config(tiny_cfg)

    def fake_timings(space, nets, *args, **kwargs):
        return [10.0 - i for i in range(len(nets))]  # decreasing, whatever the nets cost
    monkeypatch.setattr(lf, "_time_fit_networks", fake_timings)
    import importlib
    derive = importlib.import_module("search_space.derive")  # the module, not the function of that name
    order = iter(range(100))
    monkeypatch.setattr(derive, "lut_cost", lambda space, table, net: 1.0 + next(order))  # increasing
    lines = []
    built = build_table(space, 32, 1, torch.device("cpu"), {"units": "ms", "input_size": 32}, calibration_nets=4,
                        min_samples=1, forwards=2, fit_timing="here", log=lines.append)
    assert built.meta["fit"]["through_origin"] and built.meta["fit"]["intercept_ms"] == 0.0
    assert built.meta["fit"]["slope"] > 0
    flat = [built.input, built.classifier, *built.final]
    flat += [v for block in built.head for route in block for v in route]
    flat += [v for block in built.stack for layer in block for v in layer]
    assert all(v >= 0 for v in flat)
    assert any("through the origin" in line for line in lines)
