"""Path sampling of mixed ops, batched over all mixed ops of one kind (head or stack).

Rows of an ``alphas`` matrix are mixed ops, columns candidate ops. Sampling draws ``num`` distinct
ops per row from softmax(alpha) ("prob") or uniformly, through an explicit generator so every
DDP rank draws the same ops from the same seeded stream.
"""
from __future__ import annotations

import torch


def sample_ops(alphas: torch.Tensor, num: int, policy: str, generator: torch.Generator) -> torch.Tensor:
    """(rows x num) indices of kept ops. ``num >= n_ops`` keeps every op (in order)."""
    rows, n_ops = alphas.shape
    if num >= n_ops:
        return torch.arange(n_ops).expand(rows, n_ops).clone()
    if policy == "prob":
        probs = torch.softmax(alphas.detach().float().cpu(), dim=-1)
    else:
        probs = torch.ones(rows, n_ops)
    kept = torch.multinomial(probs, num, replacement=False, generator=generator)
    return kept.sort(dim=1).values  # ascending, as the original orders the kept ops


def kept_weights(alphas: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Softmax over the kept alphas only, no temperature: (rows x num)."""
    return torch.softmax(torch.gather(alphas, 1, kept.to(alphas.device)), dim=-1)


@torch.no_grad()
def rescale_kept(alphas: torch.Tensor, old_alphas: torch.Tensor, kept: torch.Tensor) -> None:
    """After an update of the kept alphas, shift them by log(sum exp(old kept) / sum exp(new kept))
    so the total probability mass of the kept ops, and so each op not kept, is unchanged."""
    kept = kept.to(alphas.device)
    old = torch.gather(old_alphas, 1, kept)
    new = torch.gather(alphas, 1, kept)
    offset = torch.logsumexp(old, dim=1, keepdim=True) - torch.logsumexp(new, dim=1, keepdim=True)
    alphas.scatter_add_(1, kept, offset.expand_as(kept).contiguous())
