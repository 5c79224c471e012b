"""One-layer attention units that predict a query label from a context.

Softmax attention (eq. (1) of Collins et al., 2024)::

    y_hat(x_q) = sum_i y_i exp(x_i^T M x_q) / sum_j exp(x_j^T M x_q),   M = W_K^T W_Q

is a Nadaraya-Watson estimator: with ``M = w I`` and unit-norm inputs,
``exp(w x_i^T x_q) = exp(w) exp(-w ||x_i - x_q||^2 / 2)``, a Gaussian kernel of
bandwidth ``1/sqrt(w)`` (the *attention window*). Linear attention::

    y_hat(x_q) = (1/n) sum_i y_i x_i^T M x_q

is linear in ``x_q`` and has no window to adapt.

Both modules take ``x`` (B, n, d), ``y`` (B, n) and ``x_query`` (B, d) -> (B,), or
``x_query`` (B, m, d) -> (B, m) for several queries per context.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from frugalml._core import check_option, check_positive
from frugalml._core.validation import check_array

__all__ = ["LinearAttentionRegressor", "SoftmaxAttentionRegressor", "nadaraya_watson"]


def _check_d(d):
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise ValueError(f"d must be a positive integer; got {d!r}")
    return int(d)


def _as_tensors(module, x, y, x_query):
    """Tensors (numpy arrays and lists are converted, checked by name); NaN/inf/complex refused by name."""
    out = []
    for name, t in (("x", x), ("y", y), ("x_query", x_query)):
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(check_array(t, name, ndim=None, min_samples=0))
        if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name} must be a real tensor; got dtype {t.dtype}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values; the prediction would be NaN")
        out.append(t)
    _check_inputs(module, *out)
    return out


def _check_output(out, x, x_query, module):
    """Finite inputs can still overflow the scores (huge x, or a diverged M): say so instead of returning NaN."""
    if not bool(torch.isfinite(out).all()):
        with torch.no_grad():
            big = max(float(x.abs().max()), float(x_query.abs().max()))
            m = float(module.key_query_matrix().abs().max())
        raise FloatingPointError(f"the prediction is not finite: the attention scores x_i^T M x_query overflow "
                                 f"(largest |x| or |x_query| entry {big:.3g}, largest |M| entry {m:.3g}); rescale x "
                                 "and x_query (the tasks live on the unit sphere), or, when training, lower lr")


def _check_inputs(module, x, y, x_query):
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, context_size, d); got {tuple(x.shape)}")
    b, n, d = x.shape
    if d != module.d:
        raise ValueError(f"x has d={d} features but the model was built with d={module.d}")
    if y.shape != (b, n):
        raise ValueError(f"y must have shape (batch, context_size)=({b}, {n}); got {tuple(y.shape)}")
    if x_query.ndim not in (2, 3) or x_query.shape[0] != b or x_query.shape[-1] != d:
        raise ValueError(f"x_query must have shape ({b}, {d}) or ({b}, m, {d}); got {tuple(x_query.shape)}")
    if n < 1:
        raise ValueError("the context must hold at least one token")


class _AttentionBase(nn.Module):
    d: int

    def key_query_matrix(self) -> torch.Tensor:
        """``M = W_K^T W_Q`` as a (d, d) tensor (differentiable)."""
        raise NotImplementedError

    def _scores(self, x, x_query):
        m = self.key_query_matrix().to(x.dtype)  # (d, d)
        single = x_query.ndim == 2
        xq = x_query[:, None, :] if single else x_query  # (B, m, d)
        s = torch.bmm(xq @ m.T, x.transpose(1, 2))  # (B, m, n): x_i^T M x_q
        return s, single

    def predict_batch(self, batch):
        """Predictions for an :class:`~frugalml.icl.tasks.ICLBatch`."""
        return self(batch.x, batch.y, batch.x_query)


class SoftmaxAttentionRegressor(_AttentionBase):
    """A single softmax attention unit used as an in-context regressor.

    Parameters
    ----------
    d : int
        Input dimension.
    parametrization : {"scalar", "full"}
        ``"scalar"``: ``M = w I`` with one learned ``w > 0`` (stored as ``log_w``), the
        form the paper's Theorem 3.4 shows is optimal for isotropic task classes.
        ``"full"``: ``M`` is a free (d, d) matrix (equivalent to ``W_K^T W_Q`` with square
        ``W_K, W_Q``), needed to learn the projection onto ``span(B)`` of low-rank tasks.
    init_w : float
        Initial ``w``; ``"full"`` starts at ``init_w * I``.
    dtype : torch dtype

    Examples
    --------
    >>> import torch
    >>> from frugalml.icl import SoftmaxAttentionRegressor, AffineTasks
    >>> model = SoftmaxAttentionRegressor(3, init_w=4.0)
    >>> batch = AffineTasks(3, lipschitz=1.0).sample(8, 20, random_state=0)
    >>> model(batch.x, batch.y, batch.x_query).shape
    torch.Size([8])
    """

    def __init__(self, d: int, parametrization: str = "scalar", init_w: float = 1.0, dtype=torch.float32):
        super().__init__()
        self.d = _check_d(d)
        self.parametrization = check_option(parametrization, {"scalar", "full"}, "parametrization")
        init_w = float(check_positive(init_w, "init_w"))
        if parametrization == "scalar":
            self.log_w = nn.Parameter(torch.tensor(math.log(init_w), dtype=dtype))
        else:
            self.M = nn.Parameter(init_w * torch.eye(self.d, dtype=dtype))

    @property
    def w(self) -> float:
        """``tr(M) / d`` (the scalar ``w`` for the scalar parametrisation)."""
        with torch.no_grad():
            return float(torch.trace(self.key_query_matrix()) / self.d)

    def key_query_matrix(self):
        if self.parametrization == "scalar":
            return torch.exp(self.log_w) * torch.eye(self.d, dtype=self.log_w.dtype, device=self.log_w.device)
        return self.M

    def attention(self, x, x_query):
        """Attention weights ``a_i = softmax_i(x_i^T M x_q)``: (B, n) or (B, m, n)."""
        s, single = self._scores(x, x_query)
        a = torch.softmax(s, dim=-1)  # (B, m, n)
        return a[:, 0] if single else a

    def forward(self, x, y, x_query):
        x, y, x_query = _as_tensors(self, x, y, x_query)
        s, single = self._scores(x, x_query)
        a = torch.softmax(s, dim=-1)  # (B, m, n)
        out = torch.bmm(a, y.to(a.dtype)[:, :, None])[..., 0]  # (B, m)
        _check_output(out, x, x_query, self)
        return out[:, 0] if single else out

    def extra_repr(self):
        return f"d={self.d}, parametrization={self.parametrization!r}"


class LinearAttentionRegressor(_AttentionBase):
    """Linear attention ``y_hat = (1/n) sum_i y_i x_i^T M x_q`` with a free (d, d) ``M``.

    Its prediction is linear in ``x_q``; on affine tasks ``L w^T x + b`` with a centred
    intercept it cannot predict ``b`` and its risk stays at or above ``Var(b)`` whatever
    ``M`` and ``n`` (Section 3.3 of the paper).

    Parameters
    ----------
    d : int
    init_scale : float
        ``M`` starts at ``init_scale * I`` (0 by default; the loss is convex in ``M``).
    """

    def __init__(self, d: int, init_scale: float = 0.0, dtype=torch.float32):
        super().__init__()
        self.d = _check_d(d)
        init_scale = float(check_positive(init_scale, "init_scale", strict=False))
        self.M = nn.Parameter(init_scale * torch.eye(self.d, dtype=dtype))

    def key_query_matrix(self):
        return self.M

    def forward(self, x, y, x_query):
        x, y, x_query = _as_tensors(self, x, y, x_query)
        s, single = self._scores(x, x_query)  # (B, m, n)
        out = torch.bmm(s, y.to(s.dtype)[:, :, None])[..., 0] / x.shape[1]  # (B, m)
        _check_output(out, x, x_query, self)
        return out[:, 0] if single else out

    def extra_repr(self):
        return f"d={self.d}"


def nadaraya_watson(x, y, x_query, bandwidth):
    """Reference Nadaraya-Watson estimate with a Gaussian kernel (numpy, for checks).

    ``y_hat(x_q) = sum_i K(x_i, x_q) y_i / sum_j K(x_j, x_q)`` with
    ``K = exp(-||x_i - x_q||^2 / (2 h^2))``. For unit-norm inputs this equals softmax
    attention with ``M = I / h^2``.

    Parameters
    ----------
    x : array (n, d); y : array (n,); x_query : array (m, d) or (d,); bandwidth : float > 0

    Returns
    -------
    array (m,) (or a float for a single 1-D query)
    """
    x = check_array(x, "x", ndim=None)
    y = check_array(y, "y", ndim=None)
    xq = check_array(x_query, "x_query", ndim=None)
    bandwidth = check_positive(bandwidth, "bandwidth")
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, d) and y (n,); got {x.shape} and {y.shape}")
    single = xq.ndim == 1
    xq = np.atleast_2d(xq)
    d2 = ((xq[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # (m, n)
    logk = -d2 / (2 * bandwidth**2)
    logk -= logk.max(axis=1, keepdims=True)
    k = np.exp(logk)
    out = (k @ y) / k.sum(axis=1)
    return float(out[0]) if single else out
