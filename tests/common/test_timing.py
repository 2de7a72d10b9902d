"""The demo's latency line: a robust figure with its spread, noise not read as table error."""
import torch

from common.timing import describe_measured, repeated_timing


def test_repeated_timing_reports_min_median_iqr_and_spread():
    t = repeated_timing(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), repeats=4, max_seconds=0.05)
    assert t["repeats"] == 4 and t["runs_ms"] == sorted(t["runs_ms"])
    assert t["min_ms"] == t["runs_ms"][0] <= t["q1_ms"] <= t["median_ms"] <= t["q3_ms"] <= t["runs_ms"][-1]


def test_noise_larger_than_the_gap_is_called_noise():
    noisy = {"min_ms": 0.80, "median_ms": 1.0, "q1_ms": 0.9, "q3_ms": 1.2, "spread": 0.8, "runs_ms": [], "repeats": 4}
    line = describe_measured(0.74, noisy)
    assert "min of 4 in-process medians" in line and "-7.5% off" in line and "timing noise" in line
    quiet = dict(noisy, spread=0.02)
    assert "timing noise" not in describe_measured(0.74, quiet)
