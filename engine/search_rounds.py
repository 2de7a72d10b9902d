"""Search-space rounds (method ``nse``): at the end of a round, sample architectures in the cost
window from the gates, evaluate each one-shot (the super network's weights on its path, BN
recalibrated, search_space.subnet), take the Pareto front of (table cost, accuracy), let the
method keep the ops the front uses and refill, then re-initialise the weights (unless
``inherit_weights``) and restart the optimizers. Outputs: ``rounds/<r>.json`` per round; after
the last, ``pareto/<i>/net_config``, ``pareto.json``, ``pareto.png`` and the front's net closest to
the target as ``net_config``. A mixin of :class:`engine.search_loop.SearchRun`.
"""
from __future__ import annotations

import math
import os

import torch

from common.io import atomic_write_json, atomic_write_text


class SearchRounds:
    """Needs ``net``, ``method``, ``cfg``, ``space``, ``cost_table``, ``target``, ``device``,
    ``loader_w``, ``loader_v``, ``batch_size``, ``run_dir``, ``info``, ``log``, ``opts``."""

    def _eval_batches(self):
        """(calibration batches, evaluation batches), fixed for every architecture of a round:
        ``recal_batches`` batches of the weight split (a fixed shuffle) and ``eval_images`` images
        of the held-out split (a fixed random subset)."""
        from dataset.loader import DevicePrefetcher, build_loader
        keys = self.cfg.search_params.nse
        # Not sharded by rank: every process evaluates the same nets on the same images, so all
        # ranks keep the same space.
        seed = self.cfg.train_params.seed
        train = build_loader(self.loader_w.dataset, self.batch_size, True, 0, self.device, seed=seed, drop_last=True)
        train.sampler.set_epoch(0)
        recal = []
        for x, y in DevicePrefetcher(train, self.device, self.opts.channels_last):
            if len(recal) >= keys.recal_batches:
                break
            recal.append((x, y))
        from torch.utils.data import Subset
        ds = self.loader_v.dataset
        # a fixed random subset: split lists are sorted by class, a prefix would hold few classes
        pick = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:keys.eval_images]
        val = build_loader(Subset(ds, sorted(pick.tolist())), self.batch_size, False, 0, self.device)
        evals = list(DevicePrefetcher(val, self.device, self.opts.channels_last))
        return recal, evals

    @torch.no_grad()
    def _one_shot_top1(self, net_config, recal, evals) -> float:
        from search_space.subnet import extract_subnet, recalibrate_bn
        sub = extract_subnet(self.net, net_config).to(self.device)
        if self.opts.channels_last:
            sub = sub.to(memory_format=torch.channels_last)
        recalibrate_bn(sub, recal)
        correct = total = 0
        for x, y in evals:
            correct += (sub(x).argmax(1) == y).sum().item()
            total += y.shape[0]
        return 100.0 * correct / max(1, total)

    def sample_in_window(self):
        """Up to ``arch_samples`` distinct architectures from the gates with table cost in the
        target's window (all costs without a target); at most 50 draws per wanted architecture."""
        from search_space.cost_window import window_bounds
        from search_space.derive import lut_cost
        keys = self.cfg.search_params.nse
        lo, hi = (window_bounds(self.target, self.cfg.optim.sub_obj.target_tolerance) if self.target
                  else (-math.inf, math.inf))
        g = torch.Generator().manual_seed(self.cfg.train_params.seed * 1009 + self.method.round)
        seen, out, draws = set(), [], 0
        while len(out) < keys.arch_samples and draws < 50 * keys.arch_samples:
            draws += 1
            path, combos = self.method.sample_architecture(g)
            nc = self.method.net_config_of_sample(path, combos)
            text = nc.to_text()
            if text in seen:
                continue
            seen.add(text)
            cost = lut_cost(self.space, self.cost_table, nc)
            if lo <= cost <= hi:
                out.append({"net_config": nc, "text": text, "cost": cost, "combos": combos})
        return out, draws, (lo, hi)

    def end_round(self, epoch: int) -> dict:
        from search_space.methods.nse_parts import pareto_front
        from common.logging_utils import progress
        method = self.method
        r = method.round
        archs, draws, window = self.sample_in_window()
        if not archs:
            self.log.warning(f"round {r}: no architecture in the cost window {window[0]:.4g}-{window[1]:.4g} after "
                             f"{draws} draws; the space is kept as it is")
        recal, evals = self._eval_batches()
        bar = progress(archs, f"round {r} one-shot", total=len(archs), enabled=self.info.is_main and not self.opts.quiet,
                       interval=max(1, len(archs) // 10), emit=self.log.info, unit="nets")
        for a in bar:
            a["top1"] = self._one_shot_top1(a["net_config"], recal, evals)
        front = pareto_front([a["cost"] for a in archs], [a["top1"] for a in archs])
        last = method.is_last_round()
        record = method.end_round([archs[i]["combos"] for i in front])
        record.update(epoch=epoch, draws=draws, window=list(window), samples=len(archs),
                      front=[{"cost": archs[i]["cost"], "top1": archs[i]["top1"], "net_config": archs[i]["text"]}
                             for i in front],
                      points=[[a["cost"], a["top1"]] for a in archs])
        kept = sum(len(row["kept"]) for row in record["rows"])
        self.log.info(f"round {r} ends: {len(archs)} architectures in the window ({draws} draws), Pareto front of "
                      f"{len(front)}; {kept} ops kept over {len(record['rows'])} layers"
                      + ("" if last else "; next round's subsets refilled from the pools"))
        if self.info.is_main:
            atomic_write_json(os.path.join(self.run_dir, "rounds", f"{r}.json"), record)
        if last and record["front"]:
            record["chosen"] = self.write_pareto(record)
        if not last:
            self.restart_round()
        return record

    def write_pareto(self, record: dict):
        """``pareto/<i>/net_config`` (by ascending cost), ``pareto.json``, ``pareto.png``, and the
        front's net closest to the target (the most accurate without a target) as ``net_config``."""
        from models import load_net_config
        front = record["front"]
        if self.target:
            best = min(range(len(front)), key=lambda i: (abs(front[i]["cost"] - self.target), -front[i]["top1"]))
        else:
            best = max(range(len(front)), key=lambda i: front[i]["top1"])
        info = dict(self.describe(load_net_config(front[best]["net_config"])), derive="nse pareto",
                    one_shot_top1=front[best]["top1"], epoch=record["epoch"])
        if self.target:
            info["target"] = self.target
        chosen = {"net_config": front[best]["net_config"], "derived": info, "index": best}
        if not self.info.is_main:
            return chosen
        for i, e in enumerate(front):
            atomic_write_text(os.path.join(self.run_dir, "pareto", str(i), "net_config"), e["net_config"])
        atomic_write_text(os.path.join(self.run_dir, "net_config"), front[best]["net_config"])
        atomic_write_json(os.path.join(self.run_dir, "derived.json"), info)
        atomic_write_json(os.path.join(self.run_dir, "pareto.json"),
                          {"front": front, "chosen": best, "target": self.target, "units": self.cost_table.units,
                           "window": record["window"], "points": record["points"]})
        from search_space.plot import plot_one_shot_front
        plot_one_shot_front(record["points"], [(e["cost"], e["top1"]) for e in front], best, self.target,
                    self.cost_table.units, os.path.join(self.run_dir, "pareto.png"))
        self.log.info(f"Pareto front: {len(front)} nets in {os.path.join(self.run_dir, 'pareto')}; net_config = "
                      f"front net {best} ({front[best]['cost']:.3f} {self.cost_table.units}, one-shot top1 "
                      f"{front[best]['top1']:.1f}%)")
        return chosen

    def restart_round(self):
        """New round: fresh weights (as a new run's, seeded by round) unless ``inherit_weights``;
        betas re-initialised with them; new optimizers and lr schedule."""
        keys = self.cfg.search_params.nse
        if not keys.inherit_weights:
            from search_space import build_super_network
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.cfg.train_params.seed + 7919 * self.method.round)
                fresh = build_super_network(self.cfg).state_dict()
            arch = {n for n, _ in self.net.named_parameters() if n.startswith(("head_alphas", "stack_alphas"))}
            own = self.net.state_dict()
            with torch.no_grad():
                for name, value in fresh.items():
                    if name not in arch:
                        own[name].copy_(value)
        self.build_optimizers()
