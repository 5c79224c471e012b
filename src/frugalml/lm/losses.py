"""Causal-LM losses as pure functions of logits and labels (easy to test by hand).

Conventions: ``logits[b, t]`` predicts token ``t + 1``; ``labels`` are aligned with
``input_ids`` (the shift happens here), ``-100`` marks positions without a loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from frugalml.lm.data import IGNORE_INDEX


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy at each position and the mask of positions that count.

    Parameters
    ----------
    logits : Tensor [B, T, V]
    labels : LongTensor [B, T]

    Returns
    -------
    losses : Tensor [B, T-1]
        ``-log p(labels[:, t+1] | tokens <= t)``, zero where masked.
    mask : BoolTensor [B, T-1]
    """
    if logits.ndim != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(f"logits must be [B, T, V] and labels [B, T]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    B, T, V = logits.shape
    shift_logits = logits[:, :-1, :].float().reshape(-1, V)          # [B*(T-1), V]
    shift_labels = labels[:, 1:].reshape(-1)                          # [B*(T-1)]
    losses = F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="none")  # 0 if masked
    return losses.view(B, T - 1), (shift_labels != IGNORE_INDEX).view(B, T - 1)


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean token loss of each sequence over its unmasked positions, ``l_i`` of FLOW (Sec. 3). Shape [B]."""
    losses, mask = token_losses(logits, labels)
    counts = mask.sum(dim=1)                                          # [B]
    if (counts == 0).any():
        raise ValueError("a sequence has no unmasked label: its per-sample loss is undefined")
    return losses.sum(dim=1) / counts                                 # [B]


LOSS_REDUCTIONS = ("sample", "token")


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
                   token_weights: torch.Tensor | None = None, reduction: str = "sample") -> torch.Tensor:
    """Batch objective with per-sample weights ``w_i`` (FLOW, Alg. 1 line 4); ``w = 1`` without weights.

    ``reduction="sample"``: ``(1/B) sum_i w_i l_i`` with ``l_i`` sample ``i``'s mean token
    loss (every sample counts the same, whatever its length).
    ``reduction="token"``: ``sum_i w_i sum_t l_it / sum_i T_i``, the sum of each sample's
    token losses over the batch's labelled-token count: Hugging Face's token-mean loss, and
    the official FLOW trainer's (long responses count more). For equal-length fully labelled
    blocks the two coincide.
    The weights are used as given: pass ``w / mean(w)`` for the normalised variant.
    ``token_weights`` ([B, T], aligned with ``labels``) gives FLOW's token-level objective,
    each token loss ``l_it`` multiplied by ``w_it`` before either reduction.
    """
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"reduction must be one of {LOSS_REDUCTIONS}; got {reduction!r}")
    if token_weights is None and reduction == "sample":
        l = per_sample_loss(logits, labels)                           # [B]
    else:
        losses, mask = token_losses(logits, labels)                   # [B, T-1]
        if token_weights is not None:
            losses = token_weights[:, 1:].to(losses.dtype) * losses    # [B, T-1]
        counts = mask.sum(dim=1)                                      # [B]
        if reduction == "token":
            total = counts.sum()
            if total == 0:
                raise ValueError("the batch has no unmasked label: its loss is undefined")
            l = losses.sum(dim=1) * (losses.shape[0] / total)          # [B]; mean_i l_i = sum / total
        else:
            l = losses.sum(dim=1) / counts.clamp_min(1)                # [B]
    if weights is None:
        return l.mean()
    weights = weights.to(l.dtype).reshape(-1)
    if weights.shape != l.shape:
        raise ValueError(f"weights must have shape [{l.shape[0]}]; got {tuple(weights.shape)}")
    return (weights * l).mean()
