"""Pictures of a search: route probabilities of the dense space (derived path marked) and the
per-epoch curves (accuracies, expected cost)."""
from __future__ import annotations

from typing import List, Sequence


def _save(fig, path: str) -> str:
    from common.io import atomic_savefig
    return atomic_savefig(fig, path)


def plot_routes(space, route_probs: Sequence[Sequence[float]], derived_path: List[int], path: str) -> str:
    """Heatmap: row = source block, column = target block, colour = softmax(betas); the derived
    (Viterbi) path is outlined."""
    return _save(routes_figure(space, route_probs, derived_path), path)


def routes_figure(space, route_probs: Sequence[Sequence[float]], derived_path: List[int]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle
    n = space.final + 1
    grid = np.full((n - 1, n), np.nan)
    for b, targets in enumerate(space.out_routes):
        for i, dst in enumerate(targets):
            grid[b, dst] = route_probs[b][i]
    fig, ax = plt.subplots(figsize=(0.38 * n + 2, 0.36 * n + 1.2), dpi=120)
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    for src, dst in zip(derived_path[:-1], derived_path[1:]):
        ax.add_patch(Rectangle((dst - 0.5, src - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.6))
    labels = [f"{c}" for c in space.chs] + ["last"]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n - 1), labels[:-1], fontsize=7)
    ax.set_xlabel("to block (width)")
    ax.set_ylabel("from block (width)")
    ax.set_title("route probabilities softmax(β); red: derived path", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def op_probs_figure(space, head_probs, stack_probs):
    """Op probabilities per mixed op, not averaged: one row per head (block, incoming route) and
    per stack layer (block, layer), one column per candidate op."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    names = list(dict.fromkeys(list(space.head_ops) + list(space.stack_ops)))  # columns: every op once
    rows, labels = [], []

    def row(ops, probs):
        out = [np.nan] * len(names)
        for op, p in zip(ops, probs):
            out[names.index(op)] = float(p)
        return out
    for k in space.routing_blocks:
        for r, src in enumerate(space.in_routes[k]):
            rows.append(row(space.head_ops, head_probs[k - 1][r]))
            labels.append(f"b{k} head from {src}")
        for l in range(space.num_layers[k]):
            rows.append(row(space.stack_ops, stack_probs[k - 1][l]))
            labels.append(f"b{k} layer {l}")
    grid = np.asarray(rows, dtype=float)
    fig, ax = plt.subplots(figsize=(0.9 * len(names) + 3, 0.16 * len(rows) + 1.5), dpi=100)
    im = ax.imshow(grid, cmap="magma", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(names)), [n.replace("mbconv_", "") for n in names], rotation=45, fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=5)
    ax.set_title("op probabilities softmax(α) per mixed op (blank: not a candidate there)", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[dict], path: str, cost_units: str = "", arch_update_epoch: int = 0) -> str:
    """Accuracies and costs per epoch; the epoch where architecture updates start is marked, and
    the derived network's cost is drawn from there on (before it the architecture is uniform)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=120)
    a1.plot(epochs, [h["weight"]["top1"] for h in history], label="weights split (sampled paths)")
    val = [(h["epoch"], h["val"]["top1"]) for h in history if h.get("val")]
    if val:
        a1.plot(*zip(*val), marker="o", label="arch split (all ops)")
    a1.set_xlabel("epoch")
    a1.set_ylabel("top-1 (%)")
    a2.plot(epochs, [h["expected_cost"] for h in history], label="expected (super network)")
    derived = [(h["epoch"], h["derived"]["table_cost"]) for h in history if h["epoch"] >= arch_update_epoch]
    last = history[-1]["derived"] if history else {}
    if derived:
        a2.plot(*zip(*derived), label="derived network" + (f" ({last['derive']} derive)" if last.get("derive") else ""))
    target = next((h["derived"].get("target") for h in history if h["derived"].get("target")), None)
    if target:
        a2.axhline(target, color="grey", ls=":", lw=1, label="target")
        if last.get("window") and last.get("derive") == "window":
            a2.axhspan(*last["window"], color="grey", alpha=0.15, lw=0, label="target window")
    for ax in (a1, a2):
        if epochs and epochs[0] <= arch_update_epoch <= epochs[-1]:
            ax.axvline(arch_update_epoch, color="#c0392b", ls="--", lw=0.8, label="arch updates start")
        ax.legend(fontsize=7)
    a2.set_xlabel("epoch")
    a2.set_ylabel(f"cost ({cost_units})")
    fig.tight_layout()
    return _save(fig, path)


def plot_pareto(points: Sequence[Sequence[float]], path: str, units: str, argmax=None, picks=(),
                window: float = None) -> str:
    """Cost vs log score of the Pareto-optimal architectures of a searched space: ``points`` =
    (cost, log score); ``argmax`` = (cost, log score) of the paper's derive; ``picks`` =
    (budget, cost, log score) of budget derives (cost None: an empty window); ``window``: the picks
    are window derives with cost in [budget * (1 - window), budget] (shaded)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    xs, ys = zip(*points) if points else ((), ())
    ax.step(xs, ys, where="post", color="#5d6d7e", lw=1, label=f"Pareto front ({len(points)} architectures)")
    ax.scatter(xs, ys, s=6, color="#5d6d7e")
    for i, (budget, cost, score) in enumerate(picks):
        ax.axvline(budget, color="#f5b041", ls="--", lw=0.8, label="budget" if i == 0 else None)
        if window:
            ax.axvspan(budget * (1 - window), budget, color="#f5b041", alpha=0.2, lw=0,
                       label=f"window [{1 - window:g} budget, budget]" if i == 0 else None)
        if cost is None:  # an empty window: nothing to mark but the window itself
            ax.annotate("empty", (budget, 0.02), xycoords=("data", "axes fraction"), fontsize=7, color="#c0392b",
                        ha="right", rotation=90)
            continue
        ax.scatter([cost], [score], s=40, color="#e67e22", zorder=3,
                   label=("best in window" if window else "best within budget") if i == 0 else None)
    if argmax is not None:
        ax.scatter([argmax[0]], [argmax[1]], s=110, marker="*", color="#c0392b", zorder=4,
                   label="unconstrained derive (paper)")
    ax.set_xlabel(f"table cost ({units})")
    ax.set_ylabel("log score (route × op probabilities)")
    ax.set_title("one search, many budgets", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_one_shot_front(points: Sequence[Sequence[float]], front: Sequence[Sequence[float]], chosen: int,
                        target: float, units: str, path: str) -> str:
    """NSE's round-end picture: every sampled architecture (table cost, one-shot top-1), the
    Pareto front, the chosen net and the target."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    if points:
        xs, ys = zip(*points)
        ax.scatter(xs, ys, s=6, color="#aab7b8", label=f"sampled ({len(points)})")
    if front:
        fx, fy = zip(*front)
        ax.step(fx, fy, where="post", color="#2e86c1", lw=1)
        ax.scatter(fx, fy, s=16, color="#2e86c1", zorder=3, label=f"Pareto front ({len(front)})")
        ax.scatter([fx[chosen]], [fy[chosen]], s=110, marker="*", color="#c0392b", zorder=4, label="net_config")
    if target:
        ax.axvline(target, color="#f5b041", ls="--", lw=0.8, label="target")
    ax.set_xlabel(f"table cost ({units})")
    ax.set_ylabel("one-shot top-1 (%)")
    ax.set_title("search-space evolution: last round's front", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)
