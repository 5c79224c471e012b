"""Softmax (and linear) attention as in-context regressors.

Reference: L. Collins, A. Parulekar, A. Mokhtari, S. Sanghavi, S. Shakkottai,
"In-Context Learning with Transformers: Softmax Attention Adapts to Function
Lipschitzness", NeurIPS 2024 (arXiv:2402.11639).

A single softmax attention unit pretrained on regression tasks of Lipschitz constant
``L`` and label noise ``sigma`` learns a window ``M ~ w I`` and predicts like a
Nadaraya-Watson estimator: the window narrows (``w`` grows) as ``L`` grows and widens as
``sigma`` grows; on low-rank tasks it projects onto the tasks' subspace. Linear attention
has no window and cannot fit an intercept.

Example
-------
>>> from frugalml.icl import AffineTasks, SoftmaxAttentionRegressor, train_icl, attention_window
>>> tasks = AffineTasks(d=3, lipschitz=4.0, noise=1.0)
>>> model = SoftmaxAttentionRegressor(d=3)
>>> losses = train_icl(model, tasks, n_steps=300, context_size=50, random_state=0)
>>> attention_window(model, context_size=50)["w"] > 1.0
True
"""

from frugalml.icl.attention import LinearAttentionRegressor, SoftmaxAttentionRegressor, nadaraya_watson
from frugalml.icl.tasks import (
    AffineTasks,
    CosineTasks,
    ICLBatch,
    LowRankTasks,
    ReLUTasks,
    TaskSampler,
    sample_sphere,
)
from frugalml.icl.training import evaluate_icl, train_icl
from frugalml.icl.window import (
    affine_window_risk,
    attention_window,
    optimal_affine_window,
    optimal_linear_attention,
    optimal_window,
    subspace_concentration,
    window_risk,
)

__all__ = [
    "AffineTasks",
    "CosineTasks",
    "ICLBatch",
    "LinearAttentionRegressor",
    "LowRankTasks",
    "ReLUTasks",
    "SoftmaxAttentionRegressor",
    "TaskSampler",
    "affine_window_risk",
    "attention_window",
    "evaluate_icl",
    "nadaraya_watson",
    "optimal_affine_window",
    "optimal_linear_attention",
    "optimal_window",
    "sample_sphere",
    "subspace_concentration",
    "train_icl",
    "window_risk",
]
