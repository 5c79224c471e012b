"""``A = U diag(s) V`` with fast orthogonal ``U``, ``V``: the HIPNEX instance family at large ``n``.

HIPNEX's generator (joaompereira/hipnex ``cubic_min_max_setup.m``) draws Haar-random ``U``, ``V``,
which costs O(n^2) memory and O(n^3) time. Here ``U`` and ``V`` are products of orthonormal
DCT-II transforms, random sign flips and a random permutation,

    Q(v) = C (D_2 (C (D_1 (P v)))),        C = orthonormal DCT-II, D_i = diag(+-1),

so ``A x``, ``A^T y``, ``A^{-1} b`` and the shifted Gram solve
``(c I + t A^T A)^{-1} g = V^T diag(1 / (c + t s^2)) V g`` all cost O(n log n) (``A^T A`` is
diagonal in the basis ``V``). The singular values are HIPNEX's, ``s = exp(linspace(-log kappa, 0, n))``,
so ``cond(A) = kappa`` exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct, idct


class FastOrthogonal:
    """The orthogonal map ``Q(v) = C D_2 C D_1 P v`` (see the module docstring) and its inverse."""

    def __init__(self, n, rng):
        self.n = int(n)
        self.perm = rng.permutation(self.n)
        self.s1 = rng.choice([-1.0, 1.0], size=self.n)
        self.s2 = rng.choice([-1.0, 1.0], size=self.n)

    def apply(self, v):
        """``Q v`` (``v`` of shape (n,) or (n, k))."""
        v = v[self.perm]
        v = dct(_scale(self.s1, v), norm="ortho", axis=0)
        return dct(_scale(self.s2, v), norm="ortho", axis=0)

    def apply_T(self, w):
        """``Q^T w = Q^{-1} w``."""
        w = _scale(self.s2, idct(w, norm="ortho", axis=0))
        w = _scale(self.s1, idct(w, norm="ortho", axis=0))
        out = np.empty_like(w)
        out[self.perm] = w
        return out


def _scale(s, v):
    return s * v if v.ndim == 1 else s[:, None] * v


class FastSVDMatrix:
    """``A = U diag(s) V`` with :class:`FastOrthogonal` ``U``, ``V``; supports ``A @ x`` and ``A.T @ y``.

    Parameters
    ----------
    s : ndarray (n,)
        Singular values (positive).
    rng : numpy Generator
        Draws ``U`` then ``V``.
    """

    def __init__(self, s, rng):
        self.s = np.asarray(s, dtype=float)
        self.n = self.s.shape[0]
        self.U = FastOrthogonal(self.n, rng)
        self.V = FastOrthogonal(self.n, rng)
        self.shape = (self.n, self.n)
        self.transposed = False

    @property
    def T(self):
        """The transpose ``V^T diag(s) U^T`` (a view sharing ``s``, ``U``, ``V``)."""
        t = object.__new__(FastSVDMatrix)
        t.__dict__.update(self.__dict__)
        t.transposed = not self.transposed
        return t

    def __matmul__(self, v):
        v = np.asarray(v, dtype=float)
        if self.transposed:  # A^T y = V^T (s * U^T y)
            return self.V.apply_T(_scale(self.s, self.U.apply_T(v)))
        return self.U.apply(_scale(self.s, self.V.apply(v)))  # A x = U (s * V x)

    def solve(self, b):
        """``A^{-1} b`` (or ``A^{-T} b`` for the transpose)."""
        b = np.asarray(b, dtype=float)
        if self.transposed:  # A^{-T} = U^T... : (V^T S U^T)^{-1} = U S^{-1} V
            return self.U.apply(_scale(1.0 / self.s, self.V.apply(b)))
        return self.V.apply_T(_scale(1.0 / self.s, self.U.apply_T(b)))

    def shifted_gram_solve(self, c, t, rhs):
        """Solve ``(c I + t A^T A) u = rhs`` (``rhs`` (n,) or (n, k)) in O(n log n)."""
        d = 1.0 / (c + t * self.s * self.s)
        return self.V.apply_T(_scale(d, self.V.apply(rhs)))

    def norm2(self):
        """Spectral norm ``max(s)``."""
        return float(self.s.max())

    def cond(self):
        """Condition number ``max(s) / min(s)``."""
        return float(self.s.max() / self.s.min())

    def toarray(self):
        """Dense ``A`` (small ``n`` only; O(n^2 log n))."""
        return self @ np.eye(self.n)
