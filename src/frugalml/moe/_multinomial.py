"""Multinomial logistic regression with the last class fixed at zero, soft targets and
per-sample weights: the single solver behind the gate and the classification experts.

The objective (mean units, ``n_total`` samples) is

.. math::

    f(W) = -\\frac{1}{n}\\sum_i s_i \\sum_c T_{ic} \\log \\operatorname{softmax}_c(W x_i, 0)
           + \\frac{\\lambda}{2} \\lVert W \\odot m \\rVert^2 ,

with ``W`` of shape ``(C - 1, p)`` (the last class's row is the fixed zero of the paper's
identifiable gate, :math:`w_K = 0`) and ``m`` a 0/1 mask that leaves an intercept column
unpenalised. For the gate (paper Sec. 2) ``T`` are the responsibilities and ``s = 1``;
for the experts ``T`` is one-hot and ``s`` the responsibilities of one expert.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

# Newton when the flattened problem has at most this many parameters, else L-BFGS; the
# Newton system is formed densely when n * params^2 is at most DENSE_HESSIAN_FLOPS, else
# it is solved by conjugate gradients on Hessian-vector products (trust-region Newton-CG).
NEWTON_MAX_PARAMS = 400
DENSE_HESSIAN_FLOPS = 2e9


def logits(X, W):
    """Logits ``(n, C)`` with a zero last column: ``Z[:, :C-1] = X @ W.T``."""
    n = X.shape[0]
    Z = np.zeros((n, W.shape[0] + 1))  # (n, C)
    Z[:, :-1] = X @ W.T  # (n, C-1)
    return Z


def _row_max(Z, floor=-np.inf):
    """``max(floor, max_c Z[:, c])`` by a loop over the few columns (numpy's axis=1
    reduction on a tall, narrow C-ordered array is several times slower)."""
    m = np.full(Z.shape[0], floor)
    for c in range(Z.shape[1]):
        np.maximum(m, Z[:, c], out=m)
    return m


def _row_sum(E):
    out = np.zeros(E.shape[0])
    for c in range(E.shape[1]):
        out += E[:, c]
    return out


def logsumexp_rows(Z):
    """Row-wise ``log sum exp``, shape (n, 1), shifted by the row max (never overflows).

    Several times faster than ``scipy.special.logsumexp`` on tall, narrow arrays.
    """
    m = _row_max(Z)  # (n,)
    m[~np.isfinite(m)] = 0.0
    return (m + np.log(_row_sum(np.exp(Z - m[:, None]))))[:, None]


def log_softmax(Z):
    """Row-wise log-softmax, computed in log space (never overflows)."""
    return Z - logsumexp_rows(Z)


def objective_and_grad(W, X, T, s, penalty, mask):
    """``(f, grad)`` of the objective in the module docstring; ``grad`` has ``W``'s shape.

    ``s`` is already divided by ``n_total``. The gradient is
    ``((P - T) * s)[:, :C-1].T @ X + penalty * W * mask`` (rows of ``T`` sum to one).
    """
    Z = X @ W.T  # (n, C-1); the last class's logit is 0
    m = _row_max(Z, 0.0)  # (n,)
    E = np.exp(Z - m[:, None])  # (n, C-1)
    S = _row_sum(E) + np.exp(-m)  # (n,)
    logS = m + np.log(S)  # (n,) log-partition
    # -sum_c T_c log P_c = logS - sum_{c<C} T_c Z_c  (rows of T sum to one)
    f = float(np.sum(s * (logS - np.einsum("ic,ic->i", T[:, :-1], Z))))
    Wm = W * mask
    f += 0.5 * penalty * float(np.sum(Wm * Wm))
    D = (E / S[:, None] - T[:, :-1]) * s[:, None]  # (n, C-1): (P - T) * s
    G = D.T @ X + penalty * Wm  # (C-1, p)
    return f, G


def hessian(W, X, s, penalty, mask):
    """Exact Hessian of the objective, ``((C-1) p, (C-1) p)``, blocks ``X^T diag(.) X``."""
    Cm1, p = W.shape
    P = np.exp(log_softmax(logits(X, W)))  # (n, C)
    H = np.empty((Cm1, p, Cm1, p))
    for a in range(Cm1):  # loop over classes only, never over samples
        for b in range(a, Cm1):
            wts = s * P[:, a] * (float(a == b) - P[:, b])  # (n,)
            block = (X * wts[:, None]).T @ X  # (p, p)
            H[a, :, b, :] = block
            if b != a:
                H[b, :, a, :] = block.T
    H = H.reshape(Cm1 * p, Cm1 * p)
    H[np.diag_indices_from(H)] += penalty * np.tile(mask, Cm1)
    return H


def hessian_vector(W, V, X, s, penalty, mask, P=None):
    """Hessian-vector product ``H v`` in ``O(n C p)`` (no Hessian is formed)."""
    if P is None:
        P = np.exp(log_softmax(logits(X, W)))  # (n, C)
    Pm = P[:, :-1]  # (n, C-1)
    U = X @ V.T  # (n, C-1)
    A = Pm * (U - np.sum(Pm * U, axis=1, keepdims=True)) * s[:, None]  # (n, C-1)
    return A.T @ X + penalty * V * mask  # (C-1, p)


def fit_multinomial(X, T, sample_weight, W0, *, n_total, penalty=0.0, mask=None, tol=1e-10,
                    max_iter=100, method="auto"):
    """Minimise the weighted soft-label multinomial objective from a warm start ``W0``.

    Parameters
    ----------
    X : ndarray (n, p)
    T : ndarray (n, C), rows summing to one (responsibilities or one-hot labels).
    sample_weight : ndarray (n,), non-negative.
    W0 : ndarray (C - 1, p), the warm start (the previous EM iterate).
    n_total : int, the objective is a mean over this many samples.
    penalty : float, L2 strength on the masked coefficients.
    mask : ndarray (p,) of 0/1, or None (penalise every column).
    tol : float, stop when ``max |grad| <= tol``.
    max_iter : int, Newton iterations or L-BFGS iterations.
    method : {"auto", "newton", "newton_cg", "lbfgs"}; "auto" is Newton up to
        ``NEWTON_MAX_PARAMS`` parameters (dense or CG by ``DENSE_HESSIAN_FLOPS``), else L-BFGS.

    Returns
    -------
    W : ndarray (C - 1, p)
    n_evals : int, objective/gradient evaluations (passes over the data).
    """
    Cm1, p = W0.shape
    if Cm1 == 0:  # a single class (one expert's gate): nothing to fit
        return np.array(W0, dtype=np.float64, copy=True), 0
    mask = np.ones(p) if mask is None else mask
    s = np.asarray(sample_weight, dtype=np.float64) / n_total
    if method == "auto":
        if Cm1 * p > NEWTON_MAX_PARAMS:
            method = "lbfgs"
        else:
            method = "newton" if X.shape[0] * (Cm1 * p) ** 2 <= DENSE_HESSIAN_FLOPS else "newton_cg"
    if method == "newton_cg":
        cache = {}

        def fun(w):
            f, G = objective_and_grad(w.reshape(Cm1, p), X, T, s, penalty, mask)
            cache["w"], cache["P"] = w.copy(), None
            return f, G.ravel()

        def hessp(w, v):
            W = w.reshape(Cm1, p)
            if cache.get("P") is None or not np.array_equal(cache["w"], w):
                cache["w"], cache["P"] = w.copy(), np.exp(log_softmax(logits(X, W)))
            return hessian_vector(W, v.reshape(Cm1, p), X, s, penalty, mask, cache["P"]).ravel()

        res = minimize(fun, W0.ravel(), jac=True, hessp=hessp, method="trust-ncg",
                       options={"maxiter": max_iter, "gtol": tol})
        W = res.x.reshape(Cm1, p)
        f0 = objective_and_grad(W0, X, T, s, penalty, mask)[0]
        if not res.fun <= f0:
            W = W0.copy()
        return W, int(res.nfev + res.get("nhev", 0))
    if method == "lbfgs":
        def fun(w):
            f, G = objective_and_grad(w.reshape(Cm1, p), X, T, s, penalty, mask)
            return f, G.ravel()

        res = minimize(fun, W0.ravel(), jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20})
        W = res.x.reshape(Cm1, p)
        f0 = objective_and_grad(W0, X, T, s, penalty, mask)[0]
        if not res.fun <= f0:  # L-BFGS never returns a worse point; guard anyway (keeps EM monotone)
            W = W0.copy()
        return W, int(res.nfev)
    # Damped Newton with Armijo backtracking.
    W = np.array(W0, dtype=np.float64, copy=True)
    f, G = objective_and_grad(W, X, T, s, penalty, mask)
    n_evals = 1
    for _ in range(max_iter):
        if np.max(np.abs(G)) <= tol:
            break
        H = hessian(W, X, s, penalty, mask)
        H[np.diag_indices_from(H)] += 1e-12 * max(np.trace(H) / H.shape[0], 1e-300)
        try:
            step = np.linalg.solve(H, G.ravel()).reshape(Cm1, p)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, G.ravel(), rcond=None)[0].reshape(Cm1, p)
        slope = float(np.sum(G * step))
        if not slope > 0:  # not a descent direction (numerically singular): fall back to gradient
            step, slope = G, float(np.sum(G * G))
        t = 1.0
        for _ in range(50):
            f_new, G_new = objective_and_grad(W - t * step, X, T, s, penalty, mask)
            n_evals += 1
            if f_new <= f - 1e-4 * t * slope:
                break
            # at machine precision f stops moving; still take a step that shrinks the gradient
            if f_new <= f + 1e-13 * abs(f) and np.max(np.abs(G_new)) < np.max(np.abs(G)):
                break
            t *= 0.5
        else:
            break  # no decrease possible at machine precision
        W, f, G = W - t * step, f_new, G_new
    return W, n_evals
