"""Fine-tuning methods on top of :mod:`frugalml.lm`: FLOW sample weights and the baselines."""

from frugalml.finetune.flow import flow_token_weights, flow_weights, hardest_fraction, sample_losses
from frugalml.finetune.weighted import FinetuneResult, finetune, l2_to_init, wise_ft

__all__ = [
    "FinetuneResult",
    "finetune",
    "flow_token_weights",
    "flow_weights",
    "hardest_fraction",
    "l2_to_init",
    "sample_losses",
    "wise_ft",
]
