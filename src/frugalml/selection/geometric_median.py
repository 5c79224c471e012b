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
the GM. Each iteration is one pass over the data. The iteration itself lives in
:mod:`frugalml.selection._weiszfeld`, shared with the out-of-core path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frugalml._core.validation import check_option, check_positive, check_scalar
from frugalml.selection._weiszfeld import NumpyOps, TorchOps, row_statistics, weiszfeld
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
        mu, n_iter, converged, objective = weiszfeld(dask_statistics(blocks), mu, NumpyOps.norm, eps * scale,
                                                     tol, max_iter)
        return GeometricMedianResult(mu, n_iter, converged, objective)
    ops = TorchOps if type(X).__module__.startswith("torch") else NumpyOps
    original = X
    X, a = ops.setup(X, weights)
    sqnorms = (X * X).sum(1)
    scale = max(float(sqnorms.max()) ** 0.5, 1e-300)
    mu = ops.dot(a, X) if init == "mean" else ops.median0(X)
    mu, n_iter, converged, objective = weiszfeld(
        lambda m, threshold: row_statistics(ops, X, a, sqnorms, m, threshold), mu, ops.norm, eps * scale, tol, max_iter)
    return GeometricMedianResult(ops.finish(mu, original), n_iter, converged, objective)
