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
    assert all(c["tests"] and c["held"] == all(t["held"] for t in c["tests"]) for c in v["claims"])
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


def _ideal_rate(result):
    """The smoke result with textbook rates: GM Matching's error ~ k^-1, random's ~ k^-1/2 (1% noise per seed)."""
    good = copy.deepcopy(result)
    rng = np.random.default_rng(0)
    for r in good["rate"]:
        r["gm_matching"] = r["k"] ** -1.0 * (1 + 0.01 * rng.standard_normal())
        r["random"] = r["k"] ** -0.5 * (1 + 0.01 * rng.standard_normal())
    return good


def _tests(v, text):
    return next(c for c in v["claims"] if text in c["claim"])["tests"]


def test_baseline_claims_fail_when_the_baselines_are_replaced_by_gm(result):
    broken = _ideal_rate(result)
    assert all(held(gm.check(broken), "O(1/sqrt k)")) and all(held(gm.check(broken), "O(1/k)"))
    gmr = {(r["psi"], r["distance"], r["metric"], r["seed"]): r for r in broken["synthetic"] if r["selector"] == "gm_matching"}
    for r in broken["synthetic"]:
        if r["selector"] in ("random", "mean_herding"):
            r.update({k: v for k, v in gmr[(r["psi"], r["distance"], r["metric"], r["seed"])].items() if k != "selector"})
    for r in broken["rate"]:
        r["random"] = r["gm_matching"]
    v = gm.check(broken)
    assert not any(held(v, "errors grow with D")) and not any(held(v, "O(1/sqrt k)"))
    lower, upper = _tests(v, "O(1/sqrt k)")   # the right reason: random's slope is now -1, below -0.65
    assert lower["effect"] < -0.9 and not lower["held"] and upper["held"]
    assert all(held(gm.check(result), "errors grow with D"))


def _images(diffs):
    rows = [dict(selector=s, seed=i, accuracy=0.6 + (d if s == "gm_matching" else 0.0) + 0.01 * i,
                 corruption="clean", fraction=0.2) for s in ("gm_matching", "random") for i, d in enumerate(diffs)]
    return {"images": {"rows": rows, "dataset": "toy"},
            "config": {"selectors": ["gm_matching", "random"], "corruptions": ["clean"], "fractions": [0.2]}}


def test_image_claim_is_the_one_sided_paired_t_test():
    ok = gm.image_claims(_images([0.2, 0.1, 0.3]))[0]      # mean 0.2, SE 0.058: 3.5 SE > t(0.95, 2) = 2.92
    t = ok["tests"][0]
    assert ok["held"] and t["n"] == 3 and t["effect"] == pytest.approx(0.2)
    assert t["se"] == pytest.approx(np.std([0.2, 0.1, 0.3], ddof=1) / np.sqrt(3))
    assert t["t_crit"] == pytest.approx(2.919986, rel=1e-5)
    # mean 0.167, SE 0.067: 2.5 SE, which the old "> 2 s.e." rule passed; at alpha 0.05 with 3 seeds it does not
    weak = gm.image_claims(_images([0.1, 0.3, 0.1]))[0]
    assert not weak["held"] and weak["tests"][0]["effect"] / weak["tests"][0]["se"] == pytest.approx(2.5)


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
