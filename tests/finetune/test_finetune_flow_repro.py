import json

import numpy as np
import pytest

from frugalml.repro import flow


def _fake_result(drop_std, drop_flow, new_std, new_flow, n=5, seed=0, theory=None):
    """A result dict shaped like ``flow.run``'s, with chosen per-seed accuracies (no training)."""
    rng = np.random.default_rng(seed)
    weights = {"mean_w": 0.4, "w_q90_over_q10": 300.0, "frac_w_below_0.01": 0.1, "ess_frac": 0.6, "loss_median": 0.1,
               "loss_min": 0.001, "loss_max": 3.0}
    seeds = []
    for s in range(n):
        e = rng.normal(scale=0.002, size=4)
        pre = {"old_acc": 0.9, "new_acc": 0.85, "new_val_acc": 0.85}

        def arm(drop, new):
            return {"old_acc": 0.9 - drop, "new_acc": new, "new_val_acc": new, "hard_train_acc": 0.5, "train_s": 0.1}

        sweep = {str(lr): arm(d, nw) for lr, d, nw in ((0.01, 0.0, 0.86), (0.02, 0.02, 0.90), (0.04, 0.1, 0.92))}
        seeds.append({"seed": s, "pretrained": pre, "weights": weights, "losses_sample": [0.01, 0.1, 1.0],
                      "sweep": sweep, "flow_sweep": {lr: arm(0.01, a["new_acc"] - 0.01)
                                                     for lr, a in sweep.items()}, "standard": arm(drop_std + e[0], new_std + e[1]),
                      "flow": arm(drop_flow + e[2], new_flow + e[3]),
                      "flow_normalized": arm(drop_flow + e[2], new_flow + e[3])})
    return {"scale": "smoke", "config": {"hidden": [8], "data": "digits"},
            "vision": {"lr_star": 0.04, "val_acc_by_lr": {}, "seeds": seeds},
            "theory": theory or flow._run_theory(flow.SCALES["smoke"]["theory"], 0)}


def test_vision_claims_pass_when_flow_keeps_more_and_fail_for_broken_variants():
    good = flow.check(_fake_result(0.10, 0.02, 0.92, 0.91))
    assert [c["held"] for c in good["claims"]] == [True, True, True] and good["reproduced"]
    # weights set to one: FLOW is standard fine-tuning, both vision claims must fail
    same = flow.check(_fake_result(0.10, 0.10, 0.92, 0.92))
    assert [c["held"] for c in same["claims"][:2]] == [False, False] and not same["reproduced"]
    # forgets less but pays more on the new task than it keeps on the old one
    costly = flow.check(_fake_result(0.10, 0.02, 0.92, 0.80))
    assert [c["held"] for c in costly["claims"][:2]] == [True, False]


def test_theory_claim_holds_and_fails_for_uniform_weights():
    th = flow._run_theory(flow.SCALES["smoke"]["theory"], 0)
    assert flow._theory_claim(th)["held"]
    assert th["flow"]["forgetting"] < th["standard"]["forgetting"]
    broken = json.loads(json.dumps(th))
    broken["flow"] = broken["flow_normalized"] = broken["standard"]  # weights set to one
    broken["ratio_measured"] = broken["standard"]["curvature_along_delta"]
    assert not flow._theory_claim(broken)["held"]


def test_frontier_gap_sign():
    r = _fake_result(0.10, 0.0, 0.92, 0.90)        # FLOW keeps all the old task at new acc 0.90
    assert flow.frontier_gap(r, "flow") == pytest.approx(0.02, abs=0.005)
    r = _fake_result(0.10, 0.08, 0.92, 0.90)        # the lr 0.02 run does better at the same new acc
    assert flow.frontier_gap(r, "flow") < 0


def test_lm_env_is_checked(monkeypatch):
    monkeypatch.setenv(flow.LM_ENV, "huge")
    with pytest.raises(ValueError, match=flow.LM_ENV):
        flow.run("smoke")
    with pytest.raises(ValueError, match="scale"):
        flow.run(scale="huge")


@pytest.mark.slow
def test_flow_repro_smoke_runs_checks_and_plots(tmp_path, monkeypatch):
    monkeypatch.delenv(flow.LM_ENV, raising=False)
    result = flow.run(scale="smoke", seed=0)
    json.dumps(result)  # plain JSON-able numbers
    vis = result["vision"]
    assert vis["lr_star"] in flow.SCALES["smoke"]["lr_grid"]
    for sd in vis["seeds"]:
        assert set(sd["sweep"]) == set(sd["flow_sweep"]) == {str(lr) for lr in flow.SCALES["smoke"]["lr_grid"]}
        assert sd["standard"] == sd["sweep"][str(vis["lr_star"])]
        assert sd["flow"] == sd["flow_sweep"][str(vis["lr_star"])]
        assert 0 < sd["weights"]["mean_w"] < 1 and sd["weights"]["w_q90_over_q10"] > 2  # weights really differ
    verdict = flow.check(result)
    assert set(verdict) == {"reproduced", "claims", "table", "note"}
    assert len(verdict["claims"]) == 3 and all(isinstance(c["held"], bool) for c in verdict["claims"])
    assert verdict["claims"][2]["held"]  # the theory check holds at any scale
    figures = flow.plot(result, tmp_path)
    assert figures and all(f.exists() and f.stat().st_size > 0 for f in figures)


def test_flow_paper_scale_needs_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --scale paper would run")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        flow.run(scale="paper")
