"""Symmetric two-expert model: EM is mirror descent (paper Thm. 1), gradients, generators, metrics."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from frugalml.moe import (
    MixtureOfExperts,
    fit_symmetric,
    make_moe,
    make_symmetric_moe,
    matched_error,
    mirror_descent_residual,
    symmetric_em_step,
    symmetric_error,
    symmetric_gradient,
    symmetric_gradient_em_step,
    symmetric_log_likelihood,
)


@pytest.fixture(scope="module")
def data():
    return make_symmetric_moe(2000, 4, beta_norm=2.0, w_norm=1.0, random_state=0)


def _start(d, rng):
    return rng.normal(size=d.X.shape[1]), rng.normal(size=d.X.shape[1])


def test_log_likelihood_matches_the_mixture_density(data):
    p1 = 1 / (1 + np.exp(-2 * data.X @ data.w))
    dens = p1 * norm.pdf(data.y, data.X @ data.beta) + (1 - p1) * norm.pdf(data.y, -data.X @ data.beta)
    assert symmetric_log_likelihood(data.X, data.y, data.beta, data.w) == pytest.approx(np.mean(np.log(dens)), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_finite_differences(data, seed):
    beta, w = _start(data, np.random.default_rng(seed))
    d = len(beta)
    g_b, g_w = symmetric_gradient(data.X, data.y, beta, w)

    def nll(theta):
        return -symmetric_log_likelihood(data.X, data.y, theta[:d], theta[d:])

    num = approx_fprime(np.concatenate([beta, w]), nll, 1e-7)
    np.testing.assert_allclose(np.concatenate([g_b, g_w]), num, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_em_step_is_mirror_descent_with_unit_step(data, seed):
    beta, w = _start(data, np.random.default_rng(seed))
    b1, w1 = symmetric_em_step(data.X, data.y, beta, w)
    assert mirror_descent_residual(data.X, data.y, beta, w, b1, w1) < 1e-10
    # and a wrong update (a plain gradient step) is far from satisfying it
    b2, w2 = symmetric_gradient_em_step(data.X, data.y, beta, w, learning_rate=1.0)
    assert mirror_descent_residual(data.X, data.y, beta, w, b2, w2) > 1e-3


def test_em_is_monotone_and_reaches_the_statistical_floor(data):
    rng = np.random.default_rng(0)
    beta0 = data.beta + rng.normal(size=4) * 0.5
    w0 = data.w + rng.normal(size=4) * 0.5
    fit = fit_symmetric(data.X, data.y, beta0, w0, solver="em", max_iter=200, tol=1e-12)
    assert fit.converged and np.min(np.diff(fit.log_likelihood)) >= -1e-10
    eb, ew = symmetric_error(fit.beta, fit.w, data.beta, data.w)
    assert eb < 0.15 and ew < 0.3
    # the symmetric MLE is a stationary point of the general estimator's likelihood too
    m = MixtureOfExperts(2, fit_intercept=False, max_iter=0, gate_init=np.vstack([2 * fit.w, 0 * fit.w]),
                         expert_init=np.vstack([fit.beta, -fit.beta])).fit(data.X, data.y)
    assert m.lower_bound_ == pytest.approx(fit.log_likelihood[-1], abs=1e-12)


def test_gd_and_gradient_em_move_towards_the_mle(data):
    rng = np.random.default_rng(1)
    beta0, w0 = data.beta + 0.3 * rng.normal(size=4), data.w + 0.3 * rng.normal(size=4)
    one = fit_symmetric(data.X, data.y, beta0, w0, solver="gradient_em", learning_rate=0.3, inner_steps=1, max_iter=5)
    gd = fit_symmetric(data.X, data.y, beta0, w0, solver="gd", learning_rate=0.3, max_iter=5)
    np.testing.assert_array_equal(one.beta_path, gd.beta_path)
    assert gd.log_likelihood[-1] > gd.log_likelihood[0]
    with pytest.raises(ValueError, match="learning_rate"):
        fit_symmetric(data.X, data.y, beta0, w0, solver="gd")
    with pytest.raises(ValueError, match="beta must have 4 entries"):
        symmetric_em_step(data.X, data.y, beta0[:3], w0)


def test_symmetric_error_is_sign_invariant():
    b, w = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    assert symmetric_error(-b, -w, b, w) == (0.0, 0.0)
    assert symmetric_error(b + [0.1, 0], w, b, w)[0] == pytest.approx(0.1)


def test_matched_error_is_permutation_invariant():
    data = make_moe(10, 3, 3, random_state=0)
    perm = [2, 0, 1]
    G = data.gate_coef[perm] - data.gate_coef[perm][-1]  # same gate, experts relabelled
    out = matched_error(data.expert_coef[perm], data.expert_coef, G + 5.0, data.gate_coef)
    assert out["expert_error"] == pytest.approx(0.0) and out["gate_error"] == pytest.approx(0.0, abs=1e-12)


def test_generators_follow_the_model():
    d = make_symmetric_moe(20000, 3, beta_norm=2.0, w_norm=1.0, condition_number=10.0, random_state=0)
    assert np.linalg.norm(d.beta) == pytest.approx(2.0) and np.linalg.norm(d.w) == pytest.approx(1.0)
    assert np.linalg.cond(d.covariance) == pytest.approx(10.0)
    # the fraction of expert-1 samples matches E[sigmoid(2 x.w)]
    p1 = 1 / (1 + np.exp(-2 * d.X @ d.w))
    assert np.mean(d.z == 0) == pytest.approx(np.mean(p1), abs=0.015)
    s = make_moe(5000, 4, 3, expert="softmax", n_classes=4, random_state=0)
    assert s.expert_coef.shape == (3, 4, 4) and set(np.unique(s.y)) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="condition_number"):
        make_symmetric_moe(10, 2, condition_number=0.5)
    with pytest.raises(ValueError, match="expert must be one of"):
        make_symmetric_moe(10, 2, expert="softmax")
