"""Build ``F``, its Jacobian and Jacobian-vector products from a torch function ``f(x, y)``."""

from __future__ import annotations


from frugalml._core.validation import check_array, check_positive


class TorchOperator:
    """``F(z) = (grad_x f, -grad_y f)`` of a convex-concave torch function, by autodiff.

    Parameters
    ----------
    f : callable
        ``f(x, y) -> scalar tensor`` written with torch operations.
    n_x : int
        Size of ``x``; ``z[:n_x]`` is ``x`` and ``z[n_x:]`` is ``y``.
    dtype : torch.dtype
        Computation dtype (float64 by default: second-order methods reach 1e-8 residuals).

    Attributes
    ----------
    F(z), jac(z), jvp(z, u)
        NumPy in, NumPy out; pass them straight to :func:`frugalml.minimax.solve_minimax`.

    Examples
    --------
    >>> import torch
    >>> op = TorchOperator(lambda x, y: (x ** 2).sum() + y @ x - (y ** 2).sum(), n_x=2)
    >>> op.F(np.array([1.0, 0.0, 0.0, 1.0])).tolist()   # (2x + y, -(x - 2y))
    [2.0, 1.0, -0.0, 2.0]
    """

    def __init__(self, f, n_x, dtype=None):
        import torch

        if not callable(f):
            raise ValueError(f"f must be callable f(x, y) -> scalar tensor; got {type(f).__name__}")
        n_x = check_positive(n_x, "n_x", integer=True)
        self.f, self.n_x = f, int(n_x)
        self.dtype = dtype or torch.float64

    def _field(self, z):
        import torch

        x, y = z[: self.n_x], z[self.n_x:]
        gx, gy = torch.func.grad(lambda a, b: self.f(a, b), argnums=(0, 1))(x, y)
        return torch.cat([gx, -gy])

    def _t(self, a, name="z", size=None):
        """A 1-D real array as a tensor; ``z`` must hold ``x`` (``n_x`` entries) and ``y``.

        NaN / inf entries pass through (the operator's value there is NaN, which the solvers
        turn into status 3, "not finite", instead of a crash in the middle of a run).
        """
        import torch

        a = check_array(a, name, ndim=1, allow_nonfinite=True)
        if size is None and a.shape[0] < self.n_x:
            raise ValueError(f"{name} has {a.shape[0]} entries; it must hold x (n_x={self.n_x} entries) and then y")
        if size is not None and a.shape[0] != size:
            raise ValueError(f"{name} has {a.shape[0]} entries; z has {size}")
        return torch.as_tensor(a, dtype=self.dtype)

    def F(self, z):
        """The operator ``(grad_x f, -grad_y f)`` at ``z``."""
        return self._field(self._t(z)).detach().numpy().astype(float)

    def jac(self, z):
        """Dense Jacobian of ``F`` at ``z`` (``d x d``)."""
        import torch

        return torch.func.jacfwd(self._field)(self._t(z)).detach().numpy().astype(float)

    def jvp(self, z, u):
        """``J(z) u`` by forward-over-reverse autodiff, without forming ``J``."""
        import torch

        zt = self._t(z)
        _, out = torch.func.jvp(self._field, (zt,), (self._t(u, "u", size=zt.shape[0]),))
        return out.detach().numpy().astype(float)


def torch_operator(f, n_x, dtype=None) -> TorchOperator:
    """Shorthand for :class:`TorchOperator` ``(f, n_x, dtype)``."""
    return TorchOperator(f, n_x, dtype)
