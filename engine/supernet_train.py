"""Weight steps only: a super network trained under a weight-sharing strategy for a budget of steps,
its arch params left at their init (``tools.supernet.benchmark``).

The steps are the search's weight steps (``SearchMethod.shared_weight_step``: the strategy of
``search_params.weight_sharing``), on ``search_train`` with the search's batch, SGD and a cosine
schedule over the budget. Every ``eval_every`` steps a curve point: train top-1 of the sampled
paths over the steps since the last point, and the mean one-shot val top-1 of a fixed probe set of
paths (``engine.supernet_rank.OneShotScorer``); training wall time excludes the evaluations. At
``rank_at`` steps, a callback scores whatever it wants (the ranking set) on the super network.
A checkpoint after each point (atomic) lets a stopped run continue from there.
"""
from __future__ import annotations

import os
import time
from typing import Callable, List, Optional, Sequence

import torch

from common.errors import InputError
from common.io import atomic_torch_save, load_file
from engine.checkpoint import rng_state, set_rng_state
from engine.metrics import Meter, topk_correct


class SupernetTrainer:
    def __init__(self, cfg, root: str, folder: str, steps: int, eval_every: int, probe_nets: Sequence[str],
                 scorer, device: str = "cpu", log: Callable[[str], None] = print):
        from dataset.loader import build_dataset, build_loader
        from engine.schedule import build_lr_scheduler
        from engine.search_cost import load_cost_for_search
        from search_space import build_super_network, space_from_config
        from search_space.methods import build_method
        self.cfg, self.folder, self.steps, self.eval_every = cfg, folder, steps, eval_every
        self.probe_nets, self.scorer, self.log = list(probe_nets), scorer, log
        self.dev = torch.device(device)
        seed = cfg.train_params.seed
        torch.manual_seed(seed)
        self.net = build_super_network(cfg).to(self.dev)
        self.method = build_method(cfg, self.net, load_cost_for_search(cfg, space_from_config(cfg)))
        for p in self.net.arch_parameters():
            p.requires_grad_(False)
        self.loader = build_loader(build_dataset(root, "search_train", cfg, train=True), cfg.data.batch_size, True,
                                   cfg.data.num_workers, self.dev, seed=seed, drop_last=True)
        w = cfg.optim.weight
        self.opt = torch.optim.SGD(self.net.weight_parameters(), lr=w.init_lr, momentum=w.momentum,
                                   weight_decay=w.weight_decay)
        self.sched = build_lr_scheduler(self.opt, steps, w.min_lr, w.lr_decay_type)
        self.step, self.train_s, self.curve, self.rankings = 0, 0.0, [], []
        self._load()

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.folder, "supernet.pt")

    def _load(self) -> None:
        if not os.path.isfile(self.ckpt_path):
            return
        try:
            state = load_file(self.ckpt_path)
        except InputError as e:  # damaged (a disk fault, a hand): never resumed from; the run starts over
            os.replace(self.ckpt_path, self.ckpt_path + ".damaged")
            self.log(f"warning: {e}; set aside as {os.path.basename(self.ckpt_path)}.damaged, training from step 0")
            return
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        set_rng_state(state["rng"], [self.net.generator])
        self.step, self.train_s = int(state["step"]), float(state["train_s"])
        self.curve, self.rankings = list(state["curve"]), list(state["rankings"])
        self.log(f"resumed at step {self.step} from {self.ckpt_path}")

    def _save(self) -> None:
        atomic_torch_save({"model": self.net.state_dict(), "opt": self.opt.state_dict(),
                           "sched": self.sched.state_dict(), "rng": rng_state([self.net.generator]),
                           "step": self.step, "train_s": self.train_s, "curve": self.curve,
                           "rankings": self.rankings}, self.ckpt_path)

    def _batches(self):
        """Endless (x, y) batches from the current step on (epochs of the loader; resumable)."""
        from dataset.loader import DevicePrefetcher
        per_epoch = len(self.loader)
        epoch, skip = divmod(self.step, per_epoch)
        while True:
            self.loader.sampler.set_epoch(epoch)
            self.loader.sampler.skip = skip * self.loader.batch_size
            yield from DevicePrefetcher(self.loader, self.dev)
            epoch, skip = epoch + 1, 0

    def probe(self) -> Optional[float]:
        if not self.probe_nets:
            return None
        return sum(self.scorer(self.net, nc) for nc in self.probe_nets) / len(self.probe_nets)

    def run(self, rank_at: Sequence[int] = (), rank: Optional[Callable] = None) -> dict:
        """Train to the budget (from a checkpoint when there is one); returns the curve and the
        results of ``rank(net)`` at each step of ``rank_at``."""
        rank_at = sorted(set(int(s) for s in rank_at if 0 < s <= self.steps))
        meter, batches = Meter(), self._batches()
        self.net.train()
        while self.step < self.steps:
            x, y = next(batches)
            t0 = time.perf_counter()
            out = self.method.shared_weight_step(x, y, 0, self.step)
            self.opt.zero_grad(set_to_none=True)
            out.loss.backward()
            self.opt.step()
            self.sched.step()
            self.train_s += time.perf_counter() - t0
            c1, _ = topk_correct(out.logits, y)
            meter.update(x.shape[0], loss=out.loss.item() * x.shape[0], top1=c1)
            self.step += 1
            if self.step % self.eval_every == 0 or self.step == self.steps:
                point = {"step": self.step, "train_s": self.train_s, "train_top1": 100 * meter.avg("top1"),
                         "train_loss": meter.avg("loss"), "lr": self.opt.param_groups[0]["lr"],
                         "probe_one_shot_top1": self.probe()}
                meter = Meter()
                self.curve.append(point)
                probe = point["probe_one_shot_top1"]
                self.log(f"step {self.step}/{self.steps}: sampled-path train top-1 {point['train_top1']:.1f}%"
                         + (f", probe one-shot {probe:.1f}%" if probe is not None else "")
                         + f" | {self.train_s:.0f} s training")
                if rank is not None and self.step in rank_at and all(r["step"] != self.step for r in self.rankings):
                    self.rankings.append(dict(rank(self.net), step=self.step, train_s=self.train_s))
                self.net.train()
                self._save()
        return {"curve": self.curve, "rankings": self.rankings}


def eval_points(steps: int, every: int) -> List[int]:
    return sorted(set(list(range(every, steps + 1, every)) + [steps]))
