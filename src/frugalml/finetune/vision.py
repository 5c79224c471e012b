"""Weighted fine-tuning of torch classifiers: FLOW's vision recipe (Sanyal et al., ICML 2025).

The official vision code (``vision/FLOW_ft.py`` of sanyalsunny111/FLOW_finetuning) computes
each sample's loss ``l_i`` with the *linear-probed* pre-trained network (the pre-trained body
with a head fitted on the new task), then fine-tunes body and head with SGD (momentum 0.9,
weight decay 5e-4, cosine schedule) on ``(1/B) sum_b w_b l_b`` with ``w = exp(-l / tau)``
unnormalised. The pieces here are that recipe for any ``nn.Module`` classifier; the
pre-training itself can use :class:`frugalml.noisy_labels.TorchMLPClassifier`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from frugalml._core import check_random_state, progress, torch_generator


def _as_xy(X, y=None):
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty array of shape (n_samples, ...); got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or inf entries")
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer class indices of shape ({X.shape[0]},); got {y.dtype} {y.shape}")
    return X, y.astype(np.int64)


def _batched_logits(model, X, batch_size=4096):
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            out.append(model(torch.from_numpy(X[start:start + batch_size]).to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def classification_losses(model, X, y, *, batch_size: int = 4096) -> np.ndarray:
    """Per-sample cross-entropy ``l_i`` of a frozen classifier (FLOW, Alg. 1 line 2).

    Parameters
    ----------
    model : torch.nn.Module mapping a float32 batch of ``X`` rows to logits [B, C]
        Run in ``eval()`` mode under ``no_grad``; its training flag is restored.
    X : array-like of shape (n, ...)
    y : int array of shape (n,), class indices into the logits' columns

    Returns
    -------
    ndarray of shape (n,)
    """
    import torch.nn.functional as F
    import torch

    X, y = _as_xy(X, y)
    logits = _batched_logits(model, X, batch_size)
    if y.max() >= logits.shape[1] or y.min() < 0:
        raise ValueError(f"y has labels outside 0..{logits.shape[1] - 1} (the model has {logits.shape[1]} outputs)")
    return F.cross_entropy(logits, torch.from_numpy(y), reduction="none").double().numpy()


def accuracy(model, X, y, *, batch_size: int = 4096) -> float:
    """Top-1 accuracy of ``model``'s logits on ``(X, y)``."""
    X, y = _as_xy(X, y)
    return float((_batched_logits(model, X, batch_size).argmax(1).numpy() == y).mean())


def linear_probe(body, X, y, *, C: float = 1.0, max_iter: int = 500):
    """A linear head fitted on a frozen body's features: multinomial logistic regression.

    The official recipe fine-tunes from the linear-probed model (body + this head) and takes
    FLOW's losses from it. The head is fitted with scikit-learn's ``LogisticRegression``
    (L-BFGS, deterministic) and returned as ``torch.nn.Linear(n_features, n_classes)`` whose
    logits equal the estimator's ``decision_function``.

    Parameters
    ----------
    body : torch.nn.Module mapping ``X`` rows to features [B, F]
    X, y : inputs and class indices ``0..K-1`` (every class present)
    C : inverse L2 strength of the logistic regression
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    X, y = _as_xy(X, y)
    classes = np.unique(y)
    if classes.size < 2 or not np.array_equal(classes, np.arange(classes.size)):
        raise ValueError(f"y must hold every class 0..K-1 (K >= 2); got classes {classes.tolist()}")
    if not C > 0:
        raise ValueError(f"C must be positive; got {C!r}")
    feats = _batched_logits(body, X).numpy().astype(np.float64)
    clf = LogisticRegression(C=C, max_iter=max_iter).fit(feats, y)
    coef, intercept = clf.coef_, clf.intercept_
    if classes.size == 2:  # scikit-learn keeps one row: logits [0, d] give the same softmax
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    head = torch.nn.Linear(feats.shape[1], classes.size)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(coef).float())
        head.bias.copy_(torch.from_numpy(intercept).float())
    return head.to(next(body.parameters()).device)


@dataclass
class ClassifierFinetuneResult:
    """What :func:`finetune_classifier` did: steps, the per-epoch mean training objective, time."""

    n_steps: int
    epoch_objective: list = field(default_factory=list)
    runtime_s: float = 0.0


def finetune_classifier(model, X, y, *, sample_weights=None, lr: float = 0.01, momentum: float = 0.9,
                        weight_decay: float = 5e-4, epochs: int = 10, batch_size: int = 128,
                        schedule: str = "cosine", random_state=0, desc: str = "finetune") -> ClassifierFinetuneResult:
    """Fine-tune a classifier in place with SGD on ``(1/B) sum_b w_b l_b`` (FLOW's vision objective).

    Parameters
    ----------
    model : torch.nn.Module, trained in place (every parameter with ``requires_grad``)
    X, y : training inputs and integer class indices
    sample_weights : array-like of shape (n,), optional
        ``w_i`` (FLOW: :func:`frugalml.finetune.flow_weights` of :func:`classification_losses`).
        Used as given, as in the official code: unnormalised weights also shrink the step by
        ``mean(w)``; pass ``w / w.mean()`` for the normalised form. ``None`` is standard
        fine-tuning; all-ones weights give exactly the same run.
    lr, momentum, weight_decay : SGD settings (official vision recipe: momentum 0.9, wd 5e-4)
    epochs, batch_size : passes over the data and mini-batch size (last batch may be smaller)
    schedule : "cosine" (annealed to 0 over all steps, per step) or "constant"
    random_state : int, numpy Generator or None; draws the batch order

    Returns
    -------
    ClassifierFinetuneResult
    """
    import time

    import torch
    import torch.nn.functional as F

    X, y = _as_xy(X, y)
    n = X.shape[0]
    for name, v in (("lr", lr), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0:
            raise ValueError(f"{name} must be positive; got {v!r}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be an int; got {v!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay!r}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant'; got {schedule!r}")
    if sample_weights is not None:
        w = np.asarray(sample_weights, dtype=np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"sample_weights must be {n} finite non-negative numbers; got shape {w.shape}")
        w_t = torch.from_numpy(w.astype(np.float32))
    gen = torch_generator(check_random_state(random_state))
    device = next(model.parameters()).device
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    result = ClassifierFinetuneResult(n_steps=0)
    start = time.perf_counter()
    model.train()
    for _ in progress(range(epochs), desc=desc, total=epochs):
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for s in range(steps_per_epoch):
            if schedule == "cosine":  # CosineAnnealingLR to 0, stepped per batch
                for g in opt.param_groups:
                    g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * result.n_steps / total))
            b = order[s * batch_size:(s + 1) * batch_size]
            losses = F.cross_entropy(model(Xt[b.to(device)]), yt[b.to(device)], reduction="none")   # [B]
            loss = (w_t[b].to(device) * losses).mean() if sample_weights is not None else losses.mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at step {result.n_steps}; lower lr")
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += float(loss.detach()) * b.shape[0]
            result.n_steps += 1
        result.epoch_objective.append(running / n)
    model.eval()
    result.runtime_s = time.perf_counter() - start
    return result


__all__ = ["ClassifierFinetuneResult", "accuracy", "classification_losses", "finetune_classifier", "linear_probe"]
