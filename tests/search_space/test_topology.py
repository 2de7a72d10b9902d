import os

from search_space.search_config import load_search_config
from search_space import space_from_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _space(name):
    return space_from_config(load_search_config(os.path.join(ROOT, "configs", f"imagenet_search_cfg_{name}.yaml")))


def test_mbv2_route_counts():
    s = _space("mbv2")
    assert [len(r) for r in s.in_routes] == [0, 1, 1, 2, 3, 3, 4, 4, 3, 4, 4, 3, 4, 4, 3, 4, 4, 3]
    assert sum(map(len, s.out_routes)) == sum(map(len, s.in_routes))
    assert s.out_routes[1] == (2, 3, 4) and s.out_routes[16] == (17,)
    assert s.in_routes[s.final] == (16, 15, 14)
    assert s.stride(1, 2) == 2 and s.stride(2, 3) == 1


def test_resnet_route_counts():
    s = _space("resnet")
    assert [len(r) for r in s.in_routes[1:]] == [1, 2, 3, 3, 4, 5, 3, 4, 5, 6, 4, 5, 6, 3, 4, 5, 6, 4, 5, 6, 3]
    assert s.out_routes[0] == (1, 2, 3)


def test_fingerprint_changes_with_figures(tiny_cfg):
    from search_space.search_config import load_search_config as lc
    a = space_from_config(tiny_cfg)
    assert a.fingerprint() == space_from_config(tiny_cfg).fingerprint()
    b = space_from_config(lc(os.path.join(ROOT, "configs", "demo_search.yaml")))
    assert a.fingerprint() != b.fingerprint()
