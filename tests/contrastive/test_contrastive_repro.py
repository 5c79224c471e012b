"""The reproduction module runs at smoke scale, and every gating check fails on a broken variant."""

import copy
import json

import numpy as np
import pytest

from frugalml.repro import EXPERIMENTS, load_experiment


@pytest.fixture(scope="module")
def smoke():
    mod = load_experiment("contrastive")
    return mod, json.loads(json.dumps(mod.run(scale="smoke", seed=0)))  # plain JSON numbers only


def test_contrastive_smoke_run_check_plot(smoke, tmp_path):
    mod, result = smoke
    assert "contrastive" in EXPERIMENTS
    assert mod.NAME == "contrastive" and mod.PAPER and mod.CLAIM
    verdict = mod.check(result)
    assert set(verdict) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(verdict["reproduced"], bool) and len(verdict["claims"]) == 6
    for c in verdict["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper"}
        assert c["tests"] and c["held"] == all(t["held"] for t in c["tests"])  # the records behind the claim
    figures = mod.plot(result, tmp_path)
    assert figures and all(f.exists() and f.suffix == ".png" for f in figures)
    # PCA's failure is the one thing that must show even at smoke scale, and it is a population fact
    assert min(result["by_size"][str(n)]["pca"][0] for n in result["sizes"]) > 0.5
    assert result["beyond"]["pca_population"][0] > 0.9
    with pytest.raises(ValueError, match="scale"):
        mod.run(scale="huge")


def _ideal(result, seeds=3):
    """A result with the paper's behaviour: InfoNCE 1.2x LDA at every N, errors ~ N^(-1/2), over three seeds."""
    r = copy.deepcopy(result)
    r["setting"]["seeds"] = seeds
    rng = np.random.default_rng(0)
    for key, sizes in (("by_size", r["sizes"]), ("noisy", r["noisy_sizes"])):
        for n in sizes:
            lda = list(5.0 / np.sqrt(n) * (1 + 0.05 * rng.standard_normal(seeds)))
            r[key][str(n)]["lda"] = lda
            r[key][str(n)]["infonce"] = [1.2 * v for v in lda]
            if key == "by_size":
                r[key][str(n)]["pca"] = [0.99] * seeds
                r[key][str(n)]["lda_2n"] = [0.8 * v for v in lda]
    for k in r["clip"]:
        r["clip"][k] = [r["clip"][k][0]] * seeds
    r["clip"]["lda_x_shared"] = [0.1] * seeds
    r["clip"]["x_shared"] = [0.15] * seeds
    r["clip"]["x_naive"] = [0.99] * seeds
    r["real"]["infonce"] = dict(r["real"]["lda"])
    return r


def _held(mod, result):
    return [c["held"] for c in mod.check(result)["claims"]]


def test_every_gating_check_fails_on_a_broken_variant(smoke):
    mod, result = smoke
    good = _ideal(result)
    assert all(_held(mod, good))

    def broken(edit):
        r = copy.deepcopy(good)
        edit(r)
        return _held(mod, r)

    def pca_finds_fisher(r):  # a spectral method that worked (PCA numbers = LDA's)
        for row in r["by_size"].values():
            row["pca"] = list(row["lda"])

    def random_subspace(r):  # random picks passed off as InfoNCE: sin ~ 1
        for row in r["by_size"].values():
            row["infonce"] = [0.97] * len(row["infonce"])

    def biased_plateau(r):  # an estimator whose optimum is off the Fisher subspace: error flat in N
        for row in r["by_size"].values():
            row["infonce"] = [0.1] * len(row["infonce"])

    def noisy_plateau(r):
        for row in r["noisy"].values():
            row["infonce"] = [0.2] * len(row["infonce"])

    def clip_keeps_private(r):  # x-encoder on the naive subspace that keeps x's private clusters
        r["clip"]["x_shared"], r["clip"]["x_naive"] = r["clip"]["x_naive"], r["clip"]["x_shared"]

    def clip_untrained(r):
        r["clip"]["x_shared"] = [0.6] * 3

    def real_like_pca(r):
        r["real"]["infonce"] = dict(r["real"]["pca"])
        r["real"]["lda"] = {"nmi": r["real"]["pca"]["nmi"] + 0.2, "ari": 0.9}

    expected_failure = {pca_finds_fisher: 0, random_subspace: 1, biased_plateau: 2, noisy_plateau: 3,
                        clip_keeps_private: 4, clip_untrained: 4, real_like_pca: 5}
    for edit, idx in expected_failure.items():
        held = broken(edit)
        assert not held[idx], edit.__name__
    # a biased plateau still "matches LDA" at small N: only the consistency check sees it
    held = broken(biased_plateau)
    assert held[0] and not held[2]


def test_slope_check_is_a_one_sided_t_test_over_seeds(smoke):
    """Per-seed slopes -0.52, -0.40, -0.28: mean + 2 SE = -0.26 passed the old rule; + t(0.95, 2) SE = -0.20 does not."""
    mod, result = smoke
    r = _ideal(result)
    for s, slope in enumerate((-0.52, -0.40, -0.28)):
        for n in r["sizes"]:
            r["by_size"][str(n)]["infonce"][s] = 3.0 * n ** slope
    c = mod.check(r)["claims"][2]
    t = c["tests"][0]
    assert not c["held"] and t["n"] == 3 and t["se"] == pytest.approx(0.12 / np.sqrt(3))
    assert -t["effect"] + 2 * t["se"] <= mod.SLOPE_MAX < -t["effect"] + t["t_crit"] * t["se"]
    for s in range(3):  # the same spread around -0.55 holds
        for n in r["sizes"]:
            r["by_size"][str(n)]["infonce"][s] = 3.0 * n ** (-0.67 + 0.12 * s)
    assert mod.check(r)["claims"][2]["held"]
