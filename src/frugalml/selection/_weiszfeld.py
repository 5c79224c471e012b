"""Weiszfeld's iteration and the row sums it needs: the kernel of :func:`~frugalml.selection.geometric_median`.

Both the in-memory path (:mod:`frugalml.selection.geometric_median`) and the out-of-core
map-reduce over Dask chunks (:mod:`frugalml.selection.out_of_core`) run this code, so it sits
below both: it imports neither, and each of them imports it (no import circle).

* :class:`NumpyOps` / :class:`TorchOps`: the handful of array operations the iteration needs;
* :func:`row_statistics`: the four sums over rows one step needs (they add over row blocks);
* :func:`weiszfeld`: the iteration with the Vardi-Zhang step, given a ``stats(mu, threshold)``.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.validation import check_array


class NumpyOps:
    """The handful of array operations Weiszfeld needs, for numpy ..."""

    @staticmethod
    def setup(X, weights):
        X = check_array(X, "X", max_abs=1e100)  # beyond this the squared norms overflow
        a = np.full(len(X), 1.0 / len(X)) if weights is None else check_weights(weights, len(X))
        return X, a

    sqrt, maximum, where, dot = staticmethod(np.sqrt), staticmethod(np.maximum), staticmethod(np.where), staticmethod(np.dot)

    @staticmethod
    def norm(v):
        return float(np.sqrt(np.dot(v, v)))

    @staticmethod
    def median0(X):
        return np.median(X, axis=0)

    @staticmethod
    def finish(mu, like):
        return mu


class TorchOps:
    """... and for torch tensors (any device), in float64."""

    @staticmethod
    def setup(X, weights):
        import torch

        if not torch.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values; clean or impute them first")
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must be a non-empty 2-D tensor; got shape {tuple(X.shape)}")
        Xd = X.detach().to(torch.float64)
        if weights is None:
            a = torch.full((len(X),), 1.0 / len(X), dtype=torch.float64, device=X.device)
        else:
            a = torch.as_tensor(check_weights(np.asarray(torch.as_tensor(weights).cpu()), len(X)), device=X.device)
        return Xd, a

    @staticmethod
    def sqrt(v):
        import torch

        return torch.sqrt(v)

    @staticmethod
    def maximum(v, c):
        return v.clamp_min(c)

    @staticmethod
    def where(c, a, b):
        import torch

        return torch.where(c, a, b)

    @staticmethod
    def dot(A, b):
        return A @ b

    @staticmethod
    def norm(v):
        return float((v @ v).sqrt())

    @staticmethod
    def median0(X):
        return X.median(dim=0).values

    @staticmethod
    def finish(mu, like):
        return mu.to(like.dtype if like.is_floating_point() else mu.dtype)


def check_weights(weights, n):
    a = check_array(weights, "weights", ndim=1)
    if a.shape[0] != n:
        raise ValueError(f"weights has {a.shape[0]} entries but X has {n} rows")
    if np.any(a < 0) or a.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return a / a.sum()


def distances(ops, X, sqnorms, mu):
    """||x_i - mu|| for all i via one mat-vec; rows where cancellation bites are recomputed exactly."""
    mu_sq = ops.dot(mu, mu)
    d2 = sqnorms - 2.0 * ops.dot(X, mu) + mu_sq
    # ||x||^2 + ||mu||^2 - 2<x, mu> loses precision when x is very close to mu:
    # recompute those few rows directly.
    close = d2 < 1e-6 * (sqnorms + mu_sq)
    if bool(close.any()):
        diff = X[close] - mu
        d2[close] = (diff * diff).sum(1)
    return ops.sqrt(ops.maximum(d2, 0.0))


def row_statistics(ops, X, a, sqnorms, mu, threshold):
    """``(W, sum_i w_i x_i, eta, sum_i a_i d_i)`` at ``mu`` over the rows of ``X``.

    ``d_i = ||x_i - mu||``; a point within ``threshold`` of ``mu`` is "on" it: its weight
    ``a_i`` counts towards ``eta`` and its Weiszfeld weight ``w_i`` is 0; elsewhere
    ``w_i = a_i / d_i`` and ``W = sum_i w_i``. All four are sums over rows, so blocks of rows
    can be reduced separately and added (the Dask path).
    """
    dist = distances(ops, X, sqnorms, mu)
    on_point = dist <= threshold
    w = ops.where(on_point, 0.0 * a, a / ops.maximum(dist, threshold))
    return float(w.sum()), ops.dot(w, X), float((a * on_point).sum()), float((a * dist).sum())


def weiszfeld(stats, mu, norm, threshold, tol, max_iter):
    """Weiszfeld's iteration with the Vardi-Zhang step, given ``stats(mu, threshold)`` (see :func:`row_statistics`).

    Returns ``(mu, n_iter, converged, objective)`` with the objective at the returned ``mu``.
    """
    W, wX, eta, mean_dist = stats(mu, threshold)
    converged, n_iter = False, 0
    for n_iter in range(1, int(max_iter) + 1):  # noqa: B007 (the count is read after the loop)
        if W == 0.0:  # every point (with weight) coincides with mu
            converged = True
            break
        T = wX / W
        if eta > 0.0:  # Vardi-Zhang: the iterate sits on data points of total weight eta
            r = norm(wX - W * mu)
            if r <= eta:  # the subgradient condition certifies optimality
                converged = True
                break
            new = (1.0 - eta / r) * T + (eta / r) * mu
        else:
            new = T
        step = norm(new - mu)
        previous_mean_dist = mean_dist
        mu = new
        W, wX, eta, mean_dist = stats(mu, threshold)
        if step <= tol * max(previous_mean_dist, 1e-300):
            converged = True
            break
    return mu, n_iter, converged, mean_dist


__all__ = ["NumpyOps", "TorchOps", "check_weights", "distances", "row_statistics", "weiszfeld"]
