"""The attention window: what a pretrained unit learned, and what it should learn.

For unit-norm inputs and ``M = w I`` the softmax weight of token ``i`` is proportional
to ``exp(-w ||x_i - x_q||^2 / 2)`` (Collins et al., 2024, Section 3): a Gaussian window
of radius about ``1/sqrt(w)``. :func:`attention_window` reads ``w = tr(M)/d`` and the
effective number of neighbours ``1 / sum_i a_i^2`` off a model.

For affine tasks ``f(x) = L u^T x + b`` (``u`` uniform on the sphere) the risk of
``M = w I`` splits exactly, because the weights sum to one and ``E[(u^T v)^2] = |v|^2/d``::

    R(w) = L^2 G(w) + sigma^2 H(w),
    G(w) = E || sum_i a_i (x_i - x_q) ||^2 / d,    H(w) = E sum_i a_i^2,

so the optimal window ``w*`` depends on ``L`` and ``sigma`` only through ``L / sigma``
and grows with it. :func:`affine_window_risk` estimates ``G`` and ``H`` by Monte Carlo
on a fixed sample (a smooth deterministic function of ``w``) and
:func:`optimal_affine_window` minimises it: an independent reference for training.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from frugalml._core import check_array, check_random_state, torch_generator
from frugalml._core.validation import check_scalar
from frugalml.icl.tasks import sample_sphere

__all__ = ["affine_window_risk", "attention_window", "optimal_affine_window", "optimal_linear_attention",
           "optimal_window", "subspace_concentration", "window_risk"]


_MAX_SCALE = 1e150  # the risk is L**2 G + sigma**2 H: squares of larger scales overflow float64


def _check_int(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer; got {v!r}")
    return int(v)


@torch.no_grad()
def attention_window(model, context_size: int | None = None, n_contexts: int = 2000, random_state=0) -> dict:
    """Summarise the window of a softmax attention unit.

    Parameters
    ----------
    model : SoftmaxAttentionRegressor
    context_size : int, optional
        When given, ``n_eff`` is averaged over ``n_contexts`` contexts of this size with
        inputs uniform on the sphere; otherwise ``n_eff`` is ``None``.
    n_contexts : int
    random_state : int or None

    Returns
    -------
    dict
        ``w``: ``tr(M)/d``; ``radius``: ``1/sqrt(w)`` (``inf`` if ``w <= 0``);
        ``n_eff``: mean ``1 / sum_i a_i^2``; ``eigenvalues``: eigenvalues of the symmetric
        part of ``M``, largest first.
    """
    if not hasattr(model, "attention") or not hasattr(model, "key_query_matrix"):
        raise ValueError(
            f"attention_window needs a softmax attention model; got {type(model).__name__} "
            "(linear attention has no window)"
        )
    m = model.key_query_matrix().detach().double()
    d = m.shape[0]
    w = float(torch.trace(m) / d)
    sym = 0.5 * (m + m.T)
    eig = torch.linalg.eigvalsh(sym).flip(0).tolist()
    out = {"w": w, "radius": float(1 / np.sqrt(w)) if w > 0 else float("inf"), "n_eff": None, "eigenvalues": eig}
    if context_size is not None:
        context_size = _check_int(context_size, "context_size")
        n_contexts = _check_int(n_contexts, "n_contexts")
        gen = torch_generator(random_state)
        dtype = next(model.parameters()).dtype
        x = sample_sphere((n_contexts, context_size + 1), d, gen, dtype)  # (N, n+1, d)
        a = model.attention(x[:, :context_size], x[:, context_size])  # (N, n)
        out["n_eff"] = float(torch.mean(1.0 / torch.sum(a.double() ** 2, dim=-1)))
    return out


def subspace_concentration(M, projector) -> float:
    """``||M - P M P||_F / ||M||_F``: the share of ``M`` outside ``span(B)`` (0 = all inside)."""
    m = torch.as_tensor(check_array(M, "M", ndim=2))
    p = torch.as_tensor(check_array(projector, "projector", ndim=2))
    if m.ndim != 2 or m.shape != p.shape or m.shape[0] != m.shape[1]:
        raise ValueError(f"M and projector must be square matrices of one shape; got {tuple(m.shape)}, {tuple(p.shape)}")
    norm = torch.linalg.matrix_norm(m)
    if norm == 0:
        raise ValueError("M is zero; its concentration is undefined")
    return float(torch.linalg.matrix_norm(m - p @ m @ p) / norm)


class _AffineRiskSample:
    """A fixed Monte Carlo sample of contexts: ``G(w)`` and ``H(w)`` as smooth functions."""

    def __init__(self, d, context_size, n_contexts, random_state, chunk=1_000_000):
        self.d = _check_int(d, "d")
        self.n = _check_int(context_size, "context_size")
        n_contexts = _check_int(n_contexts, "n_contexts")
        rng = check_random_state(random_state)
        z = rng.standard_normal((n_contexts, self.n + 1, self.d))
        z /= np.linalg.norm(z, axis=-1, keepdims=True)
        self.x = z[:, : self.n]  # (N, n, d)
        self.xq = z[:, self.n]  # (N, d)
        self.cos = np.einsum("nkd,nd->nk", self.x, self.xq)  # (N, n)
        self.rows = max(1, chunk // (self.n * self.d))

    def terms(self, w):
        g = h = 0.0
        total = self.x.shape[0]
        for s in range(0, total, self.rows):
            c = w * self.cos[s : s + self.rows]  # (b, n)
            a = np.exp(c - c.max(axis=1, keepdims=True))
            a /= a.sum(axis=1, keepdims=True)  # softmax weights
            v = np.einsum("bk,bkd->bd", a, self.x[s : s + self.rows]) - self.xq[s : s + self.rows]
            g += float(np.sum(v * v))
            h += float(np.sum(a * a))
        return g / (total * self.d), h / total


def affine_window_risk(w, d: int, context_size: int, lipschitz: float, noise: float,
                       n_contexts: int = 20000, random_state=0) -> dict:
    """Monte Carlo risk ``R(w) = L^2 G(w) + sigma^2 H(w)`` of ``M = w I`` on affine tasks.

    Parameters
    ----------
    w : float or array-like of floats
    d, context_size : int
    lipschitz, noise : float
        ``L`` and ``sigma``.
    n_contexts : int
        Contexts in the fixed sample (the same sample serves every ``w``).
    random_state : int or None

    Returns
    -------
    dict of numpy arrays shaped like ``w``: ``risk``, ``G``, ``H``.
    """
    # L**2 and sigma**2 must stay finite (1e200**2 overflowed: OverflowError or an inf risk)
    lipschitz = check_scalar(lipschitz, "lipschitz", low=0, high=_MAX_SCALE)
    noise = check_scalar(noise, "noise", low=0, high=_MAX_SCALE)
    ws = np.atleast_1d(check_array(w, "w", ndim=None, min_samples=0))  # finite, real, numeric
    sample = _AffineRiskSample(d, context_size, n_contexts, random_state)
    gh = np.array([sample.terms(float(v)) for v in ws.ravel()]).reshape(*ws.shape, 2)
    g, h = gh[..., 0], gh[..., 1]
    shape = np.shape(w)
    return {
        "risk": (lipschitz**2 * g + noise**2 * h).reshape(shape),
        "G": g.reshape(shape),
        "H": h.reshape(shape),
    }


def optimal_affine_window(d: int, context_size: int, lipschitz: float, noise: float,
                          n_contexts: int = 20000, random_state=0, bounds=(1e-3, 1e4)) -> float:
    """The ``w`` minimising :func:`affine_window_risk` (bounded search on ``log w``).

    A coarse grid over ``bounds`` locates the minimum, then a bounded scalar search
    refines it. ``lipschitz = 0`` gives the smallest ``w`` (plain averaging). Without
    noise the optimum stays finite for affine tasks: the weighted mean of the context
    inputs lies inside the ball, so the nearest neighbour is not the best interpolant.
    """
    # L**2 and sigma**2 must stay finite (1e200**2 overflowed: OverflowError or an inf risk)
    lipschitz = check_scalar(lipschitz, "lipschitz", low=0, high=_MAX_SCALE)
    noise = check_scalar(noise, "noise", low=0, high=_MAX_SCALE)
    sample = _AffineRiskSample(d, context_size, n_contexts, random_state)

    def risk(logw):
        g, h = sample.terms(float(np.exp(logw)))
        return lipschitz**2 * g + noise**2 * h

    return _argmin_log(risk, bounds)


def _check_bounds(bounds):
    b = check_array(bounds, "bounds", ndim=1, shape=(2,))
    if not 0 < b[0] < b[1]:
        raise ValueError(f"bounds must be (low, high) with 0 < low < high < inf; got {bounds!r}")
    return float(b[0]), float(b[1])


def _argmin_log(risk, bounds) -> float:
    """Minimise ``risk(log w)`` over ``bounds`` on ``w``: a coarse grid, then a bounded scalar search."""
    low, high = _check_bounds(bounds)
    lo, hi = np.log(low), np.log(high)
    # coarse grid first (the risk need not be unimodal, e.g. cosine tasks; guard against flat ends)
    grid = np.linspace(lo, hi, 41)
    vals = [risk(v) for v in grid]
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    if a == b:
        return float(np.exp(a))
    res = minimize_scalar(risk, bounds=(a, b), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


class _WindowRiskSample:
    """A fixed Monte Carlo sample of prompts from any task sampler: ``R(w)`` as a smooth function.

    Holds the query cosines ``x_i^T x_q`` (N, n), the noisy context labels (N, n) and the
    noiseless query targets (N,); ``risk(w)`` is the mean squared error of the softmax unit
    ``M = w I`` on this sample (common random numbers for every ``w``).
    """

    def __init__(self, sampler, context_size, n_contexts, random_state, chunk=1_000_000):
        if not hasattr(sampler, "sample") or not hasattr(sampler, "d"):
            raise ValueError(f"sampler must be a TaskSampler; got {type(sampler).__name__}")
        self.n = _check_int(context_size, "context_size")
        n_contexts = _check_int(n_contexts, "n_contexts")
        batch = sampler.sample(n_contexts, self.n, random_state=torch_generator(random_state), dtype=torch.float64)
        self.cos = torch.einsum("bkd,bd->bk", batch.x, batch.x_query).numpy()  # (N, n)
        self.y = batch.y.numpy()  # (N, n)
        self.yq = batch.y_query.numpy()  # (N,)
        self.rows = max(1, chunk // self.n)

    def risk(self, w):
        total, count = 0.0, self.yq.shape[0]
        for s in range(0, count, self.rows):
            c = w * self.cos[s : s + self.rows]  # (b, n)
            a = np.exp(c - c.max(axis=1, keepdims=True))
            a /= a.sum(axis=1, keepdims=True)  # softmax weights
            pred = np.sum(a * self.y[s : s + self.rows], axis=1)  # (b,)
            total += float(np.sum((pred - self.yq[s : s + self.rows]) ** 2))
        return total / count


def window_risk(w, sampler, context_size: int, n_contexts: int = 20000, random_state=0):
    """Monte Carlo ICL risk ``E (y_hat_w(x_q) - f(x_q))^2`` of the softmax unit ``M = w I`` on any task class.

    The paper's pretraining loss (eq. (2) of Collins et al., 2024) restricted to the
    scalar family ``M = w I``, which Theorem 3.4 shows contains the optimum for
    isotropic task classes. One fixed sample of ``n_contexts`` prompts (tasks, inputs
    and label noise drawn by ``sampler``) serves every ``w``, so the estimate is a smooth
    function of ``w``. For affine tasks :func:`affine_window_risk` integrates the task
    and the noise exactly and is more precise.

    Parameters
    ----------
    w : float or array-like of floats
    sampler : TaskSampler
        e.g. :class:`~frugalml.icl.ReLUTasks` or :class:`~frugalml.icl.CosineTasks`.
    context_size, n_contexts : int
    random_state : int, None, numpy Generator or torch.Generator

    Returns
    -------
    float or numpy array shaped like ``w``
    """
    ws = check_array(w, "w", ndim=None, min_samples=0)  # finite, real, numeric (as affine_window_risk)
    sample = _WindowRiskSample(sampler, context_size, n_contexts, random_state)
    out = np.array([sample.risk(float(v)) for v in ws.ravel()]).reshape(ws.shape)
    return float(out) if out.ndim == 0 else out


def optimal_window(sampler, context_size: int, n_contexts: int = 20000, random_state=0,
                   bounds=(1e-3, 1e4)) -> float:
    """The ``w`` minimising :func:`window_risk` for a task class (Monte Carlo argmin over ``log w``).

    The reference a pretrained scalar unit should reach on any task class; a coarse grid
    over ``bounds`` finds the global minimum even when the risk has several local ones
    (e.g. high-frequency cosine tasks, whose best window is plain averaging, ``w`` at the
    lower bound).
    """
    sample = _WindowRiskSample(sampler, context_size, n_contexts, random_state)
    return _argmin_log(lambda logw: sample.risk(float(np.exp(logw))), bounds)


def optimal_linear_attention(sampler, context_size: int, n_contexts: int = 20000, random_state=0) -> np.ndarray:
    """The risk-minimising ``M`` of linear attention on a task class, by least squares.

    Linear attention predicts ``y_hat = (1/n) sum_i y_i x_i^T M x_q = <M, phi>`` with the
    feature matrix ``phi = ((1/n) sum_i y_i x_i) x_q^T`` (d, d): the pretraining risk is a
    least-squares problem in ``vec(M)``, solved here on ``n_contexts`` Monte Carlo prompts.
    Its risk is the floor a *trained* linear attention should reach, the upper end of the
    paper's comparison (Section 3.3 bounds it below by ``Var(b)`` on affine tasks).

    Returns
    -------
    ndarray of shape (d, d)
    """
    if not hasattr(sampler, "sample") or not hasattr(sampler, "d"):
        raise ValueError(f"sampler must be a TaskSampler; got {type(sampler).__name__}")
    n = _check_int(context_size, "context_size")
    n_contexts = _check_int(n_contexts, "n_contexts")
    batch = sampler.sample(n_contexts, n, random_state=torch_generator(random_state), dtype=torch.float64)
    v = torch.einsum("bk,bkd->bd", batch.y, batch.x) / n  # (N, d): (1/n) sum_i y_i x_i
    phi = (v[:, :, None] * batch.x_query[:, None, :]).reshape(n_contexts, -1).numpy()  # (N, d*d)
    coef, *_ = np.linalg.lstsq(phi, batch.y_query.numpy(), rcond=None)
    return coef.reshape(sampler.d, sampler.d)
