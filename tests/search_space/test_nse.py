"""NSE on the routing space: gates, balanced sampling, the two-combination estimator, dropping,
Pareto selection and refilling (search_space.methods.nse_parts, search_space.methods.nse) on a tiny space."""
import itertools
import os

import pytest
import torch

from common.errors import ConfigError
from models.operations import MultiBranch, OPS
from search_space import build_super_network, flops_table, space_from_config
from search_space.methods import build_method
from search_space.methods.nse_parts import (balanced_combination, combination_prob, gate_probs, log_prob_rows, pair_gates,
                              pareto_front, refill, two_combinations)
from search_space.search_config import load_search_config
from tests.conftest import ROOT, TINY_OPTS

POOL = ["search_params.PRIMITIVES_head=[mbconv_k3_t3,mbconv_k5_t3,mbconv_k3_t6,mbconv_k3_t3_d2]",
        "search_params.PRIMITIVES_stack=[mbconv_k3_t3,mbconv_k5_t3,mbconv_k3_t6,mbconv_k3_t3_d2,skip_connect]"]
NSE_OPTS = TINY_OPTS + POOL + ["search_params.method=nse", "optim.sub_obj.type=flops", "train_params.epochs=4",
                               "search_params.nse.rounds=2", "search_params.arch_update_epoch=1",
                               "search_params.nse.subset_size=3"]


def _setup(extra=()):
    cfg = load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), NSE_OPTS + list(extra))
    torch.manual_seed(0)
    net = build_super_network(cfg)
    table = flops_table(space_from_config(cfg), 32)
    return cfg, net, table, build_method(cfg, net, table)


def _batch(n=8):
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g)


def test_gates_are_independent_sigmoids_starting_at_one_half():
    a = torch.tensor([[0.0, 100.0, -100.0]])
    assert torch.allclose(gate_probs(a), torch.tensor([[0.5, 0.9995, 0.0005]]))
    cfg, net, table, method = _setup()
    assert all(float(p.detach().abs().max()) == 0 for p in list(net.head_alphas) + list(net.stack_alphas) if p.numel())
    assert all(len(a) == 3 for a in method.active)
    assert all(method.ops_of(method.rows[r])[i] != "skip_connect" for r in range(len(method.rows))
               for i in method.pool[r])


def test_balanced_sampling_is_one_half_and_never_empty_where_not_allowed():
    g = torch.Generator().manual_seed(0)
    draws = [balanced_combination([0, 2, 3], False, g) for _ in range(2000)]
    assert all(draws)
    on = sum(2 in d for d in draws) / len(draws)
    assert 0.5 <= on <= 0.62  # 0.5 conditioned on not empty: 4/7
    res = [balanced_combination([0, 2, 3], True, g) for _ in range(2000)]
    assert 0.08 < sum(not d for d in res) / len(res) < 0.17  # 1/8 empty


def test_two_combinations_are_distinct_and_follow_the_joint_distribution():
    g = torch.Generator().manual_seed(1)
    probs = [0.9, 0.5, 0.1, 0.7]
    firsts = {}
    for _ in range(3000):
        s, u = two_combinations([0, 1, 2, 3], probs, True, g)
        assert s != u and u is not None
        firsts[s] = firsts.get(s, 0) + 1
    top = max(firsts, key=firsts.get)
    assert top == (0, 1, 3) or top == (0, 3)  # the two likeliest combinations (0.9*0.5*0.9*0.7 each)
    assert firsts[top] / 3000 == pytest.approx(combination_prob([0, 1, 2, 3], probs, top), abs=0.03)
    # non-residual: the empty combination never drawn; more than enumerate_max ops: distinct draws
    for _ in range(200):
        s, u = two_combinations([0, 1], [0.01, 0.01], False, g)
        assert s and u and s != u
        s, u = two_combinations(list(range(7)), [0.5] * 7, True, g, enumerate_max=5)
        assert s != u
    assert two_combinations([3], [0.5] * 4, False, g) == ((3,), None)


def test_estimator_forward_is_the_selected_value_and_gradient_reaches_both():
    alpha = torch.tensor([[0.3, -0.2, 0.1]], requires_grad=True)
    p = gate_probs(alpha)
    act = torch.ones(1, 3)
    sel, unsel = torch.tensor([[1.0, 0.0, 1.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    gs, gu = pair_gates(log_prob_rows(p, act, sel), log_prob_rows(p, act, unsel))
    assert gs.item() == pytest.approx(1.0) and gu.item() == pytest.approx(0.0)
    y_sel, y_unsel = torch.tensor(2.0), torch.tensor(5.0)
    out = y_sel * gs + y_unsel * gu
    assert out.item() == pytest.approx(2.0)
    out.backward()
    # d/dalpha of ys * p̂s + yu * p̂u, p̂ renormalised over the pair
    a = alpha.detach().clone().requires_grad_(True)
    q = gate_probs(a)[0]
    ps = q[0] * (1 - q[1]) * q[2]
    pu = (1 - q[0]) * q[1] * (1 - q[2])
    (2.0 * ps / (ps + pu) + 5.0 * pu / (ps + pu)).backward()
    assert torch.allclose(alpha.grad, a.grad, atol=1e-6)
    assert (alpha.grad.abs() > 0).all()


def test_supernet_combination_is_the_multi_branch_layer():
    """A combination in the super network computes what models.operations.MultiBranch computes:
    the mean of the ops, residual (x + sum of bodies) / (n + 1); one op alone; empty = identity."""
    cfg, net, table, method = _setup()
    mixed = net.blocks[1].stack[0]  # a residual position
    assert mixed.residual
    names = net.space.stack_ops
    x = torch.randn(2, mixed.candidates[0].out_channels, 8, 8)
    mixed.eval()
    with torch.no_grad():
        outs = {i: mixed.candidates[i](x) for i in (0, 1, 3)}
        y = mixed.combination(x, [0, 1, 3], outs)
        ref = MultiBranch([names[0], names[1], names[3]], x.shape[1], x.shape[1], 1, affine=False)
        for b, i in zip(ref.branches, (0, 1, 3)):
            b.load_state_dict(mixed.candidates[i].body.state_dict())
        ref.eval()
        assert torch.allclose(y, ref(x), atol=1e-6)
        assert torch.equal(mixed.combination(x, [], {}), x)
        assert torch.allclose(mixed.combination(x, [1], {1: outs[1]}), mixed.candidates[1](x))
    head = net.blocks[0].head[0]
    assert not head.residual
    x = torch.randn(2, 8, 16, 16)
    head.eval()
    with torch.no_grad():
        outs = {i: head.candidates[i](x) for i in (0, 2)}
        assert torch.allclose(head.combination(x, [0, 2], outs), (outs[0] + outs[2]) / 2)
    with pytest.raises(ValueError, match="empty combination"):
        net.set_combination_plan("weight", [((), None, None)] * len(net.mixed_ops()))


def test_arch_step_gradient_reaches_gates_of_both_combinations():
    cfg, net, table, method = _setup()
    for p in net.weight_parameters():
        p.requires_grad_(False)
    x, y = _batch()
    out = method.arch_step(x, y, 1)
    out.loss.backward()
    plan = net._plan
    rows = plan["head_rows"] + plan["stack_rows"]
    head = torch.cat([a.grad for a in net.head_alphas])
    stack = torch.cat([a.grad for a in net.stack_alphas if a.numel()])
    for r, (sel, unsel, _) in enumerate(rows):
        grads = head[r] if r < method.n_head else stack[r - method.n_head]
        if unsel is None:
            continue
        differ = set(sel) ^ set(unsel)
        assert any(grads[i] != 0 for i in differ), f"row {r}: no gradient on the ops the two combinations differ in"
        inactive = [i for i in range(grads.shape[0]) if i not in method.active[r]]
        assert all(grads[i] == 0 for i in inactive)
    assert any(b.grad is not None and b.grad.abs().sum() > 0 for b in net.betas)


def test_cost_of_a_combination_is_the_sum_of_its_ops():
    """The arch step's cost value is the selected combinations' chained cost: on a space with one
    route per block, the sum of the chosen ops' entries (+ skip for an empty stack layer)."""
    cfg, net, table, method = _setup(["search_params.adjoin_connect_nums=[1,1,1]"])
    x, y = _batch()
    out = method.arch_step(x, y, 1)
    plan = net._plan
    space = net.space
    total = table.input + table.classifier + table.final[0]
    for r, (sel, _, _) in enumerate(plan["head_rows"]):
        total += sum(table.head[r][0][i] for i in sel)
    for (row, (sel, _, _)) in zip([m for m in method.rows if m["kind"] == "stack"], plan["stack_rows"]):
        entries = table.stack[row["block"] - 1][row["index"]]
        total += sum(entries[i] for i in sel) if sel else entries[space.stack_ops.index("skip_connect")]
    assert out.cost.item() == pytest.approx(total, rel=1e-5)


def test_dropping_spares_ops_kept_from_the_previous_round_and_the_last_head_op():
    cfg, net, table, method = _setup()
    r_head, r_stack = 0, method.n_head  # a head row, a stack (residual) row
    method.kept[r_stack] = [method.active[r_stack][0]]
    with torch.no_grad():
        for p in list(net.head_alphas) + list(net.stack_alphas):
            p.fill_(-3.0)
    before_head, before_stack = list(method.active[r_head]), list(method.active[r_stack])
    method.after_arch_step()
    assert len(method.active[r_head]) == 1 and method.active[r_head][0] in before_head
    assert method.active[r_stack] == [before_stack[0]]
    for i in set(before_stack) - {before_stack[0]}:
        assert i not in method.pool[r_stack] and i in method.dropped_in_round[r_stack]


def test_pareto_front_and_refill():
    costs = [1.0, 2.0, 1.5, 3.0, 2.0, 0.5]
    accs = [50.0, 70.0, 40.0, 69.0, 71.0, 30.0]
    assert pareto_front(costs, accs) == [5, 0, 4]
    assert pareto_front([], []) == []
    g = torch.Generator().manual_seed(0)
    assert refill([4, 1], [0, 1, 2, 3, 4, 5], 2, g) == [1, 4]
    new = refill([4], [0, 1, 4, 5], 3, g)
    assert len(new) == 3 and 4 in new and set(new) <= {0, 1, 4, 5}
    assert refill([], [2], 5, g) == [2]


def test_end_round_keeps_front_ops_refills_and_never_brings_dropped_back():
    cfg, net, table, method = _setup()
    path, combos = method.sample_architecture(torch.Generator().manual_seed(3))
    before = [list(a) for a in method.active]
    record = method.end_round([combos])
    for r in range(len(method.rows)):
        used = set(combos.get(r, ())) & set(before[r])
        assert set(method.kept[r]) == used
        assert used <= set(method.active[r])
        dropped = set(before[r]) - used
        assert not dropped & set(method.active[r]) and not dropped & set(method.pool[r])
        assert len(method.active[r]) == min(3, len(method.pool[r])) or not method.rows[r]["residual"]
    assert record["round"] == 0 and method.round == 1 and method.is_last_round()
    assert all(float(p.detach().abs().max()) == 0 for p in list(net.head_alphas) + list(net.stack_alphas) if p.numel())


def test_sampled_architectures_are_valid_net_configs_with_summed_costs():
    from models import build_model
    from search_space.derive import lut_cost
    cfg, net, table, method = _setup()
    g = torch.Generator().manual_seed(0)
    multi = 0
    for _ in range(20):
        path, combos = method.sample_architecture(g)
        nc = method.net_config_of_sample(path, combos)
        multi += "+" in nc.to_text()
        model = build_model(nc, num_classes=5)
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
        assert lut_cost(net.space, table, nc) > 0
    assert multi > 0


def test_derive_keeps_the_ops_whose_gate_is_over_one_half():
    _, net, _, method = _setup()
    alphas = [p for p in list(net.head_alphas) + list(net.stack_alphas) if p.numel()]
    with torch.no_grad():
        for p in alphas:
            p.fill_(3.0)  # every op on: each layer on the path keeps its whole subset (3 ops)
    on = method.derive()
    assert on.to_text() == method.derive().to_text()  # deterministic
    layers = [op for b in on.blocks[1:-1] for op in (b.head_op, *b.stack_ops)]  # block 0 is fixed
    assert layers and all(op.count("+") == 2 for op in layers)
    with torch.no_grad():
        for p in alphas:
            p.fill_(-3.0)  # every op off: heads keep their likeliest op, stacks become skips
    off = method.derive()
    assert "+" not in off.to_text() and not any(b.stack_ops for b in off.blocks)


@pytest.mark.parametrize("opts,key", [
    (["search_params.nse.rounds=3"], "search_params.nse.rounds"),
    (["search_params.nse.subset_size=0"], "search_params.nse.subset_size"),
    (["search_params.arch_update_epoch=2"], "search_params.arch_update_epoch"),
    (["search_params.PRIMITIVES_stack=[skip_connect]"], "search_params.PRIMITIVES_stack"),
    (["search_params.PRIMITIVES_head=[mbconv_k3_t3,basic_block]"], "search_params.PRIMITIVES_head"),
])
def test_bad_nse_config_names_the_key(opts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_search_config(os.path.join(ROOT, "configs", "demo_search.yaml"), NSE_OPTS + opts)


def test_dilated_mbconv_op():
    op = OPS["mbconv_k3_t3_d2"](8, 8, 1)
    conv = op.body[1][0]
    assert conv.dilation == (2, 2) and conv.padding == (2, 2)
    assert op(torch.randn(1, 8, 9, 9)).shape == (1, 8, 9, 9)
    assert list(itertools.islice((n for n in OPS if n.endswith("_d2")), 5)) == ["mbconv_k3_t3_d2", "mbconv_k3_t6_d2"]
