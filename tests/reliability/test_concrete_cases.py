"""The concrete cases listed in issue 16, one test each (each failed before the fix)."""

import gzip

import numpy as np
import pytest

from frugalml._core.validation import ArgumentTypeError, check_bool, check_scalar
from frugalml.data import (asymmetric_label_noise, corrupt_features, gaussian_noise, load_digits,
                           load_fashion_mnist)


def test_numbers_accept_numpy_scalars_and_refuse_bools_and_strings():
    assert check_scalar(np.float32(0.5), "tau") == 0.5 and check_scalar(np.int64(4), "k", integer=True) == 4
    assert check_scalar(np.array(3.0), "tau") == 3.0
    for bad in (True, np.bool_(False), "1", None, [1.0], 1 + 1j):
        with pytest.raises(ArgumentTypeError, match="tau"):
            check_scalar(bad, "tau")
    with pytest.raises(ArgumentTypeError, match="k must be an integer"):
        check_scalar(4.0, "k", integer=True)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="tau must be a finite number"):
            check_scalar(bad, "tau")
    with pytest.raises(TypeError, match="exact_step must be True or False"):
        check_bool("no", "exact_step")
    assert isinstance(ArgumentTypeError("x"), ValueError)


def test_asymmetric_noise_on_a_single_class_is_refused():
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        asymmetric_label_noise(np.zeros(10, int), 0.3, random_state=0)
    y_noisy, idx = asymmetric_label_noise(np.zeros(10, int), 0.3, n_classes=2, random_state=0)
    assert idx.size == 3 and np.all(y_noisy[idx] == 1)  # every reported flip is a real change


def test_gaussian_noise_refuses_nan_std():
    with pytest.raises(ValueError, match="std must be a finite number"):
        gaussian_noise(np.zeros((2, 4, 4)), std=np.nan)


def test_corrupt_features_on_uint8_keeps_the_scale():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 16)).astype(np.uint8)
    out, idx = corrupt_features(X, (4, 4), 0.5, kind="gaussian_noise", random_state=0)
    assert out.dtype == np.uint8 and idx.size == 20
    clean = np.setdiff1d(np.arange(40), idx)
    np.testing.assert_array_equal(out[clean], X[clean])
    assert out[idx].max() > 200  # corrupted rows stay on 0..255, not clipped to [0, 1]
    with pytest.raises(ValueError, match=r"X must hold pixel values in \[0, 1\]"):
        corrupt_features(X.astype(float), (4, 4), 0.5)


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, dtype=">i4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_load_fashion_mnist_count_mismatch_and_no_silent_fallback(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
    with pytest.raises(ValueError, match="holds 5 images but .* 3 labels"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory"):
        load_fashion_mnist(tmp_path / "missing")  # not the Debian copy instead
    with pytest.raises(ValueError, match="n_train"):
        load_fashion_mnist(tmp_path, n_train=0)


@pytest.mark.parametrize("bad", [-0.2, 0.0, 1.0, 1.5, np.nan, "0.2", True])
def test_load_digits_bad_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)
