"""The reproduction module runs at smoke scale and returns the verdict structure."""

import json

from frugalml.repro import EXPERIMENTS, load_experiment


def test_contrastive_smoke_run_check_plot(tmp_path):
    assert "contrastive" in EXPERIMENTS
    mod = load_experiment("contrastive")
    assert mod.NAME == "contrastive" and mod.PAPER and mod.CLAIM
    result = mod.run(scale="smoke", seed=0)
    result = json.loads(json.dumps(result))  # plain JSON numbers only
    verdict = mod.check(result)
    assert set(verdict) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(verdict["reproduced"], bool) and len(verdict["claims"]) >= 5
    for c in verdict["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper"}
    figures = mod.plot(result, tmp_path)
    assert figures and all(f.exists() and f.suffix == ".png" for f in figures)
    # PCA's failure is the one thing that must show even at smoke scale
    assert min(result["by_size"][str(n)]["pca"][0] for n in result["sizes"]) > 0.5
