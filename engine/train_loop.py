"""Retraining a derived network from scratch (the paper's ImageNet recipe by default)."""
from __future__ import annotations

import itertools
import json
import os
import time
from typing import Optional

import torch

from dataset.loader import skipped_images
from engine.checkpoint import restore_rng, rng_state, rng_states_all_ranks
from common.device import autocast
from engine.distributed import cleanup, device_for, init_distributed, per_process_batch
from common.errors import InputError
from common.io import atomic_torch_save, atomic_write_json, atomic_write_text
from common.logging_utils import RunClock, flat_hparams, format_duration, progress
from engine.metrics import Meter, evaluate, topk_correct
from engine.schedule import build_lr_scheduler
from engine.run_setup import RunOptions, check_finite, open_run


class TrainRun:
    def __init__(self, cfg, net_config, opts: RunOptions):
        from dataset.loader import build_dataset, build_loader, check_data_root, resolve_data_root
        from models import build_model
        from engine.run_setup import with_memory_format
        self.cfg, self.net_config = cfg, net_config
        self.info = init_distributed(opts.device)
        self.device = device_for(self.info, opts.device)
        self.opts = opts = with_memory_format(opts, self.device)
        self.batch_size = per_process_batch(cfg.data.batch_size, self.info)
        self.data_root = resolve_data_root(opts.data_path, cfg, announce=self.info.is_main and not opts.quiet)
        check_data_root(self.data_root, ("train",), cfg.data.train_data_type)
        check_data_root(self.data_root, ("val",), cfg.data.val_data_type)
        if opts.test_split:
            check_split_name(opts.test_split, "--test_split")
            check_data_root(self.data_root, (opts.test_split,), cfg.data.val_data_type)
        init_state = _check_init_weights(net_config, cfg, opts.init_weights) if opts.init_weights else None
        ctx = open_run("retrain", cfg, opts, self.info)
        self.run_dir, self.log, self.tb, self.ckpt, resume_dir = (ctx.run_dir, ctx.log, ctx.tb, ctx.ckpt,
                                                                   ctx.resume_dir)
        if self.info.is_main:
            atomic_write_text(os.path.join(self.run_dir, "net_config"), net_config.to_text())
        seed = cfg.train_params.seed
        torch.manual_seed(seed)
        tp, o = cfg.train_params, cfg.optim
        self.model = build_model(net_config, num_classes=cfg.data.num_classes, dropout=tp.dropout,
                                 bn_momentum=o.bn_momentum, bn_eps=o.bn_eps)
        if opts.init_weights and not resume_dir:  # a resumed run continues from its own checkpoint
            from models.state_dict import load_weights
            load_weights(self.model, opts.init_weights, init_state)
            self.log.info(f"initial weights: {opts.init_weights}")
        self.model = self.model.to(self.device)
        if opts.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        torch.manual_seed(seed + self.info.rank)
        bs, nw = self.batch_size, cfg.data.num_workers
        self.loader_t = build_loader(build_dataset(self.data_root, "train", cfg, train=True), bs, True, nw,
                                     self.device, self.info, seed, drop_last=True)
        self.loader_v = build_loader(build_dataset(self.data_root, "val", cfg, train=False), bs, False, nw,
                                     self.device, self.info, seed)
        if len(self.loader_t) == 0:
            raise InputError(f"--data_path {self.data_root}: fewer training images than one batch of {bs} per process")
        cap = cfg.data.steps_per_epoch
        self.steps = min(len(self.loader_t), cap) if cap else len(self.loader_t)
        w = o.weight
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=w.init_lr, momentum=w.momentum,
                                         weight_decay=w.weight_decay, nesterov=w.nesterov)
        self.scheduler = build_lr_scheduler(self.optimizer, tp.epochs * self.steps, w.min_lr, w.lr_decay_type,
                                            warmup_steps=tp.warmup_epochs * self.steps)
        self.criterion = torch.nn.CrossEntropyLoss(label_smoothing=tp.label_smoothing)
        fp16 = self.device.type == "cuda" and opts.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.start_epoch, self.best, self.history = 0, {"top1": -1.0, "epoch": -1}, []
        self.clock = None  # RunClock of run(): the run's ETA in progress lines
        self.stop = None  # StopRequest of run_retrain: SIGTERM / SIGUSR1 -> step-level checkpoint
        self.resume_at = None  # mid-epoch position of a preempted run: {"epoch", "step", "meter"}
        state = self.ckpt.load() if resume_dir else None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            restore_rng(state, self.info)
            self.best, self.history = json.loads(state["best"]), json.loads(state["history"])
            self.start_epoch = state["epoch"] + 1
            where = f"epoch {self.start_epoch}"
            if state.get("position"):  # stopped mid-epoch by a signal
                self.resume_at = json.loads(state["position"])
                where = f"epoch {self.resume_at['epoch']}, step {self.resume_at['step']}"
            self.log.info(f"resumed from {self.ckpt.path} at {where}")

    def train_epoch(self, epoch: int) -> dict:
        from dataset.loader import DevicePrefetcher
        self.net.train()
        meter, start = Meter(), 0
        if self.resume_at is not None and self.resume_at["epoch"] == epoch:
            pos, self.resume_at = self.resume_at, None
            start = int(pos["step"])
            meter.sums, meter.count = dict(pos["meter"]["sums"]), int(pos["meter"]["count"])
        clip = self.cfg.train_params.grad_clip
        self.loader_t.sampler.skip = start * self.loader_t.batch_size  # a resumed epoch skips what it did
        it = DevicePrefetcher(self.loader_t, self.device, self.opts.channels_last)
        bar = self._progress(itertools.islice(it, max(0, self.steps - start)), f"epoch {epoch} train",
                             max(0, self.steps - start))
        for step, (x, y) in enumerate(bar, start=start):
            with autocast(self.device, self.opts.amp):
                logits = self.net(x)
            loss = self.criterion(logits.float(), y)
            check_finite(loss, "training", epoch, step)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            c1, c5 = topk_correct(logits, y)
            meter.update(x.shape[0], loss=loss.item() * x.shape[0], top1=c1, top5=c5)
            lr = self.optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=loss.item(), top1=100 * meter.avg("top1"), lr=lr)
            if step % self.cfg.log.interval == 0:
                gstep = epoch * self.steps + step
                self.tb.scalar("step/train_loss", loss.item(), gstep)
                self.tb.scalar("step/train_top1", 100 * c1 / x.shape[0], gstep)
                self.tb.scalar("step/lr", lr, gstep)
            self._check_stop(epoch, step + 1, meter)
        m = meter.reduce(self.device)
        return {"loss": m.avg("loss"), "top1": 100 * m.avg("top1"), "top5": 100 * m.avg("top5"),
                "lr": self.optimizer.param_groups[0]["lr"],
                "images_per_s": bar.throughput() * self.info.world_size, "time_s": bar.elapsed()}

    def _checkpoint_state(self, epoch: int) -> dict:
        return {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": rng_state(), "rng_ranks": rng_states_all_ranks(self.info),
                "best": json.dumps(self.best), "history": json.dumps(self.history)}

    def _check_stop(self, epoch: int, step: int, meter: Meter) -> None:
        """After a step: on SIGTERM / SIGUSR1 (any rank), write a step-level checkpoint and stop."""
        name = self.stop.requested(self.info, self.device) if self.stop is not None else None
        if not name:
            return
        from engine.preemption import stop_with_checkpoint
        stop_with_checkpoint(name, self.ckpt, self._checkpoint_state(epoch - 1),
                             {"epoch": epoch, "step": step, "meter": {"sums": meter.sums, "count": meter.count}},
                             f"epoch {epoch}, step {step}", "run_apis.retrain", self.run_dir, self.log)

    def _progress(self, iterable, desc, steps):
        return progress(iterable, desc, total=steps, enabled=self.info.is_main and not self.opts.quiet,
                        interval=self.cfg.log.interval, emit=self.log.info, clock=self.clock)

    def run(self) -> str:
        from dataset.loader import DevicePrefetcher
        epochs = self.cfg.train_params.epochs
        self.log.info(f"retrain in {self.run_dir}: {epochs} epochs x {self.steps} steps, device {self.device}, "
                      f"world size {self.info.world_size}, batch {self.batch_size} per process "
                      f"({self.batch_size * self.info.world_size} in total), "
                      f"{'channels_last' if self.opts.channels_last else 'NCHW'}")
        self.clock = RunClock((epochs - self.start_epoch) * (self.steps + len(self.loader_v)))
        for epoch in range(self.start_epoch, epochs):
            epoch_start = time.monotonic()
            self.loader_t.sampler.set_epoch(epoch)
            train = self.train_epoch(epoch)
            val = None
            if validates_after(epoch, epochs, self.cfg.train_params.val_every):
                val = evaluate(self.model, DevicePrefetcher(self.loader_v, self.device, self.opts.channels_last),
                               self.device, self.opts.amp,
                               wrap=lambda it: self._progress(it, f"epoch {epoch} validation", len(self.loader_v)))
            epoch_time = time.monotonic() - epoch_start
            if val is not None and val["top1"] > self.best["top1"]:
                self.best = {"top1": val["top1"], "top5": val["top5"], "epoch": epoch}
                if self.info.is_main:
                    atomic_torch_save(self.model.state_dict(), os.path.join(self.run_dir, "weights.pt"))
            self.history.append({"epoch": epoch, "train": train, "val": val, "epoch_time_s": epoch_time})
            val_text = (f"val loss {val['loss']:.3f} top1 {val['top1']:.2f}% top5 {val['top5']:.2f}% | "
                        f"best {self.best['top1']:.2f}% (epoch {self.best['epoch']})" if val is not None
                        else "no val this epoch (train_params.val_every)")
            self.log.info(f"epoch {epoch}: train loss {train['loss']:.3f} top1 {train['top1']:.1f}% "
                          f"lr {train['lr']:.4g} {train['images_per_s']:.1f} img/s | {val_text} | "
                          f"{format_duration(epoch_time)}")
            self.tb.scalar("time/epoch_s", epoch_time, epoch)
            self.tb.scalar("time/train_images_per_s", train["images_per_s"], epoch)
            for k in ("loss", "top1"):
                self.tb.scalar(f"train/{k}", train[k], epoch)
            self.tb.scalar("train/lr", train["lr"], epoch)
            for k in ("loss", "top1", "top5") if val is not None else ():
                self.tb.scalar(f"val/{k}", val[k], epoch)
            self.ckpt.save(self._checkpoint_state(epoch))
            if self.opts.stop_after and epoch + 1 - self.start_epoch >= self.opts.stop_after and epoch + 1 < epochs:
                self.log.info(f"stopping after epoch {epoch} as asked; continue with --resume {self.run_dir}")
                break
        results = {"best": self.best, "history": self.history}
        validated = [h for h in self.history if h["val"] is not None]
        if validated:  # the last epoch with a val pass (the last epoch, once the run is complete)
            results["final"] = {"epoch": validated[-1]["epoch"], **validated[-1]["val"]}
        if self.opts.test_split and self.history and self.history[-1]["epoch"] == epochs - 1:
            results["test"] = self.evaluate_test()
        if self.info.is_main:
            atomic_write_json(os.path.join(self.run_dir, "results.json"), results)
            atomic_write_json(os.path.join(self.run_dir, "history.json"), self.history)
        if validated:
            self.tb.hparams(flat_hparams(self.cfg), {"final/best_val_top1": self.best["top1"],
                                                 "final/last_val_top1": validated[-1]["val"]["top1"]})
        skipped = skipped_images(self.loader_t, self.loader_v)
        if skipped:
            self.log.warning(f"{skipped} unreadable images were skipped (data.skip_corrupt)")
        self.tb.close()
        self.log.info(f"done: best val top1 {self.best['top1']:.2f}% at epoch {self.best['epoch']}; "
                      f"weights in {os.path.join(self.run_dir, 'weights.pt')}")
        return self.run_dir


    def evaluate_test(self) -> dict:
        """The final weights (not the best-val epoch's) on the held-out test split, once."""
        from dataset.loader import DevicePrefetcher, build_dataset, build_loader
        split = self.opts.test_split
        loader = build_loader(build_dataset(self.data_root, split, self.cfg, train=False), self.batch_size, False,
                              self.cfg.data.num_workers, self.device, self.info, self.cfg.train_params.seed)
        res = evaluate(self.model, DevicePrefetcher(loader, self.device, self.opts.channels_last), self.device,
                       self.opts.amp, wrap=lambda it: self._progress(it, f"{split} (final weights)", len(loader)))
        res.update(split=split, epoch=self.history[-1]["epoch"])
        self.log.info(f"{split} split, final weights (epoch {res['epoch']}): top1 {res['top1']:.2f}% "
                      f"top5 {res['top5']:.2f}% loss {res['loss']:.3f} ({res['count']} images; never used for "
                      f"model selection)")
        self.tb.scalar(f"{split}/top1", res["top1"], res["epoch"])
        return res


def validates_after(epoch: int, epochs: int, val_every: int) -> bool:
    """Whether epoch ``epoch`` (0-based) of ``epochs`` ends with a val pass: every ``val_every``-th
    epoch and always the last (``val_every`` 0: the last only)."""
    return epoch == epochs - 1 or (val_every > 0 and (epoch + 1) % val_every == 0)


def check_split_name(split: str, option: str) -> None:
    """A split name is one folder/list name: letters, digits, '_' and '-'."""
    import re
    if not re.fullmatch(r"[A-Za-z0-9_-]+", split or ""):
        raise InputError(f"{option} {split!r}: a split name (a folder or lists/<name>.txt under --data_path)")


def _check_init_weights(net_config, cfg, path: str) -> dict:
    """--init_weights read (weights_only) and checked against the net before a run folder exists."""
    from models import build_model
    from models.state_dict import load_weights, read_state_dict
    state = read_state_dict(path)
    with torch.random.fork_rng(devices=[]):  # the run's own init stream stays as without the check
        load_weights(build_model(net_config, num_classes=cfg.data.num_classes), path, state)
    return state


def run_retrain(cfg, net_config, opts: RunOptions) -> str:
    """Run (or resume) a retrain; SIGTERM / SIGUSR1 stop it at a step with a step-level checkpoint."""
    from engine.preemption import StopRequest
    run = TrainRun(cfg, net_config, opts)
    try:
        with StopRequest() as stop:
            run.stop = stop
            return run.run()
    finally:
        cleanup(run.info)


def validate_weights(net_config, weights: str, cfg, data_path: Optional[str], device_name: str = "auto",
                     amp: bool = False, quiet: bool = False, state: Optional[dict] = None, split: str = "val") -> dict:
    """Evaluate a net_config + weights.pt (``state``: its contents, when already read) on a split."""
    from dataset.loader import DevicePrefetcher, build_dataset, build_loader, check_data_root, resolve_data_root
    from common.device import resolve_device
    from models.state_dict import load_weights, num_classes_of, read_state_dict
    from models import build_model
    device = resolve_device(device_name)
    state = read_state_dict(weights) if state is None else state
    num_classes = num_classes_of(state, cfg.data.num_classes)
    if cfg.data.num_classes != num_classes:
        cfg.data.num_classes = num_classes
    model = build_model(net_config, num_classes=num_classes)
    load_weights(model, weights, state)
    root = resolve_data_root(data_path, cfg, announce=not quiet)
    check_split_name(split, "--split")
    check_data_root(root, (split,), cfg.data.val_data_type)
    loader = build_loader(build_dataset(root, split, cfg, train=False), cfg.data.batch_size, False,
                          cfg.data.num_workers, device)
    return evaluate(model.to(device), DevicePrefetcher(loader, device), device, amp,
                    wrap=lambda it: progress(it, "validation", total=len(loader), enabled=not quiet,
                                             interval=cfg.log.interval))
