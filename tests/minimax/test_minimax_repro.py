from frugalml.repro import EXPERIMENTS, load_experiment


def test_minimax_repro_smoke(tmp_path):
    assert "minimax" in EXPERIMENTS
    mod = load_experiment("minimax")
    assert mod.NAME == "minimax" and mod.PAPER and mod.CLAIM
    result = mod.run(scale="smoke", seed=0)
    check = mod.check(result)
    assert set(check) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(check["reproduced"], bool) and len(check["claims"]) >= 6
    for c in check["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper"}
    files = mod.plot(result, tmp_path)
    assert len(files) == 5 and all(f.exists() and f.stat().st_size > 1000 for f in files)
    # the counters claim is structural: it must hold at any scale
    assert check["claims"][0]["held"], check["claims"][0]["measured"]
