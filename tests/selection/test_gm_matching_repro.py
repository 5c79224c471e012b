"""The GM Matching reproduction: smoke run, and every gating check fails for a broken variant."""

import copy
import json

import numpy as np
import pytest

from frugalml.data import pool_images
from frugalml.repro import load_experiment
from frugalml.repro.verdict import held

gm = load_experiment("gm_matching")


@pytest.fixture(scope="module")
def result():
    return json.loads(json.dumps(gm.run(scale="smoke", seed=0)))  # plain JSON-able numbers


def test_smoke_structure_and_plot(result, tmp_path):
    v = gm.check(result)
    assert isinstance(v["reproduced"], bool)
    kinds = [c for c in v["claims"] if "GM Matching beats" in c["claim"]]
    assert len(kinds) == len(result["config"]["corruptions"])  # one verdict per corruption kind
    assert all(set(r) == {"setting", "paper", "ours"} for r in v["table"])
    rows = result["images"]["rows"]
    assert {r["selector"] for r in rows} == set(result["config"]["selectors"]) | {"gm_matching_pca"}
    for r in rows:  # the subset's label quality is recorded, and is a fraction
        assert 0 <= r["label_correct"] <= 1 and 0 <= r["image_clean"] <= 1
        if r["corruption"] == "clean":
            assert r["label_correct"] == 1.0
    noisy = [r for r in rows if r["corruption"] == "symmetric labels 35%" and r["selector"] == "random"]
    assert 0.5 < np.mean([r["label_correct"] for r in noisy]) < 0.8  # random keeps ~65% correct labels
    files = gm.plot(result, tmp_path)
    assert len(files) == 3 and all(f.exists() and f.stat().st_size > 1000 for f in files)


def test_image_claims_fail_for_random_passed_off_as_gm(result):
    broken = copy.deepcopy(result)
    rand = {(r["corruption"], r["seed"], r["fraction"]): r for r in broken["images"]["rows"] if r["selector"] == "random"}
    for r in broken["images"]["rows"]:
        if r["selector"] == "gm_matching":
            r.update({k: v for k, v in rand[(r["corruption"], r["seed"], r["fraction"])].items() if k != "selector"})
    assert not any(held(gm.check(broken), "GM Matching beats"))


def test_image_claim_holds_for_a_clear_paired_win(result):
    good = copy.deepcopy(result)
    for r in good["images"]["rows"]:
        r["accuracy"] = 0.9 + 0.01 * r["seed"] if r["selector"] == "gm_matching" else 0.5 + 0.01 * r["seed"]
    assert all(held(gm.check(good), "GM Matching beats"))


def test_synthetic_and_rate_claims_fail_for_random_passed_off_as_gm(result):
    broken = copy.deepcopy(result)
    rand = {(r["psi"], r["distance"], r["metric"], r["seed"]): r for r in broken["synthetic"] if r["selector"] == "random"}
    for r in broken["synthetic"]:
        if r["selector"] == "gm_matching":
            r.update({k: v for k, v in rand[(r["psi"], r["distance"], r["metric"], r["seed"])].items() if k != "selector"})
    for r in broken["rate"]:
        r["gm_matching"] = r["random"]
    v = gm.check(broken)
    assert not any(held(v, "barely picked")) and not any(held(v, "stays bounded"))
    assert not any(held(v, "O(1/k)"))
    assert all(held(gm.check(result), "O(1/k)")) and all(held(gm.check(result), "barely picked"))


def test_baseline_claims_fail_when_the_baselines_are_replaced_by_gm(result):
    broken = copy.deepcopy(result)
    gmr = {(r["psi"], r["distance"], r["metric"], r["seed"]): r for r in broken["synthetic"] if r["selector"] == "gm_matching"}
    for r in broken["synthetic"]:
        if r["selector"] in ("random", "mean_herding"):
            r.update({k: v for k, v in gmr[(r["psi"], r["distance"], r["metric"], r["seed"])].items() if k != "selector"})
    for r in broken["rate"]:
        r["random"] = r["gm_matching"]
    v = gm.check(broken)
    assert not any(held(v, "errors grow with D")) and not any(held(v, "O(1/sqrt k)"))
    assert all(held(gm.check(result), "errors grow with D")) and all(held(gm.check(result), "O(1/sqrt k)"))


def test_paired_difference_by_hand():
    rows = [dict(selector=s, seed=i, accuracy=a, corruption="c", fraction=0.2)
            for s, accs in (("gm_matching", [0.8, 0.7, 0.9]), ("random", [0.6, 0.6, 0.6])) for i, a in enumerate(accs)]
    d, se, n = gm.paired_difference(rows, "gm_matching", "random", corruption="c", fraction=0.2)
    diffs = np.array([0.2, 0.1, 0.3])
    assert n == 3 and d == pytest.approx(diffs.mean()) and se == pytest.approx(diffs.std(ddof=1) / np.sqrt(3))
    d1, se1, n1 = gm.paired_difference(rows[:1] + rows[3:4], "gm_matching", "random")
    assert n1 == 1 and np.isnan(se1)  # one seed: no standard error, so no claim can hold on it


def test_pool_images_is_the_block_mean():
    X = np.arange(2 * 36, dtype=np.float32).reshape(2, 36)
    P, shape = pool_images(X, (6, 6), 2)
    assert shape == (3, 3) and P.shape == (2, 9)
    assert P[0, 0] == pytest.approx(np.mean([0, 1, 6, 7])) and P[1, 8] == pytest.approx(np.mean([64, 65, 70, 71]))
    assert pool_images(X, (6, 6), 1)[0] is not None and np.array_equal(pool_images(X, (6, 6), 1)[0], X)
    with pytest.raises(ValueError, match="factor"):
        pool_images(X, (6, 6), 0)
    with pytest.raises(ValueError, match="image_shape"):
        pool_images(X, (5, 5), 2)
