"""Contrastive learning on Gaussian mixtures: InfoNCE recovers the Fisher subspace.

Bansal, Kavis & Sanghavi, "Understanding Contrastive Learning via Gaussian Mixture Models"
(arXiv:2411.03517, NeurIPS 2025). A linear encoder trained with InfoNCE on pairs (sample,
another draw from the same mixture component) finds the Fisher / LDA subspace without
labels, where PCA fails on non-isotropic noise; CLIP on two modalities keeps only the
shared part.

- :class:`InfoNCEProjection`, :class:`CLIPProjection`: scikit-learn style estimators.
- :class:`GaussianMixturePairs`, :class:`TwoModalityMixturePairs`, :class:`SameClassPairs`:
  the paper's data and pair samplers.
- :func:`fisher_subspace`, :func:`subspace_distance`: the target and the metric.
- :func:`info_nce_loss`, :func:`clip_loss`: the losses as pure torch functions.
"""

from frugalml.contrastive.data import (
    GaussianMixturePairs,
    ModalitySample,
    PairSample,
    SameClassPairs,
    TwoModalityMixturePairs,
)
from frugalml.contrastive.estimators import CLIPProjection, InfoNCEProjection
from frugalml.contrastive.losses import clip_loss, info_nce_loss, similarity_matrix
from frugalml.contrastive.subspace import fisher_subspace, orthonormal_rows, subspace_distance

__all__ = [
    "CLIPProjection",
    "GaussianMixturePairs",
    "InfoNCEProjection",
    "ModalitySample",
    "PairSample",
    "SameClassPairs",
    "TwoModalityMixturePairs",
    "clip_loss",
    "fisher_subspace",
    "info_nce_loss",
    "orthonormal_rows",
    "similarity_matrix",
    "subspace_distance",
]
