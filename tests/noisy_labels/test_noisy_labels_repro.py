"""The retraining reproduction at smoke scale: run, check, plot (structure, not the verdict)."""

import json

from frugalml.repro import EXPERIMENTS, load_experiment


def test_retraining_repro_smoke(tmp_path):
    assert "retraining" in EXPERIMENTS
    mod = load_experiment("retraining")
    for attr in ("NAME", "PAPER", "CLAIM"):
        assert isinstance(getattr(mod, attr), str) and getattr(mod, attr)
    result = mod.run(scale="smoke", seed=0)
    json.dumps(result)  # plain JSON-able numbers
    res = json.loads(json.dumps(result))
    verdict = mod.check(res)
    assert set(verdict) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(verdict["reproduced"], bool) and len(verdict["claims"]) == 5
    for c in verdict["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper"} and isinstance(c["held"], bool)
    assert all(set(r) == {"setting", "paper", "ours"} for r in verdict["table"])
    # the negative control is exact: 1-NN predicts its own training labels
    assert all(f == 1.0 for v in res["models"]["knn1"]["consensus_fraction"] for f in v)
    files = mod.plot(res, tmp_path)
    assert len(files) == 3 and all(f.exists() and f.stat().st_size > 1000 for f in files)
