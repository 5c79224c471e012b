import json

import pytest


@pytest.mark.slow
def test_flow_repro_smoke_runs_checks_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("FRUGALML_CACHE", str(tmp_path / "cache"))
    from frugalml.repro import flow

    result = flow.run(scale="smoke", seed=0)
    json.dumps(result)  # plain JSON-able numbers
    assert set(result["summary"]) == {"pretrained", *flow.ARMS}
    assert set(result["mixed"]["summary"]) == {"pretrained", *flow.MIXED_ARMS}
    assert result["summary"]["pretrained"]["forgetting_mean"] == 0.0
    assert 0 < result["seeds"][0]["mean_w"] < 1
    verdict = flow.check(result)
    assert set(verdict) == {"reproduced", "claims", "table", "note"}
    assert len(verdict["claims"]) == 7 and all(isinstance(c["held"], bool) for c in verdict["claims"])
    figures = flow.plot(result, tmp_path)
    assert figures and all(f.exists() and f.stat().st_size > 0 for f in figures)
    with pytest.raises(ValueError, match="scale"):
        flow.run(scale="huge")


def test_flow_paper_scale_needs_a_gpu():
    import torch

    from frugalml.repro import flow

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --scale paper would run")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        flow.run(scale="paper")
