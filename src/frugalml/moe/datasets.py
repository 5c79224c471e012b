"""Synthetic mixtures of experts from the paper: symmetric two-expert and general K."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_option, check_positive, check_scalar

# beyond ~1e12 the smallest eigenvalue is lost to float64 rounding and the covariance is not
# numerically positive definite
MAX_CONDITION = 1e12


@dataclass
class SyntheticMoE:
    """Samples and the true parameters, in :class:`MixtureOfExperts`' parametrisation.

    ``gate_coef`` (K, d) has a zero last row; ``expert_coef`` is (K, d) for linear and
    logistic experts, (K, C, d) for softmax ones. For the symmetric model ``beta`` and
    ``w`` are the paper's parameters (``gate_coef = [2 w, 0]``, ``expert_coef = [beta, -beta]``).
    """

    X: np.ndarray
    y: np.ndarray
    z: np.ndarray
    gate_coef: np.ndarray
    expert_coef: np.ndarray
    covariance: np.ndarray
    beta: np.ndarray | None = None
    w: np.ndarray | None = None


def _unit(rng, d):
    v = rng.normal(size=d)
    return v / np.linalg.norm(v)


def _covariance(rng, d, condition_number):
    """``Q diag(geomspace(1, 1/cond, d)) Q^T`` with a random rotation ``Q``."""
    if condition_number == 1.0:
        return np.eye(d)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (Q * np.geomspace(1.0, 1.0 / condition_number, d)) @ Q.T


def _sample_x(rng, n, cov):
    L = np.linalg.cholesky(cov)
    return rng.normal(size=(n, cov.shape[0])) @ L.T


def make_symmetric_moe(n_samples=10_000, n_features=10, *, beta_norm=2.0, w_norm=1.0, expert="linear",
                       noise_std=1.0, condition_number=1.0, random_state=None):
    """The paper's symmetric mixture of two linear (or logistic) experts.

    ``x ~ N(0, Sigma)`` (``Sigma = I`` unless ``condition_number > 1``), ``z = 1`` with
    probability ``sigmoid(2 x.w)``; linear: ``y = (+-) x.beta + noise_std * eps``;
    logistic: ``P(y = 1 | x, z) = sigmoid((+-) x.beta)``. ``||beta|| = beta_norm`` and
    ``||w|| = w_norm`` (random directions); ``beta_norm / noise_std`` is the SNR.
    """
    check_option(expert, ("linear", "logistic"), "expert")
    check_positive(n_samples, "n_samples", integer=True)
    check_positive(n_features, "n_features", integer=True)
    check_positive(beta_norm, "beta_norm", strict=False)
    check_positive(w_norm, "w_norm", strict=False)
    check_positive(noise_std, "noise_std")
    check_scalar(condition_number, "condition_number", low=1, high=MAX_CONDITION)
    rng = check_random_state(random_state)
    beta = beta_norm * _unit(rng, n_features)
    w = w_norm * _unit(rng, n_features)
    cov = _covariance(rng, n_features, float(condition_number))
    X = _sample_x(rng, n_samples, cov)
    first = rng.random(n_samples) < 1.0 / (1.0 + np.exp(-2.0 * (X @ w)))
    sign = np.where(first, 1.0, -1.0)
    if expert == "linear":
        y = sign * (X @ beta) + noise_std * rng.normal(size=n_samples)
    else:
        y = (rng.random(n_samples) < 1.0 / (1.0 + np.exp(-sign * (X @ beta)))).astype(np.int64)
    gate = np.vstack([2.0 * w, np.zeros(n_features)])
    return SyntheticMoE(X, y, np.where(first, 0, 1), gate, np.vstack([beta, -beta]), cov, beta, w)


def make_moe(n_samples=10_000, n_features=10, n_experts=3, *, expert="linear", n_classes=3, beta_norm=2.0,
             w_norm=1.0, noise_std=1.0, condition_number=1.0, random_state=None):
    """A general mixture of ``n_experts`` experts with a softmax gate (last gate row zero).

    Gate rows and expert coefficients are random directions scaled to ``w_norm`` and
    ``beta_norm``. ``expert`` in "linear", "logistic" (labels 0/1) or "softmax"
    (``n_classes`` labels, last class row of each expert zero).
    """
    check_option(expert, ("linear", "logistic", "softmax"), "expert")
    check_positive(n_samples, "n_samples", integer=True)
    check_positive(n_features, "n_features", integer=True)
    check_positive(n_experts, "n_experts", integer=True)
    check_positive(noise_std, "noise_std")
    check_positive(beta_norm, "beta_norm", strict=False)
    check_positive(w_norm, "w_norm", strict=False)
    check_scalar(condition_number, "condition_number", low=1, high=MAX_CONDITION)
    check_scalar(n_classes, "n_classes", integer=True, low=2)
    rng = check_random_state(random_state)
    K, d = n_experts, n_features
    gate = np.vstack([w_norm * _unit(rng, d) for _ in range(K - 1)] + [np.zeros(d)])
    cov = _covariance(rng, d, float(condition_number))
    X = _sample_x(rng, n_samples, cov)
    logit = X @ gate.T  # (n, K)
    pi = np.exp(logit - logit.max(1, keepdims=True))
    pi /= pi.sum(1, keepdims=True)
    z = (rng.random((n_samples, 1)) > np.cumsum(pi, axis=1)).sum(1)  # (n,)
    z = np.minimum(z, K - 1)
    if expert == "linear":
        B = np.vstack([beta_norm * _unit(rng, d) for _ in range(K)])
        y = np.einsum("nd,nd->n", X, B[z]) + noise_std * rng.normal(size=n_samples)
    elif expert == "logistic":
        B = np.vstack([beta_norm * _unit(rng, d) for _ in range(K)])
        y = (rng.random(n_samples) < 1.0 / (1.0 + np.exp(-np.einsum("nd,nd->n", X, B[z])))).astype(np.int64)
    else:
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2 for softmax experts; got {n_classes}")
        B = np.zeros((K, n_classes, d))
        for k in range(K):
            for c in range(n_classes - 1):
                B[k, c] = beta_norm * _unit(rng, d)
        L = np.einsum("nd,ncd->nc", X, B[z])  # (n, C)
        P = np.exp(L - L.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        y = (rng.random((n_samples, 1)) > np.cumsum(P, axis=1)).sum(1)
        y = np.minimum(y, n_classes - 1).astype(np.int64)
    return SyntheticMoE(X, y, z, gate, B, cov)
