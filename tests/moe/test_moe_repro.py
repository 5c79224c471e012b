"""The moe_em reproduction runs at smoke scale and returns the verdict structure; its checks can fail."""

import copy
import json

from frugalml.repro import EXPERIMENTS, load_experiment


def test_moe_em_smoke_run_check_plot(tmp_path):
    assert "moe_em" in EXPERIMENTS
    mod = load_experiment("moe_em")
    result = mod.run(scale="smoke", seed=0)
    result = json.loads(json.dumps(result))  # plain JSON numbers, as the harness saves them
    out = mod.check(result)
    assert set(out) >= {"reproduced", "claims", "table", "note"}
    assert len(out["claims"]) == 5 and all({"claim", "held", "measured", "paper"} <= set(c) for c in out["claims"])
    assert isinstance(out["reproduced"], bool)
    paths = mod.plot(result, tmp_path)
    assert len(paths) == 3 and all(p.exists() and p.stat().st_size > 1000 for p in paths)
    tr = result["trajectory"]
    assert len(tr["em"]["beta_error"]["median"]) == len(tr["iterations"])
    assert tr["max_loglik_decrease_em"] <= 1e-10
    assert all(c["tests"] for c in out["claims"])  # every sub-claim carries the test behind it
    # broken variants: EM no faster than its rivals (the paired difference is 0) fails the iteration claims
    broken = copy.deepcopy(result)
    for s in ("em", "gradient_em"):
        broken["trajectory"][s]["iters_to_floor"] = list(broken["trajectory"]["gd"]["iters_to_floor"])
    for r in broken["iterations_to_mle"]["snr"] + broken["iterations_to_mle"]["cond"]:
        r["em_all"] = list(r["gd_all"])
    for r_em, r_gd in zip(broken["images"]["em"], broken["images"]["gd"]):
        r_em["nll"] = [r_gd["nll"][-1]] * len(r_em["nll"])
    claims = mod.check(broken)["claims"]
    assert [c["held"] for c in claims] == [False, False, claims[2]["held"], True, False]
    for i in (0, 1, 4):  # for the right reason: no saving at all, not a noisy one
        assert all(t["effect"] == 0 for t in claims[i]["tests"])
