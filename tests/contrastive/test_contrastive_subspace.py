"""subspace_distance and fisher_subspace against closed forms and independent references."""

import numpy as np
import pytest
import scipy.linalg

from frugalml.contrastive import GaussianMixturePairs, fisher_subspace, orthonormal_rows, subspace_distance


def _brute_sin_max(A, B):
    """sin of the largest principal angle for equal dims: ||(I - P_B) Q_A||_2."""
    Qa, _ = np.linalg.qr(A.T)
    Qb, _ = np.linalg.qr(B.T)
    return np.linalg.norm(Qa - Qb @ (Qb.T @ Qa), 2)


def test_same_span_is_zero_under_any_basis_change():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 10))
    G = rng.standard_normal((3, 3)) + 3 * np.eye(3)  # invertible
    assert subspace_distance(A, G @ A) == pytest.approx(0.0, abs=1e-7)
    assert subspace_distance(A, orthonormal_rows(A)) == pytest.approx(0.0, abs=1e-7)


def test_orthogonal_spans_are_one():
    E = np.eye(6)
    assert subspace_distance(E[:2], E[2:4]) == pytest.approx(1.0)
    # one shared direction is not enough: the largest angle is still 90 degrees
    assert subspace_distance(E[[0, 1]], E[[0, 2]]) == pytest.approx(1.0)


def test_matches_brute_force_and_is_basis_invariant_and_symmetric():
    rng = np.random.default_rng(1)
    for _ in range(5):
        A, B = rng.standard_normal((3, 8)), rng.standard_normal((3, 8))
        ref = _brute_sin_max(A, B)
        G, H = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
        assert subspace_distance(A, B) == pytest.approx(ref, abs=1e-8)
        assert subspace_distance(G @ A, H @ B) == pytest.approx(ref, abs=1e-6)
        assert subspace_distance(B, A) == pytest.approx(ref, abs=1e-8)


def test_known_angle_in_the_plane():
    t = 0.3
    assert subspace_distance([1.0, 0.0], [np.cos(t), np.sin(t)]) == pytest.approx(np.sin(t))


def test_fisher_subspace_equals_generalised_eigenvectors():
    rng = np.random.default_rng(2)
    K, d = 4, 7
    means = rng.standard_normal((K, d))
    L = rng.standard_normal((d, d))
    cov = L @ L.T + 0.5 * np.eye(d)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    C = means - w @ means
    Sb = (C * w[:, None]).T @ C
    vals, vecs = scipy.linalg.eigh(Sb, cov)
    ref = vecs[:, np.argsort(vals)[::-1][: K - 1]].T
    F = fisher_subspace(means, cov, w)
    assert F.shape == (K - 1, d)
    np.testing.assert_allclose(F @ F.T, np.eye(K - 1), atol=1e-10)
    assert subspace_distance(F, ref) < 1e-8
    # with an isotropic covariance it is just the span of the centred means
    assert subspace_distance(fisher_subspace(means, np.eye(d), w), C) < 1e-8
    # and the non-isotropic one is genuinely different
    assert subspace_distance(F, C) > 0.1


def test_fisher_subspace_matches_sklearn_lda_on_a_large_sample():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    gm = GaussianMixturePairs.random(n_components=3, n_features=6, random_state=3)
    X, z = gm.sample_components(40000, random_state=4)
    lda = LinearDiscriminantAnalysis(n_components=2).fit(X, z)
    assert subspace_distance(lda.scalings_[:, :2].T, gm.fisher_subspace()) < 0.05


@pytest.mark.parametrize("kwargs, match", [
    (dict(means=np.zeros((1, 3)), covariance=np.eye(3)), "at least 2"),
    (dict(means=np.eye(3), covariance=np.eye(4)), "shape"),
    (dict(means=np.eye(3), covariance=-np.eye(3)), "positive definite"),
    (dict(means=np.eye(3), covariance=np.triu(np.ones((3, 3)))), "symmetric"),
    (dict(means=np.eye(3), covariance=np.eye(3), weights=[0.5, 0.5, 0.5]), "sum to 1"),
    (dict(means=np.ones((3, 3)), covariance=np.eye(3)), "all equal"),
    (dict(means=[[np.nan, 0.0], [1.0, 1.0]], covariance=np.eye(2)), "NaN"),
])
def test_fisher_subspace_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fisher_subspace(**kwargs)


def test_subspace_distance_bad_input():
    with pytest.raises(ValueError, match="same space"):
        subspace_distance(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="zero"):
        orthonormal_rows(np.zeros((2, 3)))
