"""Second-order optimistic methods for convex-concave min-max, with baselines and test problems.

Main entry point: :func:`solve_minimax` (the scipy.optimize shape). The adaptive,
line-search-free method is from Jiang, Kavis, Jin, Sanghavi & Mokhtari, "Adaptive and Optimal
Second-order Optimistic Methods for Minimax Optimization" (NeurIPS 2024, arXiv 2406.02016).
"""

from frugalml.minimax._result import STATUS_MESSAGES, MinimaxResult
from frugalml.minimax.autodiff import TorchOperator, torch_operator
from frugalml.minimax.problems import CubicBilinear, cubic_bilinear
from frugalml.minimax.solvers import METHODS, solve_minimax
from frugalml.minimax.step import adaptive_step_size, local_lipschitz_estimate

__all__ = [
    "METHODS",
    "STATUS_MESSAGES",
    "CubicBilinear",
    "MinimaxResult",
    "TorchOperator",
    "adaptive_step_size",
    "cubic_bilinear",
    "local_lipschitz_estimate",
    "solve_minimax",
    "torch_operator",
]
