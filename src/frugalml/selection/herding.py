"""Kernel herding towards a target vector, with the exact Euclidean greedy step.

Herding picks points one at a time so that the running mean of the picks tracks a target
``mu`` (GM Matching paper, Alg. 1): ``theta_0 = mu``, pick
``x_{t+1} = argmax_x <theta_t, x> - ||x||^2 / 2`` over unpicked points, then
``theta_{t+1} = theta_t + mu - x_{t+1}``, so that ``theta_t = (t+1) mu - sum(picked)``.

The ``- ||x||^2 / 2`` term makes each step the exact greedy minimiser of
``||(t+1) mu - sum(picked) - x||``, i.e. of the distance between the mean of the picks
and ``mu``. The paper (and its code) drop it, which is only equivalent when all points
have the same norm (L2-normalised embeddings, ``metric="cosine"``, where the term is
constant); in raw Euclidean space the dropped term favours large-norm points — far
outliers. The mean then converges to ``mu`` at O(1/k) (herding) instead of O(1/sqrt k).

Implementation: the scores ``s_i = <theta_t, x_i> - ||x_i||^2/2`` are updated with one
n x d mat-vec per step (``s += X mu - X x_{t+1}``), O(k n d) in total, in float64; ties go
to the lowest index.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.validation import check_array, check_bool, check_scalar


def herding(X: np.ndarray, target: np.ndarray, k: int, *, exact: bool = True) -> np.ndarray:
    """Pick ``k`` distinct rows of ``X`` whose running mean tracks ``target``; returns indices in pick order.

    ``exact=False`` drops the ``-||x||^2/2`` term (the paper's form). ``X`` may be a torch
    tensor on any device (with ``target`` a tensor or array): the loop then runs there, in
    float64, and the indices (a numpy array) equal the numpy path's.
    """
    if type(X).__module__.startswith("torch"):
        return _herding_torch(X, target, k, exact=check_bool(exact, "exact"))
    X = check_array(X, "X", max_abs=1e100)
    n = X.shape[0]
    k = check_scalar(k, "k", integer=True, low=1, high=n)
    target = check_array(target, "target", ndim=1, shape=(X.shape[1],), max_abs=1e100)
    exact = check_bool(exact, "exact")
    x_target = X @ target                                     # (n,)  <x_i, mu>, fixed
    scores = x_target - (0.5 * np.einsum("ij,ij->i", X, X) if exact else 0.0)  # (n,)
    picked = np.empty(k, dtype=np.int64)
    for t in range(k):
        i = int(np.argmax(scores))                            # first maximiser: deterministic
        picked[t] = i
        scores += x_target - X @ X[i]                         # theta += mu - x_i
        scores[i] = -np.inf                                   # never pick twice (-inf stays -inf)
    return picked


def _herding_torch(X, target, k, *, exact: bool) -> np.ndarray:
    """:func:`herding` for a torch tensor, on its own device (a CUDA tensor stays on the GPU)."""
    import torch

    if X.ndim != 2 or X.shape[0] < 1 or not X.is_floating_point():
        raise ValueError(f"X must be a non-empty 2-D floating tensor; got shape {tuple(X.shape)}, dtype {X.dtype}")
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or infinite values; clean or impute them first")
    n = X.shape[0]
    k = check_scalar(k, "k", integer=True, low=1, high=n)
    X = X.detach().to(torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64, device=X.device).reshape(-1)
    if target.shape[0] != X.shape[1]:
        raise ValueError(f"target must have {X.shape[1]} entries (X's columns); got {target.shape[0]}")
    x_target = X @ target                                     # (n,)
    scores = x_target - (0.5 * (X * X).sum(1) if exact else 0.0)
    picked = torch.empty(k, dtype=torch.int64, device=X.device)
    for t in range(k):
        i = torch.argmax(scores)                              # first maximiser, as numpy's
        picked[t] = i
        scores += x_target - X @ X[i]
        scores[i] = -torch.inf
    return picked.cpu().numpy()
