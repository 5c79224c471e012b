"""The moe_em reproduction runs at smoke scale and returns the verdict structure."""

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
