"""The SVFT layer: a frozen linear map plus ``U M V^T`` with a sparse trainable M.

``get_delta_weight`` is the single place the update ``Delta W = U M V^T`` (Eq. 2 of the paper)
is formed; merge / unmerge / the dense forward reuse it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def is_conv1d(module) -> bool:
    """transformers' ``Conv1D`` (GPT-2): ``y = x @ W + b`` with ``W`` of shape ``(d_in, d_out)``."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def weight_view(module) -> torch.Tensor:
    """The base weight as ``(d_out, d_in)`` (a view, for ``nn.Linear`` and ``Conv1D`` alike)."""
    return module.weight.T if is_conv1d(module) else module.weight


def thin_svd(weight: torch.Tensor):
    """Thin SVD ``W = U diag(S) V^T`` in float32 with a fixed sign convention.

    Each singular pair is flipped so that the entry of ``u_i`` with the largest magnitude is
    positive (as ``sklearn.utils.extmath.svd_flip``), so U and V can be recomputed from W.

    Returns
    -------
    U : (d_out, r), S : (r,), V : (d_in, r), with ``r = min(d_out, d_in)``.
    """
    U, S, Vh = torch.linalg.svd(weight.detach().float(), full_matrices=False)   # [d1, r], [r], [r, d2]
    if weight.is_meta:
        return U, S, Vh.T
    sign = torch.sign(U.gather(0, U.abs().argmax(0, keepdim=True)))             # [1, r]
    sign[sign == 0] = 1
    return U * sign, S, (Vh * sign.T).T


def random_orthonormal(n: int, r: int, generator: torch.Generator) -> torch.Tensor:
    """An ``(n, r)`` matrix with orthonormal columns (QR of a Gaussian, signs fixed by R's diagonal)."""
    Q, R = torch.linalg.qr(torch.randn(n, r, generator=generator))
    return Q * torch.sign(torch.diagonal(R)).masked_fill(torch.diagonal(R) == 0, 1)


class SVFTLayer(nn.Module):
    """``y = base(x) + g * ((x V) M^T) U^T`` with ``M`` sparse on ``(rows, cols)``.

    Parameters
    ----------
    base_layer : nn.Linear or transformers Conv1D
        Frozen; its weight ``W0`` stays unchanged unless merged.
    U, V : Tensor (d_out, r), (d_in, r)
        Frozen bases (float32 buffers): the singular vectors of ``W0`` or a random control.
    rows, cols : LongTensor (k,)
        Support of M.
    m : Tensor (k,)
        Initial values of the trainable entries.
    gated : bool
        Multiply the update by ``sigmoid(gate)``, ``gate`` a trainable scalar initialised at 0
        (the official code's initialisation).
    forward_mode : {"auto", "factored", "dense"}
    """

    def __init__(self, base_layer, U, V, rows, cols, m, *, gated: bool = False, forward_mode: str = "auto"):
        super().__init__()
        self.base_layer = base_layer
        self.d_out, self.d_in = weight_view(base_layer).shape
        self.r = U.shape[1]
        self.register_buffer("svft_U", U.contiguous(), persistent=False)       # [d_out, r]
        self.register_buffer("svft_V", V.contiguous(), persistent=False)       # [d_in, r]
        self.register_buffer("svft_rows", rows.long(), persistent=False)       # [k]
        self.register_buffer("svft_cols", cols.long(), persistent=False)       # [k]
        self.svft_m = nn.Parameter(m.float())                                  # [k]
        self.svft_gate = nn.Parameter(torch.zeros(())) if gated else None
        self.forward_mode = forward_mode
        self.merged = False
        self.disabled = False

    @property
    def k(self) -> int:
        return self.svft_m.numel()

    def _scaled_m(self) -> torch.Tensor:
        return self.svft_m if self.svft_gate is None else self.svft_m * torch.sigmoid(self.svft_gate)

    def get_delta_weight(self) -> torch.Tensor:
        """``Delta W = U M V^T = sum_k m_k u_{rows_k} v_{cols_k}^T`` as ``(d_out, d_in)`` float32."""
        m = self._scaled_m()
        U, V = self.svft_U, self.svft_V
        if self.k <= self.r:      # few entries: (d_out, k) @ (k, d_in)
            return (U[:, self.svft_rows] * m) @ V[:, self.svft_cols].T
        M = torch.zeros(self.r, self.r, dtype=m.dtype, device=m.device).index_put(
            (self.svft_rows, self.svft_cols), m, accumulate=True)           # [r, r]
        return (U @ M) @ V.T                                                  # [d_out, d_in]

    def _use_dense(self, n_tokens: int) -> bool:
        if self.forward_mode != "auto":
            return self.forward_mode == "dense"
        factored = n_tokens * (self.r * (self.d_in + self.d_out) + self.k)
        dense = self.d_out * self.d_in * min(self.k, self.r) + (self.d_out * self.r * self.r if self.k > self.r else 0)
        return dense < factored

    def forward(self, x):
        if self.disabled or self.merged:
            return self.base_layer(x)
        if self._use_dense(x.numel() // self.d_in):
            W = weight_view(self.base_layer) + self.get_delta_weight().to(x.dtype)   # [d_out, d_in]
            return F.linear(x, W, self.base_layer.bias)
        y = self.base_layer(x)                                                   # [..., d_out]
        z = x.to(self.svft_V.dtype) @ self.svft_V                                # [..., r]
        mz = torch.zeros_like(z).index_add(-1, self.svft_rows, z[..., self.svft_cols] * self._scaled_m())  # [..., r]
        return y + (mz @ self.svft_U.T).to(y.dtype)                              # [..., d_out]

    @torch.no_grad()
    def merge(self):
        """Add ``Delta W`` into the base weight (forward then runs the base layer alone)."""
        if not self.merged:
            w = weight_view(self.base_layer)
            w += self.get_delta_weight().to(w.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        """Subtract ``Delta W`` from the base weight again."""
        if self.merged:
            w = weight_view(self.base_layer)
            w -= self.get_delta_weight().to(w.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return (f"d_in={self.d_in}, d_out={self.d_out}, r={self.r}, k={self.k}, "
                f"gated={self.svft_gate is not None}, merged={self.merged}")
