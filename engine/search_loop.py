"""The DenseNAS search: alternating architecture and weight passes, per-epoch derive.

Per epoch (numbers from the config):
  1. from ``arch_update_epoch``: architecture pass over the held-out split (weights frozen,
     ``arch_sample_num`` sampled ops per mixed op, loss = CE + cost term, Adam, rescaling);
  2. weight pass over the weight split (arch params frozen, ``weight_sample_num`` sampled ops,
     uniform sampling before arch updates start, SGD with a per-step cosine schedule);
  3. from ``val_start_epoch``: evaluation with all ops (top-1/top-5, loss, expected cost);
  4. derive, log MACs/params/table cost, keep the top-k derived architectures.

Multi-process runs (torchrun) average the gradients of weights and arch params by all-reduce;
every rank samples the same ops from the super network's seeded generator, and only rank 0 writes.
(The set of parameters that receive gradients changes every step, which is why this averages
gradients itself instead of wrapping the super network in DistributedDataParallel.)
"""
from __future__ import annotations

import itertools
import json
import os
import time

import torch

from engine.checkpoint import restore_rng, rng_state, rng_states_all_ranks
from common.device import autocast
from engine.distributed import (DistInfo, average_gradients, cleanup, device_for, init_distributed,
                                per_process_batch)
from common.errors import InputError
from common.io import atomic_write_json
from common.logging_utils import flat_hparams, progress
from engine.search_cost import check_target, describe_table, load_cost_for_search  # noqa: F401 (re-exported)
from engine.search_outputs import SearchOutputs
from engine.search_rounds import SearchRounds
from engine.run_setup import RunOptions, check_finite, open_run  # noqa: F401 (RunOptions re-exported)
from dataset.loader import skipped_images
from engine.metrics import Meter, evaluate, topk_correct
from engine.schedule import build_lr_scheduler


def _set_requires_grad(params, flag: bool):
    for p in params:
        p.requires_grad_(flag)


class SearchRun(SearchOutputs, SearchRounds):
    def __init__(self, cfg, opts: RunOptions):
        from configs import Config
        from dataset.loader import build_dataset, build_loader, check_data_root, resolve_data_root
        from search_space import build_super_network, space_from_config

        from engine.run_setup import with_memory_format
        self.info: DistInfo = init_distributed(opts.device)
        self.device = device_for(self.info, opts.device)
        self.opts = opts = with_memory_format(opts, self.device)
        self.cfg: Config = cfg
        self.space = space_from_config(cfg)
        # Everything a user can get wrong is checked before any module is built or data is read.
        self.cost_table = load_cost_for_search(cfg, self.space)
        self.batch_size = per_process_batch(cfg.data.batch_size, self.info)
        self.target = check_target(cfg, self.space, self.cost_table)
        if opts.measure_latency:
            from latency.measure import table_device
            table_device(self.cost_table)  # a FLOPs table or a missing device fails before the run
        self.data_root = resolve_data_root(opts.data_path, cfg, announce=self.info.is_main and not opts.quiet)
        check_data_root(self.data_root, ("search_train",), cfg.data.train_data_type)
        check_data_root(self.data_root, ("search_val",), cfg.data.val_data_type)
        ctx = open_run("search", cfg, opts, self.info)
        self.run_dir, self.log, self.tb, self.ckpt, resume_dir = (ctx.run_dir, ctx.log, ctx.tb, ctx.ckpt,
                                                                   ctx.resume_dir)

        seed = cfg.train_params.seed
        torch.manual_seed(seed)  # same super-network init on every rank
        self.net = build_super_network(cfg).to(self.device)
        if opts.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        torch.manual_seed(seed + self.info.rank)  # data augmentation differs per rank

        ds_w = build_dataset(self.data_root, "search_train", cfg, train=True)
        # As the original: arch steps read the held-out split with the evaluation transforms.
        ds_v = build_dataset(self.data_root, "search_val", cfg, train=False)
        bs, nw = self.batch_size, cfg.data.num_workers
        self.loader_w = build_loader(ds_w, bs, True, nw, self.device, self.info, seed, drop_last=True)
        self.loader_a = build_loader(ds_v, bs, True, nw, self.device, self.info, seed + 1, drop_last=True)
        self.loader_v = build_loader(ds_v, bs, False, nw, self.device, self.info, seed)
        if len(self.loader_w) == 0 or len(self.loader_a) == 0:
            raise InputError(f"--data_path {self.data_root}: fewer images than one batch of {bs} per process "
                             "in a search split")
        cap = cfg.data.steps_per_epoch
        self.steps_w = min(len(self.loader_w), cap) if cap else len(self.loader_w)
        self.steps_a = min(len(self.loader_a), cap) if cap else len(self.loader_a)

        dtype_fp16 = self.device.type == "cuda" and opts.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=dtype_fp16)
        from search_space.methods import build_method
        self.method = build_method(cfg, self.net, self.cost_table, self._forward)
        self.build_optimizers()
        self.start_epoch, self.topk, self.history = 0, [], []
        self.clock = None  # RunClock of run(): the run's ETA in progress lines
        self.stop = None  # StopRequest of run(): SIGTERM / SIGUSR1 -> step-level checkpoint
        self.resume_at = None  # mid-epoch position of a preempted run: {"epoch", "phase", "step", ...}
        self._epoch_arch = None
        state = self.ckpt.load() if resume_dir else None
        if state is not None:
            self._restore(state)

    def build_optimizers(self):
        """SGD for the weights with its lr schedule (over the method's schedule epochs), Adam for
        the arch params (betas from the method)."""
        cfg = self.cfg
        w = cfg.optim.weight
        self.weight_opt = torch.optim.SGD(self.net.weight_parameters(), lr=w.init_lr, momentum=w.momentum,
                                          weight_decay=w.weight_decay)
        a = cfg.optim.arch
        self.arch_opt = torch.optim.Adam(
            [{"params": list(self.net.betas), "lr": a.beta_lr},
             {"params": list(self.net.head_alphas) + list(self.net.stack_alphas), "lr": a.alpha_lr}],
            betas=self.method.arch_adam_betas(), weight_decay=a.weight_decay)
        self.scheduler = build_lr_scheduler(
            self.weight_opt, self.method.schedule_epochs(cfg.train_params.epochs) * self.steps_w, w.min_lr,
            w.lr_decay_type)

    # -- state ---------------------------------------------------------------------------------
    def _state(self, epoch: int) -> dict:
        return {"epoch": epoch, "model": self.net.state_dict(), "weight_opt": self.weight_opt.state_dict(),
                "arch_opt": self.arch_opt.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": rng_state([self.net.generator]),
                "rng_ranks": rng_states_all_ranks(self.info, [self.net.generator]),
                "topk": json.dumps(self.topk), "history": json.dumps(self.history),
                "method": json.dumps(self.method.state_dict())}

    def _restore(self, state: dict):
        self.net.load_state_dict(state["model"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.arch_opt.load_state_dict(state["arch_opt"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng(state, self.info, [self.net.generator])
        self.topk, self.history = json.loads(state["topk"]), json.loads(state["history"])
        if "method" in state:
            self.method.load_state_dict(json.loads(state["method"]))
        self.start_epoch = state["epoch"] + 1
        where = f"epoch {self.start_epoch}"
        if state.get("position"):  # stopped mid-epoch by a signal
            self.resume_at = json.loads(state["position"])
            where = f"epoch {self.resume_at['epoch']}, {self.resume_at['phase']} step {self.resume_at['step']}"
        self.log.info(f"resumed from {self.ckpt.path} at {where}")

    # -- passes --------------------------------------------------------------------------------
    def _progress(self, iterable, desc, steps):
        return progress(iterable, desc, total=steps, enabled=self.info.is_main and not self.opts.quiet,
                        interval=self.cfg.log.interval, emit=self.log.info, clock=self.clock)

    def _batches(self, loader, steps, desc, start: int = 0):
        """(progress bar, enumerated batches from step ``start``): a resumed pass skips the sampler's
        first ``start`` batches without loading them."""
        from dataset.loader import DevicePrefetcher
        loader.sampler.skip = start * loader.batch_size
        it = DevicePrefetcher(loader, self.device, self.opts.channels_last)
        bar = self._progress(itertools.islice(it, max(0, steps - start)), desc, max(0, steps - start))
        return bar, enumerate(bar, start=start)

    def _resume_point(self, epoch: int, phase: str):
        """(first step, meter) of a pass: where a preempted run stopped, else (0, empty)."""
        pos = self.resume_at
        meter = Meter()
        if pos is None or pos["epoch"] != epoch or pos["phase"] != phase:
            return 0, meter
        self.resume_at = None
        meter.sums, meter.count = dict(pos["meter"]["sums"]), int(pos["meter"]["count"])
        return int(pos["step"]), meter

    def _check_stop(self, epoch: int, phase: str, step: int, meter: Meter) -> None:
        """After a step: on SIGTERM / SIGUSR1 (any rank), write a step-level checkpoint and stop."""
        name = self.stop.requested(self.info, self.device) if self.stop is not None else None
        if not name:
            return
        from engine.preemption import stop_with_checkpoint
        stop_with_checkpoint(name, self.ckpt, self._state(epoch - 1),
                             {"epoch": epoch, "phase": phase, "step": step, "arch": self._epoch_arch,
                              "meter": {"sums": meter.sums, "count": meter.count}},
                             f"epoch {epoch}, {phase} step {step}", "run_apis.search", self.run_dir, self.log)

    def _step_scalars(self, phase: str, epoch: int, step: int, steps: int, **values):
        """TensorBoard scalars every log.interval steps (x axis: global step of the phase)."""
        if step % self.cfg.log.interval == 0:
            for k, v in values.items():
                self.tb.scalar(f"step/{phase}_{k}", v, epoch * steps + step)

    def _optimizer_step(self, loss, optimizer, params):
        """Backward, average gradients over ranks, step (through the AMP scaler when fp16)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(params, self.info)
        self.scaler.step(optimizer)
        self.scaler.update()

    def _forward(self, x):
        with autocast(self.device, self.opts.amp):
            return self.net(x)

    def arch_pass(self, epoch: int) -> dict:
        net = self.net
        _set_requires_grad(net.weight_parameters(), False)
        start, meter = self._resume_point(epoch, "arch")
        bar, batches = self._batches(self.loader_a, self.steps_a, f"epoch {epoch} arch", start)
        for step, (x, y) in batches:
            out = self.method.arch_step(x, y, epoch)
            loss, ce, cost, logits = out.loss, out.ce, out.cost, out.logits
            check_finite(loss, "architecture", epoch, step)
            self._optimizer_step(loss, self.arch_opt, net.arch_parameters())
            self.method.after_arch_step()
            c1, _ = topk_correct(logits, y)
            meter.update(x.shape[0], loss=loss.item() * x.shape[0], ce=ce.item() * x.shape[0], top1=c1,
                         cost=cost.item() * x.shape[0])
            bar.set_postfix(loss=loss.item(), top1=100 * meter.avg("top1"), cost=cost.item())
            self._step_scalars("arch", epoch, step, self.steps_a, loss=loss.item(), top1=100 * c1 / x.shape[0],
                               cost=cost.item())
            self._check_stop(epoch, "arch", step + 1, meter)
        _set_requires_grad(net.weight_parameters(), True)
        m = meter.reduce(self.device)
        return {"loss": m.avg("loss"), "ce": m.avg("ce"), "top1": 100 * m.avg("top1"), "cost": m.avg("cost"),
                "images_per_s": bar.throughput() * self.info.world_size, "time_s": bar.elapsed()}

    def weight_pass(self, epoch: int) -> dict:
        net = self.net
        arch = net.arch_parameters()
        _set_requires_grad(arch, False)
        start, meter = self._resume_point(epoch, "weight")
        bar, batches = self._batches(self.loader_w, self.steps_w, f"epoch {epoch} weights", start)
        for step, (x, y) in batches:
            out = self.method.shared_weight_step(x, y, epoch, epoch * self.steps_w + step)
            loss, logits = out.loss, out.logits
            check_finite(loss, "weight", epoch, step)
            self._optimizer_step(loss, self.weight_opt, net.weight_parameters())
            self.scheduler.step()
            c1, c5 = topk_correct(logits, y)
            meter.update(x.shape[0], loss=loss.item() * x.shape[0], top1=c1, top5=c5)
            lr = self.weight_opt.param_groups[0]["lr"]
            bar.set_postfix(loss=loss.item(), top1=100 * meter.avg("top1"), lr=lr)
            self._step_scalars("weight", epoch, step, self.steps_w, loss=loss.item(), top1=100 * c1 / x.shape[0], lr=lr)
            self._check_stop(epoch, "weight", step + 1, meter)
        _set_requires_grad(arch, True)
        m = meter.reduce(self.device)
        return {"loss": m.avg("loss"), "top1": 100 * m.avg("top1"), "top5": 100 * m.avg("top5"),
                "lr": self.weight_opt.param_groups[0]["lr"],
                "images_per_s": bar.throughput() * self.info.world_size, "time_s": bar.elapsed()}

    def validate(self) -> dict:
        from dataset.loader import DevicePrefetcher
        loader = DevicePrefetcher(self.loader_v, self.device, self.opts.channels_last)
        self.method.set_eval_plan()  # a fixed plan (every op, for densenas): once for the whole split
        return evaluate(self.net, loader, self.device, self.opts.amp, batch_stats=True,
                        wrap=lambda it: self._progress(it, "validation", len(self.loader_v)))

    # -- outputs -------------------------------------------------------------------------------
    # -- main loop -----------------------------------------------------------------------------
    def run(self):
        cfg, sp = self.cfg, self.cfg.search_params
        epochs = cfg.train_params.epochs
        self.log.info(f"search in {self.run_dir}: {epochs} epochs, {self.steps_w} weight / {self.steps_a} arch steps "
                      f"per epoch, device {self.device}, world size {self.info.world_size}, batch "
                      f"{self.batch_size} per process ({self.batch_size * self.info.world_size} in total), "
                      f"{'channels_last' if self.opts.channels_last else 'NCHW'}")
        self.log.info(f"cost: {describe_table(self.cost_table)}, term {cfg.optim.sub_obj.cost_mode} "
                      f"({'on' if cfg.optim.if_sub_obj else 'off'}); method {self.method.describe()}")
        from common.logging_utils import RunClock, format_duration
        self.clock = RunClock(sum(self.steps_w + (self.steps_a if self.method.arch_active(e) else 0)
                                  + (len(self.loader_v) if e >= sp.val_start_epoch else 0)
                                  for e in range(self.start_epoch, epochs)))
        for epoch in range(self.start_epoch, epochs):
            epoch_start = time.monotonic()
            for loader in (self.loader_w, self.loader_a):
                loader.sampler.set_epoch(epoch)
            pos = self.resume_at if self.resume_at and self.resume_at["epoch"] == epoch else None
            if pos is not None and pos["phase"] == "weight":  # the arch pass of this epoch was done
                arch = pos["arch"]
            else:
                arch = self.arch_pass(epoch) if self.method.arch_active(epoch) else None
            self._epoch_arch = arch
            weight = self.weight_pass(epoch)
            val = self.validate() if epoch >= sp.val_start_epoch else None
            self.method.end_epoch(epoch, arch is not None)
            net_config, info = self.derive_epoch()
            diag = self.diagnose(net_config)
            self.write_outputs(epoch, net_config, info, val)
            with torch.no_grad():
                exp = self.method.expected_cost()
                exp_cost = (exp if exp is not None else self.net.expected_cost(self.cost_table)).item()
            epoch_time = time.monotonic() - epoch_start
            rec = {"epoch": epoch, "weight": weight, "arch": arch, "val": val, "derived": info,
                   "net_config": net_config.to_text(),
                   "expected_cost": exp_cost, "diagnostics": diag, "method": self.method.state_dict(),
                   "epoch_time_s": epoch_time}
            self.history.append(rec)
            msg = (f"epoch {epoch}: weights loss {weight['loss']:.3f} top1 {weight['top1']:.1f}% lr {weight['lr']:.4g}"
                   + (f" | arch loss {arch['loss']:.3f} cost {arch['cost']:.3f}" if arch else "")
                   + (f" | val top1 {val['top1']:.1f}% top5 {val['top5']:.1f}%" if val else "")
                   + f" | expected {exp_cost:.3f} {info['cost_units']}, derived {info['macs_m']:.1f}M MACs "
                     f"{info['params_m']:.2f}M params {info['table_cost']:.3f} {info['cost_units']}"
                   + (f" (target {self.target:g}, {info['derive']} derive)" if self.target and "window" not in info else "")
                   + (f" (target {self.target:g}, {info['derive']} derive; window {info['window_table_cost']:.3f}"
                      f"{' (empty window)' if info['window_empty'] else ''}, budget {info['budget_table_cost']:.3f}, "
                      f"argmax {info['argmax_table_cost']:.3f})" if self.target and "window" in info else "")
                   + f" | op entropy {diag['op_entropy_rel']:.2f}, skip {diag['skip_share']:.2f}, depth "
                     f"{diag['depth_blocks']}/{diag['depth_layers']}{', changed' if diag['changed'] else ''}"
                   + (f", {diag['multi_branch_layers']} multi-branch" if diag["multi_branch_layers"] else "")
                   + (f", gate entropy {diag['gate_entropy']:.2f}" if diag.get("gate_entropy") is not None else "")
                   + f" | {format_duration(epoch_time)}")
            self.log.info(msg)
            self.tb.scalar("weight/loss", weight["loss"], epoch)
            self.tb.scalar("weight/top1", weight["top1"], epoch)
            self.tb.scalar("weight/lr", weight["lr"], epoch)
            self.tb.scalar("time/epoch_s", epoch_time, epoch)
            self.tb.scalar("time/weight_images_per_s", weight["images_per_s"], epoch)
            if arch:
                for k, v in arch.items():
                    self.tb.scalar(f"arch/{k}", v, epoch)
            if val:
                for k in ("loss", "top1", "top5"):
                    self.tb.scalar(f"val/{k}", val[k], epoch)
            self.tb.scalar("cost/expected", exp_cost, epoch)
            for k, v in diag.items():
                if v is not None:
                    self.tb.scalar(f"collapse/{k}", float(v), epoch)
            self.tb.scalar("derived/macs_m", info["macs_m"], epoch)
            self.tb.scalar("derived/table_cost", info["table_cost"], epoch)
            if self.target:
                self.tb.scalar("derived/target", self.target, epoch)
            if self.target and "window" in info:
                for k in ("argmax", "budget", "window"):
                    self.tb.scalar(f"derived/{k}_table_cost", info[f"{k}_table_cost"], epoch)
            self.log_arch(epoch, net_config)
            if self.method.round_ends(epoch):
                record = self.end_round(epoch)
                rec["round"] = record["round"]
                if "chosen" in record:  # the last round's pick replaces the epoch's derive
                    chosen = record["chosen"]
                    rec["net_config"], rec["derived"] = chosen["net_config"], chosen["derived"]
                    from models import load_net_config
                    rec["diagnostics"] = self.diagnose(load_net_config(chosen["net_config"]))
            self.ckpt.save(self._state(epoch))
            if self.opts.stop_after and epoch + 1 - self.start_epoch >= self.opts.stop_after and epoch + 1 < epochs:
                self.log.info(f"stopping after epoch {epoch} as asked; continue with --resume {self.run_dir}")
                break
        self.verify_replicas()
        if self.opts.measure_latency and self.info.is_main and self.history:
            self.measure_final()
        skipped = skipped_images(self.loader_w, self.loader_a, self.loader_v)
        if skipped:
            self.log.warning(f"{skipped} unreadable images were skipped (data.skip_corrupt)")
        if self.history:
            last = self.history[-1]
            final = {"final/derived_table_cost": last["derived"]["table_cost"],
                     "final/derived_macs_m": last["derived"]["macs_m"], "final/expected_cost": last["expected_cost"]}
            if last["val"]:
                final["final/val_top1"] = last["val"]["top1"]
            self.tb.hparams(flat_hparams(cfg), final)
        self.tb.close()
        if self.info.is_main:
            from search_space.plot import plot_history
            atomic_write_json(os.path.join(self.run_dir, "history.json"), self.history)
            if self.history:
                plot_history(self.history, os.path.join(self.run_dir, "search.png"), self.cost_table.units,
                             self.cfg.search_params.arch_update_epoch)
        self.log.info(f"done: net_config in {os.path.join(self.run_dir, 'net_config')}")
        return self.run_dir

    def close(self):
        cleanup(self.info)


def run_search(cfg, opts: RunOptions) -> str:
    """Run (or resume) a search; SIGTERM / SIGUSR1 stop it at a step with a step-level checkpoint
    (engine.preemption.Preempted)."""
    from engine.preemption import StopRequest
    run = SearchRun(cfg, opts)
    try:
        with StopRequest() as stop:
            run.stop = stop
            return run.run()
    finally:
        run.close()

