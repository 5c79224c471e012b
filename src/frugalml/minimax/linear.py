"""Linear systems ``(I + eta J(z)) d = r``, the only linear algebra the second-order methods need.

One object per solve run counts every Jacobian evaluation, Jacobian-vector product and
linear solve, so that the result's counters are exact.

Backends
--------
``"direct"``
    Dense (or scipy sparse) ``jac(z)``; LU via ``numpy.linalg.solve`` / ``spsolve``.
``"minres"``
    MINRES on Jacobian-vector products. A minimax Jacobian ``J = [[f_xx, f_xy], [-f_yx, -f_yy]]``
    is not symmetric, but ``D (I + eta J)`` with ``D = diag(I_x, -I_y)`` is (it equals
    ``D + eta * Hessian(f)``), so MINRES runs on the y-negated system; needs ``n_x``.
``"gmres"``
    GMRES on Jacobian-vector products (no structure needed).
callable
    ``solver(z, eta, rhs) -> d`` supplied by the user, e.g. an O(d) structured solve
    (see :meth:`frugalml.minimax.problems.CubicBilinear.solve_shifted`).
"""

from __future__ import annotations

import numpy as np

LINEAR_SOLVERS = ("direct", "minres", "gmres")


class LinearSolveError(RuntimeError):
    """An iterative linear solver stopped before reaching its tolerance."""


class Counters:
    """Exact counts of operator, Jacobian, Jacobian-vector and linear-solve calls."""

    def __init__(self):
        self.nfev = 0
        self.njev = 0
        self.njvp = 0
        self.nlinsolve = 0


class LinearSystems:
    """Factory of ``(I + eta J(z))`` systems at successive points ``z``.

    Parameters
    ----------
    jac, jvp : callable or None
        ``jac(z) -> (d, d) array`` or ``jvp(z, u) -> J(z) u``. At least one is required.
    linear_solver : {"direct", "minres", "gmres"} or callable
    n_x : int or None
        Size of the minimisation block (first ``n_x`` entries of ``z``); needed by MINRES.
    rtol : float
        Relative residual tolerance of MINRES / GMRES.
    counters : Counters
    """

    def __init__(self, jac, jvp, linear_solver, n_x, rtol, counters, maxiter=None):
        self.jac, self.jvp, self.kind = jac, jvp, linear_solver
        self.n_x, self.rtol, self.c, self.maxiter = n_x, rtol, counters, maxiter

    def at(self, z):
        """Freeze the Jacobian at ``z`` (counted as one Jacobian evaluation)."""
        self.c.njev += 1
        if self.kind == "direct":
            return _Dense(self.jac(z), self.c)
        return _Operator(z, self, self.c)


class _Dense:
    def __init__(self, J, counters):
        import scipy.sparse as sp

        self.sparse = sp.issparse(J)
        if not self.sparse:
            J = np.asarray(J, dtype=float)
        self.J, self.c = J, counters
        self.kind = None

    def matvec(self, u):
        return np.asarray(self.J @ u, dtype=float).ravel()

    def solve(self, eta, rhs):
        self.c.nlinsolve += 1
        n = rhs.shape[0]
        if self.sparse:
            import scipy.sparse as sp
            from scipy.sparse.linalg import spsolve

            return spsolve((sp.identity(n, format="csc") + eta * self.J).tocsc(), rhs)
        M = eta * self.J
        M[np.diag_indices(n)] += 1.0
        return np.linalg.solve(M, rhs)


class _Operator:
    """Jacobian known through ``jvp`` (or a dense ``jac`` with an iterative/callable solver)."""

    def __init__(self, z, parent, counters):
        self.z, self.p, self.c = z, parent, counters
        self._J = None
        if parent.jvp is None:  # callable / iterative solver with a dense jac
            self._J = np.asarray(parent.jac(z), dtype=float)

    def matvec(self, u):
        if self._J is not None:
            return self._J @ u
        self.c.njvp += 1
        return np.asarray(self.p.jvp(self.z, u), dtype=float).ravel()

    def solve(self, eta, rhs):
        from scipy.sparse.linalg import LinearOperator, gmres, minres

        kind = self.p.kind
        self.c.nlinsolve += 1
        if callable(kind):
            return np.asarray(kind(self.z, eta, rhs), dtype=float).ravel()
        n = rhs.shape[0]
        if kind == "minres":
            sign = np.ones(n)
            sign[self.p.n_x:] = -1.0
            op = LinearOperator((n, n), matvec=lambda u: sign * (u + eta * self.matvec(np.ravel(u))), dtype=float)
            d, info = minres(op, sign * rhs, rtol=self.p.rtol, maxiter=self.p.maxiter or 10 * n)
        else:
            op = LinearOperator((n, n), matvec=lambda u: np.ravel(u) + eta * self.matvec(np.ravel(u)), dtype=float)
            d, info = gmres(op, rhs, rtol=self.p.rtol, restart=min(n, 200), maxiter=self.p.maxiter or 10 * n)
        if info != 0:
            raise LinearSolveError(f"{kind} returned info={info}")
        return d
