"""Input checks that raise ``ValueError`` naming the bad argument and the fix."""

from __future__ import annotations

import numbers

import numpy as np


def check_array(X, name: str = "X", *, ndim: int | None = 2, dtype=np.float64, allow_nonfinite: bool = False,
                min_samples: int = 1):
    """Return ``X`` as a numpy array of ``dtype``; reject wrong ndim, emptiness and NaN/inf."""
    try:
        arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like; could not convert: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}")
    if arr.ndim >= 1 and arr.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} sample(s); got {arr.shape[0]}")
    if not allow_nonfinite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean or impute them first")
    return arr


def check_labels(y, n_samples: int, name: str = "y"):
    """Return integer labels of length ``n_samples``."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} entries but X has {n_samples} rows; they must match")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels; got non-integer floats")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def check_option(value, options, name: str):
    """Reject a value not in ``options`` with a message listing them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}; got {value!r}")
    return value


def check_positive(value, name: str, *, strict: bool = True, integer: bool = False):
    """Reject non-numbers, non-finite numbers and (non-)positive numbers."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite {'integer' if integer else 'number'}; got {value!r}")
    if (strict and value <= 0) or (not strict and value < 0):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0; got {value!r}")
    return value


def check_budget(n_select, fraction, n_samples: int) -> int:
    """Resolve a selection budget given as a count ``n_select`` or a ``fraction`` of ``n_samples``."""
    if (n_select is None) == (fraction is None):
        raise ValueError("give exactly one of n_select (a count) or fraction (in (0, 1])")
    if n_select is not None:
        if isinstance(n_select, bool) or not isinstance(n_select, numbers.Integral):
            raise ValueError(f"n_select must be an integer; got {n_select!r}")
        k = int(n_select)
        if k < 1:
            raise ValueError(f"n_select must be >= 1; got {k}")
    else:
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
            raise ValueError(f"fraction must be a number in (0, 1]; got {fraction!r}")
        k = int(round(fraction * n_samples))
        if k < 1:
            raise ValueError(f"fraction={fraction} of {n_samples} samples selects no point; raise fraction")
    if k > n_samples:
        raise ValueError(f"n_select={k} exceeds the number of samples ({n_samples})")
    return k
