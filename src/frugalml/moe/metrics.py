"""Parameter errors that ignore the labelling of the experts (sign / permutation)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from frugalml._core.validation import check_array

MAX_ABS = 1e150  # squared differences of larger entries overflow


def symmetric_error(beta, w, beta_true, w_true):
    """Errors of the symmetric model, invariant to ``theta -> -theta`` (swapping experts).

    Returns ``(beta_error, w_error)`` at the sign ``s`` minimising
    ``||beta - s beta*||^2 + ||w - s w*||^2``.
    """
    beta = check_array(beta, "beta", ndim=1, max_abs=MAX_ABS)
    w = check_array(w, "w", ndim=1, shape=beta.shape, max_abs=MAX_ABS)
    beta_true = check_array(beta_true, "beta_true", ndim=1, shape=beta.shape, max_abs=MAX_ABS)
    w_true = check_array(w_true, "w_true", ndim=1, shape=beta.shape, max_abs=MAX_ABS)
    errs = []
    for s in (1.0, -1.0):
        eb = float(np.linalg.norm(beta - s * beta_true))
        ew = float(np.linalg.norm(w - s * w_true))
        errs.append((eb**2 + ew**2, eb, ew))
    _, eb, ew = min(errs)
    return eb, ew


def matched_error(expert_coef, expert_true, gate_coef=None, gate_true=None):
    """Errors up to a permutation of the experts (Hungarian matching on expert coefficients).

    Returns a dict with ``expert_error`` (Frobenius norm after matching), ``gate_error``
    (after permuting the estimated gate rows and re-centring them on the new last row, so
    both gates have the identifiable form ``w_K = 0``; None without gates) and
    ``permutation`` (estimated expert ``permutation[k]`` matches true expert ``k``).
    """
    E = check_array(expert_coef, "expert_coef", ndim=None, max_abs=MAX_ABS)
    T = check_array(expert_true, "expert_true", ndim=None, max_abs=MAX_ABS)
    if E.ndim < 2:
        raise ValueError(f"expert_coef must be an (n_experts, ...) array; got shape {E.shape}")
    if E.shape != T.shape:
        raise ValueError(f"expert_coef has shape {E.shape} but expert_true has {T.shape}")
    K = E.shape[0]
    cost = np.array([[np.sum((E[j] - T[k]) ** 2) for j in range(K)] for k in range(K)])
    rows, cols = linear_sum_assignment(cost)
    perm = cols[np.argsort(rows)]
    out = {"expert_error": float(np.linalg.norm(E[perm] - T)), "gate_error": None, "permutation": perm.tolist()}
    if gate_coef is not None and gate_true is not None:
        G = np.asarray(gate_coef, float)[perm]
        G = G - G[-1]
        Gt = np.asarray(gate_true, float)
        out["gate_error"] = float(np.linalg.norm(G - (Gt - Gt[-1])))
    return out
