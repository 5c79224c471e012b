"""The selector contract shared by GM Matching and every baseline.

A selector is configured in ``__init__`` (stored unchanged, checked in ``select``) and
``select(X, y=None)`` returns sorted, unique int64 indices into ``X``: exactly the budget,
split over classes when labels are given and ``per_class=True``.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_array, check_budget, check_labels, check_option

METRICS = ("euclidean", "cosine")


def allocate_budget(class_sizes, k: int) -> np.ndarray:
    """Split ``k`` over classes in proportion to their sizes (largest remainder), capped at each size.

    Proportional allocation keeps the same fraction of every class; for balanced classes
    it equals the paper's ``k_c = k / C``. Ties in the remainder go to the lower class
    index, so the split is deterministic.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    n = int(sizes.sum())
    if not 0 <= k <= n:
        raise ValueError(f"budget {k} must lie in [0, {n}]")
    quota = sizes * (k / n)
    alloc = np.floor(quota).astype(np.int64)
    order = np.lexsort((np.arange(len(sizes)), -(quota - alloc)))  # largest remainder first
    for c in order[: k - int(alloc.sum())]:
        alloc[c] += 1
    return np.minimum(alloc, sizes)


class BaseSelector:
    """Shared validation, metric handling and per-class splitting.

    Subclasses implement ``_select_group(X, k, rng) -> local indices`` for one group of
    points (one class, or all points).
    """

    def __init__(self, n_select=None, fraction=None, *, per_class=True, metric="euclidean", random_state=None):
        self.n_select = n_select
        self.fraction = fraction
        self.per_class = per_class
        self.metric = metric
        self.random_state = random_state

    def get_params(self) -> dict:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({params})"

    def _check_params(self) -> None:
        check_option(self.metric, METRICS, "metric")

    def select(self, X, y=None) -> np.ndarray:
        """Return the sorted indices of the selected points.

        Parameters
        ----------
        X : array-like (n, d)   embeddings (e.g. from a proxy encoder)
        y : array-like (n,), optional   (possibly noisy) class labels; with ``per_class`` the
            budget is split over classes in proportion to their sizes
        """
        self._check_params()
        X = check_array(X, "X")
        n = X.shape[0]
        k = check_budget(self.n_select, self.fraction, n)
        if self.metric == "cosine":
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            if np.any(norms == 0):
                raise ValueError("X has all-zero rows, which have no direction: metric='cosine' needs nonzero rows")
            X = X / norms
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
        chosen = [g[self._select_group(X[g], int(kc), rng)] for g, kc in zip(groups, budgets) if kc > 0]
        idx = np.sort(np.concatenate(chosen)).astype(np.int64)
        assert idx.size == k and np.unique(idx).size == k, "selector broke its budget contract"
        return idx

    def _select_group(self, X, k, rng):  # pragma: no cover - abstract
        raise NotImplementedError
