"""Subspaces: the Fisher (LDA) target and the principal-angle distance between spans.

Reference: Bansal, Kavis & Sanghavi, "Understanding Contrastive Learning via Gaussian
Mixture Models" (arXiv:2411.03517). For a mixture ``sum_k pi_k N(mu_k, Sigma)`` with a
shared covariance, the optimal ``r = K - 1`` dimensional linear projection (the Fisher /
LDA subspace) is ``span{Sigma^{-1} (mu_k - mu_bar)}`` with ``mu_bar = sum_k pi_k mu_k``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from frugalml._core import check_array, check_positive


def orthonormal_rows(A, name: str = "A", *, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal rows spanning the row space of ``A`` (shape ``(r, d)``), largest direction first.

    Rows whose singular value is below ``rtol * s_max`` are dropped, so the result has
    ``rank(A)`` rows. A 1-D ``A`` is treated as one row.
    """
    A = check_array(A, name, ndim=None)
    rtol = check_positive(rtol, "rtol", strict=False)
    if A.ndim == 1:
        A = A[None, :]
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 1-D vector or a 2-D array of rows; got shape {A.shape}")
    _, s, Vt = np.linalg.svd(A, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise ValueError(f"{name} is zero: its rows span no subspace")
    return Vt[s > rtol * s[0]]


def subspace_distance(A, B) -> float:
    """Sine of the largest principal angle between the row spaces of ``A`` and ``B``.

    Parameters
    ----------
    A, B : array-like of shape (r_a, d) and (r_b, d)
        Rows spanning each subspace (any basis; need not be orthonormal). A 1-D array is
        one row.

    Returns
    -------
    float in [0, 1]
        0 for the same span, 1 when some direction of one span is orthogonal to the other.
        Computed with :func:`scipy.linalg.subspace_angles`; when ``r_a != r_b`` the angles
        are the ``min(r_a, r_b)`` principal angles, so 0 means the smaller span lies inside
        the larger one.
    """
    A = check_array(A, "A", ndim=None)
    B = check_array(B, "B", ndim=None)
    A = A[None, :] if A.ndim == 1 else A
    B = B[None, :] if B.ndim == 1 else B
    if A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"A and B must hold rows (2-D); got shapes {A.shape} and {B.shape}")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B must live in the same space: A has {A.shape[1]} columns, B has {B.shape[1]}")
    angles = scipy.linalg.subspace_angles(A.T, B.T)
    return float(np.clip(np.sin(np.max(angles)), 0.0, 1.0))


def _check_covariance(covariance, d: int, name: str = "covariance") -> np.ndarray:
    S = check_array(covariance, name)
    if S.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the means; got {S.shape}")
    if not np.allclose(S, S.T, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(S).max())):
        raise ValueError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (Cholesky failed); add a small ridge") from None
    return S


def _check_weights(weights, K: int) -> np.ndarray:
    if weights is None:
        return np.full(K, 1.0 / K)
    w = check_array(weights, "weights", ndim=1)
    if w.shape != (K,):
        raise ValueError(f"weights must have one entry per mean ({K}); got shape {w.shape}")
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-8):
        raise ValueError(f"weights must be non-negative and sum to 1; got sum {w.sum():.6g}")
    return w


def fisher_subspace(means, covariance, weights=None) -> np.ndarray:
    """Orthonormal basis of the Fisher (LDA) subspace ``span{Sigma^{-1} (mu_k - mu_bar)}``.

    Parameters
    ----------
    means : array-like of shape (K, d)
        Component means ``mu_k``.
    covariance : array-like of shape (d, d)
        The shared, symmetric positive-definite within-component covariance ``Sigma``.
    weights : array-like of shape (K,), optional
        Mixing weights ``pi_k`` (non-negative, summing to 1); uniform by default. They set
        ``mu_bar`` only.

    Returns
    -------
    ndarray of shape (r, d)
        Orthonormal rows, ``r = rank`` of the centred means (``K - 1`` for means in
        general position). This is also the span of the top generalised eigenvectors of
        ``Sigma_b w = lambda Sigma w`` with ``Sigma_b`` the between-component scatter.
    """
    M = check_array(means, "means")
    K, d = M.shape
    if K < 2:
        raise ValueError(f"means needs at least 2 components to define a discriminant subspace; got {K}")
    S = _check_covariance(covariance, d)
    w = _check_weights(weights, K)
    centred = M - w @ M  # (K, d)
    directions = scipy.linalg.solve(S, centred.T, assume_a="pos").T  # (K, d): Sigma^{-1}(mu_k - mu_bar)
    if np.linalg.norm(centred) == 0:
        raise ValueError("means are all equal: there is no discriminant subspace")
    return orthonormal_rows(directions, "Sigma^{-1}(means - mean)", rtol=1e-9)


__all__ = ["fisher_subspace", "orthonormal_rows", "subspace_distance"]
