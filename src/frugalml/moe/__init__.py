"""Mixtures of experts fitted by EM (mirror descent) or by gradient descent.

Fruytier, Mokhtari, Sanghavi, "Learning Mixtures of Experts with EM: A Mirror Descent
Perspective", ICML 2025 (arXiv:2411.06056).
"""

from sklearn.exceptions import ConvergenceWarning

from frugalml.moe._base import BaseMixtureOfExperts
from frugalml.moe.datasets import SyntheticMoE, make_moe, make_symmetric_moe
from frugalml.moe.metrics import matched_error, symmetric_error
from frugalml.moe.mixture import MixtureOfExperts
from frugalml.moe.symmetric import (
    SymmetricFit,
    fit_symmetric,
    mirror_descent_residual,
    mirror_map_gradient,
    symmetric_em_step,
    symmetric_gradient,
    symmetric_gradient_em_step,
    symmetric_log_likelihood,
)

__all__ = [
    "BaseMixtureOfExperts",
    "ConvergenceWarning",
    "MixtureOfExperts",
    "SymmetricFit",
    "SyntheticMoE",
    "fit_symmetric",
    "make_moe",
    "make_symmetric_moe",
    "matched_error",
    "mirror_descent_residual",
    "mirror_map_gradient",
    "symmetric_em_step",
    "symmetric_error",
    "symmetric_gradient",
    "symmetric_gradient_em_step",
    "symmetric_log_likelihood",
]
