"""Learning with noisy labels: label-DP mechanisms and retraining with predicted hard labels.

* :func:`randomized_response`, :func:`rr_with_prior` (+ exact transition matrices and
  :func:`rr_keep_probability`): eps-label-DP label release.
* :func:`lp_2st`: two-stage label-DP training with RR-with-prior (Ghazi et al. 2021).
* :class:`RetrainingClassifier`: full and consensus-based retraining (Das et al. 2025).
* :class:`TorchMLPClassifier`: a small early-stopped MLP in the scikit-learn interface.
* :mod:`~frugalml.noisy_labels.theory`: the paper's binary linear setting, closed-form accuracy.
"""

from frugalml.noisy_labels.lp2st import LP2STResult, class_probabilities, lp_2st
from frugalml.noisy_labels.mechanisms import (
    randomized_response,
    rr_keep_probability,
    rr_prior_top_k,
    rr_transition_matrix,
    rr_with_prior,
    rr_with_prior_transition_matrix,
)
from frugalml.noisy_labels.retraining import RetrainingClassifier
from frugalml.noisy_labels.torch_mlp import TorchMLPClassifier

__all__ = [
    "LP2STResult",
    "RetrainingClassifier",
    "TorchMLPClassifier",
    "class_probabilities",
    "lp_2st",
    "randomized_response",
    "rr_keep_probability",
    "rr_prior_top_k",
    "rr_transition_matrix",
    "rr_with_prior",
    "rr_with_prior_transition_matrix",
]
