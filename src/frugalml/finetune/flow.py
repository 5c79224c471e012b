"""FLOW: upweight the samples that are easy for the pre-trained model (Sanyal et al., ICML 2025).

References
----------
S. Sanyal, H. Prairie, R. Das, A. Kavis, S. Sanghavi. "Upweighting Easy Samples in
Fine-Tuning Mitigates Forgetting". ICML 2025, arXiv:2502.02797.

Algorithm 1 of the paper: with ``l_i`` the loss of the *frozen pre-trained* model on
fine-tuning sample ``i`` (for language: the mean token cross-entropy over the response,
prompt tokens masked), ``tau = median_i l_i`` and ``w_i = exp(-l_i / tau)``; then minimise
``sum_i w_i l_i(theta)``. The official code does not normalise by ``sum w`` (it shrinks the
effective step by ``mean(w)``); ``normalize=True`` rescales the weights to mean one.
"""

from __future__ import annotations

import numpy as np
import torch

from frugalml._core.validation import check_array, check_bool, check_fraction, check_positive, check_scalar
from frugalml.lm.data import IGNORE_INDEX, collate
from frugalml.lm.losses import token_losses


def _with_all_labels(item):
    ids = item["input_ids"]
    return {**item, "labels": ids.clone()}


@torch.no_grad()
def sample_losses(model, dataset, *, response_only: bool = True, batch_size: int = 32,
                  token_level: bool = False, pad_token_id: int = 0):
    """Per-sample loss ``l_i`` of a frozen model on a fine-tuning set (FLOW, Alg. 1 line 2).

    Parameters
    ----------
    model : causal LM
        Evaluated in ``eval()`` mode under ``no_grad``; its training flag is restored.
    dataset : sequence of dicts with ``input_ids`` and ``labels``
        e.g. :class:`frugalml.lm.PromptResponseDataset`, whose labels mask the prompt.
    response_only : bool
        True: mean token cross-entropy over the labelled (response) positions only.
        False: over every position after the first (prompt included).
    batch_size : int
    token_level : bool
        Return each sample's per-token losses (a list of 1-D arrays) instead of their mean.

    Returns
    -------
    ndarray of shape (n_samples,), or list of ndarray when ``token_level``.
    """
    batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1)
    response_only = check_bool(response_only, "response_only")
    token_level = check_bool(token_level, "token_level")
    if len(dataset) == 0:
        raise ValueError("dataset must not be empty")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    per_token: list[np.ndarray] = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        if not response_only:
            items = [_with_all_labels(x) for x in items]
        batch = collate(items, pad_token_id=pad_token_id)
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits   # [B, T, V]
        losses, mask = token_losses(logits, batch["labels"].to(device))           # [B, T-1]
        for b in range(len(items)):
            per_token.append(losses[b][mask[b]].double().cpu().numpy())
    model.train(was_training)
    if token_level:
        return per_token
    if any(len(t) == 0 for t in per_token):
        raise ValueError("a sample has no response token: its loss is undefined")
    return np.array([t.mean() for t in per_token])


def _check_losses(losses, name="losses") -> np.ndarray:
    losses = check_array(losses, name, ndim=None, min_samples=0, allow_nonfinite=True)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {losses.shape}")
    bad = ~np.isfinite(losses)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} NaN/inf entries (e.g. index {int(np.flatnonzero(bad)[0])}); "
                         "a sample with an undefined loss must be dropped, not silently given weight 0")
    if (losses < 0).any():
        raise ValueError(f"{name} must be non-negative (cross-entropies); min is {losses.min():.4g}")
    return losses


def _tau(losses: np.ndarray, tau) -> float:
    if isinstance(tau, str):
        if tau != "median":
            raise ValueError(f"tau must be 'median' or a positive number; got {tau!r}")
        value = float(np.median(losses))
        if value <= 0:
            raise ValueError("tau='median' is 0 (at least half of the losses are 0); pass a positive tau")
        return value
    return float(check_positive(tau, "tau"))


def _exp_weights(losses: np.ndarray, tau: float, normalize: bool) -> np.ndarray:
    """``exp(-l / tau)``, divided by its mean when ``normalize``, without under- or overflow.

    Normalised weights are computed as ``exp(-(l - l_min) / tau) / mean(...)`` (the same
    numbers, but large losses no longer give 0/0 = NaN). Unnormalised weights that all
    underflow to 0 would silently train on nothing: that is an error naming ``tau``.
    """
    if normalize:
        w = np.exp(-(losses - losses.min()) / tau)
        return w / w.mean()
    w = np.exp(-losses / tau)
    if not np.any(w > 0):
        raise ValueError(f"every weight exp(-loss / tau) underflows to 0 (smallest loss {losses.min():.4g}, "
                         f"tau={tau:.4g}): raise tau or pass normalize=True")
    return w


def flow_weights(losses, tau="median", normalize: bool = False) -> np.ndarray:
    """FLOW sample weights ``w_i = exp(-l_i / tau)`` (Alg. 1 line 3).

    Parameters
    ----------
    losses : array-like of shape (n,)
        Pre-trained losses ``l_i`` (see :func:`sample_losses`); NaN/inf is an error.
    tau : "median" or float
        Temperature; ``"median"`` (the paper's parameter-free choice) gives the median
        sample the weight ``exp(-1)``.
    normalize : bool
        False (paper / official code): weights as is, so the objective ``(1/n) sum w_i l_i``
        also shrinks the step by ``mean(w)``. True: divide by ``mean(w)`` so the weights
        average one and only the *relative* emphasis changes.

    Returns
    -------
    ndarray of shape (n,), in (0, 1] unless normalised.
    """
    losses = _check_losses(losses)
    return _exp_weights(losses, _tau(losses, tau), check_bool(normalize, "normalize"))


def flow_token_weights(token_losses_, tau="median", normalize: bool = False) -> list[np.ndarray]:
    """Token-level variant ``w_it = exp(-l_it / tau_token)``, ``tau_token`` = median over all tokens."""
    if not isinstance(token_losses_, (list, tuple)) or not token_losses_:
        raise ValueError("token_losses_ must be a non-empty list of 1-D arrays (sample_losses(token_level=True))")
    flat = _check_losses(np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in token_losses_]),
                         "token losses")
    t = _tau(flat, tau)
    w = _exp_weights(flat, t, check_bool(normalize, "normalize"))
    pieces = np.split(w, np.cumsum([np.size(x) for x in token_losses_])[:-1])
    return [piece.reshape(np.shape(x)) for piece, x in zip(pieces, token_losses_)]


def hardest_fraction(losses, fraction: float = 0.1) -> np.ndarray:
    """Indices of the ``fraction`` of samples with the highest pre-trained loss (FLOW downweights them)."""
    losses = _check_losses(losses)
    fraction = check_fraction(fraction, "fraction")
    k = max(1, int(round(fraction * losses.size)))
    return np.sort(np.argsort(-losses, kind="stable")[:k])


__all__ = ["IGNORE_INDEX", "flow_token_weights", "flow_weights", "hardest_fraction", "sample_losses"]
