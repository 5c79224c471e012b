"""The paper's data: Gaussian-mixture pairs (sample, augmentation) and two-modality pairs.

Reference: Bansal, Kavis & Sanghavi (arXiv:2411.03517), the GMM setting. An *augmentation* of a
sample ``x ~ N(mu_z, Sigma)`` is another independent draw ``x+ ~ N(mu_z', Sigma)`` where
``z' = z`` with probability ``1 - delta`` and ``z'`` is one of the *other* components
otherwise (noisy augmentation; ``delta = 0`` is the clean case).

Every generator here is also a *pair sampler*: calling it as ``sampler(n, rng)`` returns
``(X, X_pos)``, the form :meth:`InfoNCEProjection.fit_stream` draws fresh pairs from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frugalml._core import check_array, check_labels, check_positive, check_random_state
from frugalml.contrastive.subspace import _check_covariance, _check_weights, fisher_subspace


def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) or not 0 <= delta <= 1:
        raise ValueError(f"delta must be a probability in [0, 1]; got {delta!r}")
    return float(delta)


def _check_n(n, name="n_samples") -> int:
    check_positive(n, name, integer=True)
    return int(n)


def _random_non_isotropic(n_features, n_noise_directions, noise_std, rng) -> np.ndarray:
    """``I + (noise_std^2 - 1) U U^T`` with ``U`` random orthonormal ``(d, m)``."""
    if not 0 <= n_noise_directions <= n_features:
        raise ValueError(f"n_noise_directions must be in [0, n_features={n_features}]; got {n_noise_directions}")
    U, _ = np.linalg.qr(rng.standard_normal((n_features, max(n_noise_directions, 1))))
    U = U[:, :n_noise_directions]
    return np.eye(n_features) + (noise_std**2 - 1.0) * U @ U.T


def _random_means(n_components, n_features, mean_norm, rng) -> np.ndarray:
    M = rng.standard_normal((n_components, n_features))
    return mean_norm * M / np.linalg.norm(M, axis=1, keepdims=True)


@dataclass
class PairSample:
    """Pairs drawn from a mixture: ``X[i]`` and its augmentation ``X_pos[i]`` with their components."""

    X: np.ndarray  # (n, d)
    X_pos: np.ndarray  # (n, d)
    z: np.ndarray  # (n,) component of X
    z_pos: np.ndarray  # (n,) component of X_pos (== z unless the augmentation was noisy)


class GaussianMixturePairs:
    """A Gaussian mixture with a shared covariance that samples (sample, augmentation) pairs.

    Parameters
    ----------
    means : array-like of shape (K, d)
    covariance : array-like of shape (d, d)
        Shared, symmetric positive-definite component covariance ``Sigma``.
    weights : array-like of shape (K,), optional
        Mixing weights (uniform by default).
    delta : float in [0, 1], default 0
        Augmentation noise: the positive comes from a *different* component with
        probability ``delta`` (drawn by the weights among the other components).

    Examples
    --------
    >>> gm = GaussianMixturePairs.random(n_components=4, n_features=20, random_state=0)
    >>> pairs = gm.sample(500, random_state=1)
    >>> pairs.X.shape, gm.fisher_subspace().shape
    ((500, 20), (3, 20))
    """

    def __init__(self, means, covariance, weights=None, delta: float = 0.0):
        self.means = check_array(means, "means")
        K, d = self.means.shape
        if K < 2:
            raise ValueError(f"means needs at least 2 components; got {K}")
        self.covariance = _check_covariance(covariance, d)
        self.weights = _check_weights(weights, K)
        self.delta = _check_delta(delta)
        self._chol = np.linalg.cholesky(self.covariance)

    @classmethod
    def random(cls, n_components: int = 4, n_features: int = 20, *, mean_norm: float = 3.0,
               n_noise_directions: int = 3, noise_std: float = 5.0, delta: float = 0.0, random_state=None):
        """The paper-style setting: means of norm ``mean_norm`` in random directions and
        ``Sigma = I + (noise_std^2 - 1) U U^T`` with ``n_noise_directions`` random
        high-variance directions ``U`` (which PCA picks up instead of the means)."""
        check_positive(n_components, "n_components", integer=True)
        check_positive(n_features, "n_features", integer=True)
        check_positive(mean_norm, "mean_norm")
        check_positive(noise_std, "noise_std")
        if n_components < 2:
            raise ValueError(f"n_components must be >= 2; got {n_components}")
        rng = check_random_state(random_state)
        means = _random_means(n_components, n_features, mean_norm, rng)
        cov = _random_non_isotropic(n_features, n_noise_directions, noise_std, rng)
        return cls(means, cov, delta=delta)

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def fisher_subspace(self) -> np.ndarray:
        """Orthonormal ``(K - 1, d)`` basis of ``span{Sigma^{-1}(mu_k - mu_bar)}``."""
        return fisher_subspace(self.means, self.covariance, self.weights)

    def sample_components(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` labelled points (no pairs): ``(X, z)``."""
        n = _check_n(n)
        rng = check_random_state(random_state)
        z = rng.choice(self.n_components, size=n, p=self.weights)
        return self._draw(z, rng), z

    def sample(self, n: int, random_state=None) -> PairSample:
        """Draw ``n`` pairs; ``z_pos`` differs from ``z`` with probability ``delta``."""
        n = _check_n(n)
        rng = check_random_state(random_state)
        z = rng.choice(self.n_components, size=n, p=self.weights)
        z_pos = z.copy()
        noisy = np.flatnonzero(rng.random(n) < self.delta)
        for i in noisy:  # another component, chosen by the weights among the others
            p = self.weights.copy()
            p[z[i]] = 0.0
            if p.sum() == 0:
                raise ValueError("delta > 0 needs at least two components with positive weight")
            z_pos[i] = rng.choice(self.n_components, p=p / p.sum())
        return PairSample(self._draw(z, rng), self._draw(z_pos, rng), z, z_pos)

    def __call__(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Pair-sampler protocol: ``(X, X_pos)`` of ``n`` fresh pairs."""
        s = self.sample(n, rng)
        return s.X, s.X_pos

    def _draw(self, z, rng) -> np.ndarray:
        noise = rng.standard_normal((z.shape[0], self.n_features)) @ self._chol.T  # (n, d) ~ N(0, Sigma)
        return self.means[z] + noise


@dataclass
class ModalitySample:
    """Paired draws ``(X[i], Y[i])`` sharing the component ``z[i]``; ``b`` is X's private latent."""

    X: np.ndarray  # (n, d_x)
    Y: np.ndarray  # (n, d_y)
    z: np.ndarray  # (n,) shared component
    b: np.ndarray  # (n,) private +-1 sign of X's private shift


class TwoModalityMixturePairs:
    """Two modalities generated from one shared component ``z`` (the CLIP setting).

    ``x = mu_z + b v + eps_x`` and ``y = nu_z + eps_y`` with ``eps_x ~ N(0, Sigma_x)``,
    ``eps_y ~ N(0, Sigma_y)`` and a *private* sign ``b = +-1`` (independent of ``z`` and of
    ``y``) that splits every x-component into two clusters along ``v``. Nothing in ``y``
    predicts ``b``, so CLIP should treat ``b v`` as noise: its x-encoder should span the
    *shared* Fisher subspace ``span{Sigma_eff^{-1}(mu_k - mu_bar)}`` with
    ``Sigma_eff = Sigma_x + v v^T`` (the covariance of ``x`` given ``z``), not a subspace
    that keeps the private clusters.

    Parameters
    ----------
    means_x : (K, d_x), means_y : (K, d_y), covariance_x : (d_x, d_x), covariance_y : (d_y, d_y)
    private_shift : array-like of shape (d_x,), optional
        ``v``; ``None`` means no private structure.
    weights : (K,), optional
    """

    def __init__(self, means_x, means_y, covariance_x, covariance_y, private_shift=None, weights=None):
        self.means_x = check_array(means_x, "means_x")
        self.means_y = check_array(means_y, "means_y")
        if self.means_x.shape[0] != self.means_y.shape[0]:
            raise ValueError(f"means_x and means_y need the same number of components; got "
                             f"{self.means_x.shape[0]} and {self.means_y.shape[0]}")
        K = self.means_x.shape[0]
        if K < 2:
            raise ValueError(f"need at least 2 components; got {K}")
        self.covariance_x = _check_covariance(covariance_x, self.means_x.shape[1], "covariance_x")
        self.covariance_y = _check_covariance(covariance_y, self.means_y.shape[1], "covariance_y")
        if private_shift is None:
            private_shift = np.zeros(self.means_x.shape[1])
        self.private_shift = check_array(private_shift, "private_shift", ndim=1)
        if self.private_shift.shape != (self.means_x.shape[1],):
            raise ValueError(f"private_shift must have shape ({self.means_x.shape[1]},); got {self.private_shift.shape}")
        self.weights = _check_weights(weights, K)
        self._chol_x = np.linalg.cholesky(self.covariance_x)
        self._chol_y = np.linalg.cholesky(self.covariance_y)

    @classmethod
    def random(cls, n_components: int = 4, n_features_x: int = 20, n_features_y: int = 16, *,
               mean_norm: float = 3.0, n_noise_directions: int = 3, noise_std: float = 5.0,
               private_norm: float = 4.0, random_state=None):
        """Random instance: paper-style non-isotropic noise in both modalities and a private
        shift of norm ``private_norm`` in a random direction of x."""
        rng = check_random_state(random_state)
        check_positive(private_norm, "private_norm", strict=False)
        mx = _random_means(n_components, n_features_x, mean_norm, rng)
        my = _random_means(n_components, n_features_y, mean_norm, rng)
        cx = _random_non_isotropic(n_features_x, n_noise_directions, noise_std, rng)
        cy = _random_non_isotropic(n_features_y, n_noise_directions, noise_std, rng)
        v = rng.standard_normal(n_features_x)
        v *= private_norm / np.linalg.norm(v)
        return cls(mx, my, cx, cy, private_shift=v)

    @property
    def n_components(self) -> int:
        return self.means_x.shape[0]

    def effective_covariance_x(self) -> np.ndarray:
        """``Sigma_x + v v^T``: the covariance of x given the shared component."""
        v = self.private_shift
        return self.covariance_x + np.outer(v, v)

    def shared_fisher_subspace_x(self) -> np.ndarray:
        """The target for CLIP's x-encoder: Fisher subspace of the shared means under ``Sigma_eff``."""
        return fisher_subspace(self.means_x, self.effective_covariance_x(), self.weights)

    def shared_fisher_subspace_y(self) -> np.ndarray:
        """The target for CLIP's y-encoder: ``span{Sigma_y^{-1}(nu_k - nu_bar)}``."""
        return fisher_subspace(self.means_y, self.covariance_y, self.weights)

    def naive_fisher_subspace_x(self) -> np.ndarray:
        """What x alone suggests: the top ``K - 1`` Fisher directions of x's own ``2K``
        clusters ``(z, b)`` (means ``mu_z +- v``, covariance ``Sigma_x``), i.e. the leading
        generalised eigenvectors of ``Sigma_b w = lambda Sigma_x w``. With a strong private
        shift it keeps the private direction and drops a shared one."""
        import scipy.linalg

        K = self.n_components
        v = self.private_shift
        means = np.vstack([self.means_x + v, self.means_x - v])  # (2K, d_x)
        w = np.concatenate([self.weights, self.weights]) / 2
        C = means - w @ means
        Sb = (C * w[:, None]).T @ C  # (d_x, d_x) between-cluster scatter
        vals, vecs = scipy.linalg.eigh(Sb, self.covariance_x)
        top = vecs[:, np.argsort(vals)[::-1][: K - 1]]  # (d_x, K - 1)
        q, _ = np.linalg.qr(top)
        return q.T

    def sample(self, n: int, random_state=None) -> ModalitySample:
        """Draw ``n`` pairs ``(x, y)`` that share a component."""
        n = _check_n(n)
        rng = check_random_state(random_state)
        z = rng.choice(self.n_components, size=n, p=self.weights)
        b = rng.choice(np.array([-1.0, 1.0]), size=n)
        X = self.means_x[z] + b[:, None] * self.private_shift + rng.standard_normal((n, self.means_x.shape[1])) @ self._chol_x.T
        Y = self.means_y[z] + rng.standard_normal((n, self.means_y.shape[1])) @ self._chol_y.T
        return ModalitySample(X, Y, z, b)

    def __call__(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Pair-sampler protocol: ``(X, Y)`` of ``n`` fresh pairs."""
        s = self.sample(n, rng)
        return s.X, s.Y


class SameClassPairs:
    """Pair sampler for labelled data: the positive of a sample is another sample of its class.

    This is the paper's real-data protocol ("augmentation = another image of the same
    class"). Calling ``sampler(n, rng)`` draws ``n`` anchors uniformly and, for each, a
    different random sample of the same class (a class with one sample pairs it with itself).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Integer class labels, used only to form positives.
    """

    def __init__(self, X, y):
        self.X = check_array(X, "X")
        self.y = check_labels(y, self.X.shape[0], "y")
        classes, inverse = np.unique(self.y, return_inverse=True)
        self._members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
        self._class_of = inverse

    def pair_indices(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(i, j)`` with ``y[i] == y[j]`` and ``i != j`` where the class allows it."""
        n = _check_n(n, "n")
        rng = check_random_state(random_state)
        i = rng.integers(0, self.X.shape[0], size=n)
        j = np.empty_like(i)
        for c, members in enumerate(self._members):
            sel = np.flatnonzero(self._class_of[i] == c)
            if sel.size == 0:
                continue
            if members.size == 1:
                j[sel] = members[0]
                continue
            # draw among the other members: offset the anchor's position by 1..m-1 (mod m)
            pos = np.searchsorted(members, i[sel])
            off = rng.integers(1, members.size, size=sel.size)
            j[sel] = members[(pos + off) % members.size]
        return i, j

    def __call__(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        i, j = self.pair_indices(n, rng)
        return self.X[i], self.X[j]


__all__ = ["GaussianMixturePairs", "ModalitySample", "PairSample", "SameClassPairs", "TwoModalityMixturePairs"]
