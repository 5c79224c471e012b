"""FLOW in linear regression: closed forms of weighted gradient descent and of forgetting.

Sanyal et al. (ICML 2025, theory section) analyse FLOW in a linear setting and show that the
weights make the fine-tuning objective's curvature small along the directions where the
pre-trained model errs, so gradient descent "stalls" there and stays close to the
pre-trained solution. This module gives the exact finite-step quantities for that setting
(our derivation; notation below), used by ``frugalml reproduce flow`` and the tests.

Setting. Pre-trained parameters ``theta0`` minimise the pre-training risk, whose excess is
``P(theta) = 1/2 (theta - theta0)^T Sigma_P (theta - theta0)`` (forgetting). Fine-tuning
data ``(x_i, y_i)``, weights ``w_i``; gradient descent with step ``eta`` from ``theta0`` on

    F_w(theta) = 1/(2n) sum_i w_i (x_i^T theta - y_i)^2 .

With ``H_w = (1/n) sum_i w_i x_i x_i^T = sum_j lambda_j u_j u_j^T`` and
``g = -grad F_w(theta0) = (1/n) sum_i w_i x_i (y_i - x_i^T theta0)``, the iterates are

    theta_T - theta0 = sum_j  (1 - (1 - eta lambda_j)^T) / lambda_j  (u_j^T g) u_j      (1)

(the term is ``eta T (u_j^T g)`` when ``lambda_j = 0``). A direction with small
``lambda_j`` is learned slowly: this is the stall.

Gaussian closed form. If ``x ~ N(0, I_d)``, ``y = x^T theta_F`` and ``Delta = theta_F -
theta0 = a u``, the pre-trained loss is ``l = a^2 z^2 / 2`` with ``z = u^T x ~ N(0, 1)``;
FLOW's ``w = exp(-l / tau)`` with ``c = a^2 / (2 tau)`` gives the population curvature

    along u:      E[w z^2]   = (1 + 2c)^(-3/2)
    across u:     E[w]       = (1 + 2c)^(-1/2)                                              (2)

so the normalised weights (mean one) shrink the curvature along ``Delta`` by ``1/(1+2c)``.
With ``tau = median(l)``, ``c = 1 / median(chi^2_1) = 2.198``: a factor 0.185 whatever
``a`` and ``d``. Gradient descent then moves ``a (1 - (1 - eta lambda)^T)`` along ``u`` and
nothing across, so with ``Sigma_P = I`` the forgetting after ``T`` steps is

    P_T = a^2 (1 - (1 - eta lambda)^T)^2 / 2,  lambda = 1 (standard) or (2) (FLOW)          (3)

and the fine-tuning risk is ``a^2 (1 - eta lambda)^(2T) / 2``. In this model FLOW therefore
lies *on* the step-size frontier: it is standard gradient descent with step ``eta * lambda``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _check_problem(X, y, theta0, weights):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array; got shape {X.shape}")
    n, d = X.shape
    y = np.asarray(y, dtype=np.float64)
    theta0 = np.asarray(theta0, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},); got {y.shape}")
    if theta0.shape != (d,):
        raise ValueError(f"theta0 must have shape ({d},); got {theta0.shape}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be {n} finite non-negative numbers; got shape {w.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(theta0).all()):
        raise ValueError("X, y and theta0 must be finite")
    return X, y, theta0, w


def _check_steps(lr, n_steps):
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative int; got {n_steps!r}")


def weighted_hessian(X, weights=None) -> np.ndarray:
    """``H_w = (1/n) sum_i w_i x_i x_i^T``, the curvature of the weighted objective."""
    X, _, _, w = _check_problem(X, np.zeros(len(X)), np.zeros(np.shape(X)[1]), weights)
    return (X * w[:, None]).T @ X / X.shape[0]


def weighted_gd_closed_form(X, y, theta0, weights=None, *, lr: float, n_steps: int) -> np.ndarray:
    """``theta_T`` of gradient descent on ``F_w`` from ``theta0``, by equation (1) of this module.

    Parameters
    ----------
    X : array (n, d); y : array (n,); theta0 : array (d,)
    weights : array (n,) or None (standard least squares)
    lr : step ``eta``; n_steps : ``T``
    """
    X, y, theta0, w = _check_problem(X, y, theta0, weights)
    _check_steps(lr, n_steps)
    n = X.shape[0]
    H = (X * w[:, None]).T @ X / n                                    # [d, d]
    g = X.T @ (w * (y - X @ theta0)) / n                              # [d]
    lam, U = np.linalg.eigh(H)
    lam = np.clip(lam, 0.0, None)
    if np.any(lr * lam >= 2):
        raise ValueError(f"lr={lr} diverges: lr * lambda_max = {lr * lam.max():.3g} >= 2")
    factor = np.full_like(lam, lr * n_steps)                           # the lam -> 0 limit
    pos = lam > 1e-14 * max(lam.max(), 1e-300)
    r = lr * lam[pos]
    shrink = np.empty_like(r)                                          # 1 - (1 - r)^T
    m = r < 0.5
    shrink[m] = -np.expm1(n_steps * np.log1p(-r[m]))                   # stable for tiny r
    shrink[~m] = 1.0 - (1.0 - r[~m]) ** n_steps
    factor[pos] = shrink / lam[pos]
    return theta0 + U @ (factor * (U.T @ g))


def weighted_gd(X, y, theta0, weights=None, *, lr: float, n_steps: int) -> np.ndarray:
    """The same ``theta_T`` by running the ``T`` gradient steps (the reference for (1))."""
    X, y, theta0, w = _check_problem(X, y, theta0, weights)
    _check_steps(lr, n_steps)
    theta = theta0.copy()
    for _ in range(n_steps):
        theta = theta + lr * X.T @ (w * (y - X @ theta)) / X.shape[0]
    return theta


def forgetting(theta, theta0, sigma_p=None) -> float:
    """Excess pre-training risk ``1/2 (theta - theta0)^T Sigma_P (theta - theta0)`` (identity by default)."""
    delta = np.asarray(theta, dtype=np.float64) - np.asarray(theta0, dtype=np.float64)
    if sigma_p is None:
        return 0.5 * float(delta @ delta)
    return 0.5 * float(delta @ np.asarray(sigma_p, dtype=np.float64) @ delta)


def gaussian_flow_curvature(a: float, tau="median") -> dict:
    """Population curvature of FLOW-weighted least squares along and across ``Delta`` (eq. 2).

    Parameters
    ----------
    a : float
        ``||theta_F - theta0||`` (the pre-trained loss is ``a^2 z^2 / 2``).
    tau : "median" or float
        FLOW's temperature; ``"median"`` is the median pre-trained loss ``a^2 m / 2`` with
        ``m = median(chi^2_1)``.

    Returns
    -------
    dict with ``c``, ``tau``, ``along`` (``E[w z^2]``), ``across`` (``E[w]``) and
    ``ratio = along / across = 1 / (1 + 2c)`` (the normalised weights' shrink factor).
    """
    if not a > 0:
        raise ValueError(f"a must be positive; got {a!r}")
    if isinstance(tau, str):
        if tau != "median":
            raise ValueError(f"tau must be 'median' or a positive number; got {tau!r}")
        tau = 0.5 * a * a * float(stats.chi2.median(1))
    elif not tau > 0:
        raise ValueError(f"tau must be 'median' or a positive number; got {tau!r}")
    c = a * a / (2.0 * tau)
    return {"c": c, "tau": float(tau), "along": (1 + 2 * c) ** -1.5, "across": (1 + 2 * c) ** -0.5,
            "ratio": 1.0 / (1 + 2 * c)}


def gaussian_forgetting(a: float, curvature: float, *, lr: float, n_steps: int) -> dict:
    """Forgetting and fine-tuning risk after ``T`` steps in the Gaussian model (eq. 3)."""
    _check_steps(lr, n_steps)
    if not 0 <= lr * curvature < 2:
        raise ValueError(f"lr * curvature must be in [0, 2); got {lr * curvature!r}")
    remain = (1.0 - lr * curvature) ** n_steps
    return {"forgetting": 0.5 * a * a * (1 - remain) ** 2, "finetune_risk": 0.5 * a * a * remain ** 2}


__all__ = ["forgetting", "gaussian_flow_curvature", "gaussian_forgetting", "weighted_gd", "weighted_gd_closed_form",
           "weighted_hessian"]
