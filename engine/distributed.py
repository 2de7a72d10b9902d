"""Process-group set-up for torchrun (single- and multi-node); a no-op for plain runs.

NCCL on CUDA, gloo on CPU. Only rank 0 writes files (see :func:`is_main`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank, world, local)


def device_for(info: DistInfo, device_name: str) -> torch.device:
    from common.device import resolve_device
    dev = resolve_device(device_name)
    if dev.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return dev


def per_process_batch(total: int, info: DistInfo, key: str = "data.batch_size") -> int:
    """The batch of one process: ``total`` (the batch over all processes, as the original's
    DataParallel) split evenly over the ranks."""
    if total % info.world_size:
        from common.errors import ConfigError
        raise ConfigError(f"config key '{key}': {total} does not split evenly over {info.world_size} processes")
    return total // info.world_size


def average_gradients(params, info: DistInfo) -> None:
    """All-reduce (mean) the gradients of ``params`` that have one, as one flat buffer.

    Every rank runs the same sampled ops (shared sampling stream), so the set of parameters
    with gradients is the same on every rank and the flat layouts match."""
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def all_reduce_sum(values, device) -> list:
    """Sum a list of numbers over ranks (no-op when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
