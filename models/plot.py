"""Picture of a derived architecture, like the paper's figure: one box per layer, colour by
kernel size, height by expansion ratio, grouped by block, channels written under each block; a
multi-branch layer shows its branches side by side (marked n\u2225)."""
from __future__ import annotations

import os

from models.net_config import NetConfig
from models.operations import branches, mbconv_params

COLOURS = {3: "#7fb3d5", 5: "#f5b041", 7: "#ec7063"}


def plot_net_config(cfg: NetConfig, path: str, title: str = "") -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle
    layers = []  # (block index, op, stride)
    for i, b in enumerate(cfg.blocks):
        layers.append((i, b.head_op, b.stride))
        layers += [(i, op, 1) for op in b.stack_ops]
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(layers) + 2.5), 3.6), dpi=120)
    x = 0.0
    block_spans = {}
    for i, op, stride in layers:
        parts = branches(op)  # a multi-branch layer: its branches side by side in the layer's slot
        width, top = 0.42 / len(parts), 0.0
        for n, part in enumerate(parts):
            k_t = mbconv_params(part)
            k, t = k_t if k_t else (3, 1)
            h = {1: 0.35, 3: 0.65, 6: 1.0}.get(t, 0.5) if k_t else 0.8
            colour = COLOURS.get(k, "#a9cce3") if k_t else ("#bbbbbb" if part == "skip_connect" else "#58d68d")
            ax.add_patch(Rectangle((x + n * width, -h / 2), width, h, facecolor=colour, edgecolor="black", lw=0.6))
            top = max(top, h)
        if len(parts) > 1:
            ax.text(x + 0.21, -top / 2 - 0.1, f"{len(parts)}\u2225", ha="center", fontsize=5)
        if stride == 2:
            ax.text(x + 0.21, top / 2 + 0.05, "s2", ha="center", fontsize=6)
        start, _ = block_spans.get(i, (x, x))
        block_spans[i] = (start, x + 0.42)
        x += 0.55
    for i, (s, e) in block_spans.items():
        b = cfg.blocks[i]
        ax.text((s + e) / 2, -0.72, f"{b.out_ch}", ha="center", fontsize=7)
        ax.plot([s, e], [-0.6, -0.6], color="black", lw=0.8)
    if cfg.last is not None:
        ax.add_patch(Rectangle((x, -0.4), 0.42, 0.8, facecolor="#d7bde2", edgecolor="black", lw=0.6))
        ax.text(x + 0.21, -0.72, f"{cfg.last[1]}", ha="center", fontsize=7)
        x += 0.55
    # resolution bands: the stem halves the input, every stride-2 head halves again
    bands, factor, start = [], 2, -0.1
    pos = 0.0
    for i, op, stride in layers:
        if stride == 2:
            bands.append((start, pos - 0.065, factor))
            start, factor = pos - 0.065, factor * 2
        pos += 0.55
    bands.append((start, x - 0.065, factor))
    for n, (b0, b1, f) in enumerate(bands):
        ax.axvspan(b0, b1, ymin=0.06, color="#f2f3f4" if n % 2 == 0 else "#e5e8e8", zorder=0)
        ax.text((b0 + b1) / 2, 0.66, f"1/{f} resolution", ha="center", fontsize=6, color="#566573")
    ax.text(-0.15, -0.72, "width", ha="right", fontsize=7, style="italic")
    ax.set_xlim(-0.9, x + 0.1)
    ax.set_ylim(-0.95, 0.95)
    ax.axis("off")
    legend = [Patch(color=COLOURS[k], label=f"kernel {k}") for k in (3, 5, 7)]
    legend += [Patch(color="#58d68d", label="basic / bottleneck"), Patch(color="#d7bde2", label="conv1x1")]
    legend += [Rectangle((0, 0), 1, h, facecolor="white", edgecolor="black", lw=0.6, label=f"height: t={t}")
               for t, h in ((1, 0.35), (3, 0.65), (6, 1.0))]
    ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=6, ncol=8, frameon=False)
    ax.set_title(title or "derived architecture", fontsize=9)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
