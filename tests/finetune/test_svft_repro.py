"""The SVFT reproduction: claim checks on constructed results, per-arm tuning, the schedule, broken
variants run end to end (M frozen at zero; SVFT at a rate 30x off its tuned value), a tiny real run."""

import math

import numpy as np
import pytest

from frugalml.repro import svft
from frugalml.repro.verdict import held

# the exact budgets of the 8-layer reference (every r = 128); PiSSA = LoRA
N_PARAMS = {"full": 1_900_000, "lora_r1": 19_712, "lora_r2": 39_424, "lora_r4": 78_848, "lora_r8": 157_696,
            "pissa_r1": 19_712, "pissa_r2": 39_424, "pissa_r4": 78_848, "pissa_r8": 157_696,
            "svft_plain": 7_168, "svft_banded_d2": 35_504, "svft_banded_d4": 63_392, "svft_banded_d8": 117_824,
            "svft_random_d8": 117_824, "control_plain": 7_168, "control_banded_d2": 35_504}


def _fake(final_loss, early_loss=None, n=5, noise=0.002, seed=0, n_params=None):
    """A result shaped like ``svft.run``'s with chosen mean losses per arm (no training)."""
    rng = np.random.default_rng(seed)
    early_loss = early_loss or {}
    seeds = []
    for s in range(n):
        shift = rng.normal(scale=0.05)        # shared per-seed difficulty: pairing must remove it

        def arm(loss, name):
            value = loss + shift + rng.normal(scale=noise)
            return {"loss": value, "acc": 0.1, "weight_change": 0.01, "n_params": (n_params or N_PARAMS)[name],
                    "lr": 1e-3, "train_s": 1.0,
                    "curve": {"train_loss": [4.0, 3.0, 2.5], "val_step": [2, 4], "val_loss": [value + 0.1, value]}}

        seeds.append({"seed": s, "pretrained": {"final": {"loss": 3.0 + shift, "acc": 0.0},
                                                "early": {"loss": 3.5 + shift, "acc": 0.0}},
                      "final": {a: arm(v, a) for a, v in final_loss.items()},
                      "early": {a: arm(v, a) for a, v in early_loss.items()}})
    rec = {"grid": [1e-3, 3e-3, 1e-2, 3e-2, 9e-2], "val_loss": [3.0, 2.8, 2.7, 2.75, 2.9], "se": [0.0] * 5,
           "diverged": [], "chosen": 1e-2, "best": 1e-2, "at_edge": False, "pretrained_loss": 3.1}
    tuning = {**{a: rec for a in final_loss}, **{f"early/{a}": rec for a in early_loss}}
    return {"scale": "smoke", "config": {"epochs": 2, "batch_size": 8, "n_train": 64, "n_validation": 32,
                                         "schedule": svft.schedule(64, 8, 2), "tune": svft.TUNE_DEFAULT},
            "pretrain": {"n_params": 1_900_000, "validation_loss": 2.56, "pretrain_tokens": 6.1e6,
                         "early_checkpoint": {"step": 300, "validation_loss": 4.31}},
            "tuning": tuning, "arms": list(final_loss), "early_arms": list(early_loss), "seeds": seeds}


# pre-trained 3.0, full FT 2.0 (gain 1.0, margin 0.05 nats)
FINAL_GOOD = {"full": 2.0, "lora_r1": 2.6, "lora_r2": 2.55, "lora_r4": 2.5, "lora_r8": 2.45,
              "pissa_r1": 2.55, "pissa_r2": 2.5, "pissa_r4": 2.45, "pissa_r8": 2.4,
              "svft_plain": 2.55, "svft_banded_d2": 2.5, "svft_banded_d4": 2.45, "svft_banded_d8": 2.4,
              "svft_random_d8": 2.42, "control_plain": 2.7, "control_banded_d2": 2.7}
EARLY_GOOD = {"lora_r2": 2.75, "lora_r4": 2.7, "svft_banded_d2": 2.8, "svft_banded_d4": 2.75}
GATES = ["Pareto front at lora_r1", "Pareto front at lora_r2", "Pareto front at lora_r4", "Pareto front at lora_r8",
         "strictly beats", "recovers as much", "help svft_banded_d2", "help svft_banded_d4"]


def _held(out):
    return [held(out, g)[0] for g in GATES]


def test_every_gate_holds_when_svft_is_on_the_front():
    out = svft.check(_fake(FINAL_GOOD, EARLY_GOOD))
    assert _held(out) == [True] * 8 and out["reproduced"] and out["n_claims"] == 8
    assert all("tests" in c for c in out["claims"])
    settings = [r["setting"] for r in out["table"]]
    assert "tuning: svft_plain" in settings and "tuning: early/lora_r2" in settings
    assert any("singular vectors help" in r["ours"] for r in out["table"])
    front = next(r for r in out["table"] if r["setting"].startswith("Pareto front"))["ours"]
    assert "svft_plain" in front and "lora_r1" not in front


def test_one_seed_is_no_evidence():
    out = svft.check(_fake(FINAL_GOOD, EARLY_GOOD, n=1))
    assert _held(out) == [False] * 8


def test_front_pairs_take_the_largest_svft_budget_not_above_each_lora_arm():
    r = _fake(FINAL_GOOD, EARLY_GOOD)
    assert svft.front_pairs(r) == [("svft_plain", "lora_r1"), ("svft_banded_d2", "lora_r2"),
                                   ("svft_banded_d4", "lora_r4"), ("svft_banded_d8", "lora_r8")]
    assert ("svft_random_d8", "lora_r8") in svft.strict_pairs(r)
    # a budget above every LoRA arm's pairs with nothing; one below r1's pairs with r1
    big = svft.front_pairs(_fake(FINAL_GOOD, n_params={**N_PARAMS, "svft_plain": 30_000, "svft_banded_d2": 10**6,
                                                         "svft_banded_d4": 10**6, "svft_banded_d8": 10**6}))
    assert big[0] == (None, "lora_r1") and big[1] == ("svft_plain", "lora_r2")
    assert not held(svft.check(_fake(FINAL_GOOD, EARLY_GOOD, n_params={**N_PARAMS, "svft_plain": 30_000})),
                    "at lora_r1")[0]


def test_non_inferiority_margin_is_five_percent_of_full_fts_gain():
    r = _fake(FINAL_GOOD, EARLY_GOOD)
    assert svft.margin(r) == pytest.approx(0.05, abs=1e-3)
    # 2% of full FT's gain worse than LoRA: as good; 15% worse: not
    ok = svft.check(_fake({**FINAL_GOOD, "svft_banded_d4": FINAL_GOOD["lora_r4"] + 0.02}, EARLY_GOOD))
    bad = svft.check(_fake({**FINAL_GOOD, "svft_banded_d4": FINAL_GOOD["lora_r4"] + 0.15}, EARLY_GOOD))
    assert held(ok, "Pareto front at lora_r4") == [True] and held(bad, "Pareto front at lora_r4") == [False]


def test_ties_everywhere_are_on_the_front_but_never_strictly_better():
    tie = {**FINAL_GOOD, **{s: FINAL_GOOD[lo] for s, lo in svft.front_pairs(_fake(FINAL_GOOD))},
           "svft_random_d8": FINAL_GOOD["lora_r8"]}
    out = svft.check(_fake(tie, EARLY_GOOD))
    assert _held(out)[:4] == [True] * 4 and held(out, "strictly beats") == [False]


def test_a_win_inside_seed_noise_is_not_a_result():
    noisy = {**FINAL_GOOD, **{s: FINAL_GOOD[lo] - 0.01 for s, lo in svft.strict_pairs(_fake(FINAL_GOOD))}}
    out = svft.check(_fake(noisy, EARLY_GOOD, noise=0.08))
    assert held(out, "strictly beats") == [False]


def test_recovery_needs_a_smaller_budget_than_lora_needs():
    # SVFT's best recovery (d8: 60%) beats LoRA's best (r8: 55%) with fewer parameters: holds
    assert held(svft.check(_fake(FINAL_GOOD, EARLY_GOOD)), "recovers as much") == [True]
    # LoRA r1 already reaches LoRA's best: SVFT must do it below 19,712 parameters; plain is far worse
    flat = {**FINAL_GOOD, "lora_r1": 2.45, "lora_r2": 2.45, "lora_r4": 2.45, "svft_plain": 2.8}
    out = svft.check(_fake(flat, EARLY_GOOD))
    assert held(out, "recovers as much") == [False] and "lora_r1" in next(
        c["measured"] for c in out["claims"] if "recovers as much" in c["claim"])


def test_better_weights_only_at_matched_budgets_and_only_when_svft_keeps_up():
    # SVFT gains more from better weights but is inferior at the final checkpoint: not the paper's claim
    behind = {**FINAL_GOOD, "svft_banded_d2": 2.8}
    out = svft.check(_fake(behind, {**EARLY_GOOD, "svft_banded_d2": 3.3}))
    assert held(out, "help svft_banded_d2") == [False]
    # equal gains: fails
    same = svft.check(_fake(FINAL_GOOD, {**EARLY_GOOD, "svft_banded_d2": 2.5 + 0.2, "svft_banded_d4": 2.45 + 0.2}))
    assert held(same, "help svft_banded_d2") == [False] and held(same, "help svft_banded_d4") == [False]
    # unmatched budgets (SVFT at half the LoRA budget) are not tested as matched
    half = svft.check(_fake(FINAL_GOOD, EARLY_GOOD, n_params={**N_PARAMS, "svft_banded_d2": 19_000}))
    assert held(half, "help svft_banded_d2") == [False]


def test_pareto_front_helper():
    means = {"a": 3.0, "b": 2.5, "c": 2.6, "d": 2.0}
    n = {"a": 1, "b": 10, "c": 20, "d": 1000}
    assert svft.pareto_front(means, n) == ["a", "b", "d"]


def test_schedule_has_warmup_and_two_epochs():
    s = svft.schedule(64, 8, 2)
    assert s == {"steps": 16, "steps_per_epoch": 8, "warmup": 2, "min_lr_ratio": 0.0}
    assert svft.schedule(5, 8, 2)["warmup"] == 1            # at least one step
    from frugalml.lm.train import lr_lambda

    mult = [lr_lambda(i, 16, 2, "cosine", 0.0) for i in range(16)]
    assert mult[0] == 0.5 and mult[1] == 1.0 and all(a >= b for a, b in zip(mult[1:], mult[2:]))
    assert mult[-1] < 0.02                                  # cosine decay to ~0


def _quadratic_tuning(monkeypatch, best_lr, diverge_above=math.inf):
    calls = []

    def fake(pre_model, arm, lr, train, val, batch_size, epochs, rs, pad):
        calls.append(lr)
        if lr > diverge_above:
            return None
        return 2.0 + (math.log10(lr) - math.log10(best_lr)) ** 2 + 0.001 * rs

    monkeypatch.setattr(svft, "_tune_loss", fake)
    return calls


def test_tuning_extends_the_grid_while_the_best_sits_at_an_edge(monkeypatch):
    calls = _quadratic_tuning(monkeypatch, best_lr=3.0)      # far above the prior's grid
    cfg = {"tune": {**svft.TUNE_DEFAULT, "max_extend": 6}, "epochs": 2}
    draws = [(None, None, 900), (None, None, 901)]
    rec = svft._tune(None, "svft_plain", draws, cfg, 0, [4.0, 4.0], prior=0.1)
    assert len(rec["grid"]) >= 5 and rec["extended"] >= 1 and not rec["at_edge"]
    ratios = np.diff(np.log(rec["grid"]))
    assert np.allclose(ratios, math.log(3.0))                # log-spaced
    assert rec["chosen"] == pytest.approx(2.7) and rec["grid"][0] < rec["chosen"] < rec["grid"][-1]
    assert len(calls) == 2 * len(rec["grid"]) and rec["draws"] == [900, 901]
    # no extension needed when the best is inside
    inside = svft._tune(None, "lora_r1", draws, cfg, 0, [4.0, 4.0], prior=3.0)
    assert inside["extended"] == 0 and inside["chosen"] == pytest.approx(3.0) and len(inside["grid"]) == 5
    # extension stops at max_extend and says so
    capped = svft._tune(None, "svft_plain", draws, {**cfg, "tune": {**cfg["tune"], "max_extend": 1}}, 0,
                        [4.0, 4.0], prior=1e-4)
    assert capped["at_edge"] and capped["extended"] == 1


def test_a_diverged_rate_counts_at_its_cap_and_is_never_chosen(monkeypatch):
    _quadratic_tuning(monkeypatch, best_lr=0.1, diverge_above=0.2)
    cfg = {"tune": dict(svft.TUNE_DEFAULT), "epochs": 2}
    rec = svft._tune(None, "svft_plain", [(None, None, 0)], cfg, 0, [9.0], prior=0.1)
    assert rec["diverged"] == [pytest.approx(0.3), pytest.approx(0.9)]
    assert rec["val_loss"][-1] == 9.0 and rec["chosen"] == pytest.approx(0.1)


# ---- end to end at smoke scale: the intact pipeline and two broken variants ---------------------

E2E = {"arms": ["full", "lora_r2", "svft_banded_d2"], "early_arms": ["lora_r2", "svft_banded_d2"]}
E2E_GATES = ["Pareto front at lora_r2", "strictly beats", "recovers as much", "help svft_banded_d2"]


@pytest.fixture(scope="module")
def intact():
    return svft.run("smoke", 0, _overrides=E2E)


def test_tiny_real_run_records_tuning_curves_check_and_figures(intact, tmp_path):
    r = intact
    assert set(r["tuning"]) == {"full", "lora_r2", "svft_banded_d2", "early/lora_r2", "early/svft_banded_d2"}
    for key, rec in r["tuning"].items():
        assert len(rec["grid"]) >= 5 and len(rec["val_loss"]) == len(rec["grid"]), key
        assert rec["chosen"] in rec["grid"] and all(math.isfinite(v) for v in rec["val_loss"])
        assert set(rec["draws"]).isdisjoint(sd["seed"] for sd in r["seeds"])      # never an evaluation seed
        assert r["lr"][key] == rec["chosen"]
    sd = r["seeds"][0]
    assert len(r["seeds"]) == 3 and len({s["seed"] for s in r["seeds"]}) == 3
    # exact budgets of the reference_smoke model: 4 layers x 7 matrices, every r = d_model = 64
    assert sd["final"]["svft_banded_d2"]["n_params"] == 4 * 7 * (64 * 5 - 6)
    for ckpt in ("final", "early"):
        for arm, rec in sd[ckpt].items():
            assert np.isfinite(rec["loss"]) and rec["weight_change"] > 0, (ckpt, arm)   # every update is active
            steps = r["config"]["schedule"]["steps"]
            assert len(rec["curve"]["train_loss"]) == steps and rec["curve"]["val_step"][-1] == steps
            assert rec["curve"]["val_loss"][-1] == pytest.approx(rec["loss"])
    out = svft.check(r)
    assert len(out["claims"]) == 4 and all("held" in c for c in out["claims"])
    paths = svft.plot(r, tmp_path)
    assert [p.name for p in paths] == ["svft_budget.png", "svft_tuning.png", "svft_curves.png"]
    assert all(p.is_file() and p.stat().st_size > 10_000 for p in paths)


def test_broken_m_frozen_at_zero_fails_every_gate(intact, monkeypatch):
    import torch

    import frugalml.finetune.svft as lib

    original = lib.apply_svft

    def frozen(model, config, **kw):             # M never moves: its gradient is zeroed (AdamW, no decay)
        model = original(model, config, **kw)
        for p in model.parameters():
            if p.requires_grad:
                p.register_hook(lambda g: torch.zeros_like(g))
        return model

    monkeypatch.setattr(lib, "apply_svft", frozen)
    broken = svft.run("smoke", 0, _overrides={**E2E, "tuning": intact["tuning"]})
    out = svft.check(broken)
    assert [held(out, g)[0] for g in E2E_GATES] == [False] * 4 and not out["reproduced"]
    for sd_b, sd_i in zip(broken["seeds"], intact["seeds"]):
        for ckpt in ("final", "early"):
            rec = sd_b[ckpt]["svft_banded_d2"]
            assert rec["weight_change"] == 0 and rec["loss"] == pytest.approx(sd_b["pretrained"][ckpt]["loss"])
        assert sd_b["final"]["lora_r2"]["loss"] == pytest.approx(sd_i["final"]["lora_r2"]["loss"])  # LoRA intact
    assert np.mean([s["final"]["svft_banded_d2"]["loss"] for s in intact["seeds"]]) < np.mean(
        [s["final"]["svft_banded_d2"]["loss"] for s in broken["seeds"]])


def test_broken_svft_rate_30x_off_its_tuned_value_fails_every_gate(intact, monkeypatch):
    original = svft._rates

    def off(tuning):    # 30x above (at smoke scale the tuning curve is flat below the choice: /30 costs nothing)
        return {k: v * 30 if "svft" in k else v for k, v in original(tuning).items()}

    monkeypatch.setattr(svft, "_rates", off)
    broken = svft.run("smoke", 0, _overrides={**E2E, "tuning": intact["tuning"]})
    out = svft.check(broken)
    assert [held(out, g)[0] for g in E2E_GATES] == [False] * 4 and not out["reproduced"]
    assert broken["lr"]["svft_banded_d2"] == pytest.approx(intact["tuning"]["svft_banded_d2"]["chosen"] * 30)
    assert np.mean([s["final"]["svft_banded_d2"]["loss"] for s in intact["seeds"]]) < np.mean(
        [s["final"]["svft_banded_d2"]["loss"] for s in broken["seeds"]])


def test_paper_scale_needs_a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        svft.run("paper", 0)
    with pytest.raises(ValueError, match="scale"):
        svft.run("huge", 0)
