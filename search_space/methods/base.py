"""What every search method provides to the search loop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from common.errors import ConfigError


@dataclass
class StepOutput:
    loss: torch.Tensor               # what the optimizer step minimises
    logits: torch.Tensor             # for the step's accuracy
    ce: Optional[torch.Tensor] = None
    cost: Optional[torch.Tensor] = None


class SearchMethod:
    """One search method over a :class:`search_space.super_network.SuperNetwork`.

    The loop calls, per step, :meth:`weight_step` (weights' loss; arch params frozen) or
    :meth:`arch_step` (arch loss; weights frozen) then, after the optimizer step,
    :meth:`after_arch_step`; per epoch :meth:`end_epoch`. State that must survive a resume goes
    through :meth:`state_dict` (JSON-able)."""

    name = "base"

    def __init__(self, cfg, net, cost_table, forward: Optional[Callable] = None):
        self.cfg, self.net, self.cost_table = cfg, net, cost_table
        self.forward = forward or net
        self.arch_start = cfg.search_params.arch_update_epoch
        self._sizes = None  # parameter counts of the candidates (sandwich rule), computed once

    @classmethod
    def validate(cls, cfg) -> None:
        """Raise ConfigError (naming the key) for settings this method cannot run with."""

    def weight_step(self, x, y, epoch: int) -> StepOutput:
        """The method's own weight step (the ``uniform`` weight-sharing strategy)."""
        raise NotImplementedError

    # -- weight sharing (search_space.weight_sharing) -------------------------------------------
    def op_choices(self) -> List[List[int]]:
        """Op indices a weight step may run, per mixed op (row order of ``net.mixed_ops()``)."""
        return [list(range(len(m.candidates))) for m in self.net.mixed_ops()]

    def set_weight_path(self, path: List[int]) -> None:
        """Plan a weight step on one op per mixed op (row order)."""
        n_head = sum(len(block.head) for block in self.net.blocks)
        head = torch.tensor(path[:n_head], dtype=torch.long).view(-1, 1)
        stack = torch.tensor(path[n_head:], dtype=torch.long).view(-1, 1) if len(path) > n_head else None
        self.net.set_plan("weight", head, stack)

    def set_weight_all(self) -> None:
        """Plan a weight step on every op, weighted by softmax(alpha) (detached): the continuous net."""
        self.net.sample("eval")
        plan = self.net._plan
        self.net.set_plan("weight", plan["head"], plan["stack"])

    def shared_weight_step(self, x, y, epoch: int, step: int) -> StepOutput:
        """The loop's weight step: ``step`` counts weight steps from the start of the run.
        Warm-up, then the configured strategy (``uniform``: the method's own :meth:`weight_step`)."""
        from search_space.weight_sharing import (candidate_sizes, fair_paths, hold_path, route_path,
                                                 sandwich_paths, soft_target_ce, uniform_path)
        keys = self.cfg.search_params.weight_sharing
        if step < keys.warmup_steps:
            self.set_weight_all()
            logits = self.forward(x)
            return StepOutput(self.ce(logits, y), logits)
        if keys.strategy == "uniform":
            return self.weight_step(x, y, epoch)
        choices, g = self.op_choices(), self.net.generator
        if keys.strategy == "single_path":
            if type(self).set_weight_path is not SearchMethod.set_weight_path:
                raise ConfigError(f"search_params.weight_sharing.strategy single_path: not for method {self.name}")
            self.set_weight_path(uniform_path(choices, g))
            held = step // keys.route_hold_steps  # a route path per window of route_hold_steps (pure: resumable)
            self.net.restrict_to_path(route_path(self.net.space, torch.Generator().manual_seed(
                int(self.cfg.train_params.seed) * 1_000_003 + 7 + held)))
            logits = self.forward(x)
            return StepOutput(self.ce(logits, y), logits)
        if keys.strategy == "hold":
            self.set_weight_path(hold_path(choices, self.cfg.train_params.seed, step - keys.warmup_steps,
                                              keys.hold_steps))
            logits = self.forward(x)
            return StepOutput(self.ce(logits, y), logits)
        if keys.strategy == "fair":
            loss, first = None, None
            for path in fair_paths(choices, g):
                self.set_weight_path(path)
                logits = self.forward(x)
                first = logits if first is None else first
                loss = self.ce(logits, y) if loss is None else loss + self.ce(logits, y)
            return StepOutput(loss, first)
        # sandwich: largest on the labels, the others on its soft predictions (distill) or the labels
        if self._sizes is None:
            self._sizes = candidate_sizes(self.net)
        paths = sandwich_paths(choices, self._sizes, keys.sandwich_random, g)
        self.set_weight_path(paths[0])
        teacher = self.forward(x)
        loss, shown = self.ce(teacher, y), teacher
        for i, path in enumerate(paths[1:]):
            self.set_weight_path(path)
            logits = self.forward(x)
            loss = loss + (soft_target_ce(logits, teacher) if keys.distill else self.ce(logits, y))
            shown = logits if i == 1 else shown  # the first random path's accuracy is the one reported
        return StepOutput(loss, shown)

    def arch_step(self, x, y, epoch: int) -> StepOutput:
        raise NotImplementedError

    def after_arch_step(self) -> None:
        """After the arch optimizer step (e.g. a rescale or reset of the alphas)."""

    def end_epoch(self, epoch: int, arch_ran: bool) -> None:
        """After every epoch (e.g. a temperature schedule)."""

    # -- hooks with defaults (NSE's rounds override them) ---------------------------------------
    def arch_active(self, epoch: int) -> bool:
        """Whether ``epoch`` has an architecture pass."""
        return epoch >= self.arch_start

    def schedule_epochs(self, epochs: int) -> int:
        """Epochs the weights' lr schedule spans (restarted after :meth:`round_ends` epochs)."""
        return epochs

    def arch_adam_betas(self):
        return tuple(float(b) for b in self.cfg.optim.arch.betas)

    def set_eval_plan(self) -> None:
        """The super network's plan for evaluation passes (densenas, tfnas: every op)."""
        self.net.sample("eval")

    def derive(self):
        """The epoch's net_config when the method derives its own way, else None (the loop's derive)."""
        return None

    def expected_cost(self):
        """Expected cost for logging: None means the super network's all-ops expected cost."""
        return None

    def diagnostics(self) -> dict:
        """Method-specific collapse diagnostics merged into the epoch's (numbers or None)."""
        return {}

    def round_ends(self, epoch: int) -> bool:
        """Whether a search-space round ends after ``epoch`` (the loop then evolves the space)."""
        return False

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def describe(self) -> str:
        return self.name

    @staticmethod
    def ce(logits, y):
        return torch.nn.functional.cross_entropy(logits.float(), y)
