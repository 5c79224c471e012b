import json

import numpy as np
import pytest

from frugalml.repro import flow


LRS = ("0.01", "0.02", "0.04")


def _fake_result(drop_std, drop_flow, new_std, new_flow, n=5, seed=0, theory=None, candidates=("0.04",), per_lr=None):
    """A result dict shaped like ``flow.run``'s, with chosen per-seed accuracies (no training).

    At every candidate rate standard FT and FLOW get the given drops / new-task accuracies (``per_lr``
    overrides them per rate); the other rates get a FLOW that is clearly worse, so a check that
    looked outside the candidates would fail.
    """
    rng = np.random.default_rng(seed)
    weights = {"mean_w": 0.4, "w_q90_over_q10": 300.0, "frac_w_below_0.01": 0.1, "ess_frac": 0.6, "loss_median": 0.1,
               "loss_min": 0.001, "loss_max": 3.0}
    seeds = []
    for s in range(n):
        pre = {"old_acc": 0.9, "new_acc": 0.85, "new_val_acc": 0.85}

        def arm(drop, new):
            e = rng.normal(scale=0.002, size=2)
            return {"old_acc": 0.9 - drop - e[0], "new_acc": new + e[1], "new_val_acc": new, "hard_train_acc": 0.5,
                    "train_s": 0.1}

        sweep, fsweep = {}, {}
        for lr in LRS:
            if lr in candidates:
                ds, df, ns, nf = (per_lr or {}).get(lr, (drop_std, drop_flow, new_std, new_flow))
            else:
                ds, df, ns, nf = 0.05, 0.2, 0.9, 0.7
            sweep[lr], fsweep[lr] = arm(ds, ns), arm(df, nf)
        lr_star = candidates[-1]
        seeds.append({"seed": s, "pretrained": pre, "weights": weights, "losses_sample": [0.01, 0.1, 1.0],
                      "sweep": sweep, "flow_sweep": fsweep, "standard": sweep[lr_star], "flow": fsweep[lr_star],
                      "flow_normalized": fsweep[lr_star]})
    grid = [float(lr) for lr in LRS]
    sel = {"grid": grid, "mean": [0.9] * 3, "se": [0.01] * 3, "best": float(candidates[0]),
           "chosen": float(candidates[-1]), "candidates": [float(c) for c in candidates], "rule": "one-SE rule, largest",
           "at_edge": False}
    return {"scale": "smoke", "config": {"hidden": [8], "data": "digits"},
            "vision": {"lr_star": float(candidates[-1]), "val_acc_by_lr": {}, "seeds": seeds,
                       "tuning": {"draws": [500, 501], "selection": sel, "flow_selection": sel}},
            "theory": theory or flow._run_theory(flow.SCALES["smoke"]["theory"], 0)}


def test_vision_claims_pass_when_flow_keeps_more_and_fail_for_broken_variants():
    good = flow.check(_fake_result(0.10, 0.02, 0.92, 0.91))
    assert [c["held"] for c in good["claims"]] == [True, True, True] and good["reproduced"]
    assert all(c["tests"] and c["margin"].startswith("held") for c in good["claims"])
    # weights set to one: FLOW is standard fine-tuning, both vision claims must fail
    same = flow.check(_fake_result(0.10, 0.10, 0.92, 0.92))
    assert [c["held"] for c in same["claims"][:2]] == [False, False] and not same["reproduced"]
    # forgets less but pays more on the new task than it keeps on the old one
    costly = flow.check(_fake_result(0.10, 0.02, 0.92, 0.80))
    assert [c["held"] for c in costly["claims"][:2]] == [True, False]


def test_vision_claims_are_tested_at_every_rate_the_rule_could_pick():
    cands = ("0.02", "0.04")
    both = flow.check(_fake_result(0.10, 0.02, 0.92, 0.91, candidates=cands))
    assert [c["held"] for c in both["claims"][:2]] == [True, True]
    assert len(both["claims"][0]["tests"]) == 2  # one paired test per candidate rate
    # FLOW helps at the picked rate (0.04) but not at the other candidate, where standard FT does not forget:
    # the verdict must not depend on which of the two noise made the best
    split = flow.check(_fake_result(0.10, 0.02, 0.92, 0.91, candidates=cands,
                                    per_lr={"0.02": (0.0, 0.0, 0.92, 0.88)}))
    assert [c["held"] for c in split["claims"][:2]] == [False, False]
    row = next(r for r in split["table"] if r["setting"].startswith("stability"))
    assert "DIFFERS" in row["ours"]
    # a result saved before the tuning record (lr_star only) is still checked, at that rate
    old = _fake_result(0.10, 0.02, 0.92, 0.91)
    del old["vision"]["tuning"]
    assert [c["held"] for c in flow.check(old)["claims"]] == [True, True, True]


def test_theory_claim_holds_and_fails_for_uniform_weights():
    th = flow._run_theory(flow.SCALES["smoke"]["theory"], 0)
    assert flow._theory_claim(th)["held"]
    assert th["flow"]["forgetting"] < th["standard"]["forgetting"]
    broken = json.loads(json.dumps(th))
    broken["flow"] = broken["flow_normalized"] = broken["standard"]  # weights set to one
    broken["ratio_measured"] = broken["standard"]["curvature_along_delta"]
    assert not flow._theory_claim(broken)["held"]


def _frontier_result(drop_flow, new_flow):
    """Standard FT's sweep (drop, new acc): lr 0.01 (0, 0.86), 0.02 (0.02, 0.90), 0.04 (0.1, 0.92); FLOW at 0.04."""
    per_lr = {"0.01": (0.0, 0.0, 0.86, 0.86), "0.02": (0.02, 0.02, 0.90, 0.90), "0.04": (0.1, drop_flow, 0.92, new_flow)}
    return _fake_result(0.1, drop_flow, 0.92, new_flow, candidates=LRS, per_lr=per_lr)


def test_frontier_gap_sign():
    r = _frontier_result(0.0, 0.90)        # FLOW keeps all the old task at new acc 0.90
    assert flow.frontier_gap(r, "flow") == pytest.approx(0.02, abs=0.005)
    r = _frontier_result(0.08, 0.90)       # the lr 0.02 run does better at the same new acc
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
    grid = vis["tuning"]["grid"]
    assert set(flow.SCALES["smoke"]["lr_grid"]) <= set(grid) and vis["lr_star"] in grid
    for sd in vis["seeds"]:
        assert set(sd["sweep"]) == set(sd["flow_sweep"]) == {str(lr) for lr in grid}
        assert sd["standard"] == sd["sweep"][str(vis["lr_star"])]
        assert sd["flow"] == sd["flow_sweep"][str(vis["lr_star"])]
        assert 0 < sd["weights"]["mean_w"] < 1 and sd["weights"]["w_q90_over_q10"] > 2  # weights really differ
    tuning = vis["tuning"]
    assert len(tuning["draws"]) == flow.SCALES["smoke"]["n_tune"]
    assert not set(tuning["draws"]) & {sd["seed"] for sd in vis["seeds"]}  # tuning draws are not evaluation seeds
    sel = tuning["selection"]
    assert sel["chosen"] == vis["lr_star"] == max(sel["candidates"]) and sel["best"] in sel["candidates"]
    verdict = flow.check(result)
    assert set(verdict) >= {"reproduced", "claims", "table", "note"}
    assert len(verdict["claims"]) == 3 and all(isinstance(c["held"], bool) for c in verdict["claims"])
    assert all(len(c["tests"]) == len(sel["candidates"]) for c in verdict["claims"][:2])
    assert verdict["claims"][2]["held"]  # the theory check holds at any scale
    figures = flow.plot(result, tmp_path)
    assert figures and all(f.exists() and f.stat().st_size > 0 for f in figures)


def test_tuning_grows_the_grid_while_the_best_rate_sits_at_its_end(monkeypatch):
    """Validation accuracy peaks at lr 0.16, beyond the configured grid: the grid grows to put it inside."""
    monkeypatch.setattr(flow, "_seed_parts", lambda cfg, data, rs: (None, None, None, None, None, None, None))
    calls = []

    def fake(cfg, parts, split, lr, weights, rs, hard):
        calls.append(lr)
        return {"new_val_acc": 0.9 - abs(np.log2(lr / 0.16)) * 0.05 + 0.001 * (rs % 7)}

    monkeypatch.setattr(flow, "_finetune_arm", fake)
    cfg = dict(flow.SCALES["smoke"], n_tune=3, lr_grid=[0.01, 0.02, 0.04])
    t = flow._tune(cfg, None, seed=0)
    assert t["grid"] == [0.01, 0.02, 0.04, 0.08, 0.16] and t["extended"] == 2
    assert t["selection"]["at_edge"]                       # the cap (max_extend=2) stops it, and says so
    t = flow._tune({**cfg, "max_extend": 3}, None, seed=0)
    assert t["grid"][-1] == 0.32 and t["selection"]["best"] == 0.16 and not t["selection"]["at_edge"]
    assert len(t["val_acc"]["standard"]["0.32"]) == 3      # a grown rate is scored on every tuning draw
    inside = flow._tune(dict(cfg, lr_grid=[0.08, 0.16, 0.32]), None, seed=0)
    assert inside["grid"] == [0.08, 0.16, 0.32] and inside["extended"] == 0


def test_flow_paper_scale_needs_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --scale paper would run")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        flow.run(scale="paper")


@pytest.mark.slow
def test_flow_claims_hold_end_to_end_and_fail_when_the_weights_are_broken(monkeypatch):
    """The whole pipeline at a rate where standard FT wrecks the old task (digits, lr 0.3, a few seconds).

    As run, FLOW forgets less and wins the mean accuracy; with the weights replaced by ones inside the
    pipeline (FLOW becomes standard fine-tuning) every claim that tests FLOW must fail, the theory too.
    """
    import frugalml.finetune

    monkeypatch.delenv(flow.LM_ENV, raising=False)
    monkeypatch.setitem(flow.SCALES, "e2e", dict(flow.SCALES["smoke"], n_tune=2, lr_grid=[0.3]))
    good = flow.check(flow.run("e2e", seed=0))
    assert [c["held"] for c in good["claims"]] == [True, True, True]
    monkeypatch.setattr(frugalml.finetune, "flow_weights", lambda losses, *a, **k: np.ones_like(np.asarray(losses)))
    broken = flow.check(flow.run("e2e", seed=0))
    assert [c["held"] for c in broken["claims"]] == [False, False, False]
