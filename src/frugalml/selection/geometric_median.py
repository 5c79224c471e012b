"""The geometric median by Weiszfeld's algorithm with the Vardi-Zhang correction.

The geometric median (GM) of points x_1..x_n with weights a_i is
``mu* = argmin_z sum_i a_i ||x_i - z||`` (GM Matching paper, Acharya et al. 2025, Def. 1).
Its breakdown point is 1/2: fewer than half the points (by weight) cannot move it
arbitrarily far, which is what makes GM Matching robust.

Weiszfeld's iteration is ``mu' = sum_i w_i x_i / sum_i w_i`` with ``w_i = a_i / ||x_i - mu||``.
It is undefined when an iterate lands on a data point; Vardi & Zhang (2000, PNAS 97:1423)
fix that: with ``eta`` the weight sitting at the iterate, ``T`` the Weiszfeld update over
the other points and ``r = ||sum_{i: x_i != mu} w_i (x_i - mu)||``,
``mu' = max(0, 1 - eta/r) T + min(1, eta/r) mu``; and ``r <= eta`` certifies that mu is
the GM. Each iteration is one pass over the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from frugalml._core.validation import check_array, check_option, check_positive, check_scalar
from frugalml.selection.out_of_core import dask_statistics, dask_weiszfeld_inputs, is_dask_array


@dataclass
class GeometricMedianResult:
    """Result of :func:`geometric_median`.

    Attributes
    ----------
    median : array (d,)  the geometric median (numpy array, or a torch tensor for torch input)
    n_iter : int         Weiszfeld iterations run
    converged : bool     True if the step fell below ``tol`` times the mean distance
    objective : float    ``sum_i a_i ||x_i - median||`` (with weights normalised to sum 1)
    """

    median: Any
    n_iter: int
    converged: bool
    objective: float


class _Numpy:
    """The handful of array operations Weiszfeld needs, for numpy ..."""

    @staticmethod
    def setup(X, weights):
        X = check_array(X, "X", max_abs=1e100)  # beyond this the squared norms overflow
        a = np.full(len(X), 1.0 / len(X)) if weights is None else _check_weights(weights, len(X))
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


class _Torch:
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
            a = torch.as_tensor(_check_weights(np.asarray(torch.as_tensor(weights).cpu()), len(X)), device=X.device)
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


def _check_weights(weights, n):
    a = check_array(weights, "weights", ndim=1)
    if a.shape[0] != n:
        raise ValueError(f"weights has {a.shape[0]} entries but X has {n} rows")
    if np.any(a < 0) or a.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return a / a.sum()


def _distances(ops, X, sqnorms, mu):
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


def geometric_median(X, weights=None, *, tol: float = 1e-7, max_iter: int = 1000, init: str = "mean",
                     eps: float = 1e-12) -> GeometricMedianResult:
    """Geometric median of the rows of ``X`` (numpy array, torch tensor on any device, or Dask array).

    Parameters
    ----------
    X : array-like (n, d), torch.Tensor or dask.array.Array
        A Dask array is never gathered: each iteration is one map-reduce over its row
        chunks (on the active ``dask.distributed`` cluster, if any).
    weights : array-like (n,), optional   non-negative point weights (default uniform)
    tol : float    stop when ``||mu_{t+1} - mu_t|| <= tol * mean_i a_i ||x_i - mu_t||``
    max_iter : int
    init : {"mean", "coordinate_median"}   starting point
    eps : float    a distance at most ``eps`` times the data scale counts as "on the point"

    Returns
    -------
    GeometricMedianResult

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [100.0, 100.0]])
    >>> r = geometric_median(X)
    >>> bool(np.linalg.norm(r.median) < 1.0)   # the far point barely moves it
    True
    """
    check_option(init, ("mean", "coordinate_median"), "init")
    tol = check_positive(tol, "tol")
    max_iter = check_scalar(max_iter, "max_iter", integer=True, low=1)
    eps = check_scalar(eps, "eps", low=0, high=1)
    if is_dask_array(X):  # out of core: every iteration is one map-reduce over the chunks
        if init != "mean":
            raise ValueError(f"init={init!r} needs the data in memory; use init='mean' for a Dask array")
        blocks, scale, mu = dask_weiszfeld_inputs(X, weights)
        mu, n_iter, converged, objective = _weiszfeld(dask_statistics(blocks), mu, _Numpy.norm, eps * scale,
                                                      tol, max_iter)
        return GeometricMedianResult(mu, n_iter, converged, objective)
    ops = _Torch if type(X).__module__.startswith("torch") else _Numpy
    original = X
    X, a = ops.setup(X, weights)
    sqnorms = (X * X).sum(1)
    scale = max(float(sqnorms.max()) ** 0.5, 1e-300)
    mu = ops.dot(a, X) if init == "mean" else ops.median0(X)
    mu, n_iter, converged, objective = _weiszfeld(
        lambda m, threshold: _stats(ops, X, a, sqnorms, m, threshold), mu, ops.norm, eps * scale, tol, max_iter)
    return GeometricMedianResult(ops.finish(mu, original), n_iter, converged, objective)


def _stats(ops, X, a, sqnorms, mu, threshold):
    """``(W, sum_i w_i x_i, eta, sum_i a_i d_i)`` at ``mu`` over the rows of ``X``.

    ``d_i = ||x_i - mu||``; a point within ``threshold`` of ``mu`` is "on" it: its weight
    ``a_i`` counts towards ``eta`` and its Weiszfeld weight ``w_i`` is 0; elsewhere
    ``w_i = a_i / d_i`` and ``W = sum_i w_i``. All four are sums over rows, so blocks of rows
    can be reduced separately and added (the Dask path).
    """
    dist = _distances(ops, X, sqnorms, mu)
    on_point = dist <= threshold
    w = ops.where(on_point, 0.0 * a, a / ops.maximum(dist, threshold))
    return float(w.sum()), ops.dot(w, X), float((a * on_point).sum()), float((a * dist).sum())


def _weiszfeld(stats, mu, norm, threshold, tol, max_iter):
    """Weiszfeld's iteration with the Vardi-Zhang step, given ``stats(mu, threshold)`` (see :func:`_stats`).

    Returns ``(mu, n_iter, converged, objective)`` with the objective at the returned ``mu``.
    """
    W, wX, eta, mean_dist = stats(mu, threshold)
    converged, n_iter = False, 0
    for n_iter in range(1, int(max_iter) + 1):
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
