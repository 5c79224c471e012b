"""The selector contract shared by GM Matching and every baseline.

A selector is configured in ``__init__`` (stored unchanged, checked in ``select``) and
``select(X, y=None)`` returns sorted, unique int64 indices into ``X``: exactly the budget,
split over classes when labels are given and ``per_class=True``.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.random import check_random_state
from sklearn.base import BaseEstimator

from frugalml._core.validation import check_array, check_bool, check_budget, check_labels, check_option, check_scalar
from frugalml.selection.out_of_core import LazyRows, check_out_of_core, is_out_of_core, map_groups

METRICS = ("euclidean", "cosine")
MAX_ABS = 1e100  # larger entries overflow squared distances (x^2 summed over rows and columns)


def allocate_budget(class_sizes, k: int) -> np.ndarray:
    """Split ``k`` over classes in proportion to their sizes (largest remainder), capped at each size.

    Proportional allocation keeps the same fraction of every class; for balanced classes
    it equals the paper's ``k_c = k / C``. Ties in the remainder go to the lower class
    index, so the split is deterministic.
    """
    sizes = check_array(class_sizes, "class_sizes", ndim=1, dtype=None, max_abs=2.0**62)
    if sizes.dtype.kind not in "iu" and not np.array_equal(sizes, np.round(sizes)) or np.any(sizes < 0):
        raise ValueError(f"class_sizes must be non-negative integers; got {sizes}")
    sizes = sizes.astype(np.int64)
    n = int(sizes.sum())
    k = check_scalar(k, "k", integer=True)
    if not 0 <= k <= n:
        raise ValueError(f"k (the budget) must lie in [0, {n}]; got {k}")
    quota = sizes * (k / n)
    alloc = np.floor(quota).astype(np.int64)
    order = np.lexsort((np.arange(len(sizes)), -(quota - alloc)))  # largest remainder first
    for c in order[: k - int(alloc.sum())]:
        alloc[c] += 1
    return np.minimum(alloc, sizes)


def _unit_rows(X):
    """Rows scaled to unit length (``metric="cosine"``); all-zero rows have no direction."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("X has all-zero rows, which have no direction: metric='cosine' needs nonzero rows")
    return X / norms


class BaseSelector(BaseEstimator):
    """Shared validation, metric handling and per-class splitting.

    Subclasses implement ``_select_group(X, k, rng) -> local indices`` for one group of
    points (one class, or all points). A scikit-learn ``BaseEstimator``: ``get_params(deep=...)``,
    ``set_params`` and ``sklearn.base.clone`` work as for any estimator.
    """

    def __init__(self, n_select=None, fraction=None, *, per_class=True, metric="euclidean", random_state=None):
        self.n_select = n_select
        self.fraction = fraction
        self.per_class = per_class
        self.metric = metric
        self.random_state = random_state

    def __repr__(self, N_CHAR_MAX=700) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if v is not None)
        return f"{type(self).__name__}({params})"

    def _check_params(self) -> None:
        check_option(self.metric, METRICS, "metric")
        check_bool(self.per_class, "per_class")

    def select(self, X, y=None) -> np.ndarray:
        """Return the sorted indices of the selected points.

        Parameters
        ----------
        X : array-like (n, d), numpy memmap or dask.array.Array
            Embeddings (e.g. from a proxy encoder). A memmap or Dask array is read one group
            (class, or batch with ``n_batches``) at a time and never held whole; with a
            ``dask.distributed`` client active, a Dask array's groups run on the cluster.
            Every path returns the same indices (see :mod:`frugalml.selection.out_of_core`).
        y : array-like (n,), optional   (possibly noisy) class labels; with ``per_class`` the
            budget is split over classes in proportion to their sizes
        """
        self._check_params()
        X = check_out_of_core(X) if is_out_of_core(X) else check_array(X, "X", max_abs=MAX_ABS)
        n = X.shape[0]
        k = check_budget(self.n_select, self.fraction, n)
        rng = check_random_state(self.random_state)
        if y is None or not self.per_class:
            if y is not None:
                check_labels(y, n)
            groups = [np.arange(n)]
            budgets = [k]
        else:
            y = check_labels(y, n)
            classes, inverse = np.unique(y, return_inverse=True)
            groups = [np.flatnonzero(inverse == c) for c in range(len(classes))]
            budgets = allocate_budget([g.size for g in groups], k)
        groups = [(g, int(kc)) for g, kc in zip(groups, budgets) if kc > 0]
        seeds = rng.integers(0, 2**63 - 1, size=len(groups))  # one stream per group: any order, same picks
        tasks = [(g, kc, np.random.default_rng(s)) for (g, kc), s in zip(groups, seeds)]
        chosen = map_groups(self._select_rows, X, tasks, lazy=self._reads_in_batches())
        idx = np.sort(np.concatenate(chosen)).astype(np.int64)
        if idx.size != k or np.unique(idx).size != k:  # an internal bug, never the user's input
            raise RuntimeError(f"{type(self).__name__} returned {np.unique(idx).size} distinct indices for a budget "
                               f"of {k}; please report this")
        return idx

    def _reads_in_batches(self) -> bool:
        """True if ``_select_group`` only ever indexes batches of its group (then an out-of-core
        group is read batch by batch, see :class:`~frugalml.selection.out_of_core.LazyRows`)."""
        return False

    def _select_rows(self, X, k, rng):
        """Select ``k`` of one group's rows (in memory, float64, or a ``LazyRows``) after the metric's map."""
        if self.metric == "cosine":
            if isinstance(X, LazyRows):
                X.transform = _unit_rows
            else:
                X = _unit_rows(X)
        return self._select_group(X, k, rng)

    def _select_group(self, X, k, rng):  # pragma: no cover - abstract
        raise NotImplementedError
