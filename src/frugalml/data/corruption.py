"""Label noise with an exact count and feature corruption of images.

Every function returns new arrays plus the indices it corrupted, and never changes
its input in place.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_array, check_labels


def _n_corrupt(rate: float, n: int, name: str = "rate") -> int:
    if not 0 <= rate <= 1:
        raise ValueError(f"{name} must be in [0, 1]; got {rate}")
    return int(round(rate * n))


def symmetric_label_noise(y, rate: float, n_classes: int | None = None, random_state=None):
    """Flip exactly ``round(rate * n)`` labels, each to a uniformly chosen *different* class.

    Returns ``(y_noisy, flipped_indices)``.
    """
    y = check_labels(y, len(np.asarray(y)))
    n_classes = int(n_classes or y.max() + 1)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2 for label noise; got {n_classes}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}); got range [{y.min()}, {y.max()}]")
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(len(y), _n_corrupt(rate, len(y)), replace=False))
    shift = rng.integers(1, n_classes, size=idx.size)  # never 0: the label always changes
    y_noisy = y.copy()
    y_noisy[idx] = (y[idx] + shift) % n_classes
    return y_noisy, idx


def asymmetric_label_noise(y, rate: float, n_classes: int | None = None, random_state=None):
    """Flip exactly ``round(rate * n)`` labels from class ``i`` to ``(i + 1) mod C``.

    Concentrated noise: all mislabelled points of a class come from one other class, which
    shifts the class mean (unlike symmetric noise with many classes).
    """
    y = check_labels(y, len(np.asarray(y)))
    n_classes = int(n_classes or y.max() + 1)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}); got range [{y.min()}, {y.max()}]")
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(len(y), _n_corrupt(rate, len(y)), replace=False))
    y_noisy = y.copy()
    y_noisy[idx] = (y[idx] + 1) % n_classes
    return y_noisy, idx


def gaussian_noise(images, std: float = 0.5, random_state=None):
    """Add N(0, std^2) pixel noise and clip to [0, 1]. ``images``: (m, H, W)."""
    rng = check_random_state(random_state)
    return np.clip(images + rng.normal(0.0, std, size=images.shape), 0.0, 1.0)


def occlusion(images, size: float = 0.5, random_state=None):
    """Black out one random square of side ``size * min(H, W)`` per image."""
    rng = check_random_state(random_state)
    out = images.copy()
    m, H, W = images.shape
    s = max(1, int(round(size * min(H, W))))
    rows = rng.integers(0, H - s + 1, size=m)
    cols = rng.integers(0, W - s + 1, size=m)
    for i in range(m):  # m is the number of corrupted images only
        out[i, rows[i]:rows[i] + s, cols[i]:cols[i] + s] = 0.0
    return out


def resolution_loss(images, factor: int = 4, random_state=None):
    """Down-sample by block averaging ``factor x factor`` and up-sample back (nearest)."""
    m, H, W = images.shape
    if factor < 1:
        raise ValueError(f"factor must be >= 1; got {factor}")
    Hc, Wc = (H // factor) * factor, (W // factor) * factor
    blocks = images[:, :Hc, :Wc].reshape(m, Hc // factor, factor, Wc // factor, factor).mean(axis=(2, 4))
    out = images.copy()
    out[:, :Hc, :Wc] = np.repeat(np.repeat(blocks, factor, axis=1), factor, axis=2)
    return out


_CORRUPTIONS = {"gaussian_noise": gaussian_noise, "occlusion": occlusion, "resolution_loss": resolution_loss}


def corrupt_features(X, image_shape, rate: float, kind="mixed", random_state=None):
    """Corrupt exactly ``round(rate * n)`` images of ``X`` (rows are flattened images).

    ``kind`` is one of ``"gaussian_noise"``, ``"occlusion"``, ``"resolution_loss"`` or
    ``"mixed"`` (each corrupted image gets one of the three, in equal shares).
    Returns ``(X_corrupted, corrupted_indices)``.
    """
    X = check_array(X, "X")
    if kind != "mixed" and kind not in _CORRUPTIONS:
        raise ValueError(f"kind must be 'mixed' or one of {sorted(_CORRUPTIONS)}; got {kind!r}")
    if int(np.prod(image_shape)) != X.shape[1]:
        raise ValueError(f"image_shape {tuple(image_shape)} does not match X with {X.shape[1]} columns")
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(len(X), _n_corrupt(rate, len(X)), replace=False))
    out = X.copy()
    kinds = list(_CORRUPTIONS) if kind == "mixed" else [kind]
    parts = np.array_split(rng.permutation(idx), len(kinds))
    for name, part in zip(kinds, parts):
        if part.size:
            imgs = X[part].reshape(-1, *image_shape)
            out[part] = _CORRUPTIONS[name](imgs, random_state=rng).reshape(part.size, -1)
    return out.astype(X.dtype), idx
