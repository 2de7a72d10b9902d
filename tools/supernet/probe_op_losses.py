r"""Diagnostic: is there an op preference in a super network for its alphas to find?

    python -m tools.supernet.probe_op_losses --load_path runs/search-<time> --data_path data/fashion_mnist \
        --batches 30 --out runs/op_losses.json

``probe_arch_gradients`` shows whether the arch step's op gradients carry a steady direction. If
they do not, either the super network has no op preference to find (its candidates are
interchangeable) or the step's sampled gradient misses one. This probe asks the super network
directly. On each of --batches batches of search_val (train-mode BN, as the arch step) it draws one
base path (one op per mixed op from softmax(alpha), routes dense and weighted as in the search),
then for every mixed op m and every candidate i runs the network with m forced to i, everything
else as the base path: the **per-op loss** CE(m, i). Centred per batch and position
(``D = CE(m, i) - mean_i CE(m, i)``) it reports, per group of positions (heads, stack layers):

* **loss spread**: rms of D over batches and ops -- how much one step's loss depends on the op
  choice at one position (the size of what an arch gradient could see);
* **signal fraction** |mean| / rms of D over the batches, its noise reference (signs flipped) and
  the **excess** sqrt(f^2 - 1/n) (as in ``probe_arch_gradients``): the steady share, i.e. whether
  an op is better or worse *consistently*;
* **split-half r**: the correlation, over every (position, op), of the mean centred loss on the
  even batches with that on the odd ones -- whether the same ops are better on other data;
* **body distance**: at the base path's input of each position, the median over op pairs of
  ||b_i - b_j|| / rms(||b_i||, ||b_j||), b the op's output minus the input it adds in a residual
  position (ops with a zero body, skip, left out): 0 for identical functions, ~1.41 for
  orthogonal outputs of equal size.

Read-only: the run folder is not written. Methods whose weight paths are op combinations (``nse``)
are refused.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_json, recorded_path  # noqa: E402
from tools.supernet.probe_arch_gradients import median_or_zero, excess_fractions, noise_fraction, signal_fractions  # noqa: E402
from tools.supernet.search_probe import add_search_arguments  # noqa: E402


def centred(losses):
    """``losses``: [batches, positions, ops] CE. Each batch and position minus its mean over ops."""
    return losses - losses.mean(-1, keepdim=True)


def split_half_r(losses) -> float:
    """Pearson r, over every (position, op), between the mean centred loss on the even batches and
    on the odd ones: ~0 when which op is better changes from batch to batch, 1 when it does not
    (no selection on the data it is tested on)."""
    d = centred(losses)
    x, y = d[0::2].mean(0).flatten(), d[1::2].mean(0).flatten()
    x, y = x - x.mean(), y - y.mean()
    den = float(x.norm() * y.norm())
    return float((x * y).sum()) / den if den > 0 else 0.0


def summarise(losses, distances, op_names=None) -> dict:
    """One group's figures from its [batches, positions, ops] losses and per-position distances;
    with the ops' mean centred loss (over batches and positions, and per position: which ops the
    super network prefers, in ``op_names`` order)."""
    d = centred(losses)
    flat = d.reshape(d.shape[0], -1)
    return {"op_names": list(op_names or []), "mean_centred_by_op": d.mean((0, 1)).tolist(),
            "mean_centred_by_position": d.mean(0).tolist(),"positions": int(d.shape[1]), "ops": int(d.shape[2]), "batches": int(d.shape[0]),
            "loss_spread_rms": float(d.pow(2).mean().sqrt()),
            "steady_spread_rms": float(d.mean(0).pow(2).mean().sqrt()),
            "signal_fraction_median": median_or_zero(signal_fractions(flat)),
            "noise_level": noise_fraction(flat),
            "excess_fraction_median": median_or_zero(excess_fractions(flat)),
            "split_half_r": split_half_r(losses),
            "body_distance_median": median_or_zero(distances)}


def steady_noise_floor(s: dict) -> float:
    """What the steady spread of a group would be from noise alone: the rms standard error of the
    ops' mean centred losses, from the report's own figures (spread^2 = steady^2 + variance)."""
    n = s["batches"]
    return (max(s["loss_spread_rms"] ** 2 - s["steady_spread_rms"] ** 2, 0.0) / max(1, n - 1)) ** 0.5


def markdown(reports: dict) -> str:
    """One table of several probe reports (``{name: report}``), a row per group of positions: what
    ``tools.results_tables`` writes into the docs."""
    lines = ["| search (its last state) | positions | loss spread | steady | its noise floor | excess | "
             "split-half r | body distance | lowest mean loss | highest |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rep in reports.items():
        for k, (g, s) in enumerate(rep["groups"].items()):
            first = f"`{name}` ({rep['batches']} batches of {rep['batch_size']})" if k == 0 else ""
            ops = sorted(zip(s["mean_centred_by_op"], s["op_names"]))
            lines.append(f"| {first} | {g.replace('_', ' ')} ({s['positions']}) | {s['loss_spread_rms']:.4f} | "
                         f"{s['steady_spread_rms']:.4f} | {steady_noise_floor(s):.4f} | "
                         f"{s['excess_fraction_median']:.3f} | {s['split_half_r']:+.2f} | "
                         f"{s['body_distance_median']:.2f} | {ops[0][1]} {ops[0][0]:+.4f} | "
                         f"{ops[-1][1]} {ops[-1][0]:+.4f} |")
    return "\n".join(lines) + "\n"


def body_distance(mixed, x, ops) -> float | None:
    """Median relative distance between the candidates' bodies on input ``x`` (see module doc)."""
    import torch
    bodies = []
    for i in ops:
        y = mixed.candidates[i](x)
        b = y - x if mixed.residual and y.shape == x.shape else y
        if float(b.norm()) > 1e-6 * max(1.0, float(x.norm())):
            bodies.append(b.flatten())
    pairs = []
    for i in range(len(bodies)):
        for j in range(i + 1, len(bodies)):
            size = torch.sqrt((bodies[i].pow(2).sum() + bodies[j].pow(2).sum()) / 2)
            pairs.append(float((bodies[i] - bodies[j]).norm() / size))
    return median_or_zero(pairs) if pairs else None


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.supernet.probe_op_losses", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_search_arguments(p, 30, "batches measured")
    p.add_argument("--seed", type=int, default=0, help="seed of the base paths (0)")
    a = p.parse_args(argv)
    if a.batches < 2:
        raise InputError(f"--batches must be >= 2, got {a.batches}")
    import torch
    from dataset.loader import DevicePrefetcher
    from search_space.sampling import sample_ops
    from tools.supernet.search_probe import open_search
    opened = open_search(a.load_path, a.data_path, loader_seed=a.seed, threads=a.threads)
    cfg, net, method, loader, root = opened.cfg, opened.net, opened.method, opened.loader, opened.root
    if method.name == "nse":
        raise InputError(f"--load_path {a.load_path}: method nse trains op combinations, not one op per "
                         "position; this probe measures single-op paths")
    mixed = net.mixed_ops()
    n_head = sum(len(block.head) for block in net.blocks)
    choices = method.op_choices()
    head_alphas = torch.cat(list(net.head_alphas)).detach()
    stack_rows = [s for s in net.stack_alphas if s.shape[0]]
    stack_alphas = torch.cat(stack_rows).detach() if stack_rows else None
    gen = torch.Generator().manual_seed(a.seed)
    capture, inputs = {"on": False}, {}

    def keep_input(i):
        def hook(module, args):
            if capture["on"]:
                inputs[i] = args[0]
        return hook
    hooks = [m.register_forward_pre_hook(keep_input(i)) for i, m in enumerate(mixed)]
    losses, dists, t0 = [], [[] for _ in mixed], time.time()  # losses: per batch, per position, per op
    net.train()
    with torch.no_grad():
        for b, (x, y) in enumerate(DevicePrefetcher(loader, torch.device("cpu"), False)):
            if b == a.batches:
                break
            base = sample_ops(head_alphas, 1, "prob", gen).view(-1).tolist()
            if stack_alphas is not None:
                base += sample_ops(stack_alphas, 1, "prob", gen).view(-1).tolist()
            method.set_weight_path(base)
            capture["on"] = True
            base_ce = float(method.ce(method.forward(x), y))
            capture["on"] = False
            for m, mix in enumerate(mixed):
                d = body_distance(mix, inputs[m], choices[m])
                if d is not None:
                    dists[m].append(d)
            inputs.clear()
            rows = []
            for m in range(len(mixed)):
                ce = []
                for i in choices[m]:
                    path = list(base)
                    path[m] = i
                    method.set_weight_path(path)
                    ce.append(float(method.ce(method.forward(x), y)))
                rows.append(ce)
            losses.append(rows)
            print(f"batch {b + 1}/{a.batches}: base-path CE {base_ce:.3f} ({time.time() - t0:.0f} s)", flush=True)
    for h in hooks:
        h.remove()
    if len(losses) < 2:
        raise InputError(f"--data_path {root}: search_val gives {len(losses)} batch(es) of {cfg.data.batch_size}")
    groups = {"heads": (list(range(n_head)), net.space.head_ops),
              "stack_layers": (list(range(n_head, len(mixed))), net.space.stack_ops)}
    rep = {"load_path": recorded_path(a.load_path), "batches": len(losses), "batch_size": cfg.data.batch_size,
           "seconds": time.time() - t0, "groups": {}}
    for g, (rows, names) in groups.items():
        if rows:  # one group's positions share their candidate list (head ops / stack ops)
            table = torch.tensor([[batch[m] for m in rows] for batch in losses])
            rep["groups"][g] = summarise(table, [median_or_zero(dists[m]) for m in rows if dists[m]], names)
    print(f"{a.load_path}: {len(losses)} batches of {cfg.data.batch_size}, {len(mixed)} positions")
    print(f"{'group':13s} {'loss spread':>11s} {'steady':>7s} {'signal':>7s} {'noise':>6s} {'excess':>7s} "
          f"{'split-half r':>12s} {'body distance':>13s}")
    for g, s in rep["groups"].items():
        print(f"{g:13s} {s['loss_spread_rms']:11.4f} {s['steady_spread_rms']:7.4f} {s['signal_fraction_median']:7.3f} "
              f"{s['noise_level']:6.3f} {s['excess_fraction_median']:7.3f} {s['split_half_r']:12.2f} "
              f"{s['body_distance_median']:13.3f}")
        print("  mean centred loss by op: " + ", ".join(f"{n} {v:+.4f}" for n, v in zip(s["op_names"],
                                                                                       s["mean_centred_by_op"])))
    if a.out:
        atomic_write_json(a.out, rep)
    return rep


if __name__ == "__main__":
    main()
