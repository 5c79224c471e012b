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
    assert not held("linear attention cannot")
    assert not held("pretraining L must match")
    assert held("the window widens with label noise")
    with pytest.raises(ValueError, match="scale"):
        mod.run(scale="huge")
