"""Robust k-subset selection: GM Matching and the baselines it is compared with.

Every selector follows one contract: hyper-parameters in ``__init__`` (budget as
``n_select`` or ``fraction``, ``per_class``, ``metric``, ``random_state``) and
``select(X, y=None)`` returning sorted unique indices, exactly the budget.
"""

from frugalml.selection.base import BaseSelector, allocate_budget
from frugalml.selection.baselines import (
    EasySelection,
    HardSelection,
    KCenterGreedy,
    MeanHerding,
    ModerateSelection,
    RandomSelection,
)
from frugalml.selection.geometric_median import GeometricMedianResult, geometric_median
from frugalml.selection.gm_matching import GMMatching
from frugalml.selection.herding import herding

# Name -> class, for the command line and the experiments.
SELECTORS = {
    "gm_matching": GMMatching,
    "random": RandomSelection,
    "mean_herding": MeanHerding,
    "easy": EasySelection,
    "hard": HardSelection,
    "moderate": ModerateSelection,
    "kcenter": KCenterGreedy,
}

__all__ = [
    "SELECTORS",
    "BaseSelector",
    "EasySelection",
    "GMMatching",
    "GeometricMedianResult",
    "HardSelection",
    "KCenterGreedy",
    "MeanHerding",
    "ModerateSelection",
    "RandomSelection",
    "allocate_budget",
    "geometric_median",
    "herding",
]
