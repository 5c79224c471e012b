import gzip
import struct

import numpy as np
import pytest

from frugalml.data import (DataNotFoundError, asymmetric_label_noise, corrupt_features, load_digits,
                           load_fashion_mnist, load_image_dataset, symmetric_label_noise)
from frugalml.data.corruption import occlusion, resolution_loss


def _write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(">" + "i" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_reader_on_handmade_idx(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(12, 28, 28))
    labels = np.arange(12) % 10
    for split, n in (("train", 12), ("t10k", 12)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", imgs[:n])
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels[:n])
    ds = load_fashion_mnist(tmp_path)
    assert ds.X_train.shape == (12, 784) and ds.X_train.dtype == np.float32
    assert np.allclose(ds.X_train[3], imgs[3].ravel() / 255.0)
    assert ds.y_train.tolist() == labels.tolist()
    monkeypatch.setenv("FRUGALML_FASHION_MNIST", str(tmp_path))
    assert load_fashion_mnist(n_train=5, random_state=0).X_train.shape == (5, 784)


def test_missing_fashion_mnist_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr("frugalml.data.images.FASHION_MNIST_DIRS", (str(tmp_path / "none"),))
    monkeypatch.delenv("FRUGALML_FASHION_MNIST", raising=False)
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def test_digits_and_unknown_name():
    ds = load_digits()
    assert ds.X_train.max() <= 1.0 and ds.n_classes == 10 and ds.image_shape == (8, 8)
    with pytest.raises(ValueError, match="unknown data set"):
        load_image_dataset("cifar")


def test_label_noise_exact_counts():
    y = np.repeat(np.arange(5), 40)
    ys, idx = symmetric_label_noise(y, 0.3, 5, random_state=0)
    assert idx.size == 60 and np.all(ys[idx] != y[idx]) and np.array_equal(np.delete(ys, idx), np.delete(y, idx))
    ya, idx = asymmetric_label_noise(y, 0.25, 5, random_state=0)
    assert idx.size == 50 and np.array_equal(ya[idx], (y[idx] + 1) % 5)
    assert (ya != y).sum() == 50
    with pytest.raises(ValueError, match="rate"):
        symmetric_label_noise(y, 1.5, 5)


def test_feature_corruption():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 64))
    Xc, idx = corrupt_features(X, (8, 8), 0.5, random_state=0)
    assert idx.size == 15
    changed = np.flatnonzero(np.any(Xc != X, axis=1))
    assert set(changed) <= set(idx) and Xc.min() >= 0 and Xc.max() <= 1
    imgs = X[:2].reshape(2, 8, 8)
    assert (occlusion(imgs, 0.5, random_state=0) == 0).sum() >= 2 * 16
    low = resolution_loss(imgs, 4)
    assert np.allclose(low[0, :4, :4], imgs[0, :4, :4].mean())
    with pytest.raises(ValueError, match="image_shape"):
        corrupt_features(X, (7, 7), 0.1)
    with pytest.raises(ValueError, match="kind"):
        corrupt_features(X, (8, 8), 0.1, kind="fog")
