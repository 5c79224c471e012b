"""InfoNCE and CLIP losses as pure functions of embeddings (easy to test in isolation).

Reference: Bansal, Kavis & Sanghavi (arXiv:2411.03517), the InfoNCE objective

    L(A) = -E log [ exp(s(Ax, Ax+) / tau) / sum_j exp(s(Ax, Ax_j+) / tau) ],

with in-batch negatives ``x_j+`` (the other pairs' positives), and its symmetric two-tower
version for CLIP, ``L = (CE(S) + CE(S^T)) / 2`` with ``S_ij = s(A_x x_i, A_y y_j) / tau``.
``s`` is the raw inner product (``"dot"``) or the cosine (``"cosine"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from frugalml._core.validation import check_option, check_positive

SIMILARITIES = ("dot", "cosine")


def similarity_matrix(z, z_other, temperature: float = 1.0, similarity: str = "dot"):
    """``S[i, j] = s(z[i], z_other[j]) / temperature``: shape ``(n, m)`` from ``(n, r)``, ``(m, r)``."""
    check_option(similarity, SIMILARITIES, "similarity")
    if not isinstance(temperature, torch.Tensor):  # a learnable temperature is a tensor
        temperature = check_positive(temperature, "temperature")
    if similarity == "cosine":
        z = F.normalize(z, dim=1)
        z_other = F.normalize(z_other, dim=1)
    return z @ z_other.T / temperature  # (n, m)


def info_nce_loss(z, z_pos, temperature: float = 1.0, similarity: str = "dot"):
    """Mean InfoNCE loss of anchors ``z`` (n, r) against their positives ``z_pos`` (n, r).

    Row ``i`` is a softmax classification of the true positive ``z_pos[i]`` among all
    ``z_pos[j]`` of the batch: ``mean_i [ -S_ii + log sum_j exp(S_ij) ]``.
    """
    if z.shape != z_pos.shape:
        raise ValueError(f"z and z_pos must have the same shape; got {tuple(z.shape)} and {tuple(z_pos.shape)}")
    logits = similarity_matrix(z, z_pos, temperature, similarity)  # (n, n)
    target = torch.arange(z.shape[0], device=z.device)
    return F.cross_entropy(logits, target)


def clip_loss(z_x, z_y, temperature: float = 1.0, similarity: str = "dot"):
    """Symmetric CLIP loss: the mean of the x->y and y->x InfoNCE losses on ``S = s(z_x, z_y)/tau``."""
    if z_x.shape[0] != z_y.shape[0] or z_x.shape[1] != z_y.shape[1]:
        raise ValueError(f"z_x and z_y must have the same shape; got {tuple(z_x.shape)} and {tuple(z_y.shape)}")
    logits = similarity_matrix(z_x, z_y, temperature, similarity)  # (n, n)
    target = torch.arange(z_x.shape[0], device=z_x.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


__all__ = ["SIMILARITIES", "clip_loss", "info_nce_loss", "similarity_matrix"]
