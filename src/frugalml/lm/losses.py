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


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
                   token_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Batch objective ``(1/B) sum_i w_i l_i`` (FLOW, Alg. 1 line 4); ``w = 1`` without weights.

    The standard loss is the mean over samples of each sample's mean token loss (for
    equal-length fully labelled blocks this equals Hugging Face's token-mean loss).
    The weights are used as given: pass ``w / mean(w)`` for the normalised variant.
    ``token_weights`` ([B, T], aligned with ``labels``) gives FLOW's token-level objective:
    ``l_i = mean_t w_it l_it`` over the labelled positions of sample ``i``.
    """
    if token_weights is not None:
        losses, mask = token_losses(logits, labels)                   # [B, T-1]
        tw = token_weights[:, 1:].to(losses.dtype)                    # [B, T-1]
        l = (tw * losses).sum(dim=1) / mask.sum(dim=1).clamp_min(1)   # [B]
    else:
        l = per_sample_loss(logits, labels)                          # [B]
    if weights is None:
        return l.mean()
    weights = weights.to(l.dtype).reshape(-1)
    if weights.shape != l.shape:
        raise ValueError(f"weights must have shape [{l.shape[0]}]; got {tuple(weights.shape)}")
    return (weights * l).mean()
