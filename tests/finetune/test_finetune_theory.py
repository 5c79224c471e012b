"""FLOW in linear regression: closed forms against the iterates and Monte Carlo."""

import numpy as np
import pytest
from scipy import stats

from frugalml.finetune import flow_weights
from frugalml.finetune.theory import (
    forgetting,
    gaussian_flow_curvature,
    gaussian_forgetting,
    weighted_gd,
    weighted_gd_closed_form,
    weighted_hessian,
)


def _problem(n=300, d=6, a=1.5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    theta0 = rng.normal(size=d)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    return X, X @ (theta0 + a * u), theta0, u


@pytest.mark.parametrize("weights", [None, "flow", "random"])
def test_closed_form_equals_gradient_descent_iterates(weights):
    X, y, theta0, _ = _problem()
    w = {None: None, "flow": flow_weights(0.5 * (X @ theta0 - y) ** 2),
         "random": np.random.default_rng(1).uniform(0, 2, len(y))}[weights]
    for lr, T in ((0.05, 1), (0.3, 25), (0.9, 7)):
        np.testing.assert_allclose(weighted_gd_closed_form(X, y, theta0, w, lr=lr, n_steps=T),
                                   weighted_gd(X, y, theta0, w, lr=lr, n_steps=T), atol=1e-10)
    np.testing.assert_array_equal(weighted_gd_closed_form(X, y, theta0, w, lr=0.1, n_steps=0), theta0)


def test_closed_form_handles_a_zero_eigenvalue_and_rejects_divergence():
    X, y, theta0, _ = _problem(n=4, d=6)  # rank 4 < d: two zero eigenvalues
    np.testing.assert_allclose(weighted_gd_closed_form(X, y, theta0, lr=0.05, n_steps=30),
                               weighted_gd(X, y, theta0, lr=0.05, n_steps=30), atol=1e-10)
    lam_max = np.linalg.eigvalsh(weighted_hessian(X)).max()
    with pytest.raises(ValueError, match="diverges"):
        weighted_gd_closed_form(X, y, theta0, lr=2.5 / lam_max, n_steps=3)
    with pytest.raises(ValueError, match="weights"):
        weighted_gd_closed_form(X, y, theta0, -np.ones(4), lr=0.1, n_steps=3)
    with pytest.raises(ValueError, match="n_steps"):
        weighted_gd_closed_form(X, y, theta0, lr=0.1, n_steps=-1)


def test_gaussian_curvature_matches_monte_carlo():
    a = 1.7
    pop = gaussian_flow_curvature(a)
    assert pop["c"] == pytest.approx(1 / stats.chi2.median(1))
    assert pop["ratio"] == pytest.approx(pop["along"] / pop["across"])
    z = np.random.default_rng(0).normal(size=2_000_000)
    w = np.exp(-0.5 * a * a * z * z / pop["tau"])
    assert np.mean(w * z * z) == pytest.approx(pop["along"], rel=5e-3)
    assert np.mean(w) == pytest.approx(pop["across"], rel=5e-3)
    # the ratio does not depend on a when tau is the median
    assert gaussian_flow_curvature(0.3)["ratio"] == pytest.approx(pop["ratio"])
    assert gaussian_flow_curvature(a, tau=1.0)["c"] == pytest.approx(a * a / 2)
    with pytest.raises(ValueError, match="tau"):
        gaussian_flow_curvature(a, tau="mean")


def test_flow_stalls_along_delta_and_forgets_less():
    X, y, theta0, u = _problem(n=20000, d=10, a=2.0)
    w = flow_weights(0.5 * (X @ theta0 - y) ** 2)
    lam, U = np.linalg.eigh(weighted_hessian(X, w / w.mean()))
    assert abs(U[:, 0] @ u) > 0.99                                   # the stalled direction is Delta
    assert lam[0] == pytest.approx(gaussian_flow_curvature(2.0)["ratio"], rel=0.05)
    f_std = forgetting(weighted_gd_closed_form(X, y, theta0, lr=0.1, n_steps=20), theta0)
    f_flow = forgetting(weighted_gd_closed_form(X, y, theta0, w, lr=0.1, n_steps=20), theta0)
    pop = gaussian_flow_curvature(2.0)
    assert f_std == pytest.approx(gaussian_forgetting(2.0, 1.0, lr=0.1, n_steps=20)["forgetting"], rel=0.05)
    assert f_flow == pytest.approx(gaussian_forgetting(2.0, pop["along"], lr=0.1, n_steps=20)["forgetting"], rel=0.1)
    assert f_flow < 0.1 * f_std
    # uniform weights are standard fine-tuning: nothing stalls
    np.testing.assert_allclose(weighted_gd_closed_form(X, y, theta0, np.ones(len(y)), lr=0.1, n_steps=20),
                               weighted_gd_closed_form(X, y, theta0, lr=0.1, n_steps=20))


def test_gaussian_forgetting_limits():
    g0 = gaussian_forgetting(2.0, 1.0, lr=0.1, n_steps=0)
    assert g0 == {"forgetting": 0.0, "finetune_risk": 2.0}
    g = gaussian_forgetting(2.0, 1.0, lr=1.0, n_steps=1)  # one exact Newton step: all of Delta learned
    assert g["forgetting"] == pytest.approx(2.0) and g["finetune_risk"] == pytest.approx(0.0)
    assert forgetting([1.0, 2.0], [0.0, 0.0], np.diag([2.0, 0.5])) == pytest.approx(0.5 * (2 + 2))
