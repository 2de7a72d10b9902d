"""tools.supernet.recipe_agreement (issue 54 §2): the same nets at two recipes, tau with its CI, each
recipe's split-half tau, accuracy against cost, one-shot taus against both ground truths."""
import json

import pytest

from tools.supernet.recipe_agreement import agreement, main, markdown

NET = "[[16, 16], 'mbconv_k3_t1', [], 0, 1]|\n[[16, {w}], 'mbconv_k3_t3', [], 0, 2]|\n[[{w}, 256], 'conv1_1']\nnet_type: mbv2\n"


def _set(accs, recipe):
    """A ranking set: net i has the retrains accs[i] (one list of test top-1 per net)."""
    nets = []
    for i, a in enumerate(accs):
        nets.append({"id": f"{'window' if i % 2 else 'stratum'}_{i}", "group": "window" if i % 2 else "stratum",
                     "net_config": NET.format(w=16 + 8 * i), "cost": 1.0 + i / 10, "params_m": 0.1 + i / 100,
                     "macs_m": 1.0, "retrains": [{"seed": k, "test_top1": x, "val_top1_final": x, "time_s": 1.0}
                                                 for k, x in enumerate(a)],
                     "test_top1_mean": sum(a) / len(a) if a else None})
    return {"recipe_hash": recipe, "recipe": {"train_config": f"{recipe}.yaml"}, "nets": nets}


def test_agreement_of_a_reversed_ranking_and_of_partial_long_retrains():
    short = _set([[80 + i, 80.2 + i, 79.9 + i] for i in range(8)], "short")
    long_ = _set([[90 - i, 90.1 - i] if i < 4 else ([89 - i] if i < 7 else []) for i in range(8)], "long")
    rep = agreement(short, long_, [{"name": "probe", "source": "x", "scores": {
        n["net_config"]: float(k) for k, n in enumerate(short["nets"])}}])
    assert rep["all"]["nets"] == 7  # net 7 has no long retrain yet
    assert rep["all"]["tau_short_long"]["tau"] == pytest.approx(-1.0)
    assert rep["all"]["split_half_long"] == {"mean": 1.0, "min": 1.0, "max": 1.0, "splits": 1, "nets": 4, "seeds": 2}
    assert rep["all"]["split_half_short"]["seeds"] == 3
    assert rep["all"]["tau_cost_short"]["tau"] == pytest.approx(1.0) and rep["all"]["tau_cost_long"]["tau"] == pytest.approx(-1.0)
    shot = rep["all"]["one_shot"][0]
    assert shot["short"]["tau"] == pytest.approx(1.0) and shot["long"]["tau"] == pytest.approx(-1.0)
    assert rep["window"]["nets"] == 3 and [n["long_seeds"] for n in rep["nets"]] == [2, 2, 2, 2, 1, 1, 1]
    assert "| whole set | 7 | **-1.00" in markdown(rep)


def test_other_nets_under_the_same_ids_are_refused(tmp_path, capsys):
    short = _set([[80, 81], [82, 83], [84, 85]], "short")
    long_ = _set([[80], [82], [84]], "long")
    long_["nets"][1]["net_config"] = NET.format(w=99)
    (tmp_path / "s.json").write_text(json.dumps(short))
    (tmp_path / "l.json").write_text(json.dumps(long_))
    with pytest.raises(SystemExit) as e:
        main(["--short", str(tmp_path / "s.json"), "--long", str(tmp_path / "l.json"), "--results", str(tmp_path)])
    assert e.value.code == 2 and "not the short set's nets" in capsys.readouterr().err
