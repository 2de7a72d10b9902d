"""The paper's method (Fang et al., CVPR 2020), as the original release computes it.

* weight steps: ``weight_sample_num`` ops per mixed op, uniform before ``arch_update_epoch``,
  then from softmax(alpha) (``sample_policy``);
* arch steps: ``arch_sample_num`` ops kept per mixed op (drawn from softmax(alpha), without
  replacement), weighted by softmax over the kept alphas; routes softmax(beta / softmax_temp);
  loss = CE + the cost term (the paper's log term, or a target term), cost of the sampled network
  (``cost_mode``); after the step the kept alphas are rescaled so unkept ops keep their probability.
"""
from __future__ import annotations

from search_space.chained_cost import cost_loss, target_loss
from search_space.methods.base import SearchMethod, StepOutput


def cost_term(cfg, cost):
    """The configured cost term of an arch step (``optim.sub_obj``)."""
    sub = cfg.optim.sub_obj
    if not cfg.optim.if_sub_obj:
        return None
    if sub.target_mode != "none":
        return target_loss(cost, sub.target, sub.target_mode, sub.target_weight)
    return cost_loss(cost, sub.log_base, sub.sub_loss_factor)


class DenseNAS(SearchMethod):
    name = "densenas"

    def weight_step(self, x, y, epoch):
        self.net.sample("weight", uniform=epoch < self.arch_start)
        logits = self.forward(x)
        return StepOutput(self.ce(logits, y), logits)

    def arch_step(self, x, y, epoch):
        net = self.net
        net.sample("arch")
        self._snapshot = net.snapshot_alphas()
        logits = self.forward(x)
        ce = self.ce(logits, y)
        cost = (net.sampled_cost(self.cost_table) if self.cfg.optim.sub_obj.cost_mode == "sampled"
                else net.expected_cost(self.cost_table))
        term = cost_term(self.cfg, cost)
        return StepOutput(ce if term is None else ce + term, logits, ce, cost)

    def after_arch_step(self):
        self.net.rescale_after_arch_step(self._snapshot)
