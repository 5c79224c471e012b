"""Tiny pretraining runs: the learned window follows L / sigma as the paper predicts."""

import numpy as np
import pytest
import torch

from frugalml.icl import (
    AffineTasks,
    LinearAttentionRegressor,
    LowRankTasks,
    SoftmaxAttentionRegressor,
    affine_window_risk,
    evaluate_icl,
    optimal_affine_window,
    subspace_concentration,
    train_icl,
)

D, N, STEPS = 3, 30, 300


def _trained_w(L, sigma, seed=0, steps=STEPS):
    model = SoftmaxAttentionRegressor(D)
    train_icl(model, AffineTasks(D, lipschitz=L, noise=sigma), n_steps=steps, context_size=N,
              batch_size=256, lr=0.05, random_state=seed)
    return model.w


@pytest.fixture(scope="module")
def windows():
    return {key: _trained_w(*key, seed=i) for i, key in enumerate([(1.0, 1.0), (2.0, 1.0), (4.0, 1.0), (4.0, 2.0),
                                                                    (2.0, 0.5)])}


def test_window_grows_with_lipschitz_and_shrinks_with_noise(windows):
    assert windows[(1.0, 1.0)] < windows[(2.0, 1.0)] < windows[(4.0, 1.0)]
    assert windows[(2.0, 0.5)] > windows[(2.0, 1.0)]  # less noise -> narrower window
    assert windows[(4.0, 2.0)] < windows[(4.0, 1.0)]  # more noise -> wider window


def test_affine_invariance_w_depends_on_L_over_sigma(windows):
    # independent seeds: the two runs share no random numbers
    assert windows[(4.0, 2.0)] == pytest.approx(windows[(2.0, 1.0)], rel=0.04)
    assert windows[(2.0, 0.5)] == pytest.approx(windows[(4.0, 1.0)], rel=0.04)


def test_trained_window_matches_the_risk_minimiser(windows):
    for (L, sigma), w in windows.items():
        w_star = optimal_affine_window(D, N, L, sigma, n_contexts=4000, random_state=1)
        assert w == pytest.approx(w_star, rel=0.08), (L, sigma)


def test_risk_decomposition_matches_simulated_error():
    # R(w) = L^2 G + sigma^2 H must equal the measured ICL error of M = w I
    for w, L, sigma in [(2.0, 1.0, 0.5), (8.0, 3.0, 1.0)]:
        model = SoftmaxAttentionRegressor(D, init_w=w, dtype=torch.float64)
        sim = evaluate_icl(model, AffineTasks(D, lipschitz=L, noise=sigma, bias=5.0), N, n_contexts=20000)
        mc = float(affine_window_risk(w, D, N, L, sigma, n_contexts=20000, random_state=3)["risk"])
        assert sim == pytest.approx(mc, rel=0.05)
        # the intercept cancels: bias=5 contributes nothing


def test_risk_grid_argmin_agrees_with_optimiser():
    grid = np.exp(np.linspace(np.log(0.5), np.log(50), 60))
    risk = affine_window_risk(grid, D, N, 4.0, 1.0, n_contexts=3000)["risk"]
    w_star = optimal_affine_window(D, N, 4.0, 1.0, n_contexts=3000)
    assert grid[np.argmin(risk)] == pytest.approx(w_star, rel=0.1)


def test_linear_attention_cannot_fit_the_intercept():
    tasks = AffineTasks(D, lipschitz=1.0, noise=0.1, bias=1.0)  # Var(b) = 1
    lin, soft = LinearAttentionRegressor(D), SoftmaxAttentionRegressor(D)
    h_lin = train_icl(lin, tasks, n_steps=STEPS, context_size=N, random_state=0)
    train_icl(soft, tasks, n_steps=STEPS, context_size=N, random_state=0)
    err_lin = evaluate_icl(lin, tasks, N, n_contexts=5000)
    err_soft = evaluate_icl(soft, tasks, N, n_contexts=5000)
    assert h_lin[-50:].mean() < h_lin[:10].mean()  # it did learn the slope part
    assert err_lin >= 0.9
    assert err_soft < 0.2


def test_full_M_concentrates_on_the_task_subspace():
    tasks = LowRankTasks(8, 2, base="affine", lipschitz=4.0, noise=0.5, random_state=0)
    model = SoftmaxAttentionRegressor(8, "full")
    before = subspace_concentration(model.M.detach(), tasks.projector)  # sqrt(6/8) at I
    train_icl(model, tasks, n_steps=STEPS, context_size=50, random_state=0)
    after = subspace_concentration(model.M.detach(), tasks.projector)
    assert before == pytest.approx(np.sqrt(6 / 8))
    assert after < 0.3
    scalar = SoftmaxAttentionRegressor(8)
    train_icl(scalar, tasks, n_steps=STEPS, context_size=50, random_state=0)
    assert evaluate_icl(model, tasks, 50, 3000) < evaluate_icl(scalar, tasks, 50, 3000)


def test_train_icl_history_and_errors():
    model = SoftmaxAttentionRegressor(D)
    hist = train_icl(model, AffineTasks(D, 2.0, 0.5), n_steps=40, context_size=10, batch_size=32,
                     schedule="constant", random_state=0)
    assert isinstance(hist, np.ndarray) and hist.shape == (40,) and np.all(np.isfinite(hist))
    with pytest.raises(ValueError, match="n_steps"):
        train_icl(model, AffineTasks(D), n_steps=0)
    with pytest.raises(ValueError, match="schedule"):
        train_icl(model, AffineTasks(D), n_steps=1, schedule="linear")
    with pytest.raises(ValueError, match="model has d=3 but sampler has d=4"):
        train_icl(model, AffineTasks(4), n_steps=1)
    with pytest.raises(ValueError, match="lr"):
        train_icl(model, AffineTasks(D), n_steps=1, lr=-1.0)


def test_training_is_reproducible():
    assert _trained_w(2.0, 1.0, seed=7, steps=30) == _trained_w(2.0, 1.0, seed=7, steps=30)
