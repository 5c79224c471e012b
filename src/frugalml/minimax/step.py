"""The adaptive step size and the local Hessian-Lipschitz estimate (pure functions).

Notation (Jiang, Kavis, Jin, Sanghavi & Mokhtari, arXiv 2406.02016): ``F`` is the monotone
operator, ``e_k = F(z_k) - F(z_{k-1}) - J(z_{k-1})(z_k - z_{k-1})`` the prediction error of the
second-order model and ``v_k = eta_{k-1} e_k`` the optimistic correction. The step solves

    (I + eta_k J(z_k)) (z_{k+1} - z_k) = -(eta_k F(z_k) + v_k).

The line-search method (Jiang & Mokhtari's second-order optimistic method) accepts ``eta_k`` only if

    eta_k ||e_{k+1}|| <= (alpha / 2) ||z_{k+1} - z_k||.                       (acceptance test)

Line-search-free choice used here. Because ``J`` has a PSD symmetric part, ``(I + eta J)^{-1}``
is non-expansive, so ``||z_{k+1} - z_k|| <= eta_k ||F(z_k)|| + ||v_k||``; with an L2-Lipschitz
Jacobian ``||e_{k+1}|| <= (L2 / 2) ||z_{k+1} - z_k||^2``. The acceptance test therefore holds
without being checked as soon as ``eta_k L2 (eta_k ||F(z_k)|| + ||v_k||) <= alpha``; the largest
such ``eta_k`` is the positive root

    eta_k = 2 alpha / (L2 ||v_k|| + sqrt(L2^2 ||v_k||^2 + 4 alpha L2 ||F(z_k)||)).

It depends on the previous step (through ``v_k = eta_{k-1} e_k``): "defined recursively as a
function of the gradient norm and the prediction error", as the paper's abstract states.
Option II replaces ``L2`` by the local estimate
``lambda_{k+1} = 2 ||e_{k+1}|| / ||z_{k+1} - z_k||^2``.

Provenance: these two formulas were derived here from the acceptance test (and the project's
paper page); the text of the paper's Algorithm 1 could not be retrieved to compare constants.
"""

from __future__ import annotations

import math

from frugalml._core.validation import check_positive, check_scalar


def adaptive_step_size(norm_F: float, norm_v: float, lam: float, alpha: float) -> float:
    """Largest ``eta`` with ``eta * lam * (eta * norm_F + norm_v) <= alpha``.

    Parameters
    ----------
    norm_F : float
        ``||F(z_k)||``.
    norm_v : float
        ``||v_k|| = eta_{k-1} ||e_k||`` (0 at the first iteration).
    lam : float
        Hessian-Lipschitz constant ``L2`` (Option I) or its local estimate (Option II); > 0.
    alpha : float
        Acceptance parameter in (0, 1).

    Returns
    -------
    float
        ``2 alpha / (lam norm_v + sqrt(lam^2 norm_v^2 + 4 alpha lam norm_F))``; ``inf`` when
        the denominator vanishes (``F(z_k) = 0`` and ``v_k = 0``).
    """
    norm_F = check_positive(norm_F, "norm_F", strict=False)
    norm_v = check_positive(norm_v, "norm_v", strict=False)
    lam = check_positive(lam, "lam")
    alpha = check_scalar(alpha, "alpha", low=0, high=1, low_inclusive=False, high_inclusive=False)
    a = lam * norm_v
    denom = a + math.sqrt(a * a + 4.0 * alpha * lam * norm_F)
    return math.inf if denom == 0.0 else 2.0 * alpha / denom


def local_lipschitz_estimate(norm_e: float, norm_step: float) -> float:
    """``2 ||e_{k+1}|| / ||z_{k+1} - z_k||^2``, the Option II estimate of ``L2`` (NaN if the step is 0)."""
    norm_e = check_positive(norm_e, "norm_e", strict=False)
    norm_step = check_positive(norm_step, "norm_step", strict=False)
    if norm_step == 0.0:
        return math.nan
    return 2.0 * norm_e / (norm_step * norm_step)
