"""The SVFT reproduction: claim checks on constructed results (incl. broken variants), a tiny real run."""

import numpy as np
import pytest

from frugalml.finetune.svft import banded_count
from frugalml.repro import svft

N_PARAMS = {"full": 1_000_000, "lora_r1": 19_712, "lora_r2": 39_424, "lora_r4": 78_848, "lora_r8": 157_696,
            "pissa_r1": 19_712, "svft_plain": 7_168, "svft_banded_d2": 35_504, "svft_banded_d4": 63_392,
            "svft_random_d2": 35_504, "svft_random_d8": 117_824, "control_plain": 7_168,
            "control_banded_d2": 35_504}


def _fake(final_loss, early_loss=None, n=4, noise=0.002, seed=0, n_params=None):
    """A result shaped like ``svft.run``'s with chosen mean losses per arm (no training)."""
    rng = np.random.default_rng(seed)
    early_loss = early_loss or {}
    seeds = []
    for s in range(n):
        shift = rng.normal(scale=0.05)        # shared per-seed difficulty: pairing must remove it

        def arm(loss, name):
            return {"loss": loss + shift + rng.normal(scale=noise), "acc": 0.1, "weight_change": 0.01,
                    "n_params": (n_params or N_PARAMS)[name], "lr": 1e-3, "train_s": 1.0, "train_loss_end": 1.0}

        seeds.append({"seed": s, "pretrained": {"final": {"loss": 3.0 + shift, "acc": 0.0},
                                                "early": {"loss": 3.5 + shift, "acc": 0.0}},
                      "final": {a: arm(v, a) for a, v in final_loss.items()},
                      "early": {a: arm(v, a) for a, v in early_loss.items()}})
    return {"scale": "smoke", "config": {"steps": 16, "batch_size": 16, "n_train": 64},
            "pretrain": {"n_params": 1_900_000, "validation_loss": 2.56, "pretrain_tokens": 6.1e6,
                         "early_checkpoint": {"step": 300, "validation_loss": 4.31}},
            "lr": {"full": 1e-3}, "arms": list(final_loss), "early_arms": list(early_loss), "seeds": seeds}


FINAL_GOOD = {"full": 2.0, "lora_r1": 2.6, "lora_r2": 2.55, "lora_r4": 2.5, "lora_r8": 2.45, "pissa_r1": 2.6,
              "svft_plain": 2.5, "svft_banded_d2": 2.45, "svft_banded_d4": 2.4, "svft_random_d2": 2.45,
              "svft_random_d8": 2.35, "control_plain": 2.7, "control_banded_d2": 2.7}
EARLY_GOOD = {"full": 2.5, "lora_r1": 2.7, "lora_r4": 2.6, "svft_plain": 2.9, "svft_banded_d4": 2.8}


def test_claims_hold_when_svft_beats_lora_and_gains_more():
    out = svft.check(_fake(FINAL_GOOD, EARLY_GOOD))
    assert [c["held"] for c in out["claims"]] == [True] * 6 and out["reproduced"]
    assert any("singular vectors help" in row["ours"] for row in out["table"])


def test_broken_variants_fail_every_claim():
    # SVFT no better than LoRA (e.g. adapters that do nothing beyond LoRA): no pair holds
    same = {**FINAL_GOOD, **{s: FINAL_GOOD[lo] for s, lo in svft.PAIRS}}
    early_same = {**EARLY_GOOD, "svft_plain": EARLY_GOOD["lora_r1"] + 0.1, "svft_banded_d4": EARLY_GOOD["lora_r4"] + 0.1}
    early_same = {k: v for k, v in early_same.items()}
    final_same = {**same, "svft_plain": same["lora_r1"], "svft_banded_d4": same["lora_r4"]}
    out = svft.check(_fake(final_same, {**EARLY_GOOD, "svft_plain": FINAL_GOOD["lora_r1"] + 0.1,
                                        "svft_banded_d4": FINAL_GOOD["lora_r4"] + 0.1}))
    assert not any(c["held"] for c in out["claims"][:4]) and not out["reproduced"]
    # better weights help both the same: the gain claims fail
    gains_equal = svft.check(_fake(FINAL_GOOD, {**EARLY_GOOD, "svft_plain": 2.5 + 0.1, "svft_banded_d4": 2.4 + 0.1}))
    assert [c["held"] for c in gains_equal["claims"][4:]] == [False, False]


def test_a_win_inside_seed_noise_is_not_a_result():
    noisy = {**FINAL_GOOD, **{s: FINAL_GOOD[lo] - 0.002 for s, lo in svft.PAIRS}}
    out = svft.check(_fake(noisy, EARLY_GOOD, noise=0.05, n=3))
    assert not any(c["held"] for c in out["claims"][:4])


def test_a_larger_svft_budget_cannot_win():
    big = {**N_PARAMS, "svft_plain": 50_000}
    out = svft.check(_fake(FINAL_GOOD, EARLY_GOOD, n_params=big))
    assert not out["claims"][0]["held"] and "LARGER" in out["claims"][0]["measured"]


def test_tiny_real_run_check_and_plot(tmp_path):
    arms = ["full", "lora_r1", "svft_plain", "control_plain"]
    result = svft.run("smoke", 0, _overrides={"arms": arms, "early_arms": ["lora_r1", "svft_plain", "full"],
                                              "steps": 1, "n_train": 8, "n_validation": 4,
                                              "lr_grid": (1.0,)})
    sd = result["seeds"][0]
    # exact budgets of the reference_smoke model: 4 layers x 7 matrices, every r = d_model = 64
    assert sd["final"]["svft_plain"]["n_params"] == 4 * 7 * 64
    assert sd["final"]["control_plain"]["n_params"] == 4 * 7 * 64
    assert sd["final"]["lora_r1"]["n_params"] == 4 * (4 * (64 + 64) + 3 * (64 + 192))
    assert banded_count(64, 0) == 64
    for ckpt in ("final", "early"):
        for arm, rec in sd[ckpt].items():
            assert np.isfinite(rec["loss"]) and rec["weight_change"] > 0, (ckpt, arm)   # every update is active
    assert set(result["lr_grid"]) == {"full", "lora", "svft"} and all(len(v) == 1 for v in result["lr_grid"].values())
    out = svft.check(result)
    assert len(out["claims"]) == 2 and all("held" in c for c in out["claims"])
    (path,) = svft.plot(result, tmp_path)
    assert path.is_file() and path.stat().st_size > 10_000


def test_paper_scale_needs_a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        svft.run("paper", 0)
    with pytest.raises(ValueError, match="scale"):
        svft.run("huge", 0)
