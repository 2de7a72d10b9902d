r"""The results tables of the README and of docs/, written from the committed raw results, never typed.

    python -m tools.results_tables            # check: list the tables that differ from the raw results (exit 1)
    python -m tools.results_tables --write    # rewrite them

A table lives in a page between two markers; the first names what it is made of:

    <!-- generated: quality-glance -->             every quality benchmark, one line each (README)
    <!-- generated: supernet-glance -->            every super-network ranking study, one line per strategy
    <!-- generated: quality tools/results/X -->    a benchmark's report (what tools.quality.benchmark writes)
    <!-- generated: supernet tools/results/X -->   a ranking study's report (tools.supernet.benchmark)
    <!-- generated: finetune tools/results/X -->   fine-tuning from inherited weights (tools.quality.finetune_inherited)
    <!-- generated: ceiling CONFIG TARGET TRAIN_CONFIG -->  a window's pooled retrains at a recipe (tools.quality.ceiling)
    <!-- generated: agreement tools/results/recipe_agreement/X -->  two recipes' rankings of one set (tools.supernet.recipe_agreement)
    <!-- generated: zoo -->                        the model zoo's registry (models.zoo): figures, weights
    <!-- generated: executor-overhead tools/results/X -->  Ray against the local pool (tools.quality.executor_overhead)
    <!-- generated: projection tools/results/X -->  a benchmark on W workers, on paper (tools.quality.projection)
    <!-- generated: runtimes tools/results/runtimes/X -->  the same nets in eager and ORT (tools.latency.runtimes)
    <!-- generated: runtime-searches tools/results/runtimes/X -->  a search per table (tools.latency.runtime_searches)
    <!-- generated: curves tools/results/X [tools/results/Y ...] -->  learning curves of the strategies
    <!-- generated: readouts tools/results/X/readout_<run> -->   one-shot tau over a run's snapshots (probe_readout)
    <!-- generated: arch-gradients tools/results/X -->  every probe_arch_gradients file of X, by name
    <!-- generated: op-losses tools/results/X -->       every probe_op_losses file of X, by name
    ...
    <!-- end generated -->

The numbers are computed by the benchmarks' own statistics code (``tools.quality.report``,
``tools.supernet.benchmark``) from ``quality.json``, ``supernet.json``, the ranking sets and the
one-shot read-out files, so a new result cannot leave a stale table: ``tests/tools/test_results_tables.py``
fails when a committed table differs from what this command writes. Which benchmarks the glance
tables list, under which name and with which page, is the one editorial part (``QUALITY_ROWS``,
``SUPERNET_STUDIES`` below).
"""
from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import re
import sys

if __package__ in (None, ""):  # also runnable as a script
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.cli import main_guard  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.io import atomic_write_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = "tools/results"
PROTOCOL_SEEDS = 5  # fewer seeds than the protocol's: reported, marked "no conclusion"

# (results folder, method as the table names it, note, the docs page that discusses it)
QUALITY_ROWS = [
    ("quality_fmnist_1.5ms", "`densenas` (paper default)", "older recipe", "docs/search_quality.md"),
    ("quality_fmnist_1.5ms_controls", "`densenas` (paper default, every control)", "", "docs/search_quality.md"),
    ("quality_fmnist_1.5ms_tfnas", "`tfnas`", "older recipe", "docs/search_methods.md"),
    ("quality_fmnist_1.5ms_tfnas_controls", "`tfnas` (every control)", "", "docs/search_quality.md"),
    ("quality_fmnist_1.5ms_sandwich", "`densenas` + `sandwich`", "", "docs/supernet_ranking.md"),
    ("quality_fmnist_1.5ms_sandwich_long", "`densenas` + `sandwich`",
     "**four-pass recipe** (the same searches, 1 retrain seed per net)", "docs/search_quality.md"),
    ("quality_fmnist_1.5ms_entangled", "`densenas` + `entangle`", "", "docs/entangled_weights.md"),
    ("quality_fmnist_1.5ms_sandwich_entangled", "`densenas` + `entangle` + `sandwich`", "", "docs/entangled_weights.md"),
    ("quality_fmnist_1.5ms_nse", "`nse` (no controls)", "older recipe", "docs/search_methods.md"),
    ("quality_fmnist_1.5ms_nse_inherit", "`nse` + `inherit_weights`", "", "docs/search_methods.md"),
    ("quality_fmnist_1.5ms_nse_controls", "`nse` (every control)", "", "docs/search_methods.md"),
    ("quality_fmnist_1.5ms_nse_entangled", "`nse` + `entangle` (every control)", "", "docs/entangled_weights.md"),
    ("quality_fmnist_1.0ms", "`densenas` (paper default)", "", "docs/search_quality.md"),
    ("quality_fmnist_1.0ms_sandwich", "`densenas` + `sandwich`", "", "docs/search_quality.md"),
    ("quality_fmnist_1.0ms_nse", "`nse`", "", "docs/search_quality.md"),
    ("quality_fmnist_1.0ms_entangled", "`densenas` + `entangle`", "the 1.5 ms searches re-derived",
     "docs/entangled_weights.md"),
]
# (study folder holding supernet.json, the ranking set's name, page); plus one-shot read-out files
SUPERNET_STUDIES = [
    ("supernet_fmnist/full_set", "4-op space", "docs/supernet_ranking.md"),
    ("supernet_fmnist_entangled", "4-op space", "docs/entangled_weights.md"),
    ("supernet_fmnist_entangled_fan_hidden", "4-op space", "docs/entangled_weights.md"),
    ("supernet_fmnist_nse", "`nse` single-op space", "docs/supernet_ranking.md"),
    ("supernet_fmnist_nse/all_ops", "`nse` single-op space, all ops", "docs/supernet_ranking.md"),
    ("supernet_fmnist_nse_entangled", "`nse` single-op space", "docs/entangled_weights.md"),
]
READOUTS = [  # (read-out file, strategy and schedule as named, steps, study it belongs to)
    ("supernet_fmnist_entangled/readout_uniform_entangled_1600_at800.json",
     "`uniform_entangled`, 1,600-step schedule, at step 800", 800, "docs/entangled_weights.md"),
    ("supernet_fmnist_entangled/readout_uniform_entangled_1600_at1600.json",
     "`uniform_entangled`, 1,600-step schedule, at step 1,600", 1600, "docs/entangled_weights.md"),
    ("supernet_fmnist/readout_uniform_1600_at800.json",
     "`uniform` (independent), 1,600-step schedule, at step 800", 800, "docs/entangled_weights.md"),
    ("supernet_fmnist/readout_uniform_1600_at1600.json",
     "`uniform` (independent), 1,600-step schedule, at step 1,600", 1600, "docs/entangled_weights.md"),
]
MARKER = re.compile(r"(<!-- generated: (?P<what>[^>]*?) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _num(x: float) -> str:
    """Signed, two decimals, the typographic minus of the prose."""
    return f"{x:+.2f}".replace("-", "−")


def _paired_cell(row: dict) -> str:
    lo, hi = row["ci95"]
    if row.get("shared"):  # ‡: a net the seeds share; CI and p carry its retrain error (bootstrap)
        text = f"{_num(row['mean'])} [{_num(lo)}, {_num(hi)}], p {row['p_bootstrap']:.2g}‡"
    else:
        text = f"{_num(row['mean'])} [{_num(lo)}, {_num(hi)}], p {row['wilcoxon_p']:.2g}"
    return f"**{text}**" if lo > 0 or hi < 0 else text  # bold: the CI excludes 0


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{os.path.relpath(path, ROOT)}: cannot read a results file ({e})") from None


@functools.lru_cache(maxsize=None)
def quality_report(folder: str) -> dict:
    """(Read-only to callers: cached.) A committed quality.json with its comparisons computed again (tools.quality.report.restat): the
    nets its seeds share (the best hand-designed net above all) take every retrain of theirs that the
    committed files hold with the same recipe (the ceiling files add seeds for them)."""
    from tools.quality.comparisons import restat, shared_nets
    report = _load_json(os.path.join(ROOT, RESULTS, folder, "quality.json"))
    return restat(report, _recipe_pool(report["recipe"]["hash"]).retrains_of(shared_nets(report["searches"])))


@functools.lru_cache(maxsize=None)
def _recipe_pool(recipe_hash: str):
    """Every committed retrain of one recipe, whatever its search config or target."""
    from tools.quality.window_pool import WindowPool, result_files
    return WindowPool(None, None, recipe_hash).add_files(result_files(os.path.join(ROOT, RESULTS)))


def glance_row(folder: str, method: str, note: str, page: str) -> str:
    # page: the markdown link to the page that discusses the benchmark
    """One line of the at-a-glance table: searched − each group, from the report's own statistics."""
    report = quality_report(folder)
    searches = report["searches"]
    rows = {r["comparison"]: r for r in report["attribution"]}
    n = len(searches)
    proto = report["protocol"]

    def cell(name, asked):
        if name in rows:
            return _paired_cell(rows[name])
        return "not run" if not asked else "—"
    pick = cell("searched − params pick", proto.get("params_pick"))
    multi = cell("searched − multi-branch random", proto.get("multi_branch_random")) \
        if proto.get("multi_branch_random") else "—"
    if not proto.get("uniform"):
        uniform = "not run"
    elif "searched − uniform (best by val)" in rows:
        r = rows["searched − uniform (best by val)"]
        uniform = _paired_cell(r) + (f" ({len(r['seeds'])} seeds with one)" if len(r["seeds"]) < n else "")
    else:
        uniform = f"no hand-designed net fits {proto['target']:g} ms"
    label = method + (f", {note}" if note else "")
    if n < PROTOCOL_SEEDS:
        label += f" (**{n} of {PROTOCOL_SEEDS} seeds**: no conclusion)"
    return (f"| {label} | {proto['target']:g} ms | {n} | {cell('searched − random', True)} | {pick} | {multi} | "
            f"{uniform} | {page} |")


def quality_glance(page_dir: str) -> str:
    lines = ["| method | target | seeds | searched − random | − params pick | − multi-branch random | "
             "− best hand-designed (by val) | where |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for folder, method, note, page in QUALITY_ROWS:
        lines.append(glance_row(folder, method, note, _link(page, page_dir)))
    return "\n".join(lines) + "\n"


def _link(page: str, page_dir: str) -> str:
    """A link to a docs page (ROOT-relative) from a page in ``page_dir``."""
    return f"[{os.path.basename(page)}]({os.path.relpath(os.path.join(ROOT, page), page_dir)})"


def _tau_cell(t) -> str:
    if not t or t.get("tau") is None:
        return "—"
    lo, hi = t["ci95"]
    text = f"{_num(t['tau'])} [{_num(lo)}, {_num(hi)}]"
    return f"**{text}**" if lo > 0 or hi < 0 else text


def _ceiling(ranking_path: str) -> str:
    rel = _load_json(ranking_path)["reliability"]
    return " / ".join(f"{rel[k]['split_half_tau']['mean']:.2f}" for k in ("all", "window") if k in rel)


def _ranking_set(recorded: str) -> str:
    """The committed ranking set a study names (studies record the path they ran with)."""
    return os.path.join(ROOT, RESULTS, "ranking", os.path.basename(recorded))


def supernet_glance(page_dir: str) -> str:
    """One line per strategy of every committed ranking study, and per committed read-out."""
    lines = ["| strategy | ranking set (reliability whole / window) | weight steps | sampled-path train top-1 | "
             "one-shot τ, whole set [95% CI] | window | where |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for folder, set_name, page in SUPERNET_STUDIES:
        rep = _load_json(os.path.join(ROOT, RESULTS, folder, "supernet.json"))
        ranking = _ranking_set(rep["ranking"])
        where = _link(page, page_dir)
        name = f"{set_name}, {rep['nets']} nets ({_ceiling(ranking)})"
        for strategy, s in rep["summary"].items():
            top1 = "—" if s.get("train_top1_end") is None else f"{s['train_top1_end']:.1f}%"
            lines.append(f"| `{strategy}` | {name} | {s['steps']} | {top1} | {_tau_cell(s.get('tau_all'))} | "
                         f"{_tau_cell(s.get('tau_window'))} | {where} |")
    for path, label, steps, page in READOUTS:
        rep = _load_json(os.path.join(ROOT, RESULTS, path))
        ranking = _ranking_set(rep["ranking"])
        taus = rep["taus"]["prob"]
        n = taus["all"]["n"]
        where = _link(page, page_dir)
        lines.append(f"| {label} | 4-op space, {n} nets ({_ceiling(ranking)}) | {steps} | — | "
                     f"{_tau_cell(taus['all'])} | {_tau_cell(taus.get('window'))} | {where} |")
    return "\n".join(lines) + "\n"


def curve_table(folders: list) -> str:
    """Learning curves of the strategies of one or more super-network studies: sampled-path train
    top-1 every 100 steps, training seconds, and where the study has one, the top-1 at the
    wall-clock ``uniform`` took."""
    studies = [_load_json(os.path.join(ROOT, f, "supernet.json")) for f in folders]
    steps = sorted({p["step"] for rep in studies for s in rep["strategies"].values() for p in s["curve"]
                    if p["step"] % 100 == 0})
    lines = ["| strategy | study | " + " | ".join(f"step {k}" for k in steps) + " | training s | at `uniform`'s training s |",
             "| --- | --- | " + " | ".join("---" for _ in steps) + " | --- | --- |"]
    for folder, rep in zip(folders, studies):
        for name, strat in rep["strategies"].items():
            at = {p["step"]: p["train_top1"] for p in strat["curve"]}
            summ = rep["summary"].get(name, {})
            wall = summ.get("train_top1_at_uniform_wall")
            wall_cell = "—" if wall is None or name == "uniform" else f"{wall:.1f} (step {summ['step_at_uniform_wall']})"
            cells = " | ".join("" if k not in at else f"{at[k]:.1f}" for k in steps)
            lines.append(f"| `{name}` | {os.path.relpath(os.path.join(ROOT, folder), os.path.join(ROOT, RESULTS))} | "
                         f"{cells} | {summ.get('train_s', float('nan')):.0f} | {wall_cell} |")
    return "\n".join(lines) + "\n"


def readout_table(pattern: str) -> str:
    """A super network's one-shot ranking over its snapshots (tools.supernet.probe_readout files
    ``<pattern>_at<step>.json``), one line per snapshot and read-out."""
    files = glob.glob(os.path.join(ROOT, pattern + "_at*.json"))
    if not files:
        raise InputError(f"no read-out files {pattern}_at*.json")
    lines = ["| snapshot step | read-out | τ whole set [95% CI] | τ window | mean one-shot top-1 |",
             "| --- | --- | --- | --- | --- |"]
    for path in sorted(files, key=lambda f: int(re.search(r"_at(\d+)\.json$", f).group(1))):
        rep = _load_json(path)
        step = int(re.search(r"_at(\d+)\.json$", path).group(1))
        for name, t in rep["taus"].items():
            lines.append(f"| {step} | {name} | {_tau_cell(t.get('all'))} | {_tau_cell(t.get('window'))} | "
                         f"{rep['mean_one_shot_top1'][name]:.1f} |")
    return "\n".join(lines) + "\n"


def probe_reports(folder: str) -> dict:
    """Every JSON of a folder of probe reports, by file name without .json, sorted."""
    files = sorted(glob.glob(os.path.join(ROOT, folder, "*.json")))
    if not files:
        raise InputError(f"no probe reports {folder}/*.json")
    return {os.path.basename(f)[:-len(".json")]: _load_json(f) for f in files}


def generated(what: str, page_path: str) -> str:
    """The text a marker stands for."""
    kind, _, src = what.partition(" ")
    page_dir = os.path.dirname(page_path)
    if kind == "quality-glance":
        return quality_glance(page_dir)
    if kind == "supernet-glance":
        return supernet_glance(page_dir)
    if kind == "quality":
        from tools.quality.report import markdown
        return markdown(quality_report(os.path.relpath(os.path.join(ROOT, src), os.path.join(ROOT, RESULTS))))
    if kind == "supernet":
        from tools.supernet.benchmark import markdown
        return markdown(_load_json(os.path.join(ROOT, src, "supernet.json")))
    if kind == "zoo":
        return zoo_table()
    if kind == "curves":
        return curve_table(src.split())
    if kind == "readouts":
        return readout_table(src)
    if kind == "arch-gradients":
        from tools.supernet.probe_arch_gradients import markdown
        return markdown(probe_reports(src))
    if kind == "op-losses":
        from tools.supernet.probe_op_losses import markdown
        return markdown(probe_reports(src))
    if kind == "ceiling":  # <config> <target> <train_config>: the window's pooled retrains at a recipe
        from tools.quality.ceiling import build_parser, ceiling_picks, ceiling_report, open_pool, report_markdown
        config, target, train_config = src.split()
        args = build_parser().parse_args(["--target", target, "--config", config, "--train_config", train_config,
                                          "--results", os.path.join(ROOT, RESULTS)])
        pool = open_pool(args)
        text = report_markdown(ceiling_report(pool, ceiling_picks(pool)))
        return text.replace(os.path.join(ROOT, ""), "")
    if kind == "agreement":
        from tools.supernet.recipe_agreement import markdown
        return markdown(_load_json(os.path.join(ROOT, src + ".json")))
    if kind == "executor-overhead":
        from tools.quality.executor_overhead import markdown
        return markdown(_load_json(os.path.join(ROOT, src + ".json")))
    if kind == "projection":
        from tools.quality.projection import markdown
        out = _load_json(os.path.join(ROOT, src + ".json"))
        return markdown(out, out["quality"])
    if kind in ("runtimes", "runtime-searches"):  # issue 55 §3: eager against ORT
        from tools.latency import runtime_searches, runtimes
        return (runtimes if kind == "runtimes" else runtime_searches).markdown(_load_json(os.path.join(ROOT, src + ".json")))
    if kind == "finetune":
        from tools.quality.finetune_inherited import markdown
        return markdown(_load_json(os.path.join(ROOT, src, "finetune.json")))
    raise InputError(f"{os.path.relpath(page_path, ROOT)}: unknown generated table '{what}'")


def zoo_table() -> str:
    """The zoo's entries as the registry holds them (the trained nets' figures are tested against
    their retrain records in tests/models/test_fashion_mnist_zoo.py)."""
    from models.zoo import ZOO
    rows = ["| model | data, input | MACs | params | latency | top-1 | weights |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in ZOO.items():
        p = e.published
        if e.weights_url:  # trained here: its own table's estimate, test split
            data = f"Fashion-MNIST, {e.input_size} px"
            latency = f"{p['latency_ms']:.2f} ms (`{e.meta['latency_table']}`)"
            top1 = f"{p['top1']:.2f}% (test; val {p['val_top1']:.2f}%)"
            weights = f"in the package, sha256 `{e.weights_sha256[:12]}`"
            params = f"{p['params_m']:.3f}M"
        else:  # the paper's figures
            data, latency, top1 = "ImageNet, 224 px", f"{p['latency_ms']} ms (TITAN-XP b32, paper)", f"{p['top1']}% (paper)"
            weights, params = "not available", "—"
        rows.append(f"| `{name}` | {data} | {p['macs_m']}M | {params} | {latency} | {top1} | {weights} |")
    return "\n".join(rows) + "\n"


def pages() -> list:
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def refresh(path: str) -> tuple:
    """(the page's text with every generated table rewritten, the markers whose table changed)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stale = []

    def rewrite(m):
        body = generated(m.group("what"), path)
        if body != m.group("body"):
            stale.append(m.group("what"))
        return m.group(1) + body + m.group(4)
    return MARKER.sub(rewrite, text), stale


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.results_tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="rewrite the stale tables (default: only list them, exit 1)")
    return p


@main_guard
def main(argv=None):
    args = build_parser().parse_args(argv)
    stale_pages = 0
    for path in pages():
        text, stale = refresh(path)
        if not stale:
            continue
        stale_pages += 1
        rel = os.path.relpath(path, ROOT)
        if args.write:
            atomic_write_text(path, text)
            print(f"{rel}: rewrote {len(stale)} table(s): {', '.join(stale)}")
        else:
            print(f"{rel}: {len(stale)} stale table(s): {', '.join(stale)}")
    if stale_pages and not args.write:
        print("run python -m tools.results_tables --write")
        return 1
    if not stale_pages:
        print("every generated table matches the raw results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
