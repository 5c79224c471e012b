"""MixtureOfExperts: EM monotonicity, agreement with OLS / scikit-learn, recovery, solvers, errors."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from frugalml.moe import MixtureOfExperts, make_moe, make_symmetric_moe, matched_error


def _quiet_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.mark.parametrize("expert,kw", [
    ("linear", {}),
    ("linear", {"noise_variance": "estimate", "fit_intercept": True}),
    ("linear", {"gate_penalty": 0.1, "expert_penalty": 0.05}),
    ("logistic", {"gate_penalty": 1e-3}),
    ("softmax", {"gate_penalty": 1e-3, "expert_penalty": 1e-3}),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_em_never_decreases_the_objective(expert, kw, seed):
    data = make_moe(400, 4, 3, expert=expert, n_classes=3, random_state=seed)
    m = _quiet_fit(MixtureOfExperts(3, expert, max_iter=25, tol=0, random_state=seed, **kw), data.X, data.y)
    lb = np.array(m.lower_bounds_)
    assert len(lb) == 26
    assert np.min(np.diff(lb)) >= -1e-10, np.diff(lb)
    assert m.lower_bound_ == pytest.approx(lb[-1])


def test_score_and_responsibilities_match_naive_per_sample_code():
    data = make_moe(60, 3, 3, random_state=3)
    m = _quiet_fit(MixtureOfExperts(3, noise_variance="estimate", max_iter=5, random_state=0), data.X, data.y)
    ll, resp = [], []
    for x, y in zip(data.X, data.y):  # naive: one sample, one expert at a time
        a = m.gate_coef_ @ x + m.gate_intercept_
        pi = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
        dens = [pi[k] * norm.pdf(y, m.expert_coef_[k] @ x + m.expert_intercept_[k], np.sqrt(m.noise_variance_[k]))
                for k in range(3)]
        ll.append(np.log(sum(dens)))
        resp.append(np.array(dens) / sum(dens))
    assert m.score(data.X, data.y) == pytest.approx(np.mean(ll), abs=1e-12)
    np.testing.assert_allclose(m.responsibilities(data.X, data.y), np.array(resp), atol=1e-12)
    np.testing.assert_allclose(m.gate_proba(data.X).sum(1), 1.0)


def test_one_linear_expert_is_ordinary_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ rng.normal(size=5) + 3.0 + rng.normal(size=200)
    m = MixtureOfExperts(1, max_iter=3).fit(X, y)
    coef, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(200)]), y, rcond=None)
    np.testing.assert_allclose(m.expert_coef_[0], coef[:5], atol=1e-8)
    assert m.expert_intercept_[0] == pytest.approx(coef[5], abs=1e-8)
    np.testing.assert_allclose(m.predict(X), X @ coef[:5] + coef[5], atol=1e-8)
    assert m.converged_


def test_one_logistic_expert_is_logistic_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = np.where(rng.random(300) < 1 / (1 + np.exp(-(X @ [1.0, -2.0, 0.5, 0.0] + 0.3))), "b", "a")
    m = MixtureOfExperts(1, "logistic", max_iter=5).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(m.expert_coef_[0], ref.coef_[0], atol=1e-5)
    assert m.expert_intercept_[0] == pytest.approx(ref.intercept_[0], abs=1e-5)
    np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    assert list(m.classes_) == ["a", "b"]


def test_one_softmax_expert_is_multinomial_logistic_regression():
    data = make_moe(300, 3, 1, expert="softmax", n_classes=3, beta_norm=1.5, random_state=2)
    m = MixtureOfExperts(1, "softmax", max_iter=5).fit(data.X, data.y)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(data.X, data.y)
    np.testing.assert_allclose(m.predict_proba(data.X), ref.predict_proba(data.X), atol=1e-6)
    assert m.expert_coef_.shape == (1, 3, 3)
    np.testing.assert_array_equal(m.expert_coef_[:, -1], 0.0)


def test_em_recovers_well_separated_linear_experts():
    data = make_moe(6000, 3, 3, beta_norm=4.0, w_norm=3.0, noise_std=0.3, random_state=5)
    m = MixtureOfExperts(3, fit_intercept=False, noise_variance=0.09, n_init=3, max_iter=300,
                         random_state=0).fit(data.X, data.y)
    err = matched_error(m.expert_coef_, data.expert_coef, m.gate_coef_, data.gate_coef)
    assert err["expert_error"] < 0.1, err
    assert err["gate_error"] < 0.5, err


def test_em_from_near_the_truth_recovers_symmetric_logistic_experts():
    # Binary-output mixtures are only weakly identifiable: from k-means starts EM can reach a
    # far-away point of *higher* likelihood at this n, so start at distance ~1 from the truth
    # (as the paper's local analysis does) and check the local MLE it reaches.
    data = make_symmetric_moe(8000, 3, beta_norm=4.0, w_norm=1.0, expert="logistic", random_state=0)
    rng = np.random.default_rng(1)
    B0 = data.expert_coef + 0.4 * rng.normal(size=data.expert_coef.shape)
    G0 = data.gate_coef + np.vstack([0.4 * rng.normal(size=3), np.zeros(3)])
    truth = MixtureOfExperts(2, "logistic", fit_intercept=False, gate_init=data.gate_coef,
                             expert_init=data.expert_coef, max_iter=0).fit(data.X, data.y)
    m = MixtureOfExperts(2, "logistic", fit_intercept=False, max_iter=300, tol=1e-10, gate_init=G0,
                         expert_init=B0).fit(data.X, data.y)
    err = matched_error(m.expert_coef_, data.expert_coef, m.gate_coef_, data.gate_coef)
    assert err["expert_error"] < 0.6 and err["gate_error"] < 0.3, err
    assert m.lower_bound_ >= truth.lower_bound_


def test_gd_equals_gradient_em_with_one_inner_step_and_steps_along_the_gradient():
    data = make_moe(300, 3, 2, random_state=4)
    common = dict(fit_intercept=True, learning_rate=0.05, max_iter=7, tol=0, random_state=1)
    a = _quiet_fit(MixtureOfExperts(2, solver="gd", **common), data.X, data.y)
    b = _quiet_fit(MixtureOfExperts(2, solver="gradient_em", inner_steps=1, **common), data.X, data.y)
    np.testing.assert_array_equal(a.expert_coef_, b.expert_coef_)
    np.testing.assert_array_equal(a.gate_coef_, b.gate_coef_)
    # one gd step equals theta - lr * (finite-difference gradient of the negative log-likelihood)
    kw = {k: v for k, v in common.items() if k != "max_iter"}
    kw.update(noise_variance="estimate", gate_penalty=0.01, expert_penalty=0.02)
    m0 = _quiet_fit(MixtureOfExperts(2, solver="gd", max_iter=0, **kw), data.X, data.y)
    m1 = _quiet_fit(MixtureOfExperts(2, solver="gd", max_iter=1, **kw), data.X, data.y)
    Xd = m0._design(data.X)
    h = 1e-6
    start = {"W": m0._W.copy(), "B": m0._P["B"].copy(), "log_var": m0._P["log_var"].copy()}
    for key in start:
        num = np.zeros_like(start[key])
        for idx in np.ndindex(num.shape):
            for sgn in (1, -1):
                m0._W, m0._P = start["W"].copy(), {"B": start["B"].copy(), "log_var": start["log_var"].copy()}
                target = m0._W if key == "W" else m0._P[key]
                target[idx] += sgn * h
                num[idx] -= sgn * m0._e_step(Xd, data.y)[1] / (2 * h)
        after = m1._W if key == "W" else m1._P[key]
        np.testing.assert_allclose(after, start[key] - 0.05 * num, atol=1e-8, err_msg=key)


def test_initial_parameters_and_max_iter_zero_give_the_true_model_likelihood():
    data = make_symmetric_moe(500, 3, random_state=0)
    m = MixtureOfExperts(2, fit_intercept=False, gate_init=data.gate_coef, expert_init=data.expert_coef, max_iter=0)
    m.fit(data.X, data.y)
    np.testing.assert_allclose(m.expert_coef_, data.expert_coef)
    np.testing.assert_allclose(m.gate_coef_, data.gate_coef)
    p1 = 1 / (1 + np.exp(-2 * data.X @ data.w))
    dens = p1 * norm.pdf(data.y, data.X @ data.beta) + (1 - p1) * norm.pdf(data.y, -data.X @ data.beta)
    assert m.score(data.X, data.y) == pytest.approx(np.mean(np.log(dens)), abs=1e-12)


def test_not_converged_warns_and_reports_false():
    data = make_moe(300, 3, 2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        m = MixtureOfExperts(2, solver="gd", learning_rate=1e-4, max_iter=3, tol=1e-12).fit(data.X, data.y)
    assert m.converged_ is False and m.n_iter_ == 3 and len(m.lower_bounds_) == 4


def test_warm_start_one_iteration_at_a_time_equals_one_fit():
    data = make_moe(300, 3, 2, random_state=0)
    full = _quiet_fit(MixtureOfExperts(2, max_iter=4, tol=0, random_state=0), data.X, data.y)
    step = MixtureOfExperts(2, max_iter=1, tol=0, random_state=0, warm_start=True)
    for _ in range(4):
        _quiet_fit(step, data.X, data.y)
    np.testing.assert_allclose(step.expert_coef_, full.expert_coef_, atol=1e-10)
    np.testing.assert_allclose(step.gate_coef_, full.gate_coef_, atol=1e-8)


def test_n_init_keeps_the_best_restart_and_clone_works():
    data = make_moe(400, 3, 3, random_state=1)
    singles = [_quiet_fit(MixtureOfExperts(3, max_iter=30, init_params="random", random_state=s), data.X, data.y)
               for s in range(3)]
    m = _quiet_fit(MixtureOfExperts(3, max_iter=30, init_params="random", n_init=3, random_state=0), data.X, data.y)
    assert m.lower_bound_ >= max(s.lower_bound_ for s in singles[:1]) - 1e-12
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "converged_")


@pytest.mark.parametrize("kwargs,fit_args,match", [
    ({"expert": "poisson"}, None, "expert must be one of"),
    ({"solver": "adam"}, None, "solver must be one of"),
    ({"n_experts": 0}, None, "n_experts"),
    ({"learning_rate": 0.1}, None, "learning_rate is only used"),
    ({"solver": "gd", "inner_steps": 3}, None, "inner_steps=3 is only used"),
    ({"solver": "gd", "learning_rate": -1.0}, None, "learning_rate must be > 0"),
    ({"noise_variance": 0.0}, None, "noise_variance must be > 0"),
    ({"noise_variance": "learn"}, None, "noise_variance must be one of"),
    ({"gate_penalty": -1.0}, None, "gate_penalty"),
    ({"tol": float("nan")}, None, "tol must be a finite number"),
    ({"gate_init": np.zeros((3, 2))}, None, "gate_init must have shape"),
    ({"n_experts": 50}, None, "exceeds the number of samples"),
    ({}, "nan", "X contains 1 NaN"),
    ({}, "short_y", "y has 9 entries"),
    ({"expert": "logistic"}, "three_classes", "exactly 2 classes"),
])
def test_bad_inputs_raise_value_error_naming_the_argument(kwargs, fit_args, match):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), rng.normal(size=10)
    if fit_args == "nan":
        X[0, 0] = np.nan
    elif fit_args == "short_y":
        y = y[:9]
    elif fit_args == "three_classes":
        y = np.arange(10) % 3
    with pytest.raises(ValueError, match=match):
        MixtureOfExperts(**kwargs).fit(X, y)


def test_prediction_errors():
    m = MixtureOfExperts(2)
    with pytest.raises(ValueError, match="not fitted"):
        m.predict(np.zeros((2, 2)))
    rng = np.random.default_rng(0)
    _quiet_fit(m, rng.normal(size=(30, 2)), rng.normal(size=30))
    with pytest.raises(ValueError, match="3 features"):
        m.predict(np.zeros((2, 3)))
    with pytest.raises(AttributeError, match="predict_proba"):
        m.predict_proba(np.zeros((2, 2)))


def test_inner_solvers_agree_and_hessian_vector_product_is_exact():
    from frugalml.moe import _multinomial as mn

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(200, 4)), np.ones(200)])
    T = rng.dirichlet(np.ones(3), size=200)
    s, mask = rng.random(200), np.array([1, 1, 1, 1, 0.0])
    W0 = rng.normal(size=(2, 5))
    V = rng.normal(size=(2, 5))
    H = mn.hessian(W0, X, s / 200, 0.1, mask)
    np.testing.assert_allclose(mn.hessian_vector(W0, V, X, s / 200, 0.1, mask).ravel(), H @ V.ravel(), atol=1e-12)
    sols = [mn.fit_multinomial(X, T, s, W0, n_total=200, penalty=0.1, mask=mask, method=m, tol=1e-9)[0]
            for m in ("newton", "newton_cg", "lbfgs")]
    for W in sols:
        g = mn.objective_and_grad(W, X, T, s / 200, 0.1, mask)[1]
        assert np.max(np.abs(g)) < 1e-8
        np.testing.assert_allclose(W, sols[0], atol=1e-6)


def test_gradient_evaluation_counts():
    data = make_moe(200, 3, 2, random_state=0)
    gd = _quiet_fit(MixtureOfExperts(2, solver="gd", learning_rate=0.01, max_iter=4, tol=0), data.X, data.y)
    gem = _quiet_fit(MixtureOfExperts(2, solver="gradient_em", inner_steps=3, learning_rate=0.01, max_iter=4, tol=0),
                     data.X, data.y)
    em = _quiet_fit(MixtureOfExperts(2, "logistic", max_iter=4, tol=0), data.X, (data.y > 0).astype(int))
    assert gd.n_grad_evals_ == 4 and gem.n_grad_evals_ == 12
    assert em.n_grad_evals_ > 4  # EM's inner Newton solves are counted, not free
