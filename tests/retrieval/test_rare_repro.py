"""The RARe reproduction: smoke run end to end, every gating check fails for a broken variant run end to end."""

import copy

import numpy as np
import pytest

from frugalml.repro import rare
from frugalml.repro.verdict import held

TRAIN, HELD = ["t_a", "t_b"], ["h_a", "h_b"]
GOOD = {"bm25": 0.30, "base_plain": 0.40, "base": 0.40, "base_examples": 0.30, "instruct_ft": 0.45,
        "instruct_ft_examples": 0.35, "rare": 0.55, "rare_no_examples": 0.45, "rare_random": 0.45}
HURT, BEATS_FT, BEATS_BASE_EX, USES, RANDOM, OOD, LATENCY = (
    "do not help the off-the-shelf", "beats the instruction-only fine-tune on held-out", "examples-at-inference-only",
    "given the same examples", "Retrieved examples beat random", "larger there than in-domain", "latency")


def fake_result(means=GOOD, held_bonus=0.05, n_q=60, seeds=3, latency=(30.0, 5.0), rng=0):
    """A result shaped like rare.run's: per-query nDCG@10 ~ arm mean (+ a held-out bonus for RARe)."""
    rng = np.random.default_rng(rng)
    base_q = {t: rng.random(n_q) * 0.4 - 0.2 for t in TRAIN + HELD}  # shared per-query difficulty
    results = {}
    for t in TRAIN + HELD:
        results[t] = {}
        for arm, m in means.items():
            bonus = held_bonus if (t in HELD and arm == "rare") else 0.0
            runs = []
            for _ in range(seeds):
                pq = np.clip(m + bonus + base_q[t] + 0.05 * rng.normal(size=n_q), 0, 1)
                with_ex = arm in ("base_examples", "instruct_ft_examples", "rare", "rare_random")
                runs.append({"ndcg@10": float(pq.mean()), "recall@10": float(pq.mean()), "mrr@10": float(pq.mean()),
                             "query_ms": (latency[0] if with_ex else latency[1]) * (1 + 0.05 * rng.normal()),
                             "query_tokens": 90 if with_ex else 20, "query_tokens_full": 130 if with_ex else 20,
                             "query_tokens_max": 128, "query_tokens_full_max": 300, "examples_given": 3 * with_ex,
                             "examples_kept": 2.5 * with_ex, "target_truncated": 0.0,
                             "per_query_ndcg@10": pq.tolist()})
            results[t][arm] = runs
    info = {a: {"with_examples_fraction": f, "loss_first": 3.0, "loss_last": 1.0, "loss_history": [3.0, 2.0, 1.0],
                "loss_flatness": 0.01, "tokens": {}} for a, f in (("rare", 0.7), ("instruct_ft", 0.0),
                                                                   ("rare_random", 0.7))}
    return {"config": {"train": TRAIN, "heldout": HELD, "synthetic": [], "train_layers": 4, "steps": 40,
                       "batch_size": 16, "lr": 1e-4, "k": 3, "max_example_words": 20, "max_seq_length": 256,
                       "n_train": 200, "n_test": n_q}, "n_params": 22_700_000, "tasks": TRAIN + HELD,
            "results": results, "runs": [{"seed": s, "training": info} for s in range(seeds)]}


def test_check_passes_a_result_where_the_claims_hold():
    v = rare.check(fake_result())
    assert v["reproduced"], [c for c in v["claims"] if not c["held"]]
    assert all(set(r) == {"setting", "paper", "ours"} for r in v["table"])
    assert all("tests" in c for c in v["claims"])  # every claim carries its stats record


def test_broken_results_fail_their_check():
    # random examples passed off as retrieved ones
    r = fake_result()
    for t in r["results"]:
        r["results"][t]["rare_random"] = copy.deepcopy(r["results"][t]["rare"])
    assert held(rare.check(r), RANDOM) == [False]
    # examples that are never used: RARe equals the instruction-only fine-tune, no latency cost
    r = fake_result(means={**GOOD, "rare": GOOD["instruct_ft"]}, held_bonus=0.0, latency=(5.0, 5.0))
    v = rare.check(r)
    assert held(v, BEATS_FT) == [False] and held(v, OOD) == [False] and held(v, LATENCY) == [False]
    # "RARe" that is the base model with examples (no fine-tuning happened)
    r = fake_result()
    for t in r["results"]:
        r["results"][t]["rare"] = copy.deepcopy(r["results"][t]["base_examples"])
    v = rare.check(r)
    assert held(v, BEATS_BASE_EX) == [False] and held(v, USES) == [False]
    # examples that help the off-the-shelf model
    assert held(rare.check(fake_result(means={**GOOD, "base_examples": 0.5})), HURT) == [False]
    # a gain that is as large in-domain as held-out
    assert held(rare.check(fake_result(held_bonus=0.0)), OOD) == [False]
    # "larger" only because both gains are negative (examples hurt everywhere, less on held-out)
    assert held(rare.check(fake_result(means={**GOOD, "rare": 0.2}, held_bonus=0.1)), OOD) == [False]


@pytest.fixture(scope="module")
def smoke():
    return rare.run("smoke", seed=0)


def test_smoke_run_check_and_plot(smoke, tmp_path):
    assert set(smoke["results"]) == {"coded_people"}
    for arms in smoke["results"].values():
        assert set(arms) == set(rare.ARMS)
        for runs in arms.values():
            assert len(runs) == rare.SCALES["smoke"]["seeds"]
            assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in runs)
            # the target query always reaches the encoder
            assert all(r.get("target_truncated", 0.0) == 0.0 for r in runs)
            assert all(r.get("query_tokens_max", 0) <= rare.SCALES["smoke"]["max_seq_length"] for r in runs)
    tr = smoke["runs"][0]["training"]
    assert tr["instruct_ft"]["with_examples_fraction"] == 0.0 and 0.3 < tr["rare"]["with_examples_fraction"] < 1.0
    assert len(tr["rare"]["loss_history"]) == rare.SCALES["smoke"]["steps"]
    assert tr["rare"]["tokens"]["target_truncated"] == 0.0
    # queries with examples are longer than without (the mechanism is active), and were fitted
    assert rare.tokens(smoke, "rare") > rare.tokens(smoke, "rare_no_examples")
    assert rare.tokens(smoke, "rare", "query_tokens_full") >= rare.tokens(smoke, "rare")
    assert all(0 < v["pool_share"] <= rare.SCALES["smoke"]["pool_share"] for v in smoke["task_sizes"].values())
    v = rare.check(smoke)
    assert len(v["claims"]) == 7 and isinstance(v["reproduced"], bool)
    paths = rare.plot(smoke, tmp_path)
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


# The method broken inside the pipeline, run end to end at smoke scale. The smoke tasks are the synthetic
# coded ones, where examples carry the answer by construction; a broken run must fail every check below.
GATED_BY_SHUFFLE = [BEATS_FT, BEATS_BASE_EX, USES, RANDOM]
GATED_BY_NO_TRAINING = [USES]
# The unbroken smoke run passes only the checks it passes on every draw measured: "beats base + examples"
# and "retrieved beat random" held on seeds 0, 1, 2 (by 2.2/0.2/1.7 and 1.9/0.8/1.5 SE; seeds 1, 2 with two
# training seeds). "Beats the instruction-only fine-tune" (+1.6/-0.9/+0.9 SE) and "uses its examples"
# (-0.2/-1.8/-0.3 SE) are within seed noise at this scale (40 queries, 30 steps): asserting them would test
# the draw, not the pipeline (the earlier version did, and flipped when dropout drew other masks).
PASSED_BY_UNBROKEN_SMOKE = [BEATS_BASE_EX, RANDOM]


def test_smoke_unbroken_passes_the_checks_it_has_the_power_for(smoke):
    v = rare.check(smoke)
    for text in PASSED_BY_UNBROKEN_SMOKE:
        assert held(v, text) == [True], (text, [c["measured"] for c in v["claims"] if text in c["claim"]])


def test_broken_variant_shuffled_examples_fails_end_to_end():
    v = rare.check(rare.run("smoke", seed=0, broken="shuffled_examples"))
    for text in GATED_BY_SHUFFLE:
        assert held(v, text) == [False], text
    assert not v["reproduced"]


def test_broken_variant_rare_trained_without_examples_fails_end_to_end():
    v = rare.check(rare.run("smoke", seed=0, broken="no_example_training"))
    for text in GATED_BY_NO_TRAINING:
        assert held(v, text) == [False], text
    assert not v["reproduced"]


def test_scales():
    with pytest.raises(ValueError, match="scale"):
        rare.run("huge")
    with pytest.raises(ValueError, match="broken"):
        rare.run("smoke", broken="nope")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="GPU"):
            rare.run("paper")


def test_flatness_is_the_late_share_of_the_loss_decrease():
    steps = np.arange(50)
    assert rare._flatness(3.0 * np.exp(-steps / 3.0)) == pytest.approx(0.0, abs=1e-3)   # converged: flat
    line = rare._flatness(3.0 - 0.05 * steps)                  # windows of 10: (1.275 - 0.775) / (2.775 - 0.775)
    assert line == pytest.approx(0.25)
    assert np.isnan(rare._flatness([1.0, 2.0, 3.0, 4.0, 5.0]))  # rising: no decrease to share
    assert np.isnan(rare._flatness([1.0]))


def test_tune_scores_each_rate_and_grows_the_grid_beyond_its_best_end():
    rec = rare.tune("smoke", grid=(1e-5, 2e-5), arms=("instruct_ft",), max_extend=1)
    assert rec["draw"] >= rare.TUNE_OFFSET  # never an evaluation draw (tasks seed*1000+i, training seed*100+s)
    arm = rec["arms"]["instruct_ft"]
    # with two rates the best sits at an end, so the grid grows once, beyond that end
    assert arm["extended"] == 1 and len(arm["grid"]) == 3 and len(arm["mean"]) == 3
    grown = sorted(set(arm["grid"]) - {1e-5, 2e-5})
    assert grown in ([5e-6], [4e-5])
    assert arm["chosen"] in arm["candidates"] and arm["best"] in arm["candidates"]
    assert arm["chosen"] == arm["best"] == arm["grid"][int(np.argmax(arm["mean"]))]  # the best mean
    assert all(0.0 <= m <= 1.0 for m in arm["mean"]) and len(set(arm["mean"])) > 1  # the rate changed the model


def test_tune_refuses_bad_arguments():
    with pytest.raises(ValueError, match="arms"):
        rare.tune("smoke", arms=("bm25",))
    with pytest.raises(ValueError, match="grid"):
        rare.tune("smoke", grid=(1e-4,))
    with pytest.raises(ValueError, match="scale"):
        rare.tune("huge")


def test_per_arm_rates_are_the_recorded_tuning_choices():
    """A scale with per-arm rates runs the rates its recorded tuning chose (rare_tuning.json, written by tune)."""
    for scale, cfg in rare.SCALES.items():
        if not isinstance(cfg["lr"], dict):
            continue
        rec = rare.stored_tuning(scale)
        assert rec is not None, f"{scale}: per-arm rates without a tuning record"
        assert rec["steps"] == cfg["steps"]
        for arm in rare.TRAINED:
            assert rare.arm_lr(cfg, arm) == rec["arms"][arm]["chosen"], (scale, arm)
    assert rare.arm_lr({"lr": 1e-4}, "rare") == 1e-4
    assert rare.arm_lr({"lr": {"rare": 3e-4}}, "rare") == 3e-4
