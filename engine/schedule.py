"""Per-step learning-rate schedules from torch.optim.lr_scheduler."""
from __future__ import annotations

from torch.optim import lr_scheduler


def build_lr_scheduler(optimizer, total_steps: int, min_lr: float, decay: str = "cosine", warmup_steps: int = 0):
    total_steps = max(1, total_steps)
    if decay == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=min_lr)
    elif decay in ("constant", "none"):
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        from common.errors import ConfigError
        raise ConfigError(f"config key 'optim.weight.lr_decay_type': cosine or constant, got {decay!r}")
    if warmup_steps <= 0:
        return main
    warm = lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warmup_steps)
    return lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[warmup_steps])
