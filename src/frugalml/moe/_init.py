"""Starting responsibilities for :class:`~frugalml.moe.MixtureOfExperts`.

Each function returns one hard label per sample; the experts then start at their M-step
on that assignment.

Why not k-means on ``[X, y]`` for linear experts: in a symmetric mixture of linear
regressions, ``y = +-<beta, x> + noise`` (the paper's model with ``w = 0``), both experts have
the same joint mean and covariance of ``(x, y)`` up to a sign flip of one cross-covariance, so
the clusters k-means finds are unrelated to the experts; the M-step on them then puts both
experts near zero, the symmetric saddle of the likelihood, and every restart can land there.

The spectral start (Yi, Caramanis & Sanghavi, "Alternating minimization for mixed linear
regression", ICML 2014, Sec. 3; Chaganty & Liang, ICML 2013) uses Stein's identity: for
whitened ``x ~ N(0, I)`` and ``r = <delta, x> + eps``,

.. math:: E[r^2 (x x^\\top - I)] = 2\\,\\delta\\delta^\\top ,

so the top eigenvectors of ``M = (1/n) sum_i r_i^2 (x_i x_i^T - I)``, with ``r`` the residual
of the pooled least-squares fit, span the directions ``delta_k = beta_k - beta_bar`` in which
the experts differ. In that subspace ``U`` the products ``r_i U^T x_i`` have mean
``U^T delta_k`` under expert ``k``; k-means on their directions (rows scaled to unit
length; not on ``[X, y]``) separates the experts: for two symmetric experts it is the sign of
``y <beta_hat, x>``.
"""

from __future__ import annotations

import numpy as np


def _kmeans_labels(Z, k, rng, n_init=1):
    from sklearn.cluster import KMeans

    seed = int(rng.integers(0, 2**31 - 1))
    return KMeans(k, n_init=n_init, random_state=seed).fit(Z).labels_


def kmeans_labels(X, y, k, rng):
    """k-means on the standardised ``[X, y]`` (the sklearn GaussianMixture-style start)."""
    Z = np.column_stack([X, y])
    sd = Z.std(0)
    Z = (Z - Z.mean(0)) / np.where(sd > 0, sd, 1.0)
    return _kmeans_labels(Z, k, rng)


def random_labels(n, k, rng):
    """A uniformly random hard assignment."""
    return rng.integers(0, k, size=n)


def whiten(X, rel_floor=1e-10):
    """Centred ``X`` times ``Sigma^{-1/2}`` on the directions with variance above ``rel_floor * max``."""
    Xc = X - X.mean(0)
    evals, evecs = np.linalg.eigh(Xc.T @ Xc / X.shape[0])  # ascending
    keep = evals > rel_floor * max(evals[-1], 1e-300)
    return Xc @ (evecs[:, keep] / np.sqrt(evals[keep]))  # (n, rank)


def spectral_directions(X, y, n_directions):
    """Whitened design, pooled-OLS residual and the top eigenvectors of the moment matrix ``M``.

    Returns
    -------
    Xw : ndarray (n, r)
        Whitened, centred features (``r`` = numerical rank of ``X``).
    resid : ndarray (n,)
        ``y`` minus its least-squares fit on ``[Xw, 1]``.
    U : ndarray (r, m)
        Top ``m = min(n_directions, r)`` eigenvectors of ``(1/n) sum resid_i^2 (x_i x_i^T - I)``.
    evals : ndarray (m,)
        Their eigenvalues (``2 ||delta||^2`` for two symmetric experts with Gaussian ``x``).
    """
    Xw = whiten(X)
    n, r = Xw.shape
    yc = y - y.mean()
    resid = yc - Xw @ (Xw.T @ yc / n)  # Xw^T Xw / n = I
    r2 = resid * resid
    M = (Xw * r2[:, None]).T @ Xw / n - np.mean(r2) * np.eye(r)  # (r, r), Stein: 2 sum_k pi_k delta_k delta_k^T
    evals, evecs = np.linalg.eigh(M)
    m = max(1, min(n_directions, r))
    return Xw, resid, evecs[:, ::-1][:, :m], evals[::-1][:m]


def spectral_labels(X, y, k, rng):
    """Hard labels from k-means on ``resid_i * U^T x_i`` in the spectral subspace (module docstring)."""
    Xw, resid, U, _ = spectral_directions(X, y, k - 1)
    Z = resid[:, None] * (Xw @ U)  # (n, m): mean U^T delta_k under expert k
    # unit rows: the products are heavy-tailed (k-means would cut off a tail, not split the
    # experts); on the sphere, two symmetric experts become exactly the sign of y <beta_hat, x>
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z = Z / np.where(norms > 0, norms, 1.0)
    return _kmeans_labels(Z, k, rng, n_init=3)
