"""Running averages and top-k accuracy."""
from __future__ import annotations

import torch


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)):
    maxk = min(max(ks), logits.shape[1])
    pred = logits.topk(maxk, dim=1).indices
    hit = pred.eq(target.view(-1, 1))
    return [hit[:, :min(k, maxk)].any(dim=1).sum().item() for k in ks]


class Meter:
    """Sums of named quantities over samples; ``avg`` per sample."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def update(self, n: int, **values):
        self.count += n
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)

    def avg(self, key: str) -> float:
        return self.sums.get(key, 0.0) / max(1, self.count)

    def reduce(self, device) -> "Meter":
        """Sum over ranks (no-op when not distributed)."""
        from engine.distributed import all_reduce_sum
        keys = sorted(self.sums)
        vals = all_reduce_sum([self.sums[k] for k in keys] + [self.count], device)
        out = Meter()
        out.sums, out.count = dict(zip(keys, vals[:-1])), int(vals[-1])
        return out


class frozen_batch_stats:
    """BN layers normalise with batch statistics but leave their running statistics unchanged
    (momentum 0). Used to evaluate a super network, whose running statistics were gathered on
    single sampled paths and do not describe the all-ops mixture."""

    def __init__(self, model):
        self.bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]

    def __enter__(self):
        self.saved = [m.momentum for m in self.bns]
        for m in self.bns:
            m.momentum = 0.0

    def __exit__(self, *_):
        for m, mom in zip(self.bns, self.saved):
            m.momentum = mom


@torch.no_grad()
def evaluate(model, loader, device, amp: bool = False, max_steps: int = 0, batch_stats: bool = False,
             wrap=None) -> dict:
    """Loss, top-1 and top-5 (%) over a loader of normalised batches. ``batch_stats``: normalise
    with batch statistics (see :class:`frozen_batch_stats`) instead of running statistics.
    ``wrap(loader)``: e.g. a progress reporter around the batches."""
    import contextlib
    from common.device import autocast
    was_training = model.training
    model.train(batch_stats)
    meter = Meter()
    with frozen_batch_stats(model) if batch_stats else contextlib.nullcontext():
        batches = wrap(loader) if wrap is not None else loader
        for step, (x, y) in enumerate(batches):
            if max_steps and step >= max_steps:
                break
            with autocast(device, amp):
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            c1, c5 = topk_correct(logits, y)
            meter.update(x.shape[0], loss=loss.item(), top1=c1, top5=c5)
            if hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=meter.avg("loss"), top1=100 * meter.avg("top1"))
    meter = meter.reduce(device)
    model.train(was_training)
    return {"loss": meter.avg("loss"), "top1": 100 * meter.avg("top1"), "top5": 100 * meter.avg("top5"),
            "count": meter.count}
