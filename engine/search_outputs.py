"""What a search writes and logs per epoch: the derived net (paper or target derive), its
description and collapse diagnostics, run-folder outputs and pictures, TensorBoard images, the
final latency measurement and the cross-rank check. A mixin of :class:`engine.search_loop.SearchRun`."""
from __future__ import annotations

import os
from typing import Optional

import torch

from common.errors import InputError
from common.io import atomic_write_json, atomic_write_text


def _arch_state(net) -> dict:
    return {"betas": [b.detach().cpu().tolist() for b in net.betas],
            "head_alphas": [a.detach().cpu().tolist() for a in net.head_alphas],
            "stack_alphas": [a.detach().cpu().tolist() for a in net.stack_alphas],
            "route_probs": [torch.softmax(b.detach().cpu(), -1).tolist() for b in net.betas],
            "head_ops": list(net.space.head_ops), "stack_ops": list(net.space.stack_ops),
            "out_routes": [list(r) for r in net.space.out_routes]}


def derive_at_target(space, cost_table, probs, argmax, target: float, sub_obj, describe):
    """A search's derive at ``target`` (> 0) from its architecture probabilities: the net that
    ``sub_obj.target_derive`` picks (``window``: the best in [target * (1 - target_tolerance),
    target], or the best within the target when that window is empty; ``budget``: the best within
    the target; ``argmax``: the paper's) and its description with the costs of all three. Pure: a
    finished search re-derived at another target gets what its own run would have written."""
    from search_space.budget import best_within, pareto_fronts
    from search_space.cost_window import best_in_window, window_bounds
    from search_space.derive import lut_cost
    within = best_within(pareto_fronts(space, cost_table, probs), target)[0]
    lo, hi = window_bounds(target, sub_obj.target_tolerance)
    try:
        window = best_in_window(space, cost_table, probs, lo, hi).choice
    except InputError:  # no architecture in the window: the best within the target
        window = None
    picks = {"budget": within.net_config, "argmax": argmax, "window": (window or within).net_config}
    chosen = picks[sub_obj.target_derive]
    info = describe(chosen)
    costs = {k: lut_cost(space, cost_table, v) for k, v in picks.items()}
    info.update(target=target, derive=sub_obj.target_derive, window=[lo, hi], window_empty=window is None,
                argmax_table_cost=costs["argmax"], budget_table_cost=costs["budget"],
                window_table_cost=costs["window"],
                log_scores={"budget": within.log_score, "window": (window or within).log_score})
    return chosen, info


class SearchOutputs:
    """Per-epoch derive and outputs of a search run (needs ``net``, ``space``, ``cfg``,
    ``cost_table``, ``target``, ``history``, ``topk``, ``run_dir``, ``info``, ``tb``, ``log``)."""

    def derive_epoch(self):
        """The epoch's net_config and its description. With a target, ``target_derive`` picks:
        ``window`` the best architecture with cost in [target * (1 - tolerance), target]
        (search_space.cost_window; the best within the target when that window is empty),
        ``budget`` the best within the target (search_space.budget), ``argmax`` the paper's
        derive. The costs of all three are described next to each other."""
        own = self.method.derive()
        if own is not None:  # the method's own derive (nse: Viterbi routes, gates > 0.5)
            info = self.describe(own)
            info.update(derive=self.method.name)
            if self.target:
                info["target"] = self.target
            return own, info
        from search_space import derive
        from search_space.budget import ArchProbs
        argmax = derive(self.net)
        if self.target <= 0:
            return argmax, self.describe(argmax)
        return derive_at_target(self.space, self.cost_table, ArchProbs.from_supernet(self.net), argmax, self.target,
                                self.cfg.optim.sub_obj, self.describe)

    def diagnose(self, net_config) -> dict:
        """Collapse diagnostics of this epoch (search_space.diagnostics): op entropy, skip share and
        depth of the derived net, and whether it changed since the last epoch."""
        from search_space.diagnostics import collapse_stats
        prev = self.history[-1]["net_config"] if self.history and "net_config" in self.history[-1] else None
        return dict(collapse_stats(self.space, self.net.head_alphas, self.net.stack_alphas, net_config, prev),
                    **self.method.diagnostics())

    def describe(self, net_config) -> dict:
        from engine.derive_run import describe_net
        return describe_net(net_config, self.space, self.cost_table, self.cfg.data.input_size)

    def write_outputs(self, epoch: int, net_config, info: dict, val: Optional[dict]):
        if not self.info.is_main:
            return
        from models.plot import plot_net_config
        rd = self.run_dir
        atomic_write_text(os.path.join(rd, "net_config"), net_config.to_text())
        if self.method.name != "nse":  # nse's net_config is its round's Pareto pick, written at the round's end
            from engine.derive_run import inherit_scorer, write_inherited
            if not hasattr(self, "_inherit_scorer"):  # built once: the recalibration batches of every epoch's write
                self._inherit_scorer = inherit_scorer(self.cfg, self.data_root,
                                                      int(self.cfg.search_params.inherited_bn_recal_batches), self.device)
            # inherited_weights.pt: the super network's weights on this net, BN recalibrated on it
            info.update(write_inherited(rd, self.net, net_config, self._inherit_scorer))
        atomic_write_json(os.path.join(rd, "arch_params.json"), dict(_arch_state(self.net), epoch=epoch))
        atomic_write_json(os.path.join(rd, "derived.json"), dict(info, epoch=epoch))
        plot_net_config(net_config, os.path.join(rd, "arch.png"),
                        f"epoch {epoch}: {info['macs_m']:.1f}M MACs, {info['table_cost']:.2f} {info['cost_units']}")
        from search_space.derive import derive_path
        from search_space.plot import plot_routes
        probs = [torch.softmax(b.detach().float().cpu(), -1).tolist() for b in self.net.betas]
        plot_routes(self.space, probs, derive_path(self.space, probs), os.path.join(rd, "routes.png"))
        if val is not None:
            entry = {"epoch": epoch, "top1": val["top1"], "net_config": net_config.to_text(), **info}
            keep = self.cfg.train_params.topk_archs
            self.topk = sorted(self.topk + [entry], key=lambda e: -e["top1"])[:keep]
            for rank, e in enumerate(self.topk, start=1):
                folder = os.path.join(rd, "topk", str(rank))
                atomic_write_text(os.path.join(folder, "net_config"), e["net_config"])
                atomic_write_json(os.path.join(folder, "info.json"), {k: v for k, v in e.items() if k != "net_config"})
            atomic_write_json(os.path.join(rd, "topk", "summary.json"),
                              [{k: v for k, v in e.items() if k != "net_config"} for e in self.topk])

    def log_arch(self, epoch: int, net_config):
        """TensorBoard: per-block route and op probabilities as images, the derived net_config as
        text, and the mean op probabilities as scalars."""
        if self.tb.writer is None:
            return
        from search_space.plot import op_probs_figure, routes_figure
        from search_space.derive import derive_path
        with torch.no_grad():
            routes = [torch.softmax(b.detach().float().cpu(), -1).tolist() for b in self.net.betas]
            head = [torch.softmax(a.detach().float().cpu(), -1) for a in self.net.head_alphas]
            stack = [torch.softmax(a.detach().float().cpu(), -1) for a in self.net.stack_alphas]
        self.tb.figure("arch/routes", routes_figure(self.space, routes, derive_path(self.space, routes)), epoch)
        self.tb.figure("arch/op_probabilities", op_probs_figure(self.space, head, stack), epoch)
        self.tb.text("derived/net_config", "    " + net_config.to_text().replace("\n", "\n    "), epoch)
        mean_head = torch.cat(head).mean(0)
        for i, op in enumerate(self.space.head_ops):
            self.tb.scalar(f"arch_mean/head_{op}", mean_head[i].item(), epoch)
        if any(a.shape[0] for a in stack):
            mean_stack = torch.cat([a for a in stack if a.shape[0]]).mean(0)
            for i, op in enumerate(self.space.stack_ops):
                self.tb.scalar(f"arch_mean/stack_{op}", mean_stack[i].item(), epoch)

    def measure_final(self):
        """Time the last derived network on the table's device; log it next to the table estimate."""
        from models import load_net_config
        from latency.measure import measure_on_table_device
        info = self.history[-1]["derived"]
        m = measure_on_table_device(load_net_config(self.run_dir), self.cost_table, self.space.num_classes)
        info.update(m)
        atomic_write_json(os.path.join(self.run_dir, "derived.json"), dict(info, epoch=self.history[-1]["epoch"]))
        self.log.info(f"derived network measured on {m['measured_on']} (batch {m['measured_batch']}, "
                      f"{m['measured_input_size']} px; {m['measured_how']}): {m['measured_ms']:.3f} ms"
                      + (f" (runs {', '.join(f'{v:.3f}' for v in m['measured_ms_runs'])})" if "measured_ms_runs" in m else "")
                      + f", table {info['table_cost']:.3f} ms")

    def verify_replicas(self):
        """Multi-process runs: check every rank ended with rank 0's architecture parameters."""
        if not self.info.enabled:
            return
        import torch.distributed as dist
        flat = torch.cat([p.detach().reshape(-1) for p in self.net.arch_parameters()])
        ref = flat.clone()
        dist.broadcast(ref, 0)
        diff = torch.tensor([(flat - ref).abs().max().item()], dtype=torch.float64, device=flat.device)
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        self.log.info(f"arch params across {self.info.world_size} ranks: max difference {diff.item():.3g}")
