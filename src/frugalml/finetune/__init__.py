"""Fine-tuning methods on top of :mod:`frugalml.lm`: FLOW sample weights and the baselines;
Inheritune (a small LM from a large one's first layers)."""

from frugalml.finetune.flow import flow_token_weights, flow_weights, hardest_fraction, sample_losses
from frugalml.finetune.inheritune import (
    AttentionRankProfile,
    InherituneResult,
    attention_rank_profile,
    energy_rank,
    inherit,
    inheritune,
    random_student,
)
from frugalml.finetune.weighted import FinetuneResult, finetune, l2_to_init, wise_ft
from frugalml.finetune.vision import accuracy, classification_losses, finetune_classifier, linear_probe

__all__ = [
    "AttentionRankProfile",
    "InherituneResult",
    "attention_rank_profile",
    "energy_rank",
    "inherit",
    "inheritune",
    "random_student",
    "FinetuneResult",
    "accuracy",
    "classification_losses",
    "finetune_classifier",
    "linear_probe",
    "finetune",
    "flow_token_weights",
    "flow_weights",
    "hardest_fraction",
    "l2_to_init",
    "sample_losses",
    "wise_ft",
]
