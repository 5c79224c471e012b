"""Pretraining an attention unit on in-context regression tasks, and evaluating it.

The pretraining objective (eq. (2) of Collins et al., 2024) is the population risk
``E_{f, x, eps} (y_hat(x_q) - f(x_q))^2``, minimised here by online Adam: every step
draws a fresh batch of tasks, contexts and noise from the sampler.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from frugalml._core import check_option, check_positive, progress, torch_generator

__all__ = ["evaluate_icl", "train_icl"]


def _check_int(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer; got {v!r}")
    return int(v)


def _model_dtype(model):
    params = list(model.parameters())
    if not params:
        raise ValueError("model has no trainable parameters")
    return params[0].dtype


def train_icl(model, sampler, n_steps: int = 1000, context_size: int = 50, batch_size: int = 256,
              lr: float = 0.05, random_state=None, *, schedule: str = "cosine", desc: str | None = None):
    """Pretrain ``model`` on fresh batches from ``sampler``; return the loss history.

    Parameters
    ----------
    model : nn.Module
        Maps ``(x, y, x_query)`` to predictions, e.g.
        :class:`~frugalml.icl.SoftmaxAttentionRegressor`.
    sampler : TaskSampler
        Draws the tasks and contexts (a new batch every step).
    n_steps, context_size, batch_size : int
    lr : float
        Adam learning rate (peak, for the cosine schedule).
    random_state : int, None, numpy Generator or torch.Generator
    schedule : {"cosine", "constant"}
        Cosine decay to 0 makes the final parameters settle at the minimiser rather than
        jitter around it with the batch noise.
    desc : str, optional
        Progress-bar label.

    Returns
    -------
    numpy.ndarray of shape (n_steps,)
        The mean squared error ``(y_hat - f(x_q))^2`` of each step's batch.
    """
    n_steps = _check_int(n_steps, "n_steps")
    context_size = _check_int(context_size, "context_size")
    batch_size = _check_int(batch_size, "batch_size")
    check_positive(lr, "lr")
    check_option(schedule, {"cosine", "constant"}, "schedule")
    if getattr(model, "d", sampler.d) != sampler.d:
        raise ValueError(f"model has d={model.d} but sampler has d={sampler.d}; they must match")
    dtype = _model_dtype(model)
    gen = torch_generator(random_state)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / n_steps)))
    else:
        sched = None
    losses = np.empty(n_steps)
    model.train()
    for step in progress(range(n_steps), desc=desc or "train_icl", total=n_steps):
        batch = sampler.sample(batch_size, context_size, random_state=gen, dtype=dtype)
        pred = model(batch.x, batch.y, batch.x_query)  # (B,)
        loss = torch.mean((pred - batch.y_query) ** 2)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at step {step} (loss={loss.item()}); lower lr, or rescale "
                                     "the task (its lipschitz, noise, bias) or the model's init_w")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses[step] = loss.item()
    model.eval()
    return losses


@torch.no_grad()
def evaluate_icl(model, sampler, context_size: int = 50, n_contexts: int = 10000, random_state=0,
                 batch_size: int = 2000) -> float:
    """Mean squared ICL error ``E (y_hat(x_q) - f(x_q))^2`` over ``n_contexts`` fresh prompts.

    With a fixed ``random_state``, several models (or samplers differing only in
    ``lipschitz``/``noise``) are evaluated on common random numbers, so their
    differences are measured with far less noise than their levels.
    """
    context_size = _check_int(context_size, "context_size")
    n_contexts = _check_int(n_contexts, "n_contexts")
    batch_size = _check_int(batch_size, "batch_size")
    dtype = _model_dtype(model)
    gen = torch_generator(random_state)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    while count < n_contexts:
        b = min(batch_size, n_contexts - count)
        batch = sampler.sample(b, context_size, random_state=gen, dtype=dtype)
        pred = model(batch.x, batch.y, batch.x_query)
        total += float(torch.sum((pred.double() - batch.y_query.double()) ** 2))
        count += b
    model.train(was_training)
    return total / count
