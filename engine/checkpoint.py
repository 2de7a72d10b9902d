"""Checkpointer: owns save (atomic, rank 0) and resume (weights_only loading) of a run."""
from __future__ import annotations

import os
import random
from typing import Optional

import torch

from common.io import atomic_torch_save, load_file, strip_module_prefix  # noqa: F401  (re-exported)

CHECKPOINT = "checkpoint.pt"


def rng_state(generators=()) -> dict:
    return {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "generators": [g.get_state() for g in generators]}


def set_rng_state(state: dict, generators=()) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), None))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for g, s in zip(generators, state.get("generators", [])):
        g.set_state(s)


def rng_states_all_ranks(info, generators=()) -> list:
    """Every rank's :func:`rng_state` (rank order; call on every rank). Ranks draw different
    augmentations, so a resumed multi-process run needs each rank's own state back."""
    mine = rng_state(generators)
    if info is None or not info.enabled:
        return [mine]
    import torch.distributed as dist
    out = [None] * info.world_size
    dist.all_gather_object(out, mine)
    return out


def restore_rng(state: dict, info=None, generators=()) -> None:
    """Set this rank's RNG state from a checkpoint (its own when saved by every rank)."""
    ranks = state.get("rng_ranks")
    rank, world = (info.rank, info.world_size) if info is not None else (0, 1)
    set_rng_state(ranks[rank] if ranks and len(ranks) == world else state["rng"], generators)


class Checkpointer:
    def __init__(self, run_dir: str, is_main: bool = True):
        self.run_dir, self.is_main = run_dir, is_main

    @property
    def path(self) -> str:
        return os.path.join(self.run_dir, CHECKPOINT)

    def save(self, state: dict) -> None:
        if self.is_main:
            atomic_torch_save(state, self.path)

    def load(self) -> Optional[dict]:
        return load_file(self.path) if os.path.isfile(self.path) else None
