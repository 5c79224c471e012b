"""In-context regression task samplers (Collins et al., 2024, Section 2).

A *task* is a function ``f`` drawn from a class of ``L``-Lipschitz functions on the unit
sphere ``S^{d-1}``. One *context* holds ``n`` labelled tokens ``(x_i, f(x_i) + eps_i)``
with ``x_i ~ Unif(S^{d-1})`` and ``eps_i ~ N(0, sigma^2)``, and one query ``x_q`` whose
noiseless target ``f(x_q)`` the model must predict (the pretraining loss, eq. (2) of the
paper, is ``E (y_hat - f(x_q))^2``).

Every sampler draws its randomness in the same order (inputs, then the task's
parameters, then the label noise) from standard distributions that do not depend on
``lipschitz`` or ``noise``; two samplers of the same class that differ only in those
scalars therefore see *common random numbers* when given the same seed. Tests use this
to check invariances exactly.

Add a task class by subclassing :class:`TaskSampler` and implementing
``sample_params`` and ``evaluate``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from frugalml._core import check_positive, torch_generator

__all__ = [
    "AffineTasks",
    "CosineTasks",
    "ICLBatch",
    "LowRankTasks",
    "ReLUTasks",
    "TaskSampler",
    "sample_sphere",
]


@dataclass
class ICLBatch:
    """A batch of in-context regression prompts.

    Attributes
    ----------
    x : Tensor, shape (B, n, d)
        Context inputs on the unit sphere.
    y : Tensor, shape (B, n)
        Noisy context labels ``f(x_i) + eps_i``.
    x_query : Tensor, shape (B, d)
        One query input per context.
    y_query : Tensor, shape (B,)
        Noiseless query target ``f(x_q)``.
    """

    x: torch.Tensor
    y: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor

    @property
    def context_size(self) -> int:
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return int(self.x.shape[0])


def sample_sphere(shape, d: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """Points drawn uniformly on ``S^{d-1}``: shape ``(*shape, d)``."""
    z = torch.randn(*shape, d, generator=generator, dtype=dtype)
    return z / z.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)


def _check_dim(d, name="d"):
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise ValueError(f"{name} must be a positive integer; got {d!r}")
    return int(d)


class TaskSampler:
    """Base class: draws batches of contexts from a class of regression tasks.

    Parameters
    ----------
    d : int
        Input dimension; inputs lie on the unit sphere ``S^{d-1}``.
    lipschitz : float
        Lipschitz constant ``L`` of every function of the class.
    noise : float
        Standard deviation ``sigma`` of the label noise on context labels.

    Subclasses implement :meth:`sample_params` (a dict of tensors, leading dim ``B``) and
    :meth:`evaluate` (``f(x)`` for inputs of shape ``(B, m, d)``).
    """

    def __init__(self, d: int, lipschitz: float = 1.0, noise: float = 0.1):
        self.d = _check_dim(d)
        self.lipschitz = float(check_positive(lipschitz, "lipschitz", strict=False))
        self.noise = float(check_positive(noise, "noise", strict=False))

    # -- to implement -------------------------------------------------------------
    def sample_params(self, batch_size: int, generator: torch.Generator, dtype) -> dict:
        raise NotImplementedError

    def evaluate(self, params: dict, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def sample_inputs(self, batch_size: int, n_points: int, generator: torch.Generator, dtype) -> torch.Tensor:
        """Inputs ``(B, n_points, d)`` uniform on the sphere (override for another law)."""
        return sample_sphere((batch_size, n_points), self.d, generator, dtype)

    def sample(self, batch_size: int, context_size: int, random_state=None, dtype=torch.float32) -> ICLBatch:
        """Draw ``batch_size`` contexts of ``context_size`` tokens plus one query each.

        ``random_state`` is an int, ``None``, a numpy ``Generator`` or a
        ``torch.Generator`` (used in place, so a training loop can thread one stream).
        """
        batch_size = _check_dim(batch_size, "batch_size")
        context_size = _check_dim(context_size, "context_size")
        gen = torch_generator(random_state)
        xs = self.sample_inputs(batch_size, context_size + 1, gen, dtype)  # (B, n+1, d)
        params = self.sample_params(batch_size, gen, dtype)
        fx = self.evaluate(params, xs)  # (B, n+1)
        eps = torch.randn(batch_size, context_size, generator=gen, dtype=dtype)  # (B, n)
        batch = ICLBatch(
            x=xs[:, :context_size],
            y=fx[:, :context_size] + self.noise * eps,
            x_query=xs[:, context_size],
            y_query=fx[:, context_size],
        )
        if not (torch.isfinite(batch.y).all() and torch.isfinite(batch.y_query).all()):
            scalars = ", ".join(f"{k}={v:g}" for k, v in vars(self).items()
                                if isinstance(v, float) and k in ("lipschitz", "noise", "bias", "frequency"))
            raise ValueError(f"{type(self).__name__}: labels overflow {dtype} ({scalars}); the lipschitz, noise "
                             f"or bias scale is too large for this dtype: rescale it or sample with "
                             f"dtype=torch.float64")
        return batch

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, lipschitz={self.lipschitz}, noise={self.noise})"


class AffineTasks(TaskSampler):
    """Affine tasks ``f(x) = L w^T x + b``, ``w ~ Unif(S^{d-1})``, ``b ~ N(0, bias^2)``.

    The Lipschitz constant is exactly ``L``. Softmax attention weights sum to one, so the
    intercept ``b`` cancels from its error and the pretraining risk of ``M = w I`` is
    ``L^2 G(w) + sigma^2 H(w)`` (see :func:`frugalml.icl.window.affine_window_risk`); a
    predictor linear in ``x_q`` (linear attention) cannot fit ``b`` and pays ``bias^2``.
    """

    def __init__(self, d: int, lipschitz: float = 1.0, noise: float = 0.1, bias: float = 1.0):
        super().__init__(d, lipschitz, noise)
        self.bias = float(check_positive(bias, "bias", strict=False))

    def sample_params(self, batch_size, generator, dtype):
        w = sample_sphere((batch_size,), self.d, generator, dtype)  # (B, d)
        b = torch.randn(batch_size, generator=generator, dtype=dtype)  # (B,)
        return {"w": w, "b": self.bias * b}

    def evaluate(self, params, x):
        return self.lipschitz * torch.einsum("bmd,bd->bm", x, params["w"]) + params["b"][:, None]

    def __repr__(self):
        return f"AffineTasks(d={self.d}, lipschitz={self.lipschitz}, noise={self.noise}, bias={self.bias})"


class ReLUTasks(TaskSampler):
    """ReLU tasks ``f(x) = L relu(w^T x) + b`` (Lipschitz constant ``L``)."""

    def __init__(self, d: int, lipschitz: float = 1.0, noise: float = 0.1, bias: float = 1.0):
        super().__init__(d, lipschitz, noise)
        self.bias = float(check_positive(bias, "bias", strict=False))

    def sample_params(self, batch_size, generator, dtype):
        w = sample_sphere((batch_size,), self.d, generator, dtype)
        b = torch.randn(batch_size, generator=generator, dtype=dtype)
        return {"w": w, "b": self.bias * b}

    def evaluate(self, params, x):
        return self.lipschitz * torch.relu(torch.einsum("bmd,bd->bm", x, params["w"])) + params["b"][:, None]


class CosineTasks(TaskSampler):
    """Cosine tasks ``f(x) = A cos(omega w^T x + phi) + b``, ``phi ~ Unif[0, 2 pi)``, Lipschitz ``L = A omega``.

    Parameters
    ----------
    d, lipschitz, noise, bias
        As for :class:`AffineTasks`.
    frequency : float or None, default None
        ``omega``. ``None`` puts all of ``L`` into the frequency (``omega = L``, ``A = 1``):
        the curvature then grows with ``L`` too, and once ``L`` is too large for ``n``
        context points on the sphere to resolve the oscillation, the best softmax window
        is plain averaging (``w -> 0``), not a narrower one. A fixed ``frequency`` scales
        the amplitude instead (``A = L / omega``): the shape stays resolvable and only the
        Lipschitz constant changes, the setting in which the paper's window claim applies.
    """

    def __init__(self, d: int, lipschitz: float = 1.0, noise: float = 0.1, bias: float = 1.0,
                 frequency: float | None = None):
        super().__init__(d, lipschitz, noise)
        self.bias = float(check_positive(bias, "bias", strict=False))
        if frequency is not None:
            frequency = float(check_positive(frequency, "frequency"))
        self.frequency = frequency

    @property
    def omega(self) -> float:
        """The frequency ``omega`` (``L`` when ``frequency`` is None)."""
        return self.lipschitz if self.frequency is None else self.frequency

    @property
    def amplitude(self) -> float:
        """The amplitude ``A = L / omega`` (1 when ``frequency`` is None)."""
        return 1.0 if self.frequency is None else self.lipschitz / self.frequency

    def sample_params(self, batch_size, generator, dtype):
        w = sample_sphere((batch_size,), self.d, generator, dtype)
        phase = 2 * math.pi * torch.rand(batch_size, generator=generator, dtype=dtype)
        b = torch.randn(batch_size, generator=generator, dtype=dtype)
        return {"w": w, "phase": phase, "b": self.bias * b}

    def evaluate(self, params, x):
        t = self.omega * torch.einsum("bmd,bd->bm", x, params["w"]) + params["phase"][:, None]  # (B, m)
        return self.amplitude * torch.cos(t) + params["b"][:, None]

    def __repr__(self):
        return (f"CosineTasks(d={self.d}, lipschitz={self.lipschitz}, noise={self.noise}, bias={self.bias}, "
                f"frequency={self.frequency})")


_BASES = {"affine": AffineTasks, "relu": ReLUTasks, "cosine": CosineTasks}


class LowRankTasks(TaskSampler):
    """Low-rank tasks ``f(x) = g(B^T x)`` with a basis ``B`` (d x rank) shared by all tasks.

    ``g`` is drawn from ``base``, a task class on ``R^rank`` (Section 4 of the paper):
    ``f`` varies only along ``span(B)``, so an attention unit that projects onto
    ``span(B)`` (``M`` concentrated on ``B B^T``) averages over a larger, equally relevant
    neighbourhood.

    Parameters
    ----------
    d, rank : int
        Ambient and intrinsic dimension, ``1 <= rank <= d``.
    base : {"affine", "relu", "cosine"} or TaskSampler
        The class of ``g``. A sampler instance must have ``d == rank``; its ``lipschitz``
        and ``noise`` are then used and the arguments of the same name are ignored.
    lipschitz, noise : float
        Used when ``base`` is a name.
    basis : array-like of shape (d, rank), optional
        Orthonormal columns; drawn at random (Haar) from ``random_state`` when omitted.
    random_state : int or None
        Seed for the basis.

    Attributes
    ----------
    basis : Tensor (d, rank)
    projector : Tensor (d, d), ``B B^T``.
    """

    def __init__(self, d: int, rank: int, base="affine", lipschitz: float = 1.0, noise: float = 0.1,
                 basis=None, random_state=0):
        d = _check_dim(d)
        rank = _check_dim(rank, "rank")
        if rank > d:
            raise ValueError(f"rank must be <= d; got rank={rank} > d={d}")
        if isinstance(base, str):
            if base not in _BASES:
                raise ValueError(f"base must be one of {sorted(_BASES)} or a TaskSampler; got {base!r}")
            base = _BASES[base](rank, lipschitz=lipschitz, noise=noise)
        elif isinstance(base, TaskSampler):
            if base.d != rank:
                raise ValueError(f"base sampler has d={base.d} but rank={rank}; they must match")
        else:
            raise ValueError(f"base must be a task name or a TaskSampler; got {type(base).__name__}")
        super().__init__(d, base.lipschitz, base.noise)
        self.rank = rank
        self.base = base
        if basis is None:
            gen = torch_generator(random_state)
            q, r = torch.linalg.qr(torch.randn(d, rank, generator=gen, dtype=torch.float64))
            basis = q * torch.sign(torch.diagonal(r))[None, :]
        else:
            basis = torch.as_tensor(basis, dtype=torch.float64)
            if basis.shape != (d, rank):
                raise ValueError(f"basis must have shape (d, rank)=({d}, {rank}); got {tuple(basis.shape)}")
            if not torch.allclose(basis.T @ basis, torch.eye(rank, dtype=torch.float64), atol=1e-6):
                raise ValueError("basis must have orthonormal columns (basis.T @ basis == I)")
        self.basis = basis

    @property
    def projector(self) -> torch.Tensor:
        return self.basis @ self.basis.T

    def sample_params(self, batch_size, generator, dtype):
        return self.base.sample_params(batch_size, generator, dtype)

    def evaluate(self, params, x):
        z = x @ self.basis.to(x.dtype)  # (B, m, rank)
        return self.base.evaluate(params, z)

    def __repr__(self):
        return f"LowRankTasks(d={self.d}, rank={self.rank}, base={self.base!r})"
