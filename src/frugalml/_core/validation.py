"""The one validation layer: every public entry point checks its input here.

Each check returns the cleaned value and raises an error that names the argument and
the bad value. A wrong *type* raises :class:`ArgumentTypeError`, which is both a
``TypeError`` and a ``ValueError`` (as scikit-learn's ``InvalidParameterError`` is), so
callers may catch either; a wrong *value* raises ``ValueError``. No user-facing contract
is checked with ``assert`` (``python -O`` strips those).

Numbers accept Python and numpy scalars alike (``np.float32(0.5)``, ``np.int64(4)``,
0-d arrays) and refuse ``bool`` where a number is meant and strings everywhere.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type; both a ``TypeError`` and a ``ValueError``."""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- numbers

def _as_scalar(value, name: str, integer: bool):
    """Python/numpy scalar (or 0-d array) -> Python int/float; refuse bools, strings, arrays."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be {'an integer' if integer else 'a number'}, not a bool; "
                                f"got {value!r}")
    if integer:
        if isinstance(value, numbers.Integral):
            if abs(int(value)) > 2**62:
                raise ValueError(f"{name}={_show(value)} is too large (the limit is 2**62)")
            return int(value)
        raise ArgumentTypeError(f"{name} must be an integer; got {_show(value)} ({type(value).__name__})")
    if isinstance(value, numbers.Integral) and abs(int(value)) <= 2**53:
        return int(value)  # exact in float64: keep it an int
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{name}={_show(value)} is too large for a float") from None
    raise ArgumentTypeError(f"{name} must be a real number; got {_show(value)} ({type(value).__name__})")


def check_scalar(value, name: str, *, integer: bool = False, low=None, high=None,
                 low_inclusive: bool = True, high_inclusive: bool = True, allow_none: bool = False):
    """Check a numeric hyper-parameter and return it as a Python ``int`` or ``float``.

    Parameters
    ----------
    value : int, float, numpy scalar or 0-d array
        Bools and strings are refused; NaN and infinities always are.
    name : str
        The argument's name, used in the message.
    integer : bool
        Require an integer (Python or numpy; ``4.0`` is refused).
    low, high : number, optional
        Bounds; ``low_inclusive`` / ``high_inclusive`` say whether they are allowed.
    allow_none : bool
        Return ``None`` unchanged.

    Raises
    ------
    ArgumentTypeError
        Not a number (or not an integer).
    ValueError
        Not finite, or out of range; the message gives the range and the value.
    """
    if value is None and allow_none:
        return None
    if value is None:
        raise ArgumentTypeError(f"{name} must be {'an integer' if integer else 'a number'}; got None")
    out = _as_scalar(value, name, integer)
    if isinstance(out, float) and not np.isfinite(out):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    too_low = low is not None and (out < low if low_inclusive else out <= low)
    too_high = high is not None and (out > high if high_inclusive else out >= high)
    if too_low or too_high:
        if high is None:
            rule = f"{'>=' if low_inclusive else '>'} {low}"
        elif low is None:
            rule = f"{'<=' if high_inclusive else '<'} {high}"
        else:
            rule = f"in {'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return out


def check_positive(value, name: str, *, strict: bool = True, integer: bool = False):
    """A finite number ``> 0`` (``>= 0`` when ``strict=False``); see :func:`check_scalar`."""
    return check_scalar(value, name, integer=integer, low=0, low_inclusive=not strict)


def check_fraction(value, name: str, *, allow_zero: bool = False, allow_one: bool = True):
    """A number in ``(0, 1]`` (bounds adjustable); see :func:`check_scalar`."""
    return check_scalar(value, name, low=0, high=1, low_inclusive=allow_zero, high_inclusive=allow_one)


def check_bool(value, name: str) -> bool:
    """A flag: ``True``/``False`` (or ``np.bool_``). Strings such as ``"no"`` are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False; got {_show(value)} ({type(value).__name__})")


def check_option(value, options, name: str):
    """Reject a value not in ``options`` with a message listing them."""
    try:
        ok = value in options and not isinstance(value, (bool, np.bool_))
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        shown = sorted(options, key=str) if not isinstance(options, (list, tuple)) else list(options)
        raise ValueError(f"{name} must be one of {shown}; got {_show(value)}")
    return value


# ----------------------------------------------------------------------------- arrays

def check_array(X, name: str = "X", *, ndim: int | None = 2, dtype=np.float64, allow_nonfinite: bool = False,
                min_samples: int = 1, min_features: int = 1, shape=None, max_abs: float | None = None):
    """Return ``X`` as a numpy array of ``dtype``; reject what would give garbage downstream.

    Refused, with a message naming ``name``: complex, object (non-numeric), string and
    datetime data; the wrong number of dimensions or a ``shape`` mismatch (``None`` in
    ``shape`` matches any length); fewer than ``min_samples`` rows or ``min_features``
    columns (2-D); NaN/inf unless ``allow_nonfinite``; and, with ``max_abs``, entries whose
    magnitude would overflow the computation (the message says to rescale).

    ``dtype=None`` keeps a numeric dtype as given.
    """
    if isinstance(X, (str, bytes)) or X is None:
        raise ArgumentTypeError(f"{name} must be a numeric array; got {_show(X)}")
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise ArgumentTypeError(f"Sparse data was passed for {name}, but dense data is required; "
                                f"use {name}.toarray() to convert it")
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like; could not convert: {exc}") from None
    kind = raw.dtype.kind
    if kind == "c":
        raise ArgumentTypeError(f"Complex data not supported: {name} must be real-valued; got dtype {raw.dtype}")
    if kind in "OUSVMm":
        try:
            raw = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"{name} must hold numbers; got dtype {raw.dtype} ({exc})") from None
        if kind == "O" and any(isinstance(v, complex) for v in np.ravel(np.asarray(X, dtype=object))):
            raise ArgumentTypeError(f"Complex data not supported: {name} must be real-valued")
        if kind == "O" and allow_nonfinite and any(v is None for v in np.ravel(np.asarray(X, dtype=object))):
            # None would become NaN silently where NaN is allowed
            raise ArgumentTypeError(f"{name} holds None entries; pass numbers (NaN explicitly if meant)")
        if kind in "USVMm":
            raise ArgumentTypeError(f"{name} must hold numbers; got dtype {np.asarray(X).dtype}")
    try:
        arr = raw if dtype is None else np.asarray(raw, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} could not be converted to {np.dtype(dtype)}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        hint = (" Reshape your data with .reshape(-1, 1) for a single feature or .reshape(1, -1) for a single "
                "sample." if ndim == 2 and arr.ndim < 2 else "")
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}.{hint}")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}; got {arr.shape}")
    if arr.ndim >= 1 and arr.shape[0] < min_samples:
        raise ValueError(f"{name} has {arr.shape[0]} sample(s) (shape={arr.shape}); it needs at least {min_samples}")
    if arr.ndim == 2 and arr.shape[1] < min_features:
        raise ValueError(f"{name} has {arr.shape[1]} feature(s) (shape={arr.shape}) while a minimum of "
                         f"{min_features} is required. It needs at least {min_features}.")
    if arr.dtype.kind in "fc" and not allow_nonfinite:
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int(finite.size - np.count_nonzero(finite))
            raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean or impute them first")
    if max_abs is not None and arr.size and arr.dtype.kind in "fiu":
        big = float(np.nanmax(np.abs(arr)))
        if big > max_abs:
            raise ValueError(f"{name} has entries of magnitude {big:.3g} > {max_abs:.3g}, which overflow in "
                             f"this computation; rescale {name} (e.g. divide by its largest entry)")
    return arr


def check_labels(y, n_samples: int | None = None, name: str = "y"):
    """Return integer class labels (1-D int64), of length ``n_samples`` when given."""
    if isinstance(y, (str, bytes)) or y is None:
        raise ArgumentTypeError(f"{name} must be an array of integer class labels; got {_show(y)}")
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} entries but X has {n_samples} rows; they must match")
    if arr.dtype.kind == "O":
        try:
            arr = np.asarray(arr.tolist(), dtype=np.float64) if arr.size else arr.astype(np.int64)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name} must hold integer class labels; got objects") from None
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels; got non-integer floats")
        if arr.size and np.abs(arr).max() > 2**62:
            raise ValueError(f"{name} has labels too large for int64; encode classes as 0..C-1")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise ArgumentTypeError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def check_consistent_length(*named_arrays) -> int:
    """``check_consistent_length(("X", X), ("y", y))`` -> the common length, else a ValueError naming both."""
    lengths = [(name, len(a)) for name, a in named_arrays if a is not None]
    if len({n for _, n in lengths}) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths)
        raise ValueError(f"inputs must have the same number of samples; {shown}")
    return lengths[0][1] if lengths else 0


def check_budget(n_select, fraction, n_samples: int) -> int:
    """Resolve a selection budget given as a count ``n_select`` or a ``fraction`` of ``n_samples``."""
    if (n_select is None) == (fraction is None):
        raise ValueError("give exactly one of n_select (a count) or fraction (in (0, 1])")
    if n_select is not None:
        k = check_scalar(n_select, "n_select", integer=True, low=1)
    else:
        fraction = check_fraction(fraction, "fraction")
        k = int(round(fraction * n_samples))
        if k < 1:
            raise ValueError(f"fraction={fraction} of {n_samples} samples selects no point; raise fraction")
    if k > n_samples:
        raise ValueError(f"n_select={k} exceeds the number of samples ({n_samples})")
    return k


# ----------------------------------------------------------------------------- paths

def check_path(path, name: str, *, must_exist: bool = True, kind: str | None = None) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`; check it exists (and is a ``"file"``/``"dir"``).

    A missing path is a ``FileNotFoundError`` naming the argument (no silent fallback to
    another location); a path of the wrong kind is a ``ValueError``.
    """
    if isinstance(path, (bool, np.bool_)) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a path (str or os.PathLike); got {_show(path)}")
    if isinstance(path, str) and (not path or "\x00" in path):
        raise ValueError(f"{name} must be a non-empty path without NUL bytes; got {_show(path)}")
    p = Path(path)
    if must_exist and not p.exists():
        raise FileNotFoundError(f"{name}: no such file or directory: {str(p)!r}")
    if p.exists() and kind == "file" and not p.is_file():
        what = "a directory" if p.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise ValueError(f"{name} must be a file; {str(p)!r} is {what}")
    if p.exists() and kind == "dir" and not p.is_dir():
        raise ValueError(f"{name} must be a directory; {str(p)!r} is a file")
    return p


def load_npy(path, name: str, mmap_mode: str | None = None) -> np.ndarray:
    """Load a ``.npy`` file without ever unpickling (``allow_pickle=False``): object arrays are refused.

    ``mmap_mode="r"`` maps the file instead of reading it (a ``np.memmap``: arrays larger than memory).
    """
    p = check_path(path, name, kind="file")
    with open(p, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise ValueError(f"{name}: {str(p)!r} is not a valid .npy file (no NUMPY header); save it with np.save")
    try:
        return np.load(p, allow_pickle=False, mmap_mode=mmap_mode)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(f"{name}: {str(p)!r} holds Python objects (pickled data); frugalml never unpickles "
                             "user files: save a numeric array (np.save(path, arr.astype(float)))") from None
        raise ValueError(f"{name}: {str(p)!r} is not a valid .npy file: {exc}") from None
