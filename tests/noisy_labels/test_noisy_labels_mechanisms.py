"""Label-DP mechanisms: closed forms, exact distributions, privacy ratio, bad input."""

import numpy as np
import pytest

from frugalml.noisy_labels import (
    randomized_response,
    rr_keep_probability,
    rr_prior_top_k,
    rr_transition_matrix,
    rr_with_prior,
    rr_with_prior_transition_matrix,
)


def _tol(p, n):  # 5 binomial standard errors
    return 5 * np.sqrt(p * (1 - p) / n) + 1e-12


def test_keep_probability_closed_form():
    assert rr_keep_probability(1.0, 2) == pytest.approx(1 - 1 / (1 + np.e))
    for eps, k in [(0.5, 10), (2.0, 3), (3.0, 100)]:
        assert rr_keep_probability(eps, k) == pytest.approx(np.exp(eps) / (np.exp(eps) + k - 1))
    assert rr_keep_probability(1e4, 10) == pytest.approx(1.0)  # no overflow


@pytest.mark.parametrize("eps,k", [(0.5, 10), (1.0, 10), (3.0, 4), (1.0, 2)])
def test_rr_empirical_keep_rate_and_uniform_errors(eps, k):
    n = 200_000
    y = np.zeros(n, dtype=int)
    out = randomized_response(y, eps, k, random_state=0)
    p = rr_keep_probability(eps, k)
    assert abs(np.mean(out == 0) - p) < _tol(p, n)
    # every wrong label equally likely: (1 - p) / (k - 1)
    q = (1 - p) / (k - 1)
    freq = np.bincount(out, minlength=k)[1:] / n
    assert np.all(np.abs(freq - q) < _tol(q, n))


def test_rr_labels_in_range_and_seeded():
    y = np.random.default_rng(0).integers(0, 7, 1000)
    a = randomized_response(y, 1.0, 7, random_state=3)
    b = randomized_response(y, 1.0, 7, random_state=3)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() < 7 and a.dtype == np.int64


def test_rr_transition_matrix_rows_and_privacy():
    for eps, k in [(0.5, 10), (2.0, 5)]:
        M = rr_transition_matrix(eps, k)
        assert np.allclose(M.sum(1), 1)
        ratio = M[:, None, :] / M[None, :, :]
        assert ratio.max() == pytest.approx(np.exp(eps))  # tight: RR spends exactly eps


def _naive_top_k(prior_row, eps):
    order = sorted(range(len(prior_row)), key=lambda j: (-prior_row[j], j))
    best, best_k = -1.0, None
    for k in range(1, len(prior_row) + 1):
        w = np.exp(eps) / (np.exp(eps) + k - 1) * sum(prior_row[j] for j in order[:k])
        if w > best + 1e-12:
            best, best_k = w, k
    return best_k, set(order[:best_k])


def test_top_k_matches_brute_force():
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.full(6, 0.4), size=300)
    for eps in (0.3, 1.0, 3.0):
        ks = rr_prior_top_k(P, eps)
        assert [int(k) for k in ks] == [_naive_top_k(p, eps)[0] for p in P]


def test_rr_with_prior_uniform_prior_is_rr():
    for eps, k in [(0.5, 10), (1.0, 3), (3.0, 6)]:
        prior = np.full(k, 1.0 / k)
        assert rr_prior_top_k(prior, eps)[0] == k
        assert np.allclose(rr_with_prior_transition_matrix(prior, eps), rr_transition_matrix(eps, k))
    # and the sampler's keep rate is RR's
    n, k, eps = 100_000, 10, 1.0
    out = rr_with_prior(np.full(n, 4), np.full((n, k), 0.1), eps, random_state=0)
    p = rr_keep_probability(eps, k)
    assert abs(np.mean(out == 4) - p) < _tol(p, n)


def test_rr_with_prior_never_leaves_top_k():
    rng = np.random.default_rng(2)
    n, k = 5000, 10
    P = rng.dirichlet(np.full(k, 0.3), size=n)
    y = rng.integers(0, k, n)
    for eps in (0.5, 2.0):
        out = rr_with_prior(y, P, eps, random_state=5)
        for i in range(0, n, 7):
            _, top = _naive_top_k(P[i], eps)
            assert out[i] in top


def test_rr_with_prior_sampler_matches_exact_distribution():
    prior = np.array([0.5, 0.3, 0.1, 0.05, 0.05])
    eps, n = 1.0, 100_000
    M = rr_with_prior_transition_matrix(prior, eps)
    assert rr_prior_top_k(prior, eps)[0] == 2  # w_k = e/(e+k-1) P(top-k) = .500, .585, .518, ...
    for y in (0, 1, 3):  # inside and outside the top set
        out = rr_with_prior(np.full(n, y), np.tile(prior, (n, 1)), eps, random_state=y)
        freq = np.bincount(out, minlength=5) / n
        assert np.all(np.abs(freq - M[y]) < _tol(np.maximum(M[y], 1e-9), n))


def test_rr_with_prior_privacy_ratio_exact():
    rng = np.random.default_rng(3)
    for eps in (0.25, 1.0, 3.0):
        for prior in rng.dirichlet(np.full(8, 0.5), size=60):
            M = rr_with_prior_transition_matrix(prior, eps)
            assert np.allclose(M.sum(1), 1)
            for o in range(8):
                col = M[:, o]
                if col.max() == 0:
                    continue
                assert col.min() > 0  # an output reachable from one label is reachable from all
                assert col.max() / col.min() <= np.exp(eps) * (1 + 1e-12)


@pytest.mark.parametrize("bad_eps", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_bad_epsilon_raises(bad_eps):
    with pytest.raises(ValueError, match="epsilon"):
        randomized_response([0, 1], bad_eps, 2)
    with pytest.raises(ValueError, match="epsilon"):
        rr_with_prior([0, 1], np.full((2, 2), 0.5), bad_eps)


def test_bad_labels_and_prior_raise():
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        randomized_response([0, 3], 1.0, 3)
    with pytest.raises(ValueError, match="y"):
        randomized_response([-1, 0], 1.0, 3)
    with pytest.raises(ValueError, match="n_classes"):
        randomized_response([0, 0], 1.0, 1)
    with pytest.raises(ValueError, match="integer"):
        randomized_response([0.5, 1.0], 1.0, 3)
    with pytest.raises(ValueError, match="sum to 1"):
        rr_with_prior([0, 1], np.array([[0.5, 0.4], [0.5, 0.5]]), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        rr_with_prior([0, 1], np.array([[1.5, -0.5], [0.5, 0.5]]), 1.0)
    with pytest.raises(ValueError, match="one prior row per sample"):
        rr_with_prior([0, 1, 1], np.full((2, 2), 0.5), 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rr_with_prior([0, 2], np.full((2, 2), 0.5), 1.0)
    with pytest.raises(ValueError, match="single row"):
        rr_with_prior_transition_matrix(np.full((2, 2), 0.5), 1.0)
