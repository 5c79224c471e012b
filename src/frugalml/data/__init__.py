"""Real data sets that work offline, synthetic generators, and corruption utilities.

Every loader returns a :class:`Dataset` (``X`` as float32 in [0, 1] with one row per
image, ``y`` as int64, and the image shape); a missing file raises
:class:`DataNotFoundError` naming the command that installs it.
"""

from frugalml.data.corruption import (
    asymmetric_label_noise,
    corrupt_features,
    gaussian_noise,
    occlusion,
    resolution_loss,
    symmetric_label_noise,
)
from frugalml.data.images import (
    DataNotFoundError,
    Dataset,
    load_digits,
    load_fashion_mnist,
    load_image_dataset,
    load_mnist_5k,
    pool_images,
)

__all__ = [
    "DataNotFoundError",
    "Dataset",
    "asymmetric_label_noise",
    "corrupt_features",
    "gaussian_noise",
    "load_digits",
    "load_fashion_mnist",
    "load_image_dataset",
    "load_mnist_5k",
    "occlusion",
    "pool_images",
    "resolution_loss",
    "symmetric_label_noise",
]
