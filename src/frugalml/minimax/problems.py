"""Test problems with known saddle points: the cubic-regularised bilinear min-max problem.

    min_x max_y  f(x, y) = (L2 / 6) ||x||^3 + y^T (A x - b),      x, y in R^n

    F(z) = [ (L2/2) ||x|| x + A^T y ;  b - A x ]
    J(z) = [[ (L2/2)(||x|| I + x x^T / ||x||),  A^T ], [ -A, 0 ]]

The Jacobian is L2-Lipschitz. For invertible ``A`` the unique saddle point is
``x* = A^{-1} b``, ``y* = -(L2/2) ||x*|| A^{-T} x*``.

Generators
----------
``"bidiagonal"`` (LEN repository, TrueNobility303/LEN ``Synthetic.py``): ``A`` upper bidiagonal
with 1 on the diagonal and -1 above it, ``b`` uniform in {-1, +1}^n, ``L2 = 1/(20 n)``,
``z0 = 0``. ``A^T A`` is tridiagonal, so ``(I + eta J) d = r`` is solved in O(n)
(:meth:`CubicBilinear.solve_shifted`): this is the generator used for the large runs.
``"orthogonal"`` (HIPNEX repository, joaompereira/hipnex ``cubic_min_max_setup.m``):
``A = U diag(exp(linspace(-log kappa, 0, n))) V`` with random orthogonal ``U, V``, ``kappa = 20``,
``b ~ N(0, I)/sqrt(n)``, ``L2 = 1e-3``, ``z0 ~ N(0, I)/sqrt(n)``.
``"fast_orthogonal"``: the same family with ``U``, ``V`` built from DCTs, sign flips and a
permutation (:mod:`frugalml.minimax.fastops`), so that ``A x``, ``A^T y`` and the shifted solve
cost O(n log n): the generator of the large runs (d = 1e5 to 1e6). ``||x*|| <= kappa ||b||`` is
O(1) for every ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_banded

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_array, check_option, check_positive
from frugalml.minimax.fastops import FastSVDMatrix

GENERATORS = ("bidiagonal", "orthogonal", "fast_orthogonal")


@dataclass
class CubicBilinear:
    """The cubic-regularised bilinear problem ``(L2/6)||x||^3 + y^T(Ax - b)``.

    Attributes
    ----------
    A : ndarray or scipy.sparse matrix (n, n)
    b : ndarray (n,)
    L2 : float
        Lipschitz constant of the Jacobian (the cubic coefficient times 6).
    z0 : ndarray (2n,)
        The generator's starting point.
    generator : str
    """

    A: object
    b: np.ndarray
    L2: float
    z0: np.ndarray
    generator: str = "custom"

    def __post_init__(self):
        self.n = self.b.shape[0]
        self.sparse = sp.issparse(self.A)
        self.fast = isinstance(self.A, FastSVDMatrix)
        if self.sparse:
            self.A = sp.csr_matrix(self.A)
            self._AT = self.A.T.tocsr()
        self._star = None
        self._ata_bands = None

    @property
    def d(self) -> int:
        """Dimension of ``z = (x, y)``."""
        return 2 * self.n

    # ---------------------------------------------------------------- operator
    def F(self, z):
        """``F(z) = [(L2/2)||x|| x + A^T y ; b - A x]``."""
        x, y = z[: self.n], z[self.n:]
        return np.concatenate([(0.5 * self.L2 * np.linalg.norm(x)) * x + self.A.T @ y, self.b - self.A @ x])

    def jac(self, z):
        """Dense Jacobian ``[[ (L2/2)(||x|| I + x x^T/||x||), A^T ], [ -A, 0 ]]`` (small n only)."""
        n = self.n
        x = z[:n]
        nx = np.linalg.norm(x)
        A = self.A.toarray() if self.sparse or self.fast else self.A
        J = np.zeros((2 * n, 2 * n))
        J[:n, :n] = 0.5 * self.L2 * nx * np.eye(n)
        if nx > 0:
            J[:n, :n] += (0.5 * self.L2 / nx) * np.outer(x, x)
        J[:n, n:] = A.T
        J[n:, :n] = -A
        return J

    def jvp(self, z, u):
        """``J(z) u`` in O(nnz(A)) without forming ``J``."""
        n = self.n
        x, ux, uy = z[:n], u[:n], u[n:]
        nx = np.linalg.norm(x)
        top = 0.5 * self.L2 * nx * ux + self.A.T @ uy
        if nx > 0:
            top = top + (0.5 * self.L2 * (x @ ux) / nx) * x
        return np.concatenate([top, -(self.A @ ux)])

    def solve_shifted(self, z, eta, rhs):
        """Solve ``(I + eta J(z)) d = rhs`` in O(n) (bidiagonal ``A``) or O(n log n) (fast orthogonal).

        Eliminating ``dy = r_y + eta A dx`` leaves
        ``(c I + w x x^T + eta^2 A^T A) dx = r_x - eta A^T r_y`` with
        ``c = 1 + eta (L2/2) ||x||`` and ``w = eta (L2/2) / ||x||``: a shifted Gram system
        (tridiagonal for the bidiagonal ``A``, banded LU; diagonal in the basis ``V`` for
        ``A = U diag(s) V``) plus a rank-one term (Sherman-Morrison formula).
        """
        n = self.n
        x = z[:n]
        rx, ry = rhs[:n], rhs[n:]
        nx = np.linalg.norm(x)
        c = 1.0 + eta * 0.5 * self.L2 * nx
        g = rx - eta * (self.A.T @ ry)
        if self.fast:
            gram_solve = lambda cols: self.A.shifted_gram_solve(c, eta * eta, cols)  # noqa: E731
        else:
            ab = eta * eta * self._tridiagonal_ata()
            ab[1] += c
            gram_solve = lambda cols: solve_banded((1, 1), ab, cols, check_finite=False)  # noqa: E731
        if nx > 0:
            w = eta * 0.5 * self.L2 / nx
            sol = gram_solve(np.column_stack([g, x]))
            t_r, t_x = sol[:, 0], sol[:, 1]
            dx = t_r - (w * (x @ t_r) / (1.0 + w * (x @ t_x))) * t_x
        else:
            dx = gram_solve(g)
        dy = ry + eta * (self.A @ dx)
        return np.concatenate([dx, dy])

    def _tridiagonal_ata(self):
        if self._ata_bands is None:
            M = sp.csr_matrix(self.A.T @ self.A) if self.sparse else sp.csr_matrix(self.A.T @ self.A)
            if M.nnz and np.max(np.abs(sp.triu(M, 2).data), initial=0.0) > 0:
                raise ValueError("solve_shifted needs A^T A tridiagonal (the 'bidiagonal' generator); "
                                 "use linear_solver='direct' or 'minres' for this A")
            n = self.n
            bands = np.zeros((3, n))
            bands[0, 1:] = M.diagonal(1)
            bands[1] = M.diagonal(0)
            bands[2, :-1] = M.diagonal(-1)
            self._ata_bands = bands
        return self._ata_bands.copy()

    # ---------------------------------------------------------------- solution and gap
    @property
    def z_star(self) -> np.ndarray:
        """The saddle point ``(A^{-1} b, -(L2/2)||x*|| A^{-T} x*)``."""
        if self._star is None:
            if self.fast:
                x = self.A.solve(self.b)
                y = self.A.T.solve(-0.5 * self.L2 * np.linalg.norm(x) * x)
            elif self.sparse:
                from scipy.sparse.linalg import spsolve

                x = spsolve(self.A.tocsc(), self.b)
                y = spsolve(self._AT.tocsc(), -0.5 * self.L2 * np.linalg.norm(x) * x)
            else:
                x = np.linalg.solve(self.A, self.b)
                y = np.linalg.solve(self.A.T, -0.5 * self.L2 * np.linalg.norm(x) * x)
            self._star = np.concatenate([x, y])
        return self._star

    def f(self, x, y) -> float:
        """Objective ``(L2/6)||x||^3 + y^T (A x - b)``."""
        return float(self.L2 / 6.0 * np.linalg.norm(x) ** 3 + y @ (self.A @ x - self.b))

    def restricted_gap(self, z, radius=None) -> float:
        """``max_{y in B(y*, r)} f(x, y) - min_{x' in B(x*, r)} f(x', y)`` (the paper's gap).

        ``radius`` defaults to ``||z0 - z*||`` (at least 1e-12). The inner minimisation over the
        ball is exact: the minimiser of ``(L2/6)||x||^3 + c^T x`` is ``-sqrt(2||c||/L2) c/||c||``;
        when it lies outside the ball the constrained minimiser is
        ``x(mu) = (mu x* - c) / ((L2/2) r + mu)`` with ``r = ||x(mu)||`` solving a quadratic, and
        ``mu > 0`` is found by bisection so that ``||x(mu) - x*|| = radius``.
        """
        n = self.n
        zs = self.z_star
        xs, ys = zs[:n], zs[n:]
        if radius is None:
            radius = max(float(np.linalg.norm(self.z0 - zs)), 1e-12)
        x, y = z[:n], z[n:]
        resid = self.A @ x - self.b
        upper = self.L2 / 6.0 * np.linalg.norm(x) ** 3 + ys @ resid + radius * np.linalg.norm(resid)
        lower = self._min_over_ball(self.A.T @ y, xs, radius) - y @ self.b
        return float(upper - lower)

    def _min_over_ball(self, c, xs, radius):
        L = self.L2
        g = lambda u: L / 6.0 * np.linalg.norm(u) ** 3 + c @ u  # noqa: E731
        nc = np.linalg.norm(c)
        xu = -np.sqrt(2 * nc / L) * c / nc if nc > 0 else np.zeros_like(c)
        if np.linalg.norm(xu - xs) <= radius:
            return g(xu)

        def x_of(mu):
            q = mu * xs - c
            r = (-mu + np.sqrt(mu * mu + 2 * L * np.linalg.norm(q))) / L
            return q / (0.5 * L * r + mu)

        lo, hi = 0.0, 1.0
        while np.linalg.norm(x_of(hi) - xs) > radius:
            hi *= 2.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.linalg.norm(x_of(mid) - xs) > radius:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-15 * hi:
                break
        return g(x_of(hi))

    def lipschitz_F(self, radius) -> float:
        """Upper bound on the Lipschitz constant of ``F`` on ``{||x|| <= radius}``: ``||A||_2 + L2 radius``."""
        if self.fast:
            normA = self.A.norm2()
        elif self.sparse:
            from scipy.sparse.linalg import svds

            normA = float(svds(self.A.astype(float), k=1, return_singular_vectors=False)[0])
        else:
            normA = float(np.linalg.norm(self.A, 2))
        return normA + self.L2 * radius


def cubic_bilinear(n, *, generator="bidiagonal", L2=None, kappa=20.0, random_state=None) -> CubicBilinear:
    """Build a :class:`CubicBilinear` instance from one of the two published generators.

    Parameters
    ----------
    n : int
        Size of ``x`` (and of ``y``); ``z`` has ``2 n`` entries.
    generator : {"bidiagonal", "orthogonal", "fast_orthogonal"}
        See the module docstring. ``"bidiagonal"`` builds a sparse ``A``, ``"fast_orthogonal"``
        an O(n log n) operator (use them for large n; :meth:`CubicBilinear.solve_shifted`).
    L2 : float, optional
        Defaults to ``1/(20 n)`` (bidiagonal) or ``1e-3`` (orthogonal families).
    kappa : float
        Condition number of ``A`` for the orthogonal families.
    random_state : int, Generator or None
    """
    check_positive(n, "n", integer=True)
    check_option(generator, GENERATORS, "generator")
    rng = check_random_state(random_state)
    if generator == "bidiagonal":
        A = sp.diags([np.ones(n), -np.ones(n - 1)], [0, 1], format="csr")
        b = 2.0 * rng.integers(0, 2, size=n) - 1.0
        L2 = 1.0 / (20 * n) if L2 is None else check_positive(L2, "L2")
        z0 = np.zeros(2 * n)
    elif generator == "fast_orthogonal":
        check_positive(kappa, "kappa")
        A = FastSVDMatrix(np.exp(np.linspace(-np.log(kappa), 0.0, n)), rng)
        b = rng.standard_normal(n) / np.sqrt(n)
        L2 = 1e-3 if L2 is None else check_positive(L2, "L2")
        z0 = rng.standard_normal(2 * n) / np.sqrt(n)
    else:
        check_positive(kappa, "kappa")
        if n > 5000:
            raise ValueError(f"generator='orthogonal' builds dense n x n matrices; n={n} is too large "
                             "(use generator='fast_orthogonal', the same family in O(n log n), for large runs)")
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        A = (U * np.exp(np.linspace(-np.log(kappa), 0.0, n))) @ V
        b = rng.standard_normal(n) / np.sqrt(n)
        L2 = 1e-3 if L2 is None else check_positive(L2, "L2")
        z0 = rng.standard_normal(2 * n) / np.sqrt(n)
    return CubicBilinear(A=A, b=b, L2=float(L2), z0=z0, generator=generator)


def as_problem(A, b, L2, z0=None) -> CubicBilinear:
    """Wrap user data ``(A, b, L2)`` as a :class:`CubicBilinear` problem (``z0`` defaults to 0)."""
    b = check_array(b, "b", ndim=1)
    if not sp.issparse(A):
        A = check_array(A, "A", ndim=2)
    if A.shape != (b.size, b.size):
        raise ValueError(f"A must be square with len(b) = {b.size} rows; got shape {A.shape}")
    check_positive(L2, "L2")
    z0 = np.zeros(2 * b.size) if z0 is None else check_array(z0, "z0", ndim=1)
    if z0.size != 2 * b.size:
        raise ValueError(f"z0 must have 2 * len(b) = {2 * b.size} entries; got {z0.size}")
    return CubicBilinear(A=A, b=b, L2=float(L2), z0=z0)
