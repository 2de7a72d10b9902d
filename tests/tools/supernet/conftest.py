"""One tiny real search, shared by the probes' tests (a search is the slow part)."""
import json
import os

import pytest

from dataset.demo import generate
from engine.search_loop import RunOptions, run_search
from search_space.search_config import load_search_config
from tests.run_apis.test_search import SEARCH_OPTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="session")
def search_run(tmp_path_factory):
    """(data root, run folder) of a 3-epoch search on a 5-class demo dataset."""
    data = generate(str(tmp_path_factory.mktemp("demo")), num_classes=5, train_per_class=20, val_per_class=8,
                    quiet=True)
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), SEARCH_OPTS)
    return data, run_search(cfg, RunOptions(data, str(tmp_path_factory.mktemp("runs")), device="cpu", quiet=True))


def file_mtimes(folder: str) -> dict:
    """Each file's modification time: a read-only probe must leave them all as they were."""
    return {f: os.path.getmtime(os.path.join(folder, f)) for f in os.listdir(folder)}


def run_probe(main, search_run, out, batches: int) -> dict:
    """A probe's ``main`` on the shared search: its report is what it wrote to ``out``, and the run folder is
    left as it was (the probes are read-only)."""
    data, run_dir = search_run
    before = file_mtimes(run_dir)
    rep = main(["--load_path", run_dir, "--data_path", data, "--batches", str(batches), "--out", str(out)])
    assert json.load(open(out)) == json.loads(json.dumps(rep))
    assert file_mtimes(run_dir) == before
    return rep
