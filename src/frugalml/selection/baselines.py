"""Baseline selectors a user would compare GM Matching with, under the same contract.

Distance-to-centre baselines follow Moderate-DS (Xia et al., ICLR 2023): the centre is the
(class) mean of the embeddings; *easy* points are the closest to it, *hard* the farthest,
*moderate* those whose distance is closest to the median distance.
"""

from __future__ import annotations

import numpy as np

from frugalml.selection.base import BaseSelector
from frugalml.selection.herding import herding


class RandomSelection(BaseSelector):
    """Uniform sampling without replacement (per class with labels)."""

    def _select_group(self, X, k, rng):
        return rng.choice(len(X), k, replace=False)


class MeanHerding(BaseSelector):
    """Herding towards the (non-robust) mean: O(1/k) matching of a target that outliers drag away."""

    def _select_group(self, X, k, rng):
        return herding(X, X.mean(axis=0), k)


def _distance_to_centre(X):
    return np.linalg.norm(X - X.mean(axis=0), axis=1)


class EasySelection(BaseSelector):
    """The ``k`` points closest to the centre (ties: lower index first)."""

    def _select_group(self, X, k, rng):
        return np.argsort(_distance_to_centre(X), kind="stable")[:k]


class HardSelection(BaseSelector):
    """The ``k`` points farthest from the centre (ties: lower index first)."""

    def _select_group(self, X, k, rng):
        return np.argsort(-_distance_to_centre(X), kind="stable")[:k]


class ModerateSelection(BaseSelector):
    """Moderate-DS: the ``k`` points whose distance to the centre is nearest the median distance."""

    def _select_group(self, X, k, rng):
        d = _distance_to_centre(X)
        return np.argsort(np.abs(d - np.median(d)), kind="stable")[:k]


class KCenterGreedy(BaseSelector):
    """Greedy k-center (farthest-point traversal, Sener & Savarese 2018), from a random first point.

    Each step adds the point farthest from the chosen set: O(k n d).
    """

    def _select_group(self, X, k, rng):
        sq = np.einsum("ij,ij->i", X, X)
        first = int(rng.integers(len(X)))
        picked = [first]
        mind = np.maximum(sq - 2.0 * X @ X[first] + sq[first], 0.0)  # squared distances to the set
        mind[first] = -np.inf
        for _ in range(k - 1):
            i = int(np.argmax(mind))
            picked.append(i)
            mind = np.minimum(mind, np.maximum(sq - 2.0 * X @ X[i] + sq[i], 0.0))
            mind[picked] = -np.inf
        return np.asarray(picked, dtype=np.int64)
