"""Monte Carlo window argmin for any task class, cosine tasks with a fixed frequency, and the
least-squares optimum of linear attention."""

import math

import numpy as np
import pytest
import torch

from frugalml.icl import (
    AffineTasks,
    CosineTasks,
    LinearAttentionRegressor,
    ReLUTasks,
    evaluate_icl,
    optimal_affine_window,
    optimal_linear_attention,
    optimal_window,
    window_risk,
)

D, N = 3, 30


def test_generic_argmin_agrees_with_the_exact_affine_risk():
    # independent routes: Monte Carlo over tasks and noise vs L^2 G(w) + sigma^2 H(w) (task and noise integrated)
    for L, sigma in [(1.0, 1.0), (4.0, 1.0)]:
        mc = optimal_window(AffineTasks(D, lipschitz=L, noise=sigma), N, n_contexts=20000, random_state=1)
        exact = optimal_affine_window(D, N, L, sigma, n_contexts=20000, random_state=2)
        assert mc == pytest.approx(exact, rel=0.06), (L, sigma)


def test_window_risk_limits_by_hand():
    tasks = ReLUTasks(D, lipschitz=2.0, noise=0.5)
    batch = tasks.sample(3000, N, random_state=5, dtype=torch.float64)
    # w -> 0: plain context mean; very large w: the nearest neighbour's label
    mean_err = float(torch.mean((batch.y.mean(1) - batch.y_query) ** 2))
    cos = torch.einsum("bkd,bd->bk", batch.x, batch.x_query)
    nn_err = float(torch.mean((batch.y.gather(1, cos.argmax(1, keepdim=True))[:, 0] - batch.y_query) ** 2))
    r = window_risk([1e-9, 1e6], tasks, N, n_contexts=3000, random_state=5)
    assert r[0] == pytest.approx(mean_err, rel=1e-6)
    assert r[1] == pytest.approx(nn_err, rel=1e-6)
    assert isinstance(window_risk(1.0, tasks, N, n_contexts=100), float)


def test_frequency_scaled_cosine_collapses_to_plain_averaging_fixed_frequency_does_not():
    # issue 15: with omega = L = 8, n = 50 points in d = 3 cannot resolve the oscillation -> w* ~ 0;
    # with a fixed frequency the argmin grows with L as for affine tasks
    w4, w8 = (optimal_window(CosineTasks(D, lipschitz=L, noise=1.0), 50, n_contexts=4000, random_state=0)
              for L in (4.0, 8.0))
    assert w4 > 3.0 and w8 < 0.1 * w4  # the window does not narrow further: it opens up to (near) plain averaging
    ws = [optimal_window(CosineTasks(D, lipschitz=L, noise=1.0, frequency=2.0), 50, n_contexts=4000, random_state=0)
          for L in (0.5, 2.0, 8.0)]
    assert ws[0] < ws[1] < ws[2] and ws[0] > 0.1


def test_cosine_fixed_frequency_has_lipschitz_constant_L():
    t = CosineTasks(D, lipschitz=3.0, noise=0.0, frequency=2.0)
    assert t.amplitude == pytest.approx(1.5) and t.omega == 2.0
    assert CosineTasks(D, lipschitz=3.0).amplitude == 1.0 and CosineTasks(D, lipschitz=3.0).omega == 3.0
    gen = torch.Generator().manual_seed(0)
    params = t.sample_params(1, gen, torch.float64)
    u = params["w"][0]
    # along u the derivative is -A omega sin(omega s + phi): its max |.| is A omega = L
    s = torch.linspace(-1, 1, 20001, dtype=torch.float64)
    x = s[:, None] * u[None, :]
    f = t.evaluate(params, x[None])[0]
    slope = torch.abs(torch.diff(f) / torch.diff(s)).max()
    assert float(slope) <= 3.0 + 1e-6
    with pytest.raises(ValueError, match="frequency"):
        CosineTasks(D, frequency=0.0)


def test_linear_attention_least_squares_optimum():
    tasks = AffineTasks(D, lipschitz=1.0, noise=0.5, bias=1.0)
    M = optimal_linear_attention(tasks, N, n_contexts=20000, random_state=0)
    assert M.shape == (D, D)
    # isotropic task class: M* ~ c I with c > 0
    assert np.abs(M - np.diag(np.diag(M))).max() < 0.2 * np.diag(M).min() and np.diag(M).min() > 0

    def risk(mat):
        lin = LinearAttentionRegressor(D, dtype=torch.float64)
        with torch.no_grad():
            lin.M.copy_(torch.as_tensor(mat))
        return evaluate_icl(lin, tasks, N, n_contexts=20000, random_state=3)

    best = risk(M)
    rng = np.random.default_rng(0)
    for _ in range(3):  # no nearby M does better (up to Monte Carlo noise on another sample)
        assert risk(M + 0.3 * rng.standard_normal((D, D))) > best - 0.005
    assert risk(np.zeros((D, D))) > best + 0.1  # untrained (M = 0) is clearly worse
    assert best >= 0.9  # and even the optimum cannot go below Var(b) = 1
    with pytest.raises(ValueError, match="sampler"):
        optimal_linear_attention(object(), N)


def test_bad_bounds():
    with pytest.raises(ValueError, match="bounds"):
        optimal_window(AffineTasks(D), N, n_contexts=10, bounds=(0.0, 1.0))
    assert math.isfinite(optimal_window(AffineTasks(D), N, n_contexts=200, bounds=(0.5, 2.0)))
