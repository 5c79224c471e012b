"""The binary setting of Das et al. (2025), Section 3: retraining a linear classifier.

Data: ``x = y (1 + u) mu + P z`` with ``y = +-1`` equiprobable, ``u ~ Uniform[0, u_max]``,
``z ~ N(0, I_d)`` and ``P = I - mu mu^T / ||mu||^2`` (so the classes are linearly separable by
``mu`` with margin ``||mu||``, the paper's separable setting). Given labels are flipped
independently with probability ``p < 1/2``.

Estimators (no training loop):

* ``theta_0 = (1/n) sum_j yhat_j x_j`` (trained on the given labels);
* full RT: ``theta_1 = (1/n) sum_j ytilde_j x_j`` with ``ytilde_j = sign(<theta_0, x_j>)``;
* consensus RT: the same sum restricted to ``{j : ytilde_j == yhat_j}``.

Population accuracy of a direction ``theta`` has a closed form:
``P(y <theta, x> > 0) = E_u Phi((1 + u) <theta, mu> / ||P theta||)``.
The paper proves ``acc(theta_1) > acc(theta_0)`` when ``p`` is near 1/2 and ``n`` lies in a
window of roughly ``d/(1-2p)^2 <~ n <~ d^2/(1-2p)^2``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from frugalml._core import check_random_state


def sample_separable(n: int, mu, *, u_max: float = 1.0, random_state=None):
    """Draw ``n`` points ``(X, y)`` of the separable binary model (``y`` in {-1, +1})."""
    rng = check_random_state(random_state)
    mu = np.asarray(mu, dtype=np.float64)
    d = mu.shape[0]
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    u = rng.uniform(0.0, u_max, size=n)
    Z = rng.standard_normal((n, d))
    m = mu / np.linalg.norm(mu)
    Z -= np.outer(Z @ m, m)                      # P z: remove the component along mu
    X = (y * (1.0 + u))[:, None] * mu[None, :] + Z
    return X, y


def population_accuracy(theta, mu, *, u_max: float = 1.0, n_nodes: int = 64) -> float:
    """Exact ``P(y <theta, x> > 0)`` under the model (Gauss-Legendre over ``u``)."""
    theta = np.asarray(theta, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    m = mu / np.linalg.norm(mu)
    a = float(theta @ mu)
    b = float(np.linalg.norm(theta - (theta @ m) * m))
    if b == 0.0:
        return 1.0 if a > 0 else (0.5 if a == 0 else 0.0)
    if u_max == 0:
        return float(ndtr(a / b))
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    u = 0.5 * u_max * (nodes + 1.0)
    return float(0.5 * np.sum(weights * ndtr((1.0 + u) * a / b)))


def simulate_retraining(n: int, d: int, p: float, *, mu_norm: float = 1.0, u_max: float = 1.0, random_state=None):
    """One draw: population accuracies of ``theta_0``, full RT and consensus RT.

    Returns a dict with ``acc_initial``, ``acc_full``, ``acc_consensus``, ``consensus_fraction``
    and ``consensus_label_accuracy`` (share of consensus labels that equal the true label).
    """
    if not 0 <= p < 0.5:
        raise ValueError(f"p (flip probability) must be in [0, 0.5); got {p!r}")
    rng = check_random_state(random_state)
    mu = np.zeros(d)
    mu[0] = mu_norm
    X, y = sample_separable(n, mu, u_max=u_max, random_state=rng)
    y_hat = np.where(rng.random(n) < p, -y, y)
    theta0 = (y_hat @ X) / n
    y_tilde = np.where(X @ theta0 >= 0, 1.0, -1.0)
    theta1 = (y_tilde @ X) / n
    S = y_tilde == y_hat
    theta_c = (y_hat[S] @ X[S]) / max(int(S.sum()), 1)
    return {
        "acc_initial": population_accuracy(theta0, mu, u_max=u_max),
        "acc_full": population_accuracy(theta1, mu, u_max=u_max),
        "acc_consensus": population_accuracy(theta_c, mu, u_max=u_max),
        "consensus_fraction": float(S.mean()),
        "consensus_label_accuracy": float((y_hat[S] == y[S]).mean()) if S.any() else float("nan"),
    }
