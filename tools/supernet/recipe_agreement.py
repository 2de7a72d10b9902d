r"""Do two retrain recipes rank the same nets alike? (issue 54 §2)

    python -m tools.supernet.recipe_agreement --short tools/results/ranking/fmnist_4op.json \
        --long tools/results/ranking/fmnist_4op_long.json --out tools/results/recipe_agreement/fmnist_4op

The two files are ranking sets of the same nets (the long one built with ``tools.supernet.ranking_set
--nets_from SHORT``, so the ids match); a net counts where both recipes retrained it (the long recipe
may hold fewer nets and seeds). Reported, for the whole set and for the window nets:

* Kendall tau between the short ranking (mean of its seeds) and the long one, with a bootstrap 95% CI
  over the nets; beside it, what the two files' own noise lets tau reach -- each recipe's split-half
  tau over the nets with two or more seeds there;
* accuracy against table cost and parameters at each recipe (tau; does "small is better" survive?);
* the one-shot tau of every committed super network scored on the short set (``supernet.json`` of
  ``tools.supernet.benchmark``, read-outs of ``probe_readout``) against both ground truths, over the
  same nets.

Writes ``<out>.json`` (every number), ``<out>.md`` and ``<out>.png`` (test top-1 against cost, both recipes).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Dict, List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_savefig, atomic_write_json, atomic_write_text, recorded_path  # noqa: E402

SET_GROUPS = ("stratum", "window")


def _means(data: dict) -> Dict[str, dict]:
    """id -> the net with its retrains' test/val means (nets of the set proper with at least one retrain)."""
    out = {}
    for n in data["nets"]:
        rs = n.get("retrains") or []
        if n.get("group") in SET_GROUPS and rs:
            out[n["id"]] = dict(n, test=sum(r["test_top1"] for r in rs) / len(rs), seeds=len(rs))
    return out


def _split_half(nets: List[dict]) -> Optional[dict]:
    """Split-half tau of the nets with the most common seed count >= 2 (all of them that many seeds)."""
    from tools.supernet.ranking_set import split_half_tau
    counts = sorted({len(n["retrains"]) for n in nets if len(n["retrains"]) >= 2})
    if not counts:
        return None
    k = max(counts, key=lambda c: (sum(len(n["retrains"]) >= c for n in nets) >= 3, c))
    rows = [[r["test_top1"] for r in sorted(n["retrains"], key=lambda r: r["seed"])[:k]] for n in nets
            if len(n["retrains"]) >= k]
    sh = split_half_tau(rows) if len(rows) >= 3 else None
    return dict(sh, nets=len(rows), seeds=k) if sh else None


def one_shot_sources(short_path: str, results: str) -> List[dict]:
    """Every committed one-shot ranking of the short set: (name, net_config -> one-shot top-1)."""
    base = os.path.basename(short_path)
    short = json.load(open(short_path, encoding="utf-8"))
    set_nets = [n for n in short["nets"] if n.get("test_top1_mean") is not None and n.get("group") in SET_GROUPS]
    out = []
    for path in sorted(glob.glob(os.path.join(results, "**", "supernet.json"), recursive=True)):
        rep = json.load(open(path, encoding="utf-8"))
        if os.path.basename(str(rep.get("ranking"))) != base or rep.get("nets") != len(set_nets):
            continue
        for name, strat in rep["strategies"].items():
            if strat.get("rankings"):
                last = strat["rankings"][-1]
                out.append({"source": recorded_path(path), "name": f"{name} ({last['step']} steps)",
                            "scores": {n["net_config"]: s for n, s in zip(set_nets, last["one_shot_top1"])}})
    for path in sorted(glob.glob(os.path.join(results, "**", "readout_*.json"), recursive=True)):
        rep = json.load(open(path, encoding="utf-8"))
        if os.path.basename(str(rep.get("ranking"))) == base and isinstance((rep.get("scores") or {}).get("prob"), dict):
            out.append({"source": recorded_path(path), "name": os.path.splitext(os.path.basename(path))[0],
                        "scores": rep["scores"]["prob"]})
    return out


def agreement(short: dict, long_: dict, sources: List[dict]) -> dict:
    from tools.supernet.benchmark import tau_with_ci
    s, l_ = _means(short), _means(long_)
    both = [i for i in s if i in l_]
    if len(both) < 3:
        raise InputError(f"{len(both)} nets retrained with both recipes: at least 3 needed")

    def part(ids):
        a, b = [s[i]["test"] for i in ids], [l_[i]["test"] for i in ids]
        row = {"nets": len(ids), "tau_short_long": tau_with_ci(a, b),
               "short_mean": sum(a) / len(a), "long_mean": sum(b) / len(b),
               "split_half_short": _split_half([s[i] for i in ids]),
               "split_half_long": _split_half([l_[i] for i in ids])}
        for what in ("cost", "params_m"):
            x = [s[i][what] for i in ids]
            row[f"tau_{what}_short"] = tau_with_ci(x, a)
            row[f"tau_{what}_long"] = tau_with_ci(x, b)
        shots = []
        for src in sources:
            scores = [src["scores"].get(s[i]["net_config"]) for i in ids]
            have = [k for k, v in enumerate(scores) if v is not None]
            if len(have) >= 3:
                shots.append({"name": src["name"], "source": src["source"], "nets": len(have),
                              "short": tau_with_ci([scores[k] for k in have], [a[k] for k in have]),
                              "long": tau_with_ci([scores[k] for k in have], [b[k] for k in have])})
        row["one_shot"] = shots
        return row
    window = [i for i in both if s[i]["group"] == "window"]
    return {"short": {"recipe_hash": short.get("recipe_hash"), "train_config": (short.get("recipe") or {}).get("train_config")},
            "long": {"recipe_hash": long_.get("recipe_hash"), "train_config": (long_.get("recipe") or {}).get("train_config")},
            "all": part(both), "window": part(window) if len(window) >= 3 else None,
            "nets": [{"id": i, "group": s[i]["group"], "cost": s[i]["cost"], "params_m": s[i]["params_m"],
                      "short": s[i]["test"], "short_seeds": s[i]["seeds"], "long": l_[i]["test"],
                      "long_seeds": l_[i]["seeds"]} for i in both]}


def _t(d: Optional[dict]) -> str:
    if not d or d.get("tau") is None:
        return "—"
    ci = d.get("ci95")
    text = f"{d['tau']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
    return f"**{text}**" if ci and (ci[0] > 0 or ci[1] < 0) else text


def _sh(d: Optional[dict]) -> str:
    return "—" if not d else f"{d['mean']:+.2f} ({d['nets']} nets × {d['seeds']} seeds)"


def markdown(rep: dict) -> str:
    lines = [f"Short recipe `{rep['short']['recipe_hash']}` ({rep['short']['train_config']}) against long recipe "
             f"`{rep['long']['recipe_hash']}` ({rep['long']['train_config']}).", "",
             "| nets | n | τ(short, long) [95% CI] | split-half τ short | split-half τ long | mean test top-1 short → long | "
             "τ(cost, acc) short / long | τ(params, acc) short / long |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in ("all", "window"):
        p = rep.get(name)
        if not p:
            continue
        lines.append(f"| {'whole set' if name == 'all' else 'window'} | {p['nets']} | {_t(p['tau_short_long'])} | "
                     f"{_sh(p['split_half_short'])} | {_sh(p['split_half_long'])} | {p['short_mean']:.2f} → "
                     f"{p['long_mean']:.2f} | {_t(p['tau_cost_short'])} / {_t(p['tau_cost_long'])} | "
                     f"{_t(p['tau_params_m_short'])} / {_t(p['tau_params_m_long'])} |")
    shots = rep["all"]["one_shot"]
    if shots:
        lines += ["", "| super network (one-shot) | nets | τ with short ground truth | τ with long ground truth |",
                  "| --- | --- | --- | --- |"]
        for o in shots:
            lines.append(f"| {o['name']} | {o['nets']} | {_t(o['short'])} | {_t(o['long'])} |")
    return "\n".join(lines) + "\n"


def plot(rep: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    nets = rep["nets"]
    for key, marker, label in (("short", "o", "short recipe"), ("long", "s", "long recipe")):
        ax.scatter([n["cost"] for n in nets], [n[key] for n in nets], marker=marker, s=24, alpha=0.75, label=label)
    for n in nets:
        ax.plot([n["cost"], n["cost"]], [n["short"], n["long"]], color="grey", alpha=0.3, linewidth=0.8)
    ax.set_xlabel("table cost")
    ax.set_ylabel("test top-1 (%), mean over retrain seeds")
    ax.set_title(f"the same {len(nets)} nets at two recipes; τ(short, long) = {rep['all']['tau_short_long']['tau']:+.2f}",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)


@main_guard
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.supernet.recipe_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", required=True, help="ranking set retrained with the short recipe")
    p.add_argument("--long", required=True, help="the same nets (same ids) retrained with the long recipe")
    p.add_argument("--results", default="tools/results", help="where the committed super-network studies lie")
    p.add_argument("--out", default=None, help="output path without extension (writes .json, .md, .png); not in "
                                                   "tools/results/ranking/, where every JSON is read as a ranking set")
    args = p.parse_args(argv)
    if args.out and os.path.basename(os.path.dirname(os.path.abspath(args.out))) == "ranking":
        raise InputError(f"--out {args.out}: a ranking/ folder holds ranking sets only; write the agreement elsewhere")
    from tools.supernet.ranking_file import read_ranking_set
    short, long_ = read_ranking_set(args.short, "--short"), read_ranking_set(args.long, "--long")
    mismatch = [n["id"] for n in long_["nets"] if any(m["id"] == n["id"] and m["net_config"] != n["net_config"]
                                                       for m in short["nets"])]
    if mismatch:
        raise InputError(f"--long {args.long}: nets {', '.join(mismatch[:3])} are not the short set's nets of that id")
    rep = agreement(short, long_, one_shot_sources(args.short, args.results))
    rep["files"] = {"short": recorded_path(args.short), "long": recorded_path(args.long)}
    text = markdown(rep)
    print(text)
    if args.out:
        atomic_write_json(args.out + ".json", rep)
        atomic_write_text(args.out + ".md", text)
        plot(rep, args.out + ".png")
        print(f"written: {recorded_path(args.out)}.json/.md/.png")
    return rep


if __name__ == "__main__":
    main()
