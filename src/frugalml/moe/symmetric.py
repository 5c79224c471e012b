"""The symmetric mixture of two linear experts, where EM is exactly mirror descent.

Model (paper Sec. 3, with sigma = 1): ``x ~ N(0, Sigma)``, ``z = 1`` with probability
``e^{x.w} / (2 cosh(x.w))``, and ``y = (+-) x.beta + eps`` (``+`` for ``z = 1``). Its
parameters are ``theta = (beta, w)``; ``theta`` and ``-theta`` give the same model.

With ``t_i = tanh(x_i.w + y_i x_i.beta)`` the mean log-likelihood is

.. math:: L(\\theta) = \\frac1n \\sum_i -\\tfrac12 (y_i^2 + (x_i\\cdot\\beta)^2)
          + \\log\\cosh(x_i\\cdot w + y_i x_i\\cdot\\beta) - \\log\\cosh(x_i\\cdot w) - \\tfrac12\\log 2\\pi,

and the EM update is (paper Eq. for the symmetric M-step)

.. math:: \\beta^+ = (X^\\top X)^{-1} X^\\top (t \\odot y), \\qquad
          \\tfrac1n X^\\top \\tanh(X w^+) = \\tfrac1n X^\\top t .

These are mirror-descent steps with unit step size (the paper's Theorem 1): with the
mirror maps ``A_beta(beta) = ||X beta||^2 / (2n)`` and
``A_w(w) = (1/n) sum_i log cosh(x_i.w)``,
``grad A(theta+) = grad A(theta) - grad(-L)(theta)``;
:func:`mirror_descent_residual` measures how exactly an update satisfies this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from frugalml._core.validation import check_array, check_option, check_positive, check_scalar

MAX_ABS = 1e100  # beyond this, X beta overflows in the squares of the likelihood

LOG_2PI = float(np.log(2 * np.pi))


def _logcosh(a):
    return np.logaddexp(a, -a) - np.log(2.0)


def _check(X, y, beta, w, names=("beta", "w")):
    X = check_array(X, "X", max_abs=MAX_ABS)
    y = check_array(y, "y", ndim=1, max_abs=MAX_ABS)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
    beta = check_array(beta, names[0], ndim=1, max_abs=MAX_ABS)
    w = check_array(w, names[1], ndim=1, max_abs=MAX_ABS)
    for name, v in zip(names, (beta, w)):
        if v.shape[0] != X.shape[1]:
            raise ValueError(f"{name} must have {X.shape[1]} entries (n_features); got {v.shape[0]}")
    return X, y, beta, w


def symmetric_log_likelihood(X, y, beta, w):
    """Mean log-likelihood ``L(beta, w)`` of the symmetric model (module docstring)."""
    return _log_likelihood(*_check(X, y, beta, w))


def _log_likelihood(X, y, beta, w):
    xb, xw = X @ beta, X @ w
    return float(np.mean(-0.5 * (y**2 + xb**2) + _logcosh(xw + y * xb) - _logcosh(xw)) - 0.5 * LOG_2PI)


def symmetric_gradient(X, y, beta, w):
    """Gradient of the mean *negative* log-likelihood, ``(g_beta, g_w)``.

    ``g_beta = X^T (X beta - t y) / n`` and ``g_w = X^T (tanh(X w) - t) / n``.
    """
    X, y, beta, w = _check(X, y, beta, w)
    n = X.shape[0]
    xb, xw = X @ beta, X @ w
    t = np.tanh(xw + y * xb)
    return X.T @ (xb - t * y) / n, X.T @ (np.tanh(xw) - t) / n


def mirror_map_gradient(X, beta, w):
    """``(grad A_beta, grad A_w) = (X^T X beta / n, X^T tanh(X w) / n)``."""
    X = check_array(X, "X", max_abs=MAX_ABS)
    beta = check_array(beta, "beta", ndim=1, shape=(X.shape[1],), max_abs=MAX_ABS)
    w = check_array(w, "w", ndim=1, shape=(X.shape[1],), max_abs=MAX_ABS)
    n = X.shape[0]
    return X.T @ (X @ beta) / n, X.T @ np.tanh(X @ w) / n


def _solve_gate(X, target, w0, tol=1e-14, max_iter=100):
    """Solve ``X^T tanh(X w) / n = target`` by Newton on the convex potential
    ``phi(w) = mean log cosh(X w) - w . target``, warm-started at ``w0``."""
    n = X.shape[0]
    w = w0.copy()

    def phi(v):
        return float(np.mean(_logcosh(X @ v)) - v @ target)

    f = phi(w)
    for _ in range(max_iter):
        th = np.tanh(X @ w)
        g = X.T @ th / n - target
        if np.max(np.abs(g)) <= tol:
            break
        H = (X * (1.0 - th**2)[:, None]).T @ X / n
        step = np.linalg.solve(H + 1e-300 * np.eye(len(w)), g)
        s = 1.0
        for _ in range(60):
            f_new = phi(w - s * step)
            if f_new <= f - 1e-4 * s * float(g @ step) or (f_new <= f + 1e-13 * abs(f) and s == 1.0):
                break
            s *= 0.5
        w, f = w - s * step, f_new
    return w


def symmetric_em_step(X, y, beta, w):
    """One EM iteration of the symmetric model; returns ``(beta+, w+)``."""
    X, y, beta, w = _check(X, y, beta, w)
    return _em_step(X, y, beta, w, X.T @ X)


def _em_step(X, y, beta, w, gram):
    n = X.shape[0]
    t = np.tanh(X @ w + y * (X @ beta))
    beta_new = np.linalg.solve(gram, X.T @ (t * y))
    w_new = _solve_gate(X, X.T @ t / n, w)
    return beta_new, w_new


def symmetric_gradient_em_step(X, y, beta, w, learning_rate, inner_steps=1):
    """``inner_steps`` gradient steps on ``-Q(. | theta_t) / n`` (``t`` fixed at ``theta_t``).

    With ``inner_steps=1`` this is one gradient-descent step on the negative log-likelihood.
    """
    learning_rate = check_positive(learning_rate, "learning_rate")
    inner_steps = check_scalar(inner_steps, "inner_steps", integer=True, low=1)
    return _gradient_em_step(*_check(X, y, beta, w), learning_rate, inner_steps)


def _gradient_em_step(X, y, beta, w, learning_rate, inner_steps):
    n = X.shape[0]
    t = np.tanh(X @ w + y * (X @ beta))
    Xty = X.T @ (t * y) / n
    Xt = X.T @ t / n
    for _ in range(inner_steps):
        g_beta = X.T @ (X @ beta) / n - Xty
        g_w = X.T @ np.tanh(X @ w) / n - Xt
        beta, w = beta - learning_rate * g_beta, w - learning_rate * g_w
    return beta, w


def mirror_descent_residual(X, y, beta, w, beta_new, w_new):
    """``max |grad A(theta+) - (grad A(theta) - grad(-L)(theta))|``: zero for an EM step."""
    a_b, a_w = mirror_map_gradient(X, beta, w)
    a_b_new, a_w_new = mirror_map_gradient(X, beta_new, w_new)
    g_b, g_w = symmetric_gradient(X, y, beta, w)
    return float(max(np.max(np.abs(a_b_new - (a_b - g_b))), np.max(np.abs(a_w_new - (a_w - g_w)))))


@dataclass
class SymmetricFit:
    """Result of :func:`fit_symmetric`: final parameters and the per-iteration path."""

    beta: np.ndarray
    w: np.ndarray
    nit: int
    converged: bool
    log_likelihood: list = field(default_factory=list)  # L(theta_t), t = 0..nit
    beta_path: np.ndarray | None = None  # (nit + 1, d)
    w_path: np.ndarray | None = None  # (nit + 1, d)


def fit_symmetric(X, y, beta0, w0, *, solver="em", learning_rate=None, inner_steps=1, max_iter=100, tol=0.0,
                  stop=None, diverge_below=None):
    """Run EM, gradient descent or gradient EM on the symmetric model from ``(beta0, w0)``.

    Parameters
    ----------
    solver : {"em", "gd", "gradient_em"}
    learning_rate : float, required for the gradient solvers.
    inner_steps : int, gradient steps per iteration for "gradient_em".
    tol : float, stop when the parameter change ``max |theta_{t+1} - theta_t|`` is below it.
    stop : callable ``(beta, w) -> bool`` or None, an extra stopping rule (e.g. distance to the MLE).
    diverge_below : float or None, give up (``converged=False``) once the log-likelihood falls
        this far below its starting value (an unstable step size).

    Returns
    -------
    SymmetricFit
    """
    check_option(solver, ("em", "gd", "gradient_em"), "solver")
    X, y, beta, w = _check(X, y, beta0, w0, names=("beta0", "w0"))
    if solver != "em":
        if learning_rate is None:
            raise ValueError(f"solver={solver!r} needs a positive learning_rate; got None")
        learning_rate = check_positive(learning_rate, "learning_rate")
    inner_steps = check_scalar(inner_steps, "inner_steps", integer=True, low=1)
    max_iter = check_scalar(max_iter, "max_iter", integer=True, low=0)
    tol = check_positive(tol, "tol", strict=False)
    steps = inner_steps if solver == "gradient_em" else 1
    betas, ws, lls = [beta], [w], [_log_likelihood(X, y, beta, w)]
    gram = X.T @ X
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is read after the loop)
        if solver == "em":
            b_new, w_new = _em_step(X, y, beta, w, gram)
        else:
            b_new, w_new = _gradient_em_step(X, y, beta, w, learning_rate, steps)
        change = max(np.max(np.abs(b_new - beta)), np.max(np.abs(w_new - w)))
        beta, w = b_new, w_new
        betas.append(beta)
        ws.append(w)
        lls.append(_log_likelihood(X, y, beta, w))
        if not np.isfinite(lls[-1]) or np.max(np.abs(beta)) > 1e8:
            break
        if diverge_below is not None and lls[-1] < lls[0] - diverge_below:
            break
        if change < tol or (stop is not None and stop(beta, w)):
            converged = True
            break
    return SymmetricFit(beta, w, it, converged, lls, np.array(betas), np.array(ws))
