"""Pair generators: the sampled distributions match their parameters; pair samplers pair correctly."""

import numpy as np
import pytest

from frugalml.contrastive import GaussianMixturePairs, SameClassPairs, TwoModalityMixturePairs


def test_clean_pairs_share_the_component_and_have_the_right_moments():
    gm = GaussianMixturePairs.random(n_components=3, n_features=5, random_state=0)
    p = gm.sample(30000, random_state=1)
    np.testing.assert_array_equal(p.z, p.z_pos)
    for X, z in ((p.X, p.z), (p.X_pos, p.z_pos)):
        R = X - gm.means[z]
        np.testing.assert_allclose(np.cov(R.T), gm.covariance, atol=0.08 * np.abs(gm.covariance).max())
    np.testing.assert_allclose(np.bincount(p.z) / len(p.z), gm.weights, atol=0.02)
    # the covariance really is non-isotropic: 3 directions of variance 25, the rest 1
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(gm.covariance)), [1, 1, 25, 25, 25], atol=1e-9)


def test_noisy_pairs_switch_component_with_probability_delta():
    gm = GaussianMixturePairs(np.eye(4)[:3] * 3, np.eye(4), delta=0.3)
    p = gm.sample(20000, random_state=2)
    rate = np.mean(p.z != p.z_pos)
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20000)


def test_two_modality_effective_covariance():
    tm = TwoModalityMixturePairs.random(n_components=3, n_features_x=4, n_features_y=3, random_state=0)
    s = tm.sample(40000, random_state=1)
    R = s.X - tm.means_x[s.z]
    eff = tm.effective_covariance_x()
    np.testing.assert_allclose(np.cov(R.T), eff, atol=0.08 * np.abs(eff).max())
    assert set(np.unique(s.b)) == {-1.0, 1.0}
    assert tm.naive_fisher_subspace_x().shape == tm.shared_fisher_subspace_x().shape == (2, 4)


def test_same_class_pairs():
    y = np.array([0, 0, 0, 1, 1, 2])
    X = np.arange(12.0).reshape(6, 2)
    sampler = SameClassPairs(X, y)
    i, j = sampler.pair_indices(2000, random_state=0)
    np.testing.assert_array_equal(y[i], y[j])
    assert np.all((i != j) | (y[i] == 2))  # only the singleton class pairs with itself
    # the partner is uniform over the other members of the class
    sel = i == 0
    counts = np.bincount(j[sel], minlength=6)
    assert counts[1] > 0.3 * sel.sum() and counts[2] > 0.3 * sel.sum()
    Xa, Xb = sampler(7, np.random.default_rng(1))
    assert Xa.shape == Xb.shape == (7, 2)


@pytest.mark.parametrize("make, match", [
    (lambda: GaussianMixturePairs(np.eye(3), np.eye(3), delta=1.5), "delta"),
    (lambda: GaussianMixturePairs(np.eye(3), np.eye(3)).sample(0), "n_samples"),
    (lambda: GaussianMixturePairs.random(n_components=1), "n_components"),
    (lambda: GaussianMixturePairs.random(n_features=3, n_noise_directions=5), "n_noise_directions"),
    (lambda: TwoModalityMixturePairs(np.eye(3), np.eye(2), np.eye(3), np.eye(2)), "number of components"),
    (lambda: TwoModalityMixturePairs(np.eye(3), np.eye(3), np.eye(3), np.eye(3), private_shift=np.ones(2)), "private_shift"),
    (lambda: SameClassPairs(np.ones((3, 2)), [0, 1]), "entries"),
])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
