"""MACs and parameter counts, with PyTorch's own FLOP counter (MACs = FLOPs / 2)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def count_macs(model: nn.Module, input_size: int = 224, device="cpu") -> int:
    """Multiply-accumulates of one forward pass on a 1x3xSxS input."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, input_size, input_size, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
