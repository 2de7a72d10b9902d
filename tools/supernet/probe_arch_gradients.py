r"""Diagnostic: why do a search's architecture parameters hardly move?

    python -m tools.supernet.probe_arch_gradients --load_path runs/search-<time> --data_path data/fashion_mnist \
        --batches 40 --out runs/arch_gradients.json

On a finished search (its ``checkpoint.pt``: the super network and the architecture parameters of
the last epoch) --batches arch steps are taken *without* updating anything: each draws its kept ops
and batch as the search's arch pass does (``SearchMethod.arch_step``, train-mode BN, search_val
with the evaluation transforms), and the gradient of each loss term -- cross-entropy, cost term --
with respect to every alpha and beta is recorded. Per parameter group it reports

* the gradient's **signal fraction** ``|mean| / rms`` over the steps: 1 for a gradient that points
  the same way every step; beside it the same figure with each step's gradient sign-flipped at
  random (``noise``: what pure noise of that size and sparsity gives). Adam moves a parameter by about
  ``lr`` times the steady share of its gradient per step (the **excess**: sqrt(fraction^2 - 1/n),
  what is left of the fraction once noise's 1/n is taken out), so
* the **expected drift** over the search's arch steps, ``lr * steps * excess``, and a pure random
  walk's ``lr * sqrt(steps)``, beside
* the **measured drift** ``|final - initial|`` (the initial parameters rebuilt from the run's seed,
  as the search built them) and the Adam bound ``lr * steps``;
* which term carries the signal: the mean gradient of cross-entropy and of the cost term.

Read-only: the run folder is not written.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, recorded_path  # noqa: E402
from tools.supernet.search_probe import add_search_arguments  # noqa: E402

GROUPS = ("head_alphas", "stack_alphas", "betas")


def median_or_zero(xs) -> float:
    return statistics.median(xs) if xs else 0.0


def gradient_stats(grads) -> dict:
    """``grads``: [steps, params] tensor of one term's gradients. Per parameter |mean| and rms over
    the steps (zeros included: an op not kept in a step gets no gradient, as Adam sees it)."""
    mean = grads.mean(0)
    rms = grads.pow(2).mean(0).sqrt()
    return {"abs_mean": mean.abs(), "rms": rms}


def excess_fractions(grads) -> list:
    """Per parameter, the steady part of the gradient as a share of its rms: sqrt(f^2 - 1/n), 0 where
    negative. With n steps, noise alone gives E[mean^2] = rms^2 / n (exactly what random sign flips
    give), so f^2 - 1/n estimates mean_true^2 / rms^2 -- the share of each step Adam keeps moving."""
    n = grads.shape[0]
    return [math.sqrt(max(f * f - 1.0 / n, 0.0)) for f in signal_fractions(grads)]


def signal_fractions(grads) -> list:
    """|mean| / rms over the steps, per parameter that got any gradient."""
    s = gradient_stats(grads)
    live = s["rms"] > 0
    return (s["abs_mean"][live] / s["rms"][live]).tolist()


def noise_fraction(grads, draws: int = 50, seed: int = 0) -> float:
    """The median signal fraction of the same gradients with each step's sign flipped at random:
    what pure noise of this size and sparsity gives (the reference a signal must clear)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    meds = []
    for _ in range(draws):
        signs = torch.randint(0, 2, (grads.shape[0], 1), generator=g).to(grads.dtype) * 2 - 1
        meds.append(median_or_zero(signal_fractions(grads * signs)))
    return median_or_zero(meds)


def summarise(total, ce, cost, drift, lr: float, steps: int) -> dict:
    """One group's figures: medians over its parameters (the max where it says so)."""
    s, c, k = gradient_stats(total), gradient_stats(ce), gradient_stats(cost)
    frac, excess = signal_fractions(total), excess_fractions(total)
    return {"params": int(total.shape[1]), "steps_measured": int(total.shape[0]),
            "signal_fraction_median": median_or_zero(frac), "signal_fraction_max": max(frac) if frac else 0.0,
            "noise_level": noise_fraction(total),
            "excess_fraction_median": median_or_zero(excess), "excess_fraction_mean": sum(excess) / max(1, len(excess)),
            "rms_grad_median": median_or_zero(s["rms"].tolist()),
            "ce_abs_mean_median": median_or_zero(c["abs_mean"].tolist()),
            "cost_abs_mean_median": median_or_zero(k["abs_mean"].tolist()),
            "ce_rms_median": median_or_zero(c["rms"].tolist()), "cost_rms_median": median_or_zero(k["rms"].tolist()),
            "lr": lr, "arch_steps_of_search": steps, "adam_bound": lr * steps,
            "expected_drift_median": lr * steps * median_or_zero(excess),
            "random_walk_drift": lr * math.sqrt(steps),
            "measured_drift_median": median_or_zero(drift.tolist()), "measured_drift_max": float(drift.max())}


def by_op(values, n_ops: int) -> list:
    """Signed mean per op column of an alpha group (``values``: [..., rows * n_ops], row-major, as
    the group's parameters flatten): for gradients, which way each op is pushed (Adam moves
    against the sign), averaged over the group's rows (and steps)."""
    return values.reshape(-1, n_ops).mean(0).tolist()


def markdown(reports: dict) -> str:
    """One table of several probe reports (``{name: report}``, e.g. the files of a folder by stem),
    a row per parameter group: what ``tools.results_tables`` writes into the docs."""
    lines = ["| search (its last state) | group | signal fraction | noise | excess | mean CE gradient | "
             "mean cost gradient | expected drift | measured drift |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rep in reports.items():
        for k, (g, s) in enumerate(rep["groups"].items()):
            first = (f"`{name}` (op entropy {rep['op_entropy']:.3f}; {rep['batches']} steps of "
                     f"{rep['batch_size']} images)") if k == 0 else ""
            lines.append(f"| {first} | {g.replace('_', ' ')} | {s['signal_fraction_median']:.3f} | "
                         f"{s['noise_level']:.3f} | {s['excess_fraction_median']:.3f} | {s['ce_abs_mean_median']:.1e} | "
                         f"{s['cost_abs_mean_median']:.1e} | {s['expected_drift_median']:.2f} | "
                         f"{s['measured_drift_median']:.3f} |")
    return "\n".join(lines) + "\n"


def _flat(params):
    import torch
    return torch.cat([p.reshape(-1) for p in params if p.numel()])


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.supernet.probe_arch_gradients", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_search_arguments(p, 40, "arch steps measured")
    p.add_argument("--batch_size", type=int, default=None,
                   help="images per measured step (default: the search's data.batch_size); a larger batch "
                        "separates the data's share of the noise from the op sampling's")
    a = p.parse_args(argv)
    if a.batches < 2:
        raise InputError(f"--batches must be >= 2, got {a.batches}")
    if a.batch_size is not None and a.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {a.batch_size}")
    import torch
    from dataset.loader import DevicePrefetcher
    from search_space import build_super_network
    from tools.supernet.search_probe import open_search
    opened = open_search(a.load_path, a.data_path, a.batch_size, threads=a.threads)
    cfg, net, method, data, loader, root = (opened.cfg, opened.net, opened.method, opened.data,
                                              opened.loader, opened.root)
    batch = a.batch_size or cfg.data.batch_size
    torch.manual_seed(cfg.train_params.seed)  # the search's initial parameters, as it built them
    init = build_super_network(cfg)

    groups = {g: list(getattr(net, g)) for g in GROUPS}
    params = [q for g in GROUPS for q in groups[g]]
    epoch = cfg.train_params.epochs - 1
    if not method.arch_active(epoch):
        raise InputError(f"--load_path {a.load_path}: its method takes no arch steps in its last epoch")
    rows = {g: {"total": [], "ce": [], "cost": []} for g in GROUPS}
    net.train()
    for i, (x, y) in enumerate(DevicePrefetcher(loader, torch.device("cpu"), False)):
        if i == a.batches:
            break
        out = method.arch_step(x, y, epoch)
        if out.ce is None:
            raise InputError(f"--load_path {a.load_path}: method {method.name} reports no cross-entropy term")
        term = out.loss - out.ce  # the method's cost term, whatever its form (0 without one)
        g_ce = torch.autograd.grad(out.ce, params, retain_graph=True, allow_unused=True)
        g_cost = (torch.autograd.grad(term, params, allow_unused=True) if term.requires_grad
                  else [None] * len(params))
        k = 0
        for g in GROUPS:
            n = len(groups[g])
            ce = [torch.zeros_like(q) if t is None else t for q, t in zip(params[k:k + n], g_ce[k:k + n])]
            co = [torch.zeros_like(q) if t is None else t for q, t in zip(params[k:k + n], g_cost[k:k + n])]
            rows[g]["ce"].append(_flat(ce))
            rows[g]["cost"].append(_flat(co))
            rows[g]["total"].append(_flat(ce) + _flat(co))
            k += n
    measured = len(rows["betas"]["ce"])
    if measured < 2:
        raise InputError(f"--data_path {root}: search_val gives {measured} batch(es) of {batch}")
    arch_steps = (cfg.train_params.epochs - int(cfg.search_params.arch_update_epoch)) * _arch_steps_per_epoch(
        cfg, len(data) // cfg.data.batch_size)  # the search's own batches (drop_last)
    rep = {"load_path": recorded_path(a.load_path), "batches": measured, "batch_size": batch, "groups": {}}
    for g in GROUPS:
        lr = cfg.optim.arch.beta_lr if g == "betas" else cfg.optim.arch.alpha_lr
        drift = (_flat(getattr(net, g)) - _flat(getattr(init, g))).abs().detach()
        rep["groups"][g] = summarise(torch.stack(rows[g]["total"]), torch.stack(rows[g]["ce"]),
                                     torch.stack(rows[g]["cost"]), drift, float(lr), arch_steps)
        names = {"head_alphas": net.space.head_ops, "stack_alphas": net.space.stack_ops}.get(g)
        if names and drift.numel():
            signed = _flat(getattr(net, g)) - _flat(getattr(init, g))
            rep["groups"][g].update({"op_names": list(names),
                                     "ce_mean_by_op": by_op(torch.stack(rows[g]["ce"]), len(names)),
                                     "cost_mean_by_op": by_op(torch.stack(rows[g]["cost"]), len(names)),
                                     "drift_mean_by_op": by_op(signed.detach(), len(names))})
    rep["op_entropy"] = _op_entropy(net)
    print(f"{a.load_path}: {measured} arch steps of {batch} images measured, search took {arch_steps} arch steps "
          f"(normalised op entropy now {rep['op_entropy']:.3f})")
    print(f"{'group':13s} {'signal |mean|/rms':>17s} {'noise (flipped)':>15s} {'excess':>7s} {'|mean| CE':>10s} "
          f"{'|mean| cost':>11s} {'expected drift':>14s} {'random walk':>11s} {'measured drift':>14s} {'Adam bound':>10s}")
    for g, s in rep["groups"].items():
        print(f"{g:13s} {s['signal_fraction_median']:17.3f} {s['noise_level']:15.3f} {s['excess_fraction_median']:7.3f} "
              f"{s['ce_abs_mean_median']:10.2e} {s['cost_abs_mean_median']:11.2e} {s['expected_drift_median']:14.3f} "
              f"{s['random_walk_drift']:11.3f} {s['measured_drift_median']:14.3f} {s['adam_bound']:10.2f}")
        if "op_names" in s:
            print("  by op (mean CE gradient / cost gradient / final - initial): " + ", ".join(
                f"{n} {c:+.1e} / {k:+.1e} / {d:+.3f}" for n, c, k, d in
                zip(s["op_names"], s["ce_mean_by_op"], s["cost_mean_by_op"], s["drift_mean_by_op"])))
    if a.out:
        atomic_write_json(a.out, rep)
    return rep


def _arch_steps_per_epoch(cfg, batches: int) -> int:
    cap = cfg.data.steps_per_epoch
    return min(batches, cap) if cap else batches


def _op_entropy(net) -> float:
    """The search log's figure: head and stack op entropy relative to uniform, averaged
    (search_space.diagnostics.op_entropy)."""
    from search_space.diagnostics import op_entropy
    head, stack = op_entropy(list(net.head_alphas))[1], op_entropy(list(net.stack_alphas))[1]
    return (head + stack) / 2 if any(a.numel() for a in net.stack_alphas) else head


if __name__ == "__main__":
    main()
