"""Progress lines when output goes to a file (no terminal)."""
import torch

from common.logging_utils import Progress, RunClock, format_duration


def test_lines_every_interval_and_at_the_end():
    lines = []
    clock = RunClock(10)
    batches = [(torch.zeros(4, 3), torch.zeros(4)) for _ in range(5)]
    bar = Progress(batches, "epoch 0 weights", total=5, interval=2, emit=lines.append, clock=clock)
    for i, _ in enumerate(bar):
        bar.set_postfix(loss=2.5 - i * 0.1, top1=10.0, lr=0.1)
    assert [line.split(" | ")[0] for line in lines] == ["epoch 0 weights 2/5 (40%)", "epoch 0 weights 4/5 (80%)",
                                                          "epoch 0 weights 5/5 (100%)"]
    last = lines[-1]
    assert "loss 2.1" in last and "top1 10" in last and "lr 0.1" in last
    assert "img/s" in last and "data wait" in last and "ETA phase 0:00, run" in last
    assert bar.items == 20 and clock.done == 5


def test_time_based_lines_and_disabled():
    lines = []
    bar = Progress(range(3), "x", interval=1000, emit=lines.append, min_seconds=0.0)
    list(bar)
    assert len(lines) == 3  # every step once min_seconds has passed, though the interval is not reached
    quiet = Progress(range(3), "x", emit=lines.append, enabled=False)
    list(quiet)
    assert len(lines) == 3


def test_format_duration():
    assert format_duration(59) == "0:59" and format_duration(3725) == "1:02:05"
