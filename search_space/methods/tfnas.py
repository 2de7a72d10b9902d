"""TF-NAS's operation-level ideas (Hu et al., ECCV 2020; AberHu/TF-NAS ``train_search.py``,
``models/model_search.py``) on the dense routing space, against operation collapse.

* weight steps after warm-up -- **bi-sampling**: the batch goes through two paths, path 1 with
  one op per mixed op drawn from softmax(alpha) (a categorical / Gumbel-argmax sample), path 2
  with a uniformly random op *different from path 1's*; loss = CE(path 1) + CE(path 2), one
  backward. During warm-up (``arch_update_epoch``): one uniformly sampled path;
* arch steps: every op runs, mixed by Gumbel-softmax weights softmax((log_softmax(alpha) + g) / T),
  no straight-through; routes keep DenseNAS's softmax(beta / softmax_temp) (TF-NAS's
  sink-connecting stages have no counterpart in a dense routing space); cost = chained cost under
  those weights; loss = CE + latency_weight * |cost / target - 1|; after the step
  alpha <- log_softmax(alpha);
* T starts at ``tau_start`` and is multiplied by ``tau_decay`` after each epoch with arch steps.
Keys: ``search_params.tfnas.{tau_start, tau_decay, latency_weight}``; ``optim.sub_obj.target`` required.
"""
from __future__ import annotations

import torch

from common.errors import ConfigError
from search_space.methods.base import SearchMethod, StepOutput
from search_space.super_network import _rows


class TFNAS(SearchMethod):
    name = "tfnas"

    def __init__(self, cfg, net, cost_table, forward=None):
        super().__init__(cfg, net, cost_table, forward)
        self.keys = cfg.search_params.tfnas
        self.tau = float(self.keys.tau_start)

    @classmethod
    def validate(cls, cfg):
        k = cfg.search_params.tfnas
        if k.tau_start <= 0:
            raise ConfigError(f"config key 'search_params.tfnas.tau_start': must be > 0, got {k.tau_start}")
        if not 0 < k.tau_decay <= 1:
            raise ConfigError(f"config key 'search_params.tfnas.tau_decay': must be in (0, 1], got {k.tau_decay}")
        if k.latency_weight < 0:
            raise ConfigError(f"config key 'search_params.tfnas.latency_weight': must be >= 0, got {k.latency_weight}")
        if cfg.optim.sub_obj.target <= 0:
            raise ConfigError("config key 'optim.sub_obj.target': search_params.method tfnas needs a cost target "
                              "> 0 (its loss is latency_weight * |cost / target - 1|)")

    # -- weight steps ---------------------------------------------------------------------------
    def bi_sample(self):
        """(path 1, path 2) kept-op indices per kind: path 1 from softmax(alpha), path 2 uniform
        among the other ops of each mixed op."""
        g = self.net.generator
        paths = []
        for alphas in (_rows(self.net.head_alphas), _rows(self.net.stack_alphas)):
            if alphas is None:
                paths.append((None, None))
                continue
            probs = torch.softmax(alphas.detach().float().cpu(), dim=-1)
            first = torch.multinomial(probs, 1, generator=g)
            other = torch.randint(0, alphas.shape[1] - 1, first.shape, generator=g)
            second = other + (other >= first).long()  # uniform over the ops != first
            paths.append((first, second))
        (h1, h2), (s1, s2) = paths
        return (h1, s1), (h2, s2)

    def weight_step(self, x, y, epoch):
        if epoch < self.arch_start:
            self.net.sample("weight", uniform=True)
            logits = self.forward(x)
            return StepOutput(self.ce(logits, y), logits)
        (h1, s1), (h2, s2) = self.bi_sample()
        self.net.set_plan("weight", h1, s1)
        logits = self.forward(x)
        loss = self.ce(logits, y)
        self.net.set_plan("weight", h2, s2)
        loss = loss + self.ce(self.forward(x), y)
        return StepOutput(loss, logits)

    # -- arch steps -----------------------------------------------------------------------------
    def gumbel_weights(self, alphas: torch.Tensor) -> torch.Tensor:
        """softmax((log_softmax(alpha) + g) / T), g ~ Gumbel(0, 1) from the net's generator."""
        u = torch.rand(alphas.shape, generator=self.net.generator).clamp_(1e-10, 1 - 1e-10).to(alphas.device)
        g = -torch.log(-torch.log(u))
        return torch.softmax((torch.log_softmax(alphas, dim=-1) + g) / self.tau, dim=-1)

    def arch_step(self, x, y, epoch):
        net = self.net
        head, stack = _rows(net.head_alphas), _rows(net.stack_alphas)
        hw = self.gumbel_weights(head)
        sw = self.gumbel_weights(stack) if stack is not None else None
        every = lambda a: None if a is None else torch.arange(a.shape[1]).expand(a.shape[0], -1).clone()  # noqa: E731
        net.set_plan("arch", every(head), every(stack), hw, sw)
        logits = self.forward(x)
        ce = self.ce(logits, y)
        cost = net.weighted_cost(self.cost_table, hw, sw)
        target = self.cfg.optim.sub_obj.target
        loss = ce + self.keys.latency_weight * (cost / target - 1).abs() if self.cfg.optim.if_sub_obj else ce
        return StepOutput(loss, logits, ce, cost)

    @torch.no_grad()
    def after_arch_step(self):
        for p in list(self.net.head_alphas) + list(self.net.stack_alphas):
            if p.numel():
                p.copy_(torch.log_softmax(p, dim=-1))

    def end_epoch(self, epoch, arch_ran):
        if arch_ran:
            self.tau *= float(self.keys.tau_decay)

    def state_dict(self):
        return {"tau": self.tau}

    def load_state_dict(self, state):
        self.tau = float(state["tau"])

    def describe(self):
        return f"tfnas (T {self.tau:.3f})"
