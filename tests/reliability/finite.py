"""Is a result finite all the way down? (numbers, arrays, tensors, dataclasses, tuples, dicts)."""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np


def is_finite_result(obj, _depth: int = 0) -> bool:
    """True when every number reachable in ``obj`` is finite (NaN/inf anywhere is False)."""
    if _depth > 6 or obj is None or isinstance(obj, (str, bytes, bool)):
        return True
    if isinstance(obj, numbers.Number):
        return bool(np.isfinite(complex(obj)))
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # torch tensor
        obj = obj.detach().cpu().double().numpy() if obj.is_floating_point() else obj.cpu().numpy()
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind not in "fc" or bool(np.all(np.isfinite(obj)))
    if isinstance(obj, np.generic):
        return is_finite_result(obj.item(), _depth + 1)
    if isinstance(obj, dict):
        return all(is_finite_result(v, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(is_finite_result(v, _depth + 1) for v in obj)
    if dataclasses.is_dataclass(obj):
        return all(is_finite_result(getattr(obj, f.name), _depth + 1) for f in dataclasses.fields(obj))
    return True
