"""Default initialisation: finds the MLE of symmetric mixtures of linear regressions (issue 15).

The MLE is taken as EM's fixed point started from the true parameters; a start "found the
MLE" when EM from it ends at a log-likelihood no lower (to 1e-6) and with both experts of the
true size, not on the symmetric saddle where both experts are near zero.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from frugalml.moe import MixtureOfExperts, make_moe, make_symmetric_moe
from frugalml.moe._init import spectral_directions, spectral_labels


def _fit(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MixtureOfExperts(2, max_iter=150, tol=1e-9, **kw).fit(data.X, data.y)


def _reaches_mle(data, beta_norm, **kw):
    ref = _fit(data, gate_init=data.gate_coef, expert_init=data.expert_coef)
    m = _fit(data, **kw)
    sizes = np.linalg.norm(m.expert_coef_, axis=1)
    return m.lower_bound_ >= ref.lower_bound_ - 1e-6 and bool(np.all(sizes > 0.5 * beta_norm))


SEEDS = list(range(20))


def test_default_init_finds_the_mle_of_a_symmetric_mixture_of_linear_regressions_on_every_seed():
    # y = +-<beta, x> + noise, no gate signal (w = 0), intercepts fitted (the defaults): the case
    # where k-means on [X, y] lands on the symmetric saddle
    datas = [make_symmetric_moe(500, 5, beta_norm=2.0, w_norm=0.0, random_state=s) for s in SEEDS]
    spectral = [_reaches_mle(d, 2.0, random_state=s) for s, d in zip(SEEDS, datas)]
    assert all(spectral), [s for s, ok in zip(SEEDS, spectral) if not ok]
    # the same check fails for the k-means start (the broken variant), so it can fail
    kmeans = [_reaches_mle(d, 2.0, init_params="kmeans", random_state=s) for s, d in zip(SEEDS[:8], datas)]
    assert sum(kmeans) <= 5, kmeans


@pytest.mark.parametrize("seed", range(6))
def test_default_init_finds_the_mle_with_the_papers_gate(seed):
    data = make_symmetric_moe(800, 5, beta_norm=2.0, w_norm=1.0, random_state=100 + seed)
    assert _reaches_mle(data, 2.0, random_state=seed)


def test_moment_matrix_follows_steins_identity():
    # E[r^2 (x x^T - I)] = 2 beta beta^T for two symmetric experts and x ~ N(0, I)
    data = make_symmetric_moe(40_000, 4, beta_norm=1.5, w_norm=0.0, random_state=0)
    Xw, resid, U, evals = spectral_directions(data.X, data.y, 2)
    assert Xw.shape == (40_000, 4) and np.allclose(Xw.T @ Xw / 40_000, np.eye(4), atol=1e-10)
    assert evals[0] == pytest.approx(2 * 1.5**2, rel=0.1)
    assert abs(evals[1]) < 0.1 * evals[0]
    # the spectral labels are the experts (up to a relabelling) for most samples
    labels = spectral_labels(data.X, data.y, 2, np.random.default_rng(0))
    agree = np.mean(labels == data.z)
    assert max(agree, 1 - agree) > 0.78


def test_spectral_init_recovers_three_asymmetric_linear_experts():
    data = make_moe(3000, 3, 3, beta_norm=4.0, w_norm=1.0, noise_std=0.3, random_state=5)
    from frugalml.moe import matched_error

    m = MixtureOfExperts(3, fit_intercept=False, noise_variance=0.09, max_iter=300, init_params="spectral",
                         random_state=0).fit(data.X, data.y)
    assert matched_error(m.expert_coef_, data.expert_coef, m.gate_coef_, data.gate_coef)["expert_error"] < 0.15


def test_init_params_are_checked():
    data = make_symmetric_moe(50, 2, expert="logistic", random_state=0)
    with pytest.raises(ValueError, match="init_params='spectral' needs expert='linear'"):
        MixtureOfExperts(2, "logistic", init_params="spectral").fit(data.X, data.y)
    with pytest.raises(ValueError, match="init_params must be one of"):
        MixtureOfExperts(2, init_params="pca").fit(data.X, data.y.astype(float))
    # "auto" falls back to k-means for classification experts and runs
    assert _fit(data, expert="logistic", random_state=0).n_iter_ >= 1
