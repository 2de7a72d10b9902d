"""Imports point one way: common -> configs -> dataset / models -> search_space -> latency -> engine ->
run_apis / tools (a module may import its own package or any package below it), and no module
imports itself back through others (no cycles, lazy imports inside functions included)."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER = {"common": 0, "configs": 1, "latency_tables": 1, "dataset": 2, "models": 2, "search_space": 3,
         "latency": 4, "engine": 5, "run_apis": 6, "tools": 6}
# The deprecated import paths of the last release (search_space.latency*, search_space.network_timing,
# search_space.nse) are gone: no import may point up, with no exception.
REMOVED = ("search_space.latency", "search_space.latency_fit", "search_space.latency_stats",
           "search_space.network_timing", "search_space.nse")
MAX_LINES = 400


def _modules():
    mods = {}
    for top in LAYER:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return mods


def _imports(name: str, path: str, mods: dict) -> set:
    """Project modules ``name`` imports anywhere in its file (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in mods and t != name}
    return out


def _graph():
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def test_the_module_walk_sees_the_packages():
    graph = _graph()
    assert {"common.errors", "configs", "search_space.search_config", "engine.search_loop",
            "run_apis.search"} <= set(graph)
    assert "search_space.topology" in graph["search_space.search_config"]  # the walk finds edges


def test_imports_point_down_the_layers():
    upward = sorted(f"{m} imports {d}" for m, deps in _graph().items() for d in deps
                    if LAYER[d.split(".")[0]] > LAYER[m.split(".")[0]]
                    or (d.split(".")[0] != m.split(".")[0] and LAYER[d.split(".")[0]] == LAYER[m.split(".")[0]]))
    assert upward == []


def test_no_import_cycles():
    graph, index, low, stack, on, cycles = _graph(), {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_removed_paths_stay_removed_and_modules_stay_small():
    import importlib.util
    assert [old for old in REMOVED if importlib.util.find_spec(old) is not None] == []
    long = sorted(f"{m}: {n} lines" for m, p in _modules().items()
                  if (n := sum(1 for _ in open(p, encoding="utf-8"))) > MAX_LINES)
    assert long == []
