"""The comparisons of a quality benchmark: per search seed, one side's weighted net means minus
another's (searched, random, params pick, the control groups, a group's best by val); over seeds the
mean, a CI and one-sided p -- with the error of a net several seeds share carried by every gap it
enters (``engine.stats.shared_net_bootstrap``). Used by ``tools.quality.report`` for a new report
and by ``tools.results_tables`` to restate a committed one with more retrains of its shared nets."""
from __future__ import annotations

from engine.stats import bootstrap_ci, mean, wilcoxon_signed_rank


def _paired(diffs) -> dict:
    """Mean, bootstrap 95% CI and one-sided Wilcoxon p of per-seed differences."""
    return {"mean": mean(diffs), "ci95": list(bootstrap_ci(diffs)), "wilcoxon_p": wilcoxon_signed_rank(diffs)[1],
            "per_seed": list(diffs)}


# -- comparisons: per-seed differences of weighted net means ----------------------------------------
def _side(s: dict, what: str) -> list:
    """The nets (net_config, weight) whose weighted mean is one side of a comparison for seed ``s``."""
    if what == "searched":
        return [(s["net_config"], 1.0)]
    if what == "params_pick":
        return [(s["params_pick"]["net_config"], 1.0)]
    if what.endswith("_best"):  # a group's best net: a designer picks on val, not test
        best = max(s[what[:-len("_best")]]["nets"], key=lambda n: mean(n["val_final"]))
        return [(best["net_config"], 1.0)]
    nets = s["random"] if what == "random" else s[what]["nets"]
    return [(n["net_config"], 1.0 / len(nets)) for n in nets]


def seed_nets(s: dict):
    """Every net entry of one search seed: the searched net, its random nets, its params pick and
    its control groups' nets (the entries that carry ``acc`` / ``val_final``)."""
    yield s
    yield from s["random"]
    if "params_pick" in s:
        yield s["params_pick"]
    for g in ("uniform", "multi_branch"):
        yield from (s.get(g) or {}).get("nets", [])


def net_retrains(searches: list, extra: dict = None) -> dict:
    """net_config -> {seed: test top-1} of every net the report retrained; ``extra`` (net_config ->
    {seed: test top-1}, the same recipe) adds retrains of other files -- given for the nets that
    several seeds share only, whose number of retrains was not chosen by their results."""
    out = {}
    for s in searches:
        for e in seed_nets(s):
            out.setdefault(e["net_config"], {}).update(enumerate(e.get("acc") or []))
    for text, seeds in (extra or {}).items():
        if text in out:
            out[text].update(seeds)
    return out


def shared_nets(searches: list) -> set:
    """net_configs that several seeds' comparisons use (a control shared by seeds, above all the
    window's best hand-designed net)."""
    seen = {}
    for s in searches:
        sides = ["searched", "random"] + [g for g in ("params_pick",) if g in s] + \
            [g for g in ("uniform", "multi_branch") if (s.get(g) or {}).get("nets")]
        for net in {t for side in sides for t, _ in _side(s, side)}:
            seen[net] = seen.get(net, 0) + 1
    return {n for n, k in seen.items() if k > 1}


def compare(searches: list, a: str, b: str, retrains: dict) -> dict:
    """Side ``a`` − side ``b`` per seed, over seeds: mean, 95% CI, one-sided Wilcoxon p. Where a net
    enters the differences of several seeds, its one estimate's error moves them all together: the
    CI (and ``p_bootstrap``) then come from :func:`engine.stats.shared_net_bootstrap`, which draws the
    shared nets' means from their retrain error (pooled retrain std of the report) besides resampling
    the seeds; ``ci95_seeds_only`` keeps the plain bootstrap over seeds."""
    from engine.stats import pooled_within_std, shared_net_bootstrap
    rows = [[(t, w) for t, w in _side(s, a)] + [(t, -w) for t, w in _side(s, b)] for s in searches]
    means = {t: mean(list(v.values())) for t, v in retrains.items()}
    out = _paired([sum(w * means[t] for t, w in row) for row in rows])
    pooled = pooled_within_std([list(v.values()) for v in retrains.values()])
    sigma = pooled["std"] if pooled else None
    if len(rows) > 1 and sigma:
        boot = shared_net_bootstrap(rows, means, {t: len(v) for t, v in retrains.items()}, sigma)
        if boot["shared"]:
            out.update(ci95_seeds_only=out["ci95"], ci95=boot["ci95"], p_bootstrap=boot["p_bootstrap"],
                       shared=boot["shared"], seed_std=sigma)
    return out


def _group_controls(searches, retrains: dict = None) -> dict:
    """Over seeds, per control group of several nets (uniform, multi-branch random): searched −
    group mean, searched − the group's best net by val, group mean − random; the seeds whose window
    held none of the group's nets (uniform: with the nearest costs)."""
    retrains = retrains or net_retrains(searches)
    out = {}
    for name in ("uniform", "multi_branch"):
        asked = [s for s in searches if name in s]
        if not asked:
            continue
        have = [s for s in asked if s[name]["nets"]]
        rec = {"seeds": [s["seed"] for s in have],
               "seeds_without": [{"seed": s["seed"], "nearest_below": s[name].get("nearest_below"),
                                  "nearest_above": s[name].get("nearest_above")} for s in asked if not s[name]["nets"]]}
        if have:
            rec.update(searched_minus_group=compare(have, "searched", name, retrains),
                       searched_minus_best=compare(have, "searched", f"{name}_best", retrains),
                       group_minus_random=compare(have, name, "random", retrains),
                       nets_per_seed=[len(s[name]["nets"]) for s in have])
        out[name] = rec
    return out


COMPARISONS = [("searched − random", None, "searched", "random"),
               ("searched − params pick", "params_pick", "searched", "params_pick"),
               ("searched − multi-branch random", "multi_branch", "searched", "multi_branch"),
               ("searched − uniform (mean)", "uniform", "searched", "uniform"),
               ("searched − uniform (best by val)", "uniform", "searched", "uniform_best"),
               ("params pick − random", "params_pick", "params_pick", "random"),
               ("multi-branch random − random", "multi_branch", "multi_branch", "random"),
               ("uniform (mean) − random", "uniform", "uniform", "random")]


def attribution(searches: list, extra: dict = None) -> list:
    """Where a search's gain comes from, one row per comparison the benchmark ran, each over the
    seeds that have both sides: mean, CI, one-sided p (see :func:`compare`). A seed takes part where
    its group was asked for and has nets (a group with nets has mean_acc). ``extra``: more retrains of
    shared nets (:func:`net_retrains`)."""
    retrains = net_retrains(searches, extra)
    rows = []
    for name, group, a, b in COMPARISONS:
        have = [s for s in searches if group is None or "mean_acc" in (s.get(group) or {})]
        if have:
            rows.append(dict(compare(have, a, b, retrains), comparison=name, seeds=[s["seed"] for s in have]))
    return rows


def restat(report: dict, extra: dict = None) -> dict:
    """A committed report's comparisons computed again, with ``extra`` retrains of its shared nets."""
    return dict(report, attribution=attribution(report["searches"], extra),
                controls=dict(report.get("controls") or {}, **_group_controls(
                    report["searches"], net_retrains(report["searches"], extra))))


def attribution_table(rows: list) -> list:
    out = ["| comparison | seeds | mean (points) | bootstrap 95% CI | one-sided Wilcoxon p |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['comparison']} | {len(r['seeds'])} | {r['mean']:+.2f} | [{r['ci95'][0]:+.2f}, "
                   f"{r['ci95'][1]:+.2f}]{shared_note(r)} | {r['wilcoxon_p']:.3g} |")
    return out


def shared_note(row: dict) -> str:
    """After a CI that also carries the error of nets several seeds share: which, how many retrains."""
    if not row.get("shared"):
        return ""
    k = [n["seeds"] for n in row["shared"]]
    seeds = f"{k[0]} retrains" if len(set(k)) == 1 else f"{min(k)}–{max(k)} retrains"
    return f" ‡ ({len(k)} shared net{'s' if len(k) > 1 else ''}, {seeds}; bootstrap p {row['p_bootstrap']:.2g})"
