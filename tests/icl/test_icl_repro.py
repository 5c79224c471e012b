"""The 'icl' reproduction runs end to end at smoke scale, and its check can fail."""

import copy
import json

import pytest

from frugalml.repro import EXPERIMENTS, load_experiment


@pytest.fixture(scope="module")
def smoke():
    mod = load_experiment("icl")
    return mod, mod.run(scale="smoke", seed=0)


def test_icl_registered_and_smoke_run(smoke, tmp_path):
    mod, result = smoke
    assert "icl" in EXPERIMENTS
    assert mod.NAME == "icl" and mod.PAPER and mod.CLAIM
    result = json.loads(json.dumps(result))  # plain JSON-able numbers; plot from the saved form
    verdict = mod.check(result)
    assert set(verdict) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(verdict["reproduced"], bool) and len(verdict["claims"]) >= 8
    for c in verdict["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper"}
        assert c["tests"] and c["held"] == all(t["held"] for t in c["tests"])  # the records behind the claim
    paths = mod.plot(result, tmp_path)
    assert len(paths) == 5
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000


def test_check_can_fail(smoke):
    mod, result = smoke
    result = copy.deepcopy(result)
    result["w_vs_L"] = list(reversed(result["w_vs_L"]))  # a window shrinking with L must be flagged
    result["icl_vs_n"]["rows"][0]["linear"] = 0.5  # linear attention below Var(b) must be flagged
    result["mismatch"]["error"][0][0] = 1e3
    claims = {c["claim"]: c["held"] for c in mod.check(result)["claims"]}

    def held(prefix):
        return claims[next(k for k in claims if k.startswith(prefix))]

    assert not held("the window narrows as Lipschitzness")
    assert not held("linear attention")
    assert not held("pretraining L must match")
    assert held("the window widens with label noise")
    with pytest.raises(ValueError, match="scale"):
        mod.run(scale="huge")


def _held(mod, result, prefix):
    claims = {c["claim"]: c["held"] for c in mod.check(result)["claims"]}
    return claims[next(k for k in claims if k.startswith(prefix))]


def _ideal(result):
    """The smoke result with every trained window set to its reference minimiser (a run where training is exact)."""
    r = copy.deepcopy(result)
    for rows in [r["w_vs_L"], r["w_vs_sigma"], r["w_vs_n"], *r["w_vs_L_other"].values()]:
        for row in rows:
            row["w"] = row["w_opt"]
    for row in r["icl_vs_n"]["rows"]:
        row["linear"] = row["linear_opt"]
    return r


def test_argmin_check_fails_for_a_window_off_the_minimiser(smoke):
    mod, result = smoke
    good = _ideal(result)
    assert _held(mod, good, "training finds the risk minimiser")
    for kind in ("relu", "cosine"):  # each task class is checked against its own Monte Carlo argmin
        bad = copy.deepcopy(good)
        for row in bad["w_vs_L_other"][kind]:
            row["w"] = 1.3 * row["w_opt"]
        assert not _held(mod, bad, "training finds the risk minimiser"), kind
    bad = copy.deepcopy(good)
    bad["w_vs_L_other"]["cosine"] = list(reversed(bad["w_vs_L_other"]["cosine"]))
    assert not _held(mod, bad, "the same adaptation on cosine")


def test_linear_attention_check_fails_for_an_untrained_baseline(smoke):
    mod, result = smoke
    good = _ideal(result)
    assert _held(mod, good, "linear attention")
    bad = copy.deepcopy(good)
    for row in bad["icl_vs_n"]["rows"]:
        row["linear"] = row["linear_untrained"]  # M = 0 also clears ">= Var(b)": the upper bound must catch it
    assert all(r["linear"] >= 0.9 * bad["icl_vs_n"]["var_b"] for r in bad["icl_vs_n"]["rows"])
    assert not _held(mod, bad, "linear attention")
