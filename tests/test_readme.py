"""The commands of the README and of the docs pages (docs/*.md): every one parses with the current
options; the cheap ones run as written on the demo data (run folders and output paths substituted)."""
import argparse
import glob
import importlib
import os
import re
import shlex

import pytest

from tests.conftest import ROOT

README = os.path.join(ROOT, "README.md")
PAGES = [README] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def readme_commands():
    text = "\n".join(open(p, encoding="utf-8").read() for p in PAGES)
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith(("python ", "densenas-", "torchrun ")):
                cmds.append(line)
    return cmds


def module_and_args(cmd):
    argv = shlex.split(cmd.replace("<time>", "TIME"))
    if argv[0] == "torchrun":
        argv = argv[argv.index("-m") + 1:]
        return argv[0], argv[1:]
    if argv[0] == "python" and argv[1] == "-m":
        return argv[2], argv[3:]
    if argv[0] == "python" and argv[1].endswith(".py"):
        return argv[1][:-3].replace("/", "."), argv[2:]
    raise AssertionError(f"unrecognised README command: {cmd}")


def console_script(name):
    """Console script name -> module, from setup.py's COMMANDS table."""
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "COMMANDS":
            return ast.literal_eval(node.value)[name].split(":")[0]
    raise KeyError(name)


class _Parsed(Exception):
    pass


COMMANDS = readme_commands()


def test_readme_has_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_command_parses(cmd, monkeypatch):
    argv = shlex.split(cmd.replace("<time>", "TIME"))
    if argv[0].startswith("densenas-"):
        module, args = console_script(argv[0]), argv[1:]
    else:
        module, args = module_and_args(cmd)
    original = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        original(self, args, namespace)  # exits 2 on an unknown or malformed option
        raise _Parsed
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    with pytest.raises(_Parsed):
        importlib.import_module(module).main(args)


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    from search_space.search_config import load_search_config
    from dataset.demo import generate
    from engine.search_loop import RunOptions, run_search
    data = generate(str(tmp_path_factory.mktemp("demo")), num_classes=10, train_per_class=10, val_per_class=4,
                    quiet=True)
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), [  # the demo space, a short schedule
        "train_params.epochs=2", "search_params.arch_update_epoch=1", "search_params.val_start_epoch=1",
        "data.batch_size=8", "data.steps_per_epoch=2"])
    run = run_search(cfg, RunOptions(data, str(tmp_path_factory.mktemp("runs")), device="cpu", quiet=True))
    with open(os.path.join(run, "demo_data_root"), "w", encoding="utf-8") as f:  # the dataset it searched on
        f.write(data)
    return run


CHEAP = ("run_apis.profile", "run_apis.derive", "tools.make_search_space", "run_apis.export")


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if any(m in c for m in CHEAP) or c.startswith("densenas-profile")])
def test_cheap_readme_commands_run(cmd, search_run, tmp_path, monkeypatch, capsys):
    argv = shlex.split(cmd.replace("<time>", "TIME"))
    if argv[0].startswith("densenas-"):
        module, args = console_script(argv[0]), argv[1:]
    else:
        module, args = module_and_args(cmd)
    args = [search_run if a == "runs/search-TIME" else a for a in args]
    if "--data_path" in args:  # the dataset the documented search ran on: here the demo search's own
        with open(os.path.join(search_run, "demo_data_root"), encoding="utf-8") as f:
            args[args.index("--data_path") + 1] = f.read()
    if "--out" in args:  # outputs go to a temporary folder
        args[args.index("--out") + 1] = str(tmp_path / os.path.basename(args[args.index("--out") + 1]))
    elif module == "run_apis.derive":
        args += ["--out", str(tmp_path / "derive")]
    load = args[args.index("--load_path") + 1] if "--load_path" in args else None
    shipped_run = bool(load) and not os.path.isabs(load) and os.path.isdir(os.path.join(ROOT, load))
    if shipped_run:  # a search folder committed under tools/results: its own budgets apply
        args[args.index("--load_path") + 1] = os.path.join(ROOT, load)
    if module == "run_apis.derive" and ("--max_cost" in args or "--budgets" in args) and not shipped_run:
        # the README's budgets are for the paper's space; scale them to the demo space's range
        from search_space.budget import cost_range
        from engine.derive_run import load_search_result, load_table
        result = load_search_result(search_run)
        lo, hi = cost_range(result.space, load_table(result, None))
        for flag in ("--max_cost", "--budgets"):
            if flag in args:
                i = args.index(flag) + 1
                n = len(args[i].split(","))
                args[i] = ",".join(f"{lo + (hi - lo) * (k + 1) / (n + 1):.4f}" for k in range(n))
    if "--measure_latency" in args:
        # one fresh timing process per network instead of 3: the 3-process statistic has its own
        # test (tests/run_apis/test_derive.py); here the command only has to run as written
        import functools
        import latency.measure
        monkeypatch.setattr(latency.measure, "measure_on_table_device",
                            functools.partial(latency.measure.measure_on_table_device, processes=1))
    monkeypatch.chdir(tmp_path)  # from another directory: names resolve to the shipped files
    importlib.import_module(module).main(args)
    assert capsys.readouterr().out.strip()


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_relative_links_resolve(page):
    """Every relative link of the README and the docs names a file that exists, and its anchor a heading."""
    text = open(page, encoding="utf-8").read()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(full):
            broken.append(target)
        elif anchor and full.endswith(".md"):
            headings = re.findall(r"^#+ (.+)$", open(full, encoding="utf-8").read(), flags=re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert broken == []


def test_readme_is_short_and_routes_to_every_page():
    text = open(README, encoding="utf-8").read()
    assert len(text.splitlines()) <= 250
    pages = {os.path.basename(p) for p in PAGES if p != README}
    assert {p for p in pages if f"(docs/{p})" not in text} == set()
