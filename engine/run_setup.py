"""What every training command shares: options, the run folder (new or resumed), its log,
TensorBoard writer, checkpointer and saved config."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional

import torch
import yaml

from engine.checkpoint import Checkpointer
from engine.distributed import DistInfo, broadcast_object
from common.errors import InputError, TrainingDiverged
from common.io import atomic_write_text
from common.logging_utils import TensorBoard, get_logger, make_run_dir


@dataclass
class RunOptions:
    data_path: Optional[str] = None
    save: str = "runs"
    resume: Optional[str] = None
    device: str = "auto"
    amp: bool = False
    channels_last: Optional[bool] = None  # None: the faster format for the device (resolve_channels_last)
    quiet: bool = False
    stop_after: int = 0  # stop after this many epochs in this invocation (resume later); 0 = run to the end
    measure_latency: bool = False  # time the final derived network on the cost table's device
    test_split: Optional[str] = None  # retrain: a held-out split evaluated once, with the final weights
    init_weights: Optional[str] = None  # retrain: start from these weights (e.g. inherited from a super network)


def resolve_channels_last(flag: Optional[bool], device: torch.device, amp: bool) -> bool:
    """The memory format of a run: as asked, else channels_last on CPU (measured x1.6-2.3 the NCHW
    throughput of a search step, docs/speed.md) and on CUDA with --amp (tensor-core convolutions
    prefer it; not measured by this project), NCHW otherwise."""
    if flag is not None:
        return bool(flag)
    return device.type == "cpu" or (device.type == "cuda" and amp)


def with_memory_format(opts: "RunOptions", device: torch.device) -> "RunOptions":
    """``opts`` with ``channels_last`` resolved for ``device``."""
    import dataclasses
    return dataclasses.replace(opts, channels_last=resolve_channels_last(opts.channels_last, device, opts.amp))


def find_resume_dir(resume: str, save: str, prefix: str) -> str:
    """``--resume DIR`` or, for ``latest``, the newest ``prefix-*`` run with a checkpoint under ``save``."""
    if resume != "latest":
        if not os.path.isfile(os.path.join(resume, "checkpoint.pt")):
            raise InputError(f"--resume {resume}: no checkpoint.pt in that folder")
        return resume
    runs = sorted(glob.glob(os.path.join(save, f"{prefix}-*", "checkpoint.pt")), key=os.path.getmtime)
    if not runs:
        raise InputError(f"--resume: no {prefix} run with a checkpoint under {save}")
    return os.path.dirname(runs[-1])


def check_finite(loss: torch.Tensor, what: str, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"{what} loss is {loss.item()} at epoch {epoch} step {step}; stopped. "
                               f"The last good checkpoint is kept (resume with --resume after lowering the lr)")


@dataclass
class RunContext:
    run_dir: str
    log: object
    tb: TensorBoard
    ckpt: Checkpointer
    resume_dir: Optional[str]


def open_run(prefix: str, cfg, opts: RunOptions, info: DistInfo) -> RunContext:
    """Create (rank 0) or reopen the run folder, share its path with every rank, save the config."""
    resume_dir = find_resume_dir(opts.resume, opts.save, prefix) if opts.resume else None
    run_dir = make_run_dir(opts.save, prefix, resume_dir) if info.is_main else None
    run_dir = broadcast_object(run_dir, info)
    if info.is_main:
        config = {k: v for k, v in cfg.to_dict().items() if not k.startswith("_")}
        atomic_write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(config, sort_keys=False))
    return RunContext(run_dir, get_logger(run_dir, info.is_main, console=not opts.quiet),
                      TensorBoard(run_dir, info.is_main), Checkpointer(run_dir, info.is_main), resume_dir)
