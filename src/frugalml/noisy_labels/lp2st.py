"""LP-2ST: two-stage label-DP training with RR-with-prior (Ghazi et al. 2021, Alg. 3, T = 2).

Split the training set in two. Stage 1 releases the first part's labels with plain RR_eps and
trains a model on them. Stage 2 uses that model's predicted class probabilities as the prior
for RR-with-prior on the second part, whose labels are therefore much less noisy. Every true
label is queried exactly once by an eps-label-DP mechanism whose prior does not depend on it,
so the released labels are eps-label-DP; the final model, trained on all released labels, is
post-processing. Das et al. (2025) note that consensus-based retraining can be run on top of
these labels at no extra privacy cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from frugalml._core import check_array, check_random_state
from frugalml._core.validation import check_scalar
from frugalml.noisy_labels.mechanisms import (
    _check_class_labels,
    _check_epsilon,
    _check_n_classes,
    randomized_response,
    rr_with_prior,
    _top_k_and_order,
)


@dataclass
class LP2STResult:
    """What :func:`lp_2st` returns.

    Attributes
    ----------
    estimator : the final model, trained from scratch on every released label
    stage1_estimator : the model trained on the stage-1 labels (the stage-2 prior)
    y_private : ndarray (n,)   released eps-label-DP labels (the only labels a learner may use)
    stage : ndarray (n,)       1 or 2: the stage that released each label
    top_k : ndarray (n,)       ``k*`` of RR-with-prior (``n_classes`` for stage-1 samples)
    epsilon : float
    """

    estimator: object
    stage1_estimator: object
    y_private: np.ndarray
    stage: np.ndarray
    top_k: np.ndarray
    epsilon: float


def class_probabilities(estimator, X, n_classes: int) -> np.ndarray:
    """``estimator.predict_proba(X)`` placed into ``n_classes`` columns (labels ``0..K-1``),
    rows renormalised to sum to 1 (a class the model never saw gets probability 0)."""
    P = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    out = np.zeros((P.shape[0], n_classes))
    out[:, np.asarray(estimator.classes_, dtype=np.int64)] = P
    out = np.clip(out, 0.0, None)
    return out / out.sum(axis=1, keepdims=True)


def lp_2st(estimator, X, y, epsilon, *, n_classes=None, stage1_fraction=0.5, random_state=None) -> LP2STResult:
    """Two-stage label-DP training (LP-2ST) with RR then RR-with-prior.

    Parameters
    ----------
    estimator : scikit-learn classifier with ``predict_proba`` (cloned, never modified)
    X : array (n, d)
    y : array of int (n,)   TRUE labels in ``0..n_classes-1`` (only released through the mechanisms)
    epsilon : float > 0     label-DP budget of each released label
    n_classes : int, default ``max(y) + 1``
    stage1_fraction : float in (0, 1)   share of the samples released in stage 1
    random_state : None, int or numpy Generator

    Returns
    -------
    LP2STResult

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_digits(return_X_y=True)
    >>> res = lp_2st(LogisticRegression(C=0.05, max_iter=500), X / 16, y, epsilon=1.0, random_state=0)
    >>> bool((res.y_private == y)[res.stage == 2].mean() > (res.y_private == y)[res.stage == 1].mean())
    True
    """
    eps = _check_epsilon(epsilon)
    X = check_array(X, "X")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}); got shape {y_arr.shape}")
    if n_classes is None:
        n_classes = int(np.max(y_arr)) + 1 if y_arr.size else 2
    K = _check_n_classes(n_classes)
    y = _check_class_labels(y_arr, K)
    stage1_fraction = check_scalar(stage1_fraction, "stage1_fraction", low=0, high=1, low_inclusive=False,
                                   high_inclusive=False)
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(f"estimator must have predict_proba (its output is the stage-2 prior); "
                         f"{type(estimator).__name__} has none")
    rng = check_random_state(random_state)
    n = X.shape[0]
    n1 = int(round(stage1_fraction * n))
    if n1 < 2 or n - n1 < 1:
        raise ValueError(f"stage1_fraction={stage1_fraction} leaves an empty stage for {n} samples")
    perm = rng.permutation(n)
    s1, s2 = perm[:n1], perm[n1:]

    y_private = np.empty(n, dtype=np.int64)
    stage = np.empty(n, dtype=np.int64)
    top_k = np.full(n, K, dtype=np.int64)
    y_private[s1] = randomized_response(y[s1], eps, K, random_state=rng)
    stage[s1], stage[s2] = 1, 2
    first = clone(estimator).fit(X[s1], y_private[s1])
    prior = class_probabilities(first, X[s2], K)
    y_private[s2] = rr_with_prior(y[s2], prior, eps, random_state=rng)
    top_k[s2] = _top_k_and_order(prior, eps)[0]
    final = clone(estimator).fit(X, y_private)
    return LP2STResult(estimator=final, stage1_estimator=first, y_private=y_private, stage=stage, top_k=top_k,
                       epsilon=eps)
