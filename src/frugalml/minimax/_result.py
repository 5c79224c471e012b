"""The one result type every minimax solver returns (the ``scipy.optimize`` shape)."""

from __future__ import annotations

import numpy as np

# status -> message; every termination message comes from this table.
STATUS_MESSAGES = {
    0: "converged: ||F(z)|| <= tol",
    1: "maximum number of iterations reached (raise max_iter)",
    2: "time limit reached (raise max_time)",
    3: "a non-finite value (NaN or inf) appeared in F, the step or the linear solve; "
       "the last finite iterate is returned (check the operator, or lower the step / L2 guess)",
    4: "line search failed: the step size shrank below 1e-300 without meeting the acceptance test",
    5: "the iterative linear solver did not converge (raise its iteration limit or use linear_solver='direct')",
    6: "HIPNEX's homotopy loop exceeded options['max_inner'] steps in one iteration (raise it, or check L2)",
}


class MinimaxResult(dict):
    """Result of :func:`frugalml.minimax.solve_minimax`; a dict with attribute access.

    Attributes
    ----------
    x : ndarray
        Final iterate ``z = (x, y)``.
    x_avg : ndarray or None
        Step-size-weighted average of the iterates, ``sum_k eta_k z_{k+1} / sum_k eta_k``
        (the point the paper's O(T^{-3/2}) gap bound is stated for); ``None`` for methods
        without such a weighting.
    lambda0 : float or None
        Initial Lipschitz estimate the adaptive method started from (``L2`` for Option I).
    fun_norm : float
        ``||F(x)||``.
    success : bool
        ``status == 0``.
    status : int
        Key of :data:`STATUS_MESSAGES`.
    message : str
        Why the solver stopped.
    nit : int
        Outer iterations.
    nfev : int
        Operator evaluations ``F(z)``.
    njev : int
        Points at which Jacobian information was formed: calls of ``jac`` or, with
        ``jvp`` / a callable linear solver, the number of distinct points the linear systems
        were built at.
    njvp : int
        Jacobian-vector products (including those inside MINRES / GMRES).
    nlinsolve : int
        Linear systems ``(I + eta J(z)) d = r`` solved.
    history : dict of ndarray
        Per-iteration records, index 0 is the starting point: ``norm_F``, ``time`` (seconds,
        excluding the time spent computing ``gap``), ``nlinsolve`` and ``nfev`` (cumulative),
        ``eta`` (step size used to reach that iterate, NaN at 0), ``lam`` (Lipschitz estimate
        where the method has one) and ``gap`` (when a ``gap`` callable was given).
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__

    def __repr__(self):
        keys = ("success", "status", "message", "fun_norm", "nit", "nfev", "njev", "njvp", "nlinsolve")
        body = ", ".join(f"{k}={self.get(k)!r}" for k in keys)
        return f"MinimaxResult({body})"


class History:
    """Collects per-iteration records and turns them into arrays at the end."""

    FIELDS = ("norm_F", "time", "nlinsolve", "nfev", "eta", "lam", "gap")

    def __init__(self, gap):
        self.gap_fn = gap
        self.rows = {k: [] for k in self.FIELDS}
        self.gap_time = 0.0

    def record(self, z, norm_F, elapsed, nlinsolve, nfev, eta=np.nan, lam=np.nan):
        import time

        self.rows["norm_F"].append(float(norm_F))
        self.rows["time"].append(float(elapsed - self.gap_time))
        self.rows["nlinsolve"].append(int(nlinsolve))
        self.rows["nfev"].append(int(nfev))
        self.rows["eta"].append(float(eta))
        self.rows["lam"].append(float(lam))
        if self.gap_fn is not None:
            t = time.perf_counter()
            self.rows["gap"].append(float(self.gap_fn(z)))
            self.gap_time += time.perf_counter() - t

    def arrays(self) -> dict:
        out = {k: np.asarray(v, dtype=float) for k, v in self.rows.items() if k != "gap"}
        if self.gap_fn is not None:
            out["gap"] = np.asarray(self.rows["gap"], dtype=float)
        return out
