import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
REFERENCE = os.path.join(os.path.dirname(ROOT), "shared", "reference")


@pytest.fixture
def reference():
    """Path to ../shared/reference (published DenseNAS data); skip when absent."""
    if not os.path.isdir(REFERENCE):
        pytest.skip(f"published reference data not found at {REFERENCE} (only present in the project's CI)")
    return REFERENCE


# Under pytest-xdist each worker is one of N processes on the machine's cores: torch's thread pool on
# top oversubscribes them, and OpenMP's spin-waits then make small ops many times slower. So each
# worker, and the processes its tests start, gets its share of the cores (at most 2, as before).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
TEST_THREADS = max(1, min(2, (os.cpu_count() or 1) // _WORKERS))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(TEST_THREADS))


@pytest.fixture(autouse=True)
def _small_threads():
    import torch
    torch.set_num_threads(TEST_THREADS)
    yield


TINY_OPTS = [
    "search_params.net_scale.chs=[8,12,16,20,24]",
    "search_params.net_scale.fm_sizes=[16,8,8,4,4]",
    "search_params.net_scale.stage=[0,1,1,2,2,3]",
    "search_params.net_scale.num_layers=[0,1,1,1,0]",
    "search_params.adjoin_connect_nums=[3,3,3]",
    "search_params.PRIMITIVES_head=[mbconv_k3_t3,mbconv_k5_t3]",
    "search_params.PRIMITIVES_stack=[mbconv_k3_t3,mbconv_k5_t3,skip_connect]",
    "optim.init_dim=8", "optim.head_dim=8", "optim.last_dim=32",
    "data.input_size=32", "data.num_classes=5",
]


@pytest.fixture
def tiny_cfg():
    """A tiny MBV2-style space at 32x32 (search config)."""
    from search_space.search_config import load_search_config
    return load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), TINY_OPTS)
