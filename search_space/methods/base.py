"""What every search method provides to the search loop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch


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

    @classmethod
    def validate(cls, cfg) -> None:
        """Raise ConfigError (naming the key) for settings this method cannot run with."""

    def weight_step(self, x, y, epoch: int) -> StepOutput:
        raise NotImplementedError

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
