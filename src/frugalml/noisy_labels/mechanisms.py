"""Label differential privacy mechanisms: randomized response (RR) and RR-with-prior.

References
----------
Das et al., "Retraining with Predicted Hard Labels Provably Increases Model Accuracy",
ICML 2025, Section 5 (label DP by RR, then consensus-based retraining).
Ghazi et al., "Deep Learning with Label Differential Privacy", NeurIPS 2021, Algorithm 2
(RR-with-prior) and Algorithm 3 (LP-MST; LP-2ST is its two-stage case).

Notation: ``K`` classes, privacy budget ``epsilon > 0``.

* RR_eps (Das et al. eq. for label DP; Ghazi et al. Def. 2.3): output the true label with
  probability ``e^eps / (e^eps + K - 1)`` and each of the other ``K - 1`` labels with
  probability ``1 / (e^eps + K - 1)``. For ``K = 2`` the flip probability is ``1/(1 + e^eps)``.
* RR-with-prior (Ghazi et al. Alg. 2): given a prior ``p`` over labels for one sample, let
  ``Y_k`` be the ``k`` labels with the largest prior mass and
  ``w_k = e^eps / (e^eps + k - 1) * sum_{y in Y_k} p_y``; take ``k* = argmax_k w_k`` and run
  RR_eps restricted to ``Y_k*``; a true label outside ``Y_k*`` is answered by a uniform
  draw from ``Y_k*``. For every prior it is eps-label-DP: the ratio of the probabilities of
  any output under two true labels is at most ``e^eps``.
"""

from __future__ import annotations

import numbers

import numpy as np

from frugalml._core import check_random_state
from frugalml._core.validation import check_array
from frugalml._core.validation import check_positive


# --------------------------------------------------------------------------- checks
def _check_epsilon(epsilon) -> float:
    return float(check_positive(epsilon, "epsilon"))  # the label-DP privacy budget


def _check_n_classes(n_classes) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}")
    return int(n_classes)


def _check_class_labels(y, n_classes: int, name: str = "y") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices; got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices; got non-integer floats")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class indices 0..n_classes-1; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} must hold class indices in [0, {n_classes - 1}]; got values in "
            f"[{arr.min()}, {arr.max()}] (encode labels with sklearn's LabelEncoder first)"
        )
    return arr


def _check_prior(prior, n_samples: int | None = None, *, atol: float = 1e-6) -> np.ndarray:
    p = check_array(prior, "prior", ndim=None, allow_nonfinite=True)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"prior must be a 2-D array (n_samples, n_classes >= 2); got shape {np.shape(prior)}")
    if n_samples is not None and p.shape[0] != n_samples:
        raise ValueError(f"prior has {p.shape[0]} rows but y has {n_samples} labels; give one prior row per sample")
    if not np.all(np.isfinite(p)):
        raise ValueError("prior contains NaN or infinite values")
    if np.any(p < 0):
        raise ValueError(f"prior must be non-negative; smallest entry is {p.min():.3g}")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > atol)
    if bad.size:
        raise ValueError(
            f"every prior row must sum to 1 (a probability vector); row {bad[0]} sums to {sums[bad[0]]:.6g} "
            f"({bad.size} bad row(s)); normalise with prior / prior.sum(axis=1, keepdims=True)"
        )
    return p


# --------------------------------------------------------------------------- RR
def rr_keep_probability(epsilon, n_classes) -> float:
    """Probability that RR_eps over ``n_classes`` labels returns the true label.

    ``e^eps / (e^eps + K - 1)``; for ``K = 2`` one minus the flip probability ``1/(1+e^eps)``.

    >>> round(rr_keep_probability(1.0, 2), 4)     # binary: 1 - 1/(1+e)
    0.7311
    """
    eps = _check_epsilon(epsilon)
    k = _check_n_classes(n_classes)
    # e^eps / (e^eps + k - 1) written to stay finite for huge eps
    return float(1.0 / (1.0 + (k - 1) * np.exp(-eps)))


def rr_transition_matrix(epsilon, n_classes) -> np.ndarray:
    """``M[y, o] = P(RR_eps outputs o | true label y)``, a ``(K, K)`` row-stochastic matrix."""
    k = _check_n_classes(n_classes)
    keep = rr_keep_probability(epsilon, k)
    M = np.full((k, k), (1.0 - keep) / (k - 1))
    np.fill_diagonal(M, keep)
    return M


def randomized_response(y, epsilon, n_classes, random_state=None) -> np.ndarray:
    """Randomized response: an eps-label-DP noisy copy of integer labels ``y``.

    Each label is kept with probability :func:`rr_keep_probability` and otherwise replaced
    by one of the other ``n_classes - 1`` labels chosen uniformly.

    Parameters
    ----------
    y : array of int, shape (n,)   true labels in ``0..n_classes-1``
    epsilon : float > 0             privacy budget
    n_classes : int >= 2
    random_state : None, int or numpy Generator

    Returns
    -------
    y_noisy : ndarray of int64, shape (n,)
    """
    eps = _check_epsilon(epsilon)
    k = _check_n_classes(n_classes)
    y = _check_class_labels(y, k)
    rng = check_random_state(random_state)
    keep = rng.random(y.shape[0]) < rr_keep_probability(eps, k)
    shift = rng.integers(1, k, size=y.shape[0])          # 1..K-1: uniform over the other labels
    return np.where(keep, y, (y + shift) % k).astype(np.int64)


# --------------------------------------------------------------------------- RR-with-prior
def rr_prior_top_k(prior, epsilon) -> np.ndarray:
    """The ``k*`` of RR-with-prior for each prior row: ``argmax_k e^eps/(e^eps+k-1) * P(top-k)``.

    Ties in ``w_k`` go to the smallest ``k``; ties among prior entries go to the smaller label.
    """
    eps = _check_epsilon(epsilon)
    p = _check_prior(prior)
    return _top_k_and_order(p, eps)[0]


def _top_k_and_order(p: np.ndarray, eps: float):
    order = np.argsort(-p, axis=1, kind="stable")                   # (n, K) labels by prior mass
    mass = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)  # (n, K) P(top-k)
    k = np.arange(1, p.shape[1] + 1)
    w = mass / (1.0 + (k - 1) * np.exp(-eps))                       # w_k = e^eps/(e^eps+k-1) P(top-k)
    k_star = np.argmax(w >= w.max(axis=1, keepdims=True) - 1e-12, axis=1) + 1
    return k_star.astype(np.int64), order


def rr_with_prior(y, prior, epsilon, random_state=None) -> np.ndarray:
    """RR-with-prior (Ghazi et al. 2021, Alg. 2): RR restricted to the prior's best top-``k*``.

    Parameters
    ----------
    y : array of int, shape (n,)   true labels in ``0..K-1``
    prior : array, shape (n, K)    one probability vector per sample (rows sum to 1); it must
        not depend on the sample's own true label (e.g. a model trained on *other* samples)
    epsilon : float > 0
    random_state : None, int or numpy Generator

    Returns
    -------
    y_noisy : ndarray of int64, shape (n,), always inside the sample's top-``k*`` set.

    Notes
    -----
    With a uniform prior ``k* = K`` and this is exactly :func:`randomized_response`.
    """
    eps = _check_epsilon(epsilon)
    arr = np.asarray(y)
    p = _check_prior(prior, n_samples=arr.shape[0] if arr.ndim == 1 else None)
    y = _check_class_labels(y, p.shape[1])
    rng = check_random_state(random_state)
    n = y.shape[0]
    k_star, order = _top_k_and_order(p, eps)
    pos = np.argmax(order == y[:, None], axis=1)                    # rank of the true label
    inside = pos < k_star
    keep_p = 1.0 / (1.0 + (k_star - 1) * np.exp(-eps))             # RR keep prob over k* labels
    u = rng.random(n)
    # inside: keep w.p. keep_p, else uniform over the other k*-1 of the top set
    shift = np.floor(rng.random(n) * np.maximum(k_star - 1, 1)).astype(np.int64) + 1
    other = (pos + shift) % k_star
    out_pos = np.where(u < keep_p, pos, other)
    # outside: uniform over the top set
    uniform_pos = np.floor(rng.random(n) * k_star).astype(np.int64)
    out_pos = np.where(inside, out_pos, uniform_pos)
    out_pos = np.minimum(out_pos, k_star - 1)                       # guard against u == 1.0 rounding
    return order[np.arange(n), out_pos].astype(np.int64)


def rr_with_prior_transition_matrix(prior, epsilon) -> np.ndarray:
    """Exact ``M[y, o] = P(RR-with-prior outputs o | true label y)`` for ONE prior row.

    Used to check the privacy guarantee ``M[y, o] <= e^eps M[y', o]`` exactly.
    """
    eps = _check_epsilon(epsilon)
    p = _check_prior(prior)
    if p.shape[0] != 1:
        raise ValueError(f"prior must be a single row (K,) here; got {p.shape[0]} rows")
    K = p.shape[1]
    k_star, order = _top_k_and_order(p, eps)
    k_star = int(k_star[0])
    top = order[0, :k_star]
    keep = 1.0 / (1.0 + (k_star - 1) * np.exp(-eps))
    M = np.zeros((K, K))
    for y in range(K):
        if y in top:
            M[y, top] = (1.0 - keep) / (k_star - 1) if k_star > 1 else 0.0
            M[y, y] = keep
        else:
            M[y, top] = 1.0 / k_star
    return M
