"""Parameter errors that ignore the labelling of the experts (sign / permutation)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def symmetric_error(beta, w, beta_true, w_true):
    """Errors of the symmetric model, invariant to ``theta -> -theta`` (swapping experts).

    Returns ``(beta_error, w_error)`` at the sign ``s`` minimising
    ``||beta - s beta*||^2 + ||w - s w*||^2``.
    """
    beta, w = np.asarray(beta, float), np.asarray(w, float)
    errs = []
    for s in (1.0, -1.0):
        eb = float(np.linalg.norm(beta - s * np.asarray(beta_true)))
        ew = float(np.linalg.norm(w - s * np.asarray(w_true)))
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
    E = np.asarray(expert_coef, float)
    T = np.asarray(expert_true, float)
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
