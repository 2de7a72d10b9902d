"""Numbers, table and picture of tools.quality.benchmark from its raw unit results."""
from __future__ import annotations

import json
import os
import time

from common.io import atomic_savefig, atomic_write_json, atomic_write_text
from engine.stats import bootstrap_ci, kendall_tau, mean, percentile_among, std, wilcoxon_signed_rank
from tools.quality.comparisons import _group_controls, attribution, attribution_table, shared_note
from tools.quality.retarget import rederived_fields, retarget_info


def _diagnostics(run_dir: str, arch_start: int) -> dict:
    """Collapse diagnostics of one search from its history.json."""
    with open(os.path.join(run_dir, "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    diag = [(h["epoch"], h.get("diagnostics") or {}) for h in history]
    arch = [(e, d) for e, d in diag if e >= arch_start and d]
    if not arch:
        return {}
    first, last = arch[0][1], arch[-1][1]
    changes = [e for e, d in arch[1:] if d.get("changed")]
    return {"op_entropy_rel_first": first["op_entropy_rel"], "op_entropy_rel_final": last["op_entropy_rel"],
            "skip_share_final": last["skip_share"], "depth_blocks_final": last["depth_blocks"],
            "depth_layers_final": last["depth_layers"], "changes_after_arch_start": len(changes),
            "last_change_epoch": changes[-1] if changes else None,
            "supernet_val_top1": next((h["val"]["top1"] for h in reversed(history) if h.get("val")), None),
            "multi_branch_layers_final": last.get("multi_branch_layers"), "gate_entropy_final": last.get("gate_entropy"),
            "rounds": _rounds(run_dir)}


def _search_time_s(run_dir: str) -> float:
    """Seconds of a search's epochs (history.json epoch_time_s; setup and derive not counted); 0 for a
    search re-derived from another benchmark's (--searches_from: its compute is that benchmark's)."""
    if retarget_info(run_dir):
        return 0.0
    with open(os.path.join(run_dir, "history.json"), encoding="utf-8") as f:
        return float(sum(h.get("epoch_time_s") or 0.0 for h in json.load(f)))


def _compute(bench, searches: list, noise_seeds: int) -> dict:
    """Where a benchmark's time goes: every search's epochs and every retrain unit it reports (searched
    nets with the noise seeds, random nets, control groups), in process-seconds, and this invocation's
    wall time (smaller than the whole benchmark's when it resumed from cached units)."""
    a = bench.a
    units = {(searches[0]["net_config"], r) for r in range(noise_seeds)} if searches else set()
    for s in searches:
        nets = [s["net_config"]] + [x["net_config"] for x in s["random"]]
        nets += [s["params_pick"]["net_config"]] if "params_pick" in s else []
        nets += [n["net_config"] for g in ("uniform", "multi_branch") for n in (s.get(g) or {}).get("nets", [])]
        units |= {(t, r) for t in nets for r in range(a.retrain_seeds)}
    results = [bench.cached(t, r) for t, r in sorted(units)]
    retrain_s = [u["time_s"] for u in results]
    search_s = [_search_time_s(os.path.join(bench.save, s["run_dir"])) for s in searches]
    reused = sum(1 for s in searches if "rederived_from" in s)
    return {"search_s": search_s, "searches_rederived": reused, "retrain_units": len(retrain_s), "retrain_s_sum": sum(retrain_s),
            "retrain_units_resumed": sum(1 for u in results if u.get("resumed")),  # time before their stop: not known
            "retrain_units_imported": sum(1 for u in results if u.get("imported_from")),  # --reuse: run by another benchmark
            "retrain_s_mean": mean(retrain_s) if retrain_s else None,
            "process_s": sum(search_s) + sum(retrain_s), "jobs": a.jobs, "threads": a.threads,
            "wall_s_this_run": time.monotonic() - bench.start}


def _resumed_note(compute: dict) -> str:
    n, k = compute.get("retrain_units_resumed", 0), compute.get("retrain_units_imported", 0)
    out = f"; {n} retrains resumed from a stop, their time before it not counted" if n else ""
    return out + (f"; {k} retrains imported by --reuse, counted at their source's mean time" if k else "")


def _tau_where_scored(scores: list, retrained: list):
    """Kendall tau over the nets with a one-shot score (a packed search without its cache has none)."""
    pairs = [(x, y) for x, y in zip(scores, retrained) if x is not None]
    return kendall_tau([x for x, _ in pairs], [y for _, y in pairs]) if len(pairs) > 1 else None


def _multi_branch_layers(net_text: str) -> int:
    """Layers of a net_config with several ops ('a+b'): the nets ``nse`` retrains, not its per-epoch derive."""
    from models.net_config import multi_branch_layers, parse_text
    return multi_branch_layers(parse_text(net_text))


def _rounds(run_dir: str) -> list:
    """Search-space evolution of an ``nse`` search (rounds/<r>.json): per round the nets sampled,
    the front's size and, over all layers, how often each op was searched and kept."""
    out, r = [], 0
    while os.path.isfile(os.path.join(run_dir, "rounds", f"{r}.json")):
        with open(os.path.join(run_dir, "rounds", f"{r}.json"), encoding="utf-8") as f:
            rec = json.load(f)
        searched, kept = {}, {}
        for row in rec["rows"]:
            for op in row["searched"]:
                searched[op] = searched.get(op, 0) + 1
            for op in row["kept"]:
                kept[op] = kept.get(op, 0) + 1
        out.append({"round": r, "samples": rec["samples"], "front": len(rec["front"]), "searched": searched,
                    "kept": kept})
        r += 1
    return out


RESULT_FIELDS_OF_SEED = ("mean_acc", "random_mean", "gap", "percentile", "best_of_n_random", "best_by_val")


def score_seed(entry: dict) -> dict:
    """One search seed's statistics from its nets' retrains (``acc``, ``val_final`` on the searched net,
    its random nets, its params pick and control groups): means, gaps to the random mean, percentiles,
    the best random net and each group's best net by val (random search and a designer pick on val)."""
    s_mean = mean(entry["acc"])
    r_means = [mean(r["acc"]) for r in entry["random"]]
    best = max(entry["random"], key=lambda r: mean(r["val_final"]))
    entry.update(mean_acc=s_mean, random_mean=mean(r_means), gap=s_mean - mean(r_means),
                 percentile=percentile_among(s_mean, r_means), best_of_n_random=mean(best["acc"]))
    pick = entry.get("params_pick")
    if pick is not None:
        pick.update(mean_acc=mean(pick["acc"]), gap=mean(pick["acc"]) - mean(r_means),
                    percentile=percentile_among(mean(pick["acc"]), r_means))
    for name in ("uniform", "multi_branch"):
        nets = (entry.get(name) or {}).get("nets") or []
        for n in nets:
            n.update(mean_acc=mean(n["acc"]), gap=mean(n["acc"]) - mean(r_means))
        if nets:
            best = max(nets, key=lambda n: mean(n["val_final"]))
            m = mean([n["mean_acc"] for n in nets])
            entry[name].update(mean_acc=m, gap=m - mean(r_means), best_by_val=best["mean_acc"])
    return entry


def summary_stats(searches: list) -> dict:
    """Over the seeds (each scored by :func:`score_seed`): searched − random (Wilcoxon, bootstrap CI),
    the controls, the rank correlations over the random nets and the attribution rows."""
    gaps = [s["gap"] for s in searches]
    w, p = wilcoxon_signed_rank(gaps)
    controls = {}
    if searches and all("params_pick" in s for s in searches):
        pick_gaps = [s["params_pick"]["gap"] for s in searches]
        over_pick = [s["mean_acc"] - s["params_pick"]["mean_acc"] for s in searches]
        controls["params_pick"] = {
            "pool": searches[0]["params_pick"]["pool"], "mean_gap": mean(pick_gaps),
            "gap_ci95": list(bootstrap_ci(pick_gaps)), "wilcoxon_p": wilcoxon_signed_rank(pick_gaps)[1],
            "searched_minus_pick": mean(over_pick), "searched_minus_pick_ci95": list(bootstrap_ci(over_pick)),
            "searched_over_pick_wilcoxon_p": wilcoxon_signed_rank(over_pick)[1]}
    controls.update(_group_controls(searches))
    nets = [r for s in searches for r in s["random"]]
    retrained = [mean(r["acc"]) for r in nets]
    return {"searches": searches, "wilcoxon_p": p, "wilcoxon_w_plus": w, "mean_gap": mean(gaps),
            "gap_ci95": list(bootstrap_ci(gaps)), "mean_percentile": mean([s["percentile"] for s in searches]),
            "best_of_n_gap": mean([s["mean_acc"] - s["best_of_n_random"] for s in searches]),
            "kendall_tau": {"supernet": _tau_where_scored([r.get("one_shot") for r in nets], retrained),
                            "params": kendall_tau([r["params_m"] for r in nets], retrained),
                            "cost": kendall_tau([r["cost"] for r in nets], retrained), "nets": len(nets)},
            "controls": controls, "attribution": attribution(searches)}


def build_report(bench, raw: dict) -> dict:
    """quality.json: every raw number and the summary statistics."""
    a = bench.a
    from engine.derive_run import load_search_result
    from models.net_config import parse_text
    from search_space.diagnostics import net_depth
    searches = []
    for seed in sorted(raw["searches"]):
        run_dir = raw["searches"][seed]
        with open(os.path.join(run_dir, "derived.json"), encoding="utf-8") as f:
            derived = json.load(f)
        with open(os.path.join(run_dir, "net_config"), encoding="utf-8") as f:
            searched_text = f.read()
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            import yaml
            arch_start = yaml.safe_load(f)["search_params"]["arch_update_epoch"]

        def accs(text, key="test_top1", seeds=range(a.retrain_seeds)):
            return [bench.cached(text, r)[key] for r in seeds]

        randoms = raw["randoms"][seed]
        space = load_search_result(run_dir).space

        def depth(text):
            return list(net_depth(space, parse_text(text)))
        one_shot = bench.one_shot(seed, run_dir, [searched_text] + [r["net_config"] for r in randoms])
        entry = {"seed": seed, "run_dir": os.path.relpath(run_dir, bench.save), "net_config": searched_text,
                 "cost": derived["table_cost"], "params_m": derived["params_m"], "macs_m": derived["macs_m"],
                 "target": derived.get("target"), "acc": accs(searched_text),
                 "val_final": accs(searched_text, "val_top1_final"), "one_shot": one_shot[0],
                 "multi_branch_layers": _multi_branch_layers(searched_text), "depth": depth(searched_text),
                 "diagnostics": _diagnostics(run_dir, arch_start), "random": []}
        moved = retarget_info(run_dir)
        if moved:  # --searches_from: the history's per-epoch derives are the source's, at its target
            entry.update(rederived_fields(run_dir, moved, entry["diagnostics"]))
        for r, shot in zip(randoms, one_shot[1:]):
            entry["random"].append(dict(r, acc=accs(r["net_config"]), val_final=accs(r["net_config"], "val_top1_final"),
                                        one_shot=shot, depth=depth(r["net_config"])))
        groups = (raw.get("controls") or {}).get(seed) or {}

        def retrained(net):
            return dict(net, acc=accs(net["net_config"]), val_final=accs(net["net_config"], "val_top1_final"),
                        depth=depth(net["net_config"]))
        if groups.get("params_pick") is not None:
            entry["params_pick"] = retrained(groups["params_pick"])
        for name in ("uniform", "multi_branch"):
            if name in groups:
                entry[name] = dict(groups[name], nets=[retrained(n) for n in groups[name]["nets"]])
        score_seed(entry)
        searches.append(entry)
    first = searches[0]
    noise = [bench.cached(first["net_config"], r)["test_top1"] for r in range(max(a.noise_seeds, a.retrain_seeds))]
    times = [bench.cached(t, r)["time_s"] for s in searches for t in [s["net_config"]] + [x["net_config"] for x in s["random"]]
             for r in range(a.retrain_seeds)]
    report = dict(summary_stats(searches), **{
        "recipe": dict(bench.recipe, hash=bench.recipe_hash), "retrain_seed_std": std(noise),
        "retrain_noise": {"net": "searched net of seed %d" % first["seed"], "test_top1": noise},
        "retrain_time_s": mean(times),
        "compute": _compute(bench, searches, max(a.noise_seeds, a.retrain_seeds)),
        "protocol": {"config": os.path.basename(a.config), "opts": list(a.opts), "target": a.target,
                     "seeds": a.seeds, "random": a.random, "retrain_seeds": a.retrain_seeds,
                     "cost_tolerance": a.cost_tolerance, "test_split": a.test_split, "data": a.data_path or "demo",
                     "recal_batches": a.recal_batches, "eval_images": a.eval_images,
                     "params_pick": getattr(a, "params_pick", 0),
                     "uniform": bool(getattr(a, "uniform", False)),
                     "multi_branch_random": getattr(a, "multi_branch_random", 0)},
    })
    return report


def nearest_costs(below, above) -> str:
    """The nearest table costs outside an empty window, for a report line."""
    below, above = ("none" if v is None else f"{v:.3f} ms" for v in (below, above))
    return f"nearest cost below {below}, above {above}"


def _group_lines(report: dict) -> list:
    titles = {"uniform": "Hand-designed uniform nets (one op everywhere) in the window",
              "multi_branch": "Random multi-branch nets (what nse emits) in the window"}
    rows = []
    for name, title in titles.items():
        c = (report.get("controls") or {}).get(name)
        if not c:
            continue
        missing = "; ".join(f"seed {m['seed']}: none ({nearest_costs(m['nearest_below'], m['nearest_above'])})"
                            for m in c["seeds_without"])
        if "searched_minus_group" not in c:
            rows.append(f"{title}: none in any window. {missing}")
            continue

        def fmt(d):
            return (f"**{d['mean']:+.2f}** [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]{shared_note(d)} "
                    f"(p {d['wilcoxon_p']:.3g})")
        per_seed = ", ".join(f"{s[name]['mean_acc']:.2f} ({len(s[name]['nets'])} nets)" for s in report["searches"]
                             if s.get(name, {}).get("nets"))
        rows.append(f"{title}, over {len(c['seeds'])} seeds: searched − group mean {fmt(c['searched_minus_group'])}; "
                    f"searched − its best by val {fmt(c['searched_minus_best'])}; group − random "
                    f"{fmt(c['group_minus_random'])}; per seed test top-1: {per_seed}." + (f" {missing}." if missing else ""))
    return rows


def markdown(report: dict) -> str:
    rows = ["| seed | searched net (table cost) | searched test top-1 | random mean (N) | gap | percentile | "
            "best-of-N random | op entropy (first → final arch epoch) | skip share | depth blocks/layers | one-shot top-1 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in report["searches"]:
        d = s["diagnostics"] or {}
        rows.append(
            f"| {s['seed']} | {s['cost']:.3f} | {s['mean_acc']:.2f} ({', '.join(f'{x:.2f}' for x in s['acc'])}) | "
            f"{s['random_mean']:.2f} ({len(s['random'])}) | {s['gap']:+.2f} | {s['percentile']:.0f}% | "
            f"{s['best_of_n_random']:.2f} | {d.get('op_entropy_rel_first', float('nan')):.2f} → "
            f"{d.get('op_entropy_rel_final', float('nan')):.2f} | {d.get('skip_share_final', float('nan')):.2f} | "
            f"{d.get('depth_blocks_final', '-')}/{d.get('depth_layers_final', '-')} | "
            f"{'n/a' if s['one_shot'] is None else format(s['one_shot'], '.1f')} |")
    for s in report["searches"]:
        d = s["diagnostics"] or {}
        for rd in d.get("rounds") or []:
            kept = ", ".join(f"{op} {n}/{rd['searched'].get(op, 0)}" for op, n in
                             sorted(rd["kept"].items(), key=lambda kv: -kv[1]))
            rows.append(f"\nseed {s['seed']} round {rd['round']}: {rd['samples']} nets sampled, front {rd['front']}; "
                        f"ops kept/searched over layers: {kept or 'none'}")
        if d.get("rounds"):
            rows.append(f"\nseed {s['seed']}: {s.get('multi_branch_layers', 0)} multi-branch layers in the searched net, "
                        f"final gate entropy {d.get('gate_entropy_final') or float('nan'):.2f}")
    k = report["kendall_tau"]

    def f(x):
        return "n/a" if x is None else f"{x:+.3f}"
    lo, hi = report["gap_ci95"]
    rows += ["", f"mean gap searched − random: **{report['mean_gap']:+.2f}** points (bootstrap 95% CI "
             f"[{lo:+.2f}, {hi:+.2f}]), one-sided Wilcoxon signed-rank p = **{report['wilcoxon_p']:.3g}** over "
             f"{len(report['searches'])} seeds; searched nets' mean percentile among their random nets "
             f"{report['mean_percentile']:.0f}%; searched − best-of-N random {report['best_of_n_gap']:+.2f}.",
             f"Kendall τ with retrained test top-1 over {k['nets']} random nets: one-shot (supernet) {f(k['supernet'])}, "
             f"params {f(k['params'])}, table cost {f(k['cost'])}.",
             "Retrain noise: " + ("n/a" if report["retrain_seed_std"] is None else f"std {report['retrain_seed_std']:.2f}")
             + " points over "
             f"{len(report['retrain_noise']['test_top1'])} seeds of one net; {report['retrain_time_s']:.0f} s per retrain."]
    c = report.get("compute")
    if c:
        reused = c.get("searches_rederived") or 0
        searched = (f"no searches (the nets of `{c['rescored_from']}`, rescored)" if c.get("rescored_from") else
                    f"{len(c['search_s'])} searches {sum(c['search_s']) / 60:.0f} min")
        rows.append(f"Compute: {searched}"
                    + (f" ({reused} re-derived from --searches_from, their time not counted)" if reused else "")
                    + f", {c['retrain_units']} "
                    f"retrains {c['retrain_s_sum'] / 60:.0f} min (process time, {c['jobs']} jobs x {c['threads']} "
                    f"threads{_resumed_note(c)}); this invocation {c['wall_s_this_run'] / 60:.0f} min wall.")

    def shape(entries):
        return (f"{mean([e['params_m'] for e in entries]):.3f}M params, "
                f"{mean([e['depth'][0] for e in entries]):.1f}/{mean([e['depth'][1] for e in entries]):.1f}")
    ss = report["searches"]
    if all("depth" in s for s in ss):
        picks = [s["params_pick"] for s in ss if "params_pick" in s]
        rows.append(f"Shape, mean (params, routing blocks/searched layers): searched {shape(ss)}; random "
                    f"{shape([r for s in ss for r in s['random']])}" + (f"; params pick {shape(picks)}" if picks else "")
                    + ".")
    rows += _group_lines(report)
    c = (report.get("controls") or {}).get("params_pick")
    if c:
        per_seed = ", ".join(f"{s['params_pick']['mean_acc']:.2f} ({s['params_pick']['params_m']:.3f}M, "
                             f"{s['params_pick']['gap']:+.2f})" for s in report["searches"])
        drawn = min(s["params_pick"]["pool_drawn"] for s in report["searches"])
        rows += [f"Control, most params of {c['pool']} uniform nets in the window"
                 + (f" (only {drawn} in the smallest window)" if drawn < c["pool"] else "") + ": gap to random "
                 f"**{c['mean_gap']:+.2f}** [{c['gap_ci95'][0]:+.2f}, {c['gap_ci95'][1]:+.2f}] (Wilcoxon p "
                 f"{c['wilcoxon_p']:.3g}); searched − pick **{c['searched_minus_pick']:+.2f}** "
                 f"[{c['searched_minus_pick_ci95'][0]:+.2f}, {c['searched_minus_pick_ci95'][1]:+.2f}] (p "
                 f"{c['searched_over_pick_wilcoxon_p']:.3g}); per seed test top-1 (params, gap): {per_seed}."]
    if len(report.get("attribution") or []) > 1:
        rows += ["", "Where the gain comes from (per-seed differences of test top-1 means):", ""]
        rows += attribution_table(report["attribution"])
    return "\n".join(rows) + "\n"


def plot(report: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, s in enumerate(report["searches"]):
        c = colors[i % len(colors)]
        ax.scatter([r["cost"] for r in s["random"]], [mean(r["acc"]) for r in s["random"]], color=c, alpha=0.55, s=22)
        ax.scatter([s["cost"]], [s["mean_acc"]], color=c, marker="*", s=220, edgecolor="black", linewidth=0.8,
                   label=f"seed {s['seed']} searched", zorder=3)
        if "params_pick" in s:
            ax.scatter([s["params_pick"]["cost"]], [s["params_pick"]["mean_acc"]], color=c, marker="D", s=60,
                       edgecolor="black", linewidth=0.8, zorder=3,
                       label="most-params pick (diamonds)" if i == 0 else None)
        for name, marker, what in (("uniform", "s", "uniform nets (squares)"), ("multi_branch", "^", "multi-branch random (triangles)")):
            group = (s.get(name) or {}).get("nets") or []
            ax.scatter([n["cost"] for n in group], [n["mean_acc"] for n in group], facecolor="none", edgecolor=c,
                       marker=marker, s=50, linewidth=1.2, zorder=2, label=what if i == 0 and group else None)
    ax.set_xlabel("table cost")
    ax.set_ylabel("test top-1 (%), mean over retrain seeds")
    ax.set_title(f"searched (stars) vs random nets at ±{100 * report['protocol']['cost_tolerance']:.1f}% cost (dots); "
                 f"Wilcoxon p={report['wilcoxon_p']:.3g}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)


def write_report(report: dict, folder: str) -> str:
    atomic_write_json(os.path.join(folder, "quality.json"), report)
    text = markdown(report)
    atomic_write_text(os.path.join(folder, "quality.md"), text)
    plot(report, os.path.join(folder, "quality.png"))
    return text
