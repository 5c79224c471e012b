"""The statistics of a verdict, checked against scipy and by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from frugalml.repro.stats import (describe, fragile, mean_se, non_inferiority, paired, select_growing, select_robust,
                                  superiority, t_quantile, threshold_test, weakest)
from frugalml.repro.verdict import claim, verdict


def test_mean_se_matches_numpy_and_nan_for_one_value():
    x = [1.0, 2.0, 4.0, 7.0]
    m, se = mean_se(x)
    assert m == pytest.approx(3.5)
    assert se == pytest.approx(np.std(x, ddof=1) / 2)
    assert math.isnan(mean_se([3.0])[1])


def test_paired_is_the_difference_per_seed():
    p = paired([3, 5, 9], [1, 2, 3])
    assert p["diffs"] == [2, 3, 6] and p["n"] == 3
    with pytest.raises(ValueError, match="one value per seed"):
        paired([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-finite"):
        paired([1, float("nan")], [1, 2])


def test_superiority_agrees_with_scipy_one_sided_paired_t_test():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.normal(0.3, 1, 5), rng.normal(0, 1, 5)
        rec = superiority(a, b)
        p = sps.ttest_rel(a, b, alternative="greater").pvalue
        assert rec["held"] == (p < 0.05)
        assert rec["t_crit"] == pytest.approx(sps.t.ppf(0.95, 4))


def test_lower_is_better_flips_the_sign():
    loss_a, loss_b = [1.0, 1.1, 0.9], [2.0, 2.2, 2.1]
    assert superiority(loss_a, loss_b, higher_is_better=False)["held"]
    assert not superiority(loss_b, loss_a, higher_is_better=False)["held"]
    assert superiority(loss_a, loss_b, higher_is_better=False)["effect"] == pytest.approx(1.1)


def test_margin_moves_the_line():
    d = [0.5, 0.6, 0.55, 0.45]
    assert superiority(d)["held"]
    assert not superiority(d, margin=0.6)["held"]
    # non-inferiority: a small loss is tolerated within the margin, a large one is not
    assert non_inferiority([-0.01, -0.02, 0.0, -0.01], margin=0.1)["held"]
    assert not non_inferiority([-0.3, -0.25, -0.35, -0.3], margin=0.1)["held"]
    with pytest.raises(ValueError, match="margin"):
        non_inferiority([0.1, 0.2], margin=-1)


def test_slack_is_distance_from_the_line_in_se():
    d = np.array([1.0, 2.0, 3.0])
    rec = superiority(d)
    m, se = mean_se(d)
    assert rec["slack_se"] == pytest.approx(m / se - t_quantile(3))
    assert "held by" in describe(rec)
    assert "missed by" in describe(superiority(-d))


def test_one_seed_is_a_plain_comparison_without_se():
    rec = superiority([0.2], [0.1])
    assert rec["held"] and rec["slack_se"] is None
    assert "no SE" in describe(rec)


def test_threshold_with_and_without_se():
    r = threshold_test(1.97, 2.0, higher_is_better=False)
    assert r["held"] and r["ratio"] == pytest.approx(0.985)
    assert describe(r) == "held: 1.97 vs line 2 (lower is better) (ratio 0.98)"   # the caller's units, not flipped
    assert not threshold_test(2.1, 2.0, higher_is_better=False)["held"]
    slope = threshold_test(-0.48, -0.3, higher_is_better=False, se=0.05, n=5)
    assert slope["held"] == ((-0.3 - -0.48) / 0.05 > sps.t.ppf(0.95, 4))


def test_fragile_and_weakest():
    strong, weak = superiority([1.0, 1.1, 0.9]), superiority([0.1, 0.5, -0.1])
    assert weakest([strong, weak]) is weak
    assert not fragile(strong)
    c = claim("x", weak["held"], "m", test=[strong, weak])
    assert c["slack_se"] == weak["slack_se"] and c["margin"] == describe(weak)
    v = verdict([c, claim("y", True, "m")])
    assert v["n_claims"] == 2 and v["n_held"] == int(weak["held"]) + 1


def test_select_robust_one_se_rule():
    grid = [0.001, 0.01, 0.1, 1.0]
    scores = [[0.70, 0.71, 0.69], [0.903, 0.91, 0.90], [0.905, 0.90, 0.91], [0.5, 0.4, 0.6]]
    r = select_robust(grid, scores)
    assert r["best"] == 0.1 and r["candidates"] == [0.01, 0.1] and r["chosen"] == 0.1
    assert select_robust(grid, scores, prefer="smallest")["chosen"] == 0.01
    best = select_robust(grid, scores, prefer="best")
    assert best["chosen"] == 0.1 and best["candidates"] == [0.01, 0.1] and best["rule"].startswith("best mean")
    with pytest.raises(ValueError, match="prefer"):
        select_robust(grid, scores, prefer="median")
    assert not r["at_edge"]
    assert select_robust(grid, [[1.0], [2.0], [3.0], [4.0]])["at_edge"]
    # losses: lower is better
    r = select_robust([1, 2, 3], [[3.0, 3.1], [1.0, 1.1], [2.0, 2.1]], higher_is_better=False)
    assert r["chosen"] == 2 and r["candidates"] == [2]
    with pytest.raises(ValueError, match="one entry per value"):
        select_robust([1, 2], [[1.0]])


def test_select_growing_extends_beyond_the_best_end_until_inside():
    truth = {lr: -abs(math.log2(lr / 0.25)) for lr in (0.5, 1.0, 2.0, 4.0, 0.125, 0.25)}  # best at 0.25
    scored = {lr: [truth[lr]] for lr in (1.0, 2.0, 4.0)}

    def score(lr):
        scored[lr] = [truth[lr]]

    def select(grid):
        return select_robust(grid, [scored[lr] for lr in grid])

    sel, grid, added = select_growing([4.0, 1.0, 2.0], score, select, max_extend=5)
    assert grid == [0.125, 0.25, 0.5, 1.0, 2.0, 4.0] and added == 3  # 0.5, 0.25, then 0.125 to see past 0.25
    assert sel["best"] == 0.25 and not sel["at_edge"]
    sel, grid, added = select_growing([1.0, 2.0, 4.0], score, select, max_extend=1)
    assert added == 1 and grid == [0.5, 1.0, 2.0, 4.0] and sel["at_edge"]  # the cap stops it at an edge
    sel, grid, added = select_growing([0.125, 0.25, 0.5], score, select, factor=4.0)
    assert added == 0 and grid == [0.125, 0.25, 0.5]
