"""SVFT: parameter-efficient fine-tuning on the singular vectors of the pre-trained weights.

Lingam et al., "SVFT: Parameter-Efficient Fine-Tuning with Singular Vectors", NeurIPS 2024
(arXiv:2405.19597). Each adapted weight ``W0 = U Sigma V^T`` becomes ``W0 + U M V^T`` with a
sparse trainable ``M`` on a fixed support (plain / banded / random / top-k). PEFT-shaped API:

>>> from frugalml.finetune.svft import SVFTConfig, apply_svft, merge_and_unload
>>> model = apply_svft(model, SVFTConfig(target_modules=["q_proj", "v_proj"], pattern="banded", off_diag=2))
>>> ...  # train
>>> model = merge_and_unload(model)   # plain model, inference cost unchanged
"""

from frugalml.finetune.svft.config import PATTERNS, SVFTConfig, banded_count
from frugalml.finetune.svft.layer import SVFTLayer, thin_svd
from frugalml.finetune.svft.model import (
    apply_svft,
    disable_adapters,
    enable_adapters,
    load_svft,
    merge,
    merge_and_unload,
    print_trainable_parameters,
    save_svft,
    svft_layers,
    trainable_parameters,
    unmerge,
)

__all__ = [
    "PATTERNS", "SVFTConfig", "SVFTLayer", "apply_svft", "banded_count", "disable_adapters", "enable_adapters",
    "load_svft", "merge", "merge_and_unload", "print_trainable_parameters", "save_svft", "svft_layers",
    "thin_svd", "trainable_parameters", "unmerge",
]
