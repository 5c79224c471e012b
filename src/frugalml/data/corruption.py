"""Label noise with an exact count and feature corruption of images.

Every function returns new arrays plus the indices it corrupted, and never changes
its input in place.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_array, check_fraction, check_labels, check_option, check_scalar


def _n_corrupt(rate: float, n: int, name: str = "rate") -> int:
    rate = check_fraction(rate, name, allow_zero=True)
    return int(round(rate * n))


def _check_noise_labels(y, n_classes):
    y = check_labels(y)
    if y.size == 0:
        raise ValueError("y must hold at least one label; got an empty array")
    n_classes = check_scalar(n_classes, "n_classes", integer=True, low=2, allow_none=True)
    n_classes = int(n_classes if n_classes is not None else y.max() + 1)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2 for label noise (a flipped label must change); got {n_classes} "
                         "(y holds a single class)")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must lie in [0, n_classes={n_classes}); got range [{y.min()}, {y.max()}]")
    return y, n_classes


def _check_images(images, name: str = "images"):
    return check_array(images, name, ndim=3)


def symmetric_label_noise(y, rate: float, n_classes: int | None = None, random_state=None):
    """Flip exactly ``round(rate * n)`` labels, each to a uniformly chosen *different* class.

    Returns ``(y_noisy, flipped_indices)``.
    """
    y, n_classes = _check_noise_labels(y, n_classes)
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
    y, n_classes = _check_noise_labels(y, n_classes)
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(len(y), _n_corrupt(rate, len(y)), replace=False))
    y_noisy = y.copy()
    y_noisy[idx] = (y[idx] + 1) % n_classes
    return y_noisy, idx


def gaussian_noise(images, std: float = 0.5, random_state=None):
    """Add N(0, std^2) pixel noise and clip to [0, 1]. ``images``: (m, H, W)."""
    images = _check_images(images)
    std = check_scalar(std, "std", low=0)
    rng = check_random_state(random_state)
    return np.clip(images + rng.normal(0.0, std, size=images.shape), 0.0, 1.0)


def occlusion(images, size: float = 0.5, random_state=None):
    """Black out one random square of side ``size * min(H, W)`` per image."""
    images = _check_images(images)
    size = check_fraction(size, "size")
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
    images = _check_images(images)
    factor = check_scalar(factor, "factor", integer=True, low=1)
    m, H, W = images.shape
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
    Pixels are in [0, 1] for float ``X``; integer ``X`` (e.g. uint8 images, 0..255) is
    corrupted on the same [0, 1] scale (divided by the dtype's maximum) and returned in its
    own dtype and range, rounded, so corrupted and clean rows stay comparable.
    Returns ``(X_corrupted, corrupted_indices)``.
    """
    raw = np.asarray(X) if not isinstance(X, (str, bytes)) and X is not None else X
    integer = getattr(raw, "dtype", np.dtype(float)).kind in "iu"
    X = check_array(X, "X")
    check_option(kind, ("mixed", *_CORRUPTIONS), "kind")
    try:
        image_shape = tuple(check_scalar(s, "image_shape", integer=True, low=1) for s in image_shape)
    except TypeError:
        raise ValueError(f"image_shape must be a (height, width) pair; got {image_shape!r}") from None
    if len(image_shape) != 2 or int(np.prod(image_shape)) != X.shape[1]:
        raise ValueError(f"image_shape {image_shape} does not match X with {X.shape[1]} columns")
    if integer:
        top = float(np.iinfo(raw.dtype).max)
        if X.min() < 0:
            raise ValueError(f"X of integer dtype {raw.dtype} must hold non-negative pixel values; min is {X.min()}")
        X = X / top
    elif X.size and (X.min() < 0 or X.max() > 1):
        raise ValueError(f"X must hold pixel values in [0, 1] (got range [{X.min():.3g}, {X.max():.3g}]); "
                         "divide by 255 for 8-bit images, or pass them as uint8")
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(len(X), _n_corrupt(rate, len(X)), replace=False))
    out = X.copy()
    kinds = list(_CORRUPTIONS) if kind == "mixed" else [kind]
    parts = np.array_split(rng.permutation(idx), len(kinds))
    for name, part in zip(kinds, parts):
        if part.size:
            imgs = X[part].reshape(-1, *image_shape)
            out[part] = _CORRUPTIONS[name](imgs, random_state=rng).reshape(part.size, -1)
    if integer:
        return np.round(out * top).astype(raw.dtype), idx
    return out.astype(X.dtype), idx
