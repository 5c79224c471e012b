"""``SVFTConfig`` and the sparsity patterns of M (Lingam et al., NeurIPS 2024, Sec. 3).

SVFT adapts a weight ``W0 = U Sigma V^T`` (thin SVD, frozen) as ``W = U (Sigma + M) V^T`` with
a trainable ``M`` that is non-zero only on a fixed support ``Omega`` (Eq. 1-2 of the paper):

* ``"plain"``  -- the diagonal, ``r = min(d1, d2)`` entries (SVFT^P);
* ``"banded"`` -- the diagonal and ``off_diag`` diagonals on each side, ``r(2d+1) - d(d+1)`` entries
  (SVFT^B_d);
* ``"random"`` -- ``n_random`` distinct positions drawn uniformly (SVFT^R_d; by default as many as
  banded with ``off_diag``);
* ``"topk"``   -- the ``top_k`` positions with the largest alignment ``|u_i^T v_j|`` (square
  weights only; SVFT^T_d).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import torch

from frugalml._core.validation import check_option, check_scalar

PATTERNS = ("plain", "banded", "random", "topk")
INITS = ("zeros", "kaiming_gated")
BASES = ("svd", "random")
FORWARDS = ("auto", "factored", "dense")


@dataclass
class SVFTConfig:
    """Configuration of SVFT adapters, shaped like a Hugging Face PEFT config.

    Parameters
    ----------
    target_modules : list of str or str
        Module-name suffixes (``["q_proj", "v_proj"]`` matches ``...self_attn.q_proj``) or, as a
        single string, a regular expression matched against the full module name
        (``re.fullmatch``), as in PEFT. Matched modules must be ``nn.Linear`` or transformers'
        ``Conv1D``.
    pattern : {"plain", "banded", "random", "topk"}
        Support of M (see the module docstring).
    off_diag : int
        Diagonals on each side for ``"banded"``; for ``"random"`` / ``"topk"`` without an explicit
        budget, the budget equals the banded count at this ``off_diag`` (the paper's
        "d = ... equivalent" budgets).
    n_random, top_k : int, optional
        Entries of M per matrix for ``"random"`` / ``"topk"``.
    init : {"zeros", "kaiming_gated"}
        ``"zeros"``: M = 0, the adapted model equals the base model exactly at step 0.
        ``"kaiming_gated"``: the official initialisation, M ~ kaiming normal (fan-in = number of
        entries) scaled by a learnable per-layer gate ``sigmoid(g)``, ``g = 0`` at start.
    seed : int
        Seeds the random support, the kaiming draw and the random-basis control.
    modules_to_save : list of str, optional
        Suffixes of further modules trained in full and saved with the adapter (e.g. a head).
    basis : {"svd", "random"}
        ``"random"`` replaces U and V by random orthonormal bases of the same shapes: the control
        that tests whether the singular vectors matter (not part of the method).
    forward : {"auto", "factored", "dense"}
        ``"factored"`` computes ``((x V) M^T) U^T`` (cost ~ tokens x r x (d1 + d2));
        ``"dense"`` forms ``Delta W = U M V^T`` once per call and runs one matmul with
        ``W0 + Delta W`` (cost ~ d1 x d2 x r, independent of the batch); ``"auto"`` picks the
        cheaper of the two by that operation count for each call.
    """

    target_modules: list | str = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                                 "gate_proj", "up_proj", "down_proj"])
    pattern: str = "plain"
    off_diag: int = 0
    n_random: int | None = None
    top_k: int | None = None
    init: str = "zeros"
    seed: int = 0
    modules_to_save: list | None = None
    basis: str = "svd"
    forward: str = "auto"

    def validate(self) -> "SVFTConfig":
        for name, value, options in (("pattern", self.pattern, PATTERNS), ("init", self.init, INITS),
                                     ("basis", self.basis, BASES), ("forward", self.forward, FORWARDS)):
            check_option(value, options, name)
        # numbers: Python or numpy integers (bools refused), stored back as Python ints so the
        # config stays JSON-serialisable (save_svft)
        self.off_diag = check_scalar(self.off_diag, "off_diag", integer=True, low=0)
        # apply_svft seeds layer i with seed * 1_000_003 + i, which must stay below 2**64
        self.seed = check_scalar(self.seed, "seed", integer=True, low=0, high=2**43)
        for name in ("n_random", "top_k"):
            setattr(self, name, check_scalar(getattr(self, name), name, integer=True, low=1, allow_none=True))
        if isinstance(self.target_modules, str):
            try:
                re.compile(self.target_modules)
            except re.error as exc:
                raise ValueError(f"target_modules {self.target_modules!r} is not a valid regex: {exc}") from exc
        elif not isinstance(self.target_modules, (list, tuple)) or not self.target_modules \
                or not all(isinstance(t, str) for t in self.target_modules):
            raise ValueError(f"target_modules must be a non-empty list of str or a regex str; got {self.target_modules!r}")
        if isinstance(self.modules_to_save, str):
            try:
                re.compile(self.modules_to_save)
            except re.error as exc:
                raise ValueError(f"modules_to_save {self.modules_to_save!r} is not a valid regex: {exc}") from exc
        elif self.modules_to_save is not None and (not isinstance(self.modules_to_save, (list, tuple))
                                                   or not all(isinstance(t, str) for t in self.modules_to_save)):
            raise ValueError(f"modules_to_save must be None, a list of str or a regex str; "
                             f"got {self.modules_to_save!r}"[:200])
        return self

    def matches(self, name: str) -> bool:
        """Whether the module called ``name`` is targeted (suffix list or full-name regex)."""
        return _matches(name, self.target_modules)

    def to_dict(self) -> dict:
        return asdict(self)


def _matches(name: str, targets) -> bool:
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def banded_count(r: int, off_diag: int) -> int:
    """Entries of an ``r x r`` band with ``off_diag`` diagonals on each side: ``r(2d+1) - d(d+1)``."""
    return r * (2 * off_diag + 1) - off_diag * (off_diag + 1)


def budget(config: SVFTConfig, r: int, where: str = "") -> int:
    """Number of trainable entries of M for an ``r x r`` M (``r = min(d1, d2)``); checks it fits."""
    at = f" (module {where}, r = min(d1, d2) = {r})" if where else f" (r = {r})"
    if config.pattern in ("banded", "random", "topk") and config.off_diag >= r:
        raise ValueError(f"off_diag={config.off_diag} must be < r{at}")
    if config.pattern == "plain":
        return r
    if config.pattern == "banded":
        return banded_count(r, config.off_diag)
    k = config.n_random if config.pattern == "random" else config.top_k
    name = "n_random" if config.pattern == "random" else "top_k"
    k = banded_count(r, config.off_diag) if k is None else k
    if k > r * r:
        raise ValueError(f"{name}={k} exceeds the r x r = {r * r} entries of M{at}")
    return k


def support(config: SVFTConfig, r: int, *, generator: torch.Generator | None = None, alignment=None,
            where: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices (int64, sorted row-major, no duplicates) of the support of M.

    ``alignment`` (an ``r x r`` tensor ``U^T V``) is needed for ``"topk"``.
    """
    k = budget(config, r, where)
    if config.pattern in ("plain", "banded"):
        d = 0 if config.pattern == "plain" else config.off_diag
        i = torch.arange(r).repeat_interleave(2 * d + 1)                 # [r (2d+1)]
        j = i + torch.arange(-d, d + 1).repeat(r)                        # [r (2d+1)]
        keep = (j >= 0) & (j < r)
        rows, cols = i[keep], j[keep]                                    # [k]
    elif config.pattern == "random":
        flat = _distinct(r * r, k, generator)
        rows, cols = flat // r, flat % r
    else:
        if alignment is None:
            raise ValueError(f"pattern='topk' needs the alignment U^T V{' of ' + where if where else ''}")
        flat = torch.topk(alignment.abs().reshape(-1).float().cpu(), k).indices.sort().values
        rows, cols = flat // r, flat % r
    assert len(rows) == k
    return rows.long(), cols.long()


def _distinct(n: int, k: int, generator) -> torch.Tensor:
    """``k`` distinct integers of ``[0, n)`` drawn uniformly, sorted."""
    if k > n // 4:
        return torch.randperm(n, generator=generator)[:k].sort().values
    picked = torch.empty(0, dtype=torch.long)
    while len(picked) < k:   # rejection for huge n: draw, deduplicate, top up
        draw = torch.randint(0, n, (2 * (k - len(picked)),), generator=generator)
        picked = torch.unique(torch.cat([picked, draw]))
    return picked[torch.randperm(len(picked), generator=generator)[:k]].sort().values
