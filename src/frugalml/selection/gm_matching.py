"""GM Matching: herd towards the geometric median of the (noisy) data.

Acharya, Sanghavi et al., "Geometric Median Matching for Robust k-Subset Selection from
Noisy Data" (arXiv 2504.00564). Because the geometric median has breakdown point 1/2, a
subset whose mean matches it stays representative of the clean data even when up to
half of the points are arbitrarily corrupted; herding makes the subset mean converge to it
at O(1/k).
"""

from __future__ import annotations

import numpy as np

from frugalml._core.validation import check_bool, check_fraction, check_positive, check_scalar
from frugalml.selection.base import BaseSelector, allocate_budget
from frugalml.selection.geometric_median import geometric_median
from frugalml.selection.herding import herding


class GMMatching(BaseSelector):
    """Select ``k`` points whose mean matches the geometric median (GM Matching, Alg. 1).

    Parameters
    ----------
    n_select, fraction : int or float   the budget, as a count or a fraction of ``n`` (one of them)
    per_class : bool    with labels, split the budget over classes in proportion to their sizes
        and match each class's own geometric median (the paper's default)
    metric : {"euclidean", "cosine"}   ``"cosine"`` L2-normalises the embeddings first, as the
        official code does. Beware: a tight cluster of far outliers becomes a dense spot on the
        sphere, and cosine herding can then pick *more* outliers than random.
    gm_fraction : float in (0, 1]   estimate the geometric median on a random subset of this
        fraction of each group (faster on huge groups; the paper's gamma)
    n_batches : int   split each group at random into this many batches and select the
        proportional share of the budget from each, with its own median (the paper's later,
        batched version; bounds memory on huge data)
    exact_step : bool   use the exact Euclidean greedy step ``argmax <theta, x> - ||x||^2/2``
        (default). ``False`` is the paper's ``argmax <theta, x>``, which favours large-norm
        points unless all norms are equal.
    tol, max_iter : passed to :func:`geometric_median`
    random_state : None, int or numpy Generator

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8)); X[:300] += 50.0          # 30% far outliers
    >>> idx = GMMatching(n_select=100, random_state=0).select(X)
    >>> int((idx < 300).sum())                                   # outliers picked
    0
    """

    def __init__(self, n_select=None, fraction=None, *, per_class=True, metric="euclidean", gm_fraction=1.0,
                 n_batches=1, exact_step=True, tol=1e-7, max_iter=1000, random_state=None):
        super().__init__(n_select, fraction, per_class=per_class, metric=metric, random_state=random_state)
        self.gm_fraction = gm_fraction
        self.n_batches = n_batches
        self.exact_step = exact_step
        self.tol = tol
        self.max_iter = max_iter

    def _check_params(self) -> None:
        super()._check_params()
        check_fraction(self.gm_fraction, "gm_fraction")
        check_scalar(self.n_batches, "n_batches", integer=True, low=1)
        check_bool(self.exact_step, "exact_step")
        check_positive(self.tol, "tol")
        check_scalar(self.max_iter, "max_iter", integer=True, low=1)

    def target(self, X, rng) -> np.ndarray:
        """The point the subset mean is matched to: the geometric median of (a fraction of) ``X``."""
        if self.gm_fraction < 1.0:
            m = max(1, int(round(self.gm_fraction * len(X))))
            X = X[rng.choice(len(X), m, replace=False)]
        return geometric_median(X, tol=self.tol, max_iter=self.max_iter).median

    def _reads_in_batches(self) -> bool:
        return self.n_batches > 1

    def _select_group(self, X, k, rng):
        if self.n_batches == 1:
            return herding(X, self.target(X, rng), k, exact=self.exact_step)
        batches = [b for b in np.array_split(rng.permutation(len(X)), self.n_batches) if b.size]
        budgets = allocate_budget([b.size for b in batches], k)
        picked = []
        for b, kb in zip(batches, budgets):
            if kb > 0:
                Xb = X[b]                       # one read per batch (X may be a LazyRows of a memmap)
                picked.append(b[herding(Xb, self.target(Xb, rng), int(kb), exact=self.exact_step)])
        return np.concatenate(picked)
