import json
import math

import numpy as np
import pytest

from frugalml._core import (check_array, check_budget, check_labels, check_option, check_positive,
                            check_random_state, read_json, write_json_atomic)
from frugalml._core.results import to_jsonable


def test_random_state_is_explicit_and_reproducible():
    assert check_random_state(3).integers(1 << 30) == check_random_state(3).integers(1 << 30)
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    with pytest.raises(ValueError, match="random_state"):
        check_random_state("seed")


def test_json_atomic_roundtrip_and_nonfinite(tmp_path):
    path = write_json_atomic(tmp_path / "a" / "r.json", {"x": np.arange(3), "y": np.float32(1.5),
                                                         "z": float("nan"), "t": (1, 2)})
    assert read_json(path) == {"x": [0, 1, 2], "y": 1.5, "z": None, "t": [1, 2]}
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert to_jsonable({"inf": math.inf}) == {"inf": None}
    json.dumps(to_jsonable({"a": np.int64(4)}))


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"ok": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert read_json(path) == {"ok": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_validation_messages():
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        check_array([[1.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        check_array([1.0, 2.0])
    with pytest.raises(ValueError, match="y has 2 entries but X has 3"):
        check_labels([0, 1], 3)
    with pytest.raises(ValueError, match="integer class labels"):
        check_labels([0.5, 1.0], 2)
    with pytest.raises(ValueError, match="metric must be one of"):
        check_option("l1", {"l2"}, "metric")
    with pytest.raises(ValueError, match="tau must be > 0"):
        check_positive(0.0, "tau")
    assert check_budget(None, 0.25, 10) == 2 and check_budget(4, None, 10) == 4
    with pytest.raises(ValueError, match="exceeds"):
        check_budget(11, None, 10)
