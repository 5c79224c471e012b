"""Expert families: the per-expert likelihood, its exact M-step and its gradient.

Each family works on the *augmented* design (a column of ones appended when the mixture
fits intercepts) and on internal parameter arrays; :class:`~frugalml.moe.MixtureOfExperts`
turns them into the public ``expert_coef_`` / ``expert_intercept_``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, solve

from frugalml.moe._multinomial import fit_multinomial, log_softmax, logits, objective_and_grad

LOG_2PI = float(np.log(2 * np.pi))


class LinearExperts:
    """Gaussian linear experts ``y | x, z=k ~ N(x . beta_k, sigma_k^2)`` (paper Sec. 2).

    ``params = {"B": (K, p), "log_var": (K,)}``. With ``estimate_variance=False`` the
    variance stays at its initial value (the paper's known ``sigma^2 = 1``).
    """

    def __init__(self, estimate_variance: bool, variance_floor: float):
        self.estimate_variance = estimate_variance
        self.variance_floor = variance_floor

    def log_prob(self, X, y, params):
        """``log p(y_i | x_i, z=k)``, shape (n, K)."""
        var = np.exp(params["log_var"])  # (K,)
        resid = y[:, None] - X @ params["B"].T  # (n, K)
        return -0.5 * (resid**2 / var + np.log(var) + LOG_2PI)

    def penalty(self, params, strength, mask):
        Bm = params["B"] * mask
        return 0.5 * strength * float(np.sum(Bm * Bm))

    def m_step(self, X, y, R, params, strength, mask):
        """Closed-form weighted least squares per expert (paper's linear M-step).

        ``beta_k = (X^T R_k X + n sigma_k^2 lambda M + eps I)^{-1} X^T R_k y`` with
        ``R_k = diag(r_k)``, ``M = diag(mask)`` and a tiny ridge ``eps`` for rank-deficient
        weighted designs; then, optionally, ``sigma_k^2 = sum_i r_ik (y_i - x_i beta_k)^2 /
        sum_i r_ik`` (floored). Returns ``(params, passes over the data)``.
        """
        n, p = X.shape
        K = R.shape[1]
        B = np.empty((K, p))
        var = np.exp(params["log_var"]).copy()
        for k in range(K):  # loop over experts only
            sq = np.sqrt(R[:, k])  # (n,) the sqrt(r)-scaled form: G = Xs^T Xs runs as one SYRK
            Xs = X * sq[:, None]  # (n, p)
            G = Xs.T @ Xs  # (p, p)
            b = Xs.T @ (sq * y)  # (p,)
            G[np.diag_indices(p)] += n * var[k] * strength * mask + 1e-12 * max(np.trace(G) / p, 1e-300)
            try:
                B[k] = solve(G, b, assume_a="pos")
            except (LinAlgError, ValueError):
                B[k] = np.linalg.lstsq(G, b, rcond=None)[0]
            if self.estimate_variance:
                rk = R[:, k].sum()
                if rk > 0:
                    var[k] = float(R[:, k] @ (y - X @ B[k]) ** 2) / rk
        if self.estimate_variance:
            var = np.maximum(var, self.variance_floor)
        return {"B": B, "log_var": np.log(var)}, K

    def gradient(self, X, y, R, params, strength, mask):
        """Gradient of ``-Q(theta | theta_t) / n`` (expert part) at ``params``.

        ``d/d beta_k = X^T (r_k (X beta_k - y)) / (n sigma_k^2) + lambda M beta_k`` and,
        when the variance is learned, ``d/d log sigma_k^2 = sum_i r_ik (1 - res^2/sigma_k^2) / (2n)``.
        """
        n = X.shape[0]
        var = np.exp(params["log_var"])
        resid = X @ params["B"].T - y[:, None]  # (n, K)
        W = R * resid / var  # (n, K)
        gB = W.T @ X / n + strength * params["B"] * mask  # (K, p)
        g_lv = np.zeros_like(var)
        if self.estimate_variance:
            g_lv = 0.5 * np.sum(R * (1.0 - resid**2 / var), axis=0) / n
        return {"B": gB, "log_var": g_lv}

    def apply_step(self, params, grad, lr):
        log_var = params["log_var"] - lr * grad["log_var"]
        if self.estimate_variance:
            log_var = np.maximum(log_var, np.log(self.variance_floor))
        return {"B": params["B"] - lr * grad["B"], "log_var": log_var}

    def predict_mean(self, X, params):
        return X @ params["B"].T  # (n, K)


class MultinomialExperts:
    """Logistic (``C = 2``) or softmax experts ``P(y=c | x, z=k) = softmax_c(B_k x, 0)``.

    ``params = {"B": (K, C-1, p)}``; ``T`` is the one-hot target matrix ``(n, C)``.
    Binary logistic experts are the ``C = 2`` case: ``sigmoid(x . beta) = softmax(x . beta, 0)_1``.
    """

    def __init__(self, inner_tol: float, inner_max_iter: int):
        self.inner_tol = inner_tol
        self.inner_max_iter = inner_max_iter

    def log_prob(self, X, T, params):
        """``log P(y_i | x_i, z=k)``, shape (n, K)."""
        out = np.empty((X.shape[0], params["B"].shape[0]))
        for k, Bk in enumerate(params["B"]):
            out[:, k] = np.einsum("ic,ic->i", T, log_softmax(logits(X, Bk)))
        return out

    def proba(self, X, params):
        """Per-expert class probabilities, shape (n, K, C)."""
        return np.stack([np.exp(log_softmax(logits(X, Bk))) for Bk in params["B"]], axis=1)

    def penalty(self, params, strength, mask):
        Bm = params["B"] * mask
        return 0.5 * strength * float(np.sum(Bm * Bm))

    def m_step(self, X, T, R, params, strength, mask):
        """Weighted (multinomial) logistic regression per expert, warm-started (Newton or L-BFGS)."""
        n = X.shape[0]
        B = np.empty_like(params["B"])
        evals = 0
        for k in range(B.shape[0]):
            B[k], e = fit_multinomial(X, T, R[:, k], params["B"][k], n_total=n, penalty=strength, mask=mask,
                                      tol=self.inner_tol, max_iter=self.inner_max_iter)
            evals += e
        return {"B": B}, evals

    def gradient(self, X, T, R, params, strength, mask):
        n = X.shape[0]
        gB = np.stack([objective_and_grad(Bk, X, T, R[:, k] / n, strength, mask)[1]
                       for k, Bk in enumerate(params["B"])])
        return {"B": gB}

    def apply_step(self, params, grad, lr):
        return {"B": params["B"] - lr * grad["B"]}
