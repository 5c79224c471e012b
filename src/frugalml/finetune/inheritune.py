"""Inheritune: a small base LM grown from the first layers of a larger one.

Sanyal, Sanghavi, Dimakis, "Pre-training Small Base LMs with Fewer Tokens" (arXiv:2404.08634 v1);
v4: "When Attention Collapses: How Degenerate Layers in LLMs Enable Smaller, Stronger Models".

* :func:`inherit` builds a student of the reference's class from a subset of its transformer
  blocks, with the token (and position) embeddings, the final norm and the LM head (Sec. 2,
  step 1 of the recipe).
* :func:`inheritune` is the growth loop (Sec. 2, step 3): train the student on a small data
  subset, compare its validation loss with the reference's, inherit ``step`` more layers and
  repeat until it matches or the rounds run out.
* :func:`attention_rank_profile` is the lazy-layer diagnostic of v4 (Sec. 3): for every layer and
  head, the rank ``k*`` of the attention matrix holding a fraction ``tau`` (0.9) of its energy,
  averaged over sequences, and the per-layer maximum over heads ("MaxRank").
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from frugalml._core import check_option
from frugalml._core.validation import check_array, check_bool, check_scalar
from frugalml.lm.models import _seeded
from frugalml.lm.train import TrainConfig, evaluate_loss, train_causal_lm

# Where the ModuleList of transformer blocks lives, per model family.
BLOCK_PATHS = (
    "model.layers",            # Llama, Mistral, Qwen2/3, Gemma, Phi-3, SmolLM2
    "transformer.h",           # GPT-2, GPT-J, GPT-Neo, BLOOM, Falcon
    "gpt_neox.layers",         # GPT-NeoX, Pythia
    "model.decoder.layers",    # OPT
    "transformer.blocks",      # MPT
    "transformer.layers",      # ChatGLM-style
)


def block_path(model) -> str:
    """Attribute path of ``model``'s transformer blocks (e.g. ``"model.layers"``).

    Raises ``ValueError`` naming the model class when no known layout matches.
    """
    for path in BLOCK_PATHS:
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList):
            return path
    raise ValueError(f"inherit does not know where the transformer blocks of {type(model).__name__} live; "
                     f"known layouts: {', '.join(BLOCK_PATHS)}")


def _blocks(model) -> torch.nn.ModuleList:
    obj = model
    for part in block_path(model).split("."):
        obj = getattr(obj, part)
    return obj


def _layer_indices(n_total: int, n_layers, which) -> list[int]:
    """The reference block indices a student inherits, checked."""
    if isinstance(which, str):
        check_option(which, ("first", "last"), "which")
        n = check_scalar(n_layers, "n_layers", integer=True)
        if not 1 <= n <= n_total:
            raise ValueError(f"n_layers must be between 1 and the reference's {n_total} layers; got {n}")
        return list(range(n)) if which == "first" else list(range(n_total - n, n_total))
    try:
        idx = [check_scalar(i, "which[i]", integer=True) for i in which]
    except TypeError:
        raise ValueError(f"which must be 'first', 'last' or a list of layer indices; got {which!r}") from None
    if not idx:
        raise ValueError("which must not be an empty list of layer indices")
    if len(set(idx)) != len(idx) or not all(0 <= i < n_total for i in idx):
        raise ValueError(f"which must hold distinct layer indices in [0, {n_total}); got {idx}")
    if n_layers is not None and n_layers != len(idx):
        raise ValueError(f"n_layers ({n_layers!r}) must equal len(which) ({len(idx)}) or be None")
    return idx


def _embedding_keys(model, prefix: str) -> set[str]:
    """State-dict keys of the embedding tables outside the blocks (token and position embeddings)."""
    keys = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding) and not name.startswith(prefix):
            keys.update(f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False))
    return keys


def _fresh(model, idx: list[int], random_state, init: bool = True):
    """A freshly initialised model of ``type(model)`` whose config keeps the blocks ``idx``.

    ``init=False`` skips the weight initialisation (every weight is about to be overwritten).
    """
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = len(idx)
    if getattr(config, "layer_types", None) is not None:        # per-layer attention types (sliding / full)
        config.layer_types = [config.layer_types[i] for i in idx]
    if init:
        with _seeded(random_state):
            student = type(model)(config)
    else:
        from transformers.initialization import no_init_weights

        with no_init_weights():
            student = type(model)(config)
        student.tie_weights()                                   # init_weights (skipped) is what ties them
    ref_param = next(model.parameters())
    student.to(device=ref_param.device, dtype=ref_param.dtype)
    student.train(model.training)
    return student


def random_student(model, n_layers: int, *, random_state=0):
    """The baseline: a model shaped like ``inherit(model, n_layers)`` but freshly initialised.

    Same class, config and width as the reference with ``n_layers`` blocks; nothing copied.
    """
    return _fresh(model, _layer_indices(len(_blocks(model)), n_layers, "first"), random_state)


def inherit(model, n_layers=None, *, which="first", copy_embeddings: bool = True, random_state=0):
    """A smaller model of the same class made of some of ``model``'s transformer blocks.

    Step 1 of Inheritune (arXiv:2404.08634, Sec. 2): the student keeps the chosen blocks with
    all their weights (attention, MLP, norms) in the given order, the token and position
    embeddings, the final norm and the LM head; its config's layer count is updated, so
    ``save_pretrained`` / ``from_pretrained`` round-trip. Tied input/output embeddings stay tied.

    Parameters
    ----------
    model : transformers causal LM
        Llama family (``model.layers``), GPT-2 (``transformer.h``), GPT-NeoX, OPT, MPT layouts.
    n_layers : int, optional
        Blocks to keep (1 ... the reference's count). May be omitted when ``which`` is a list.
    which : "first", "last" or list of int
        The first or last ``n_layers`` blocks, or these reference indices in this order.
    copy_embeddings : bool
        ``False`` is the official lit-gpt variant's ablation: the token and position embeddings
        are left at a fresh initialisation (and, when the head is tied to them, the head too);
        the blocks, final norm and an untied head are still inherited.
    random_state : int or None
        Seed of the fresh initialisation the copied weights overwrite (only what is not
        inherited keeps it); the global torch generator is left untouched.

    Returns
    -------
    A new model of ``type(model)``, on the reference's device and dtype, in its train/eval mode.
    """
    copy_embeddings = check_bool(copy_embeddings, "copy_embeddings")
    idx = _layer_indices(len(_blocks(model)), n_layers, which)
    prefix = block_path(model) + "."
    student = _fresh(model, idx, random_state, init=not copy_embeddings)   # no init: all is copied
    source, target = model.state_dict(), student.state_dict()
    embeddings = _embedding_keys(student, prefix)
    head = student.get_output_embeddings()
    tied = head is not None and head.weight is student.get_input_embeddings().weight
    head_keys = {k for k in target if head is not None and target[k].data_ptr() == head.weight.data_ptr()}
    new = {}
    for key in target:
        if key.startswith(prefix):
            i, rest = key[len(prefix):].split(".", 1)
            new[key] = source[f"{prefix}{idx[int(i)]}.{rest}"]          # block i <- reference block idx[i]
        elif not copy_embeddings and (key in embeddings or (tied and key in head_keys)):
            new[key] = target[key]                                      # fresh initialisation
        else:
            new[key] = source[key]                                      # embeddings, final norm, head
    student.load_state_dict(new, strict=True)
    return student


def energy_rank(attention, energy: float = 0.9) -> torch.Tensor:
    """Smallest ``k`` whose top-``k`` singular values hold ``energy`` of ``||A||_F^2``.

    ``k* = min{k : sum_{i<=k} s_i^2 >= tau sum_i s_i^2}`` (v4, Sec. 3, ``tau = 0.9``), computed
    over the last two axes of ``attention`` (``[..., T, T]``); returns a LongTensor ``[...]``.
    An all-zero matrix has rank 0.
    """
    energy = check_scalar(energy, "energy", low=0.0, high=1.0, low_inclusive=False)
    if isinstance(attention, torch.Tensor):
        a = attention
        if a.is_complex() or not (a.is_floating_point() or a.dtype in (torch.int64, torch.int32)):
            raise ValueError(f"attention must be a real tensor; got dtype {a.dtype}")
        if a.numel() and not bool(torch.isfinite(a).all()):
            raise ValueError("attention contains NaN or infinite values")
    else:
        a = torch.as_tensor(check_array(attention, "attention", ndim=None, min_samples=0))
    if a.ndim < 2:
        raise ValueError(f"attention must have at least 2 dimensions [..., T, T]; got shape {tuple(a.shape)}")
    s2 = torch.linalg.svdvals(a.double()) ** 2                          # [..., min(T, S)]
    total = s2.sum(-1, keepdim=True)                                    # [..., 1]
    frac = torch.cumsum(s2, -1) / total.clamp_min(1e-300)               # [..., min(T, S)]
    k = (frac < energy - 1e-9).sum(-1) + 1                              # [...]
    k = k.clamp(max=s2.shape[-1])
    return torch.where(total[..., 0] > 0, k, torch.zeros_like(k))


def column_mass(attention) -> torch.Tensor:
    """Share of an attention matrix's mass on its heaviest key column: ``max_j sum_i A_ij / sum_ij A_ij``.

    The attention-mass view of collapse (v4: "near rank-one, single-column patterns"): 1 when
    every query attends to the same key (e.g. an attention sink), about ``ln(T) / T`` for
    uniform causal attention. Computed over the last two axes of ``attention`` (``[..., T, T]``,
    rows = queries); returns a float64 tensor ``[...]`` (0 for an all-zero matrix).
    """
    a = torch.as_tensor(attention).double()
    if a.ndim < 2:
        raise ValueError(f"attention must have at least 2 dimensions [..., T, T]; got shape {tuple(a.shape)}")
    cols = a.sum(-2)                                                    # [..., S] mass per key
    total = cols.sum(-1)
    return torch.where(total > 0, cols.max(-1).values / total.clamp_min(1e-300), torch.zeros_like(total))


LAZY_RANK = 1.5     # a head whose mean k* is at most this is counted as collapsed (near rank one)


@dataclass
class AttentionRankProfile:
    """Per-layer, per-head attention rank (mean ``k*`` over sequences), the per-layer max, column mass."""

    ranks: np.ndarray          # [n_layers, n_heads], mean k* over sequences
    max_rank: np.ndarray       # [n_layers], max over heads of ranks ("MaxRank")
    seq_len: float             # mean number of (unpadded) tokens per sequence
    n_sequences: int
    energy: float
    column_mass: np.ndarray | None = None   # [n_layers, n_heads], mean share of mass on the heaviest column

    def lazy_share(self, threshold: float = LAZY_RANK) -> np.ndarray:
        """Per layer, the share of heads whose mean ``k*`` is at most ``threshold`` (collapsed heads)."""
        return (np.asarray(self.ranks) <= threshold).mean(1)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ranks"], out["max_rank"] = self.ranks.tolist(), self.max_rank.tolist()
        out["column_mass"] = None if self.column_mass is None else np.asarray(self.column_mass).tolist()
        out["lazy_share"] = self.lazy_share().tolist()
        out["lazy_threshold"] = LAZY_RANK
        return out


def _as_batch(batch):
    """A tensor / dict / dataset item -> (input_ids [B, T], attention_mask [B, T] or None)."""
    if isinstance(batch, dict):
        ids, mask = batch["input_ids"], batch.get("attention_mask")
    else:
        ids, mask = batch, None
    ids = torch.as_tensor(ids)
    if ids.ndim == 1:
        ids = ids[None]
        mask = None if mask is None else torch.as_tensor(mask)[None]
    if ids.ndim != 2:
        raise ValueError(f"batches must yield input_ids of shape [B, T] or [T]; got {tuple(ids.shape)}")
    return ids, mask


@torch.no_grad()
def attention_rank_profile(model, batches, energy: float = 0.9, *, max_sequences: int | None = None):
    """The lazy-layer diagnostic: rank ``k*`` of every head's attention matrix (v4, Sec. 3).

    For each sequence the model is run with eager attention and ``output_attentions=True``;
    each layer's and head's ``[T, T]`` attention matrix (padding removed) gets
    :func:`energy_rank`; ranks are averaged over sequences. "Lazy" layers have a per-layer
    maximum near 1 (attention collapsed onto one column).

    Parameters
    ----------
    model : transformers causal LM
    batches : iterable of LongTensor ``[B, T]`` / ``[T]``, or of dicts with ``input_ids`` (and
        ``attention_mask``), e.g. a DataLoader with :func:`frugalml.lm.collate` or a ``BlockDataset``.
    energy : float in (0, 1]
        The energy fraction ``tau`` (0.9 in the paper).
    max_sequences : int, optional
        Stop after this many sequences.

    Returns
    -------
    AttentionRankProfile
        ``ranks`` (mean ``k*`` per layer and head), ``max_rank`` (per layer), ``column_mass``
        (mean :func:`column_mass` per layer and head) and ``lazy_share()`` (per layer, the share of
        heads with mean ``k*`` <= 1.5).
    """
    energy = check_scalar(energy, "energy", low=0.0, high=1.0, low_inclusive=False)
    max_sequences = check_scalar(max_sequences, "max_sequences", integer=True, low=1, allow_none=True)
    previous = model.config._attn_implementation
    was_training = model.training
    model.set_attn_implementation("eager")
    model.eval()
    device = next(model.parameters()).device
    total, mass, n_seq, n_tok = None, None, 0, 0
    try:
        for batch in batches:
            ids, mask = _as_batch(batch)
            out = model(input_ids=ids.to(device), attention_mask=None if mask is None else mask.to(device),
                        output_attentions=True)
            att = torch.stack(out.attentions, 1)                        # [B, L, H, T, T]
            for b in range(att.shape[0]):
                a = att[b]
                if mask is not None:
                    keep = torch.nonzero(mask[b].to(device) > 0).reshape(-1)
                    a = a[:, :, keep][:, :, :, keep]                   # [L, H, n, n]
                k = energy_rank(a, energy).double()                    # [L, H]
                m = column_mass(a)                                     # [L, H]
                total = k if total is None else total + k
                mass = m if mass is None else mass + m
                n_seq += 1
                n_tok += a.shape[-1]
                if max_sequences is not None and n_seq >= max_sequences:
                    break
            if max_sequences is not None and n_seq >= max_sequences:
                break
    finally:
        model.set_attn_implementation(previous)
        model.train(was_training)
    if n_seq == 0:
        raise ValueError("batches yielded no sequence")
    ranks = (total / n_seq).cpu().numpy()
    return AttentionRankProfile(ranks=ranks, max_rank=ranks.max(1), seq_len=n_tok / n_seq, n_sequences=n_seq,
                                energy=energy, column_mass=(mass / n_seq).cpu().numpy())


@dataclass
class InherituneResult:
    """Outcome of :func:`inheritune`: the last student and one history row per round."""

    model: object
    history: list = field(default_factory=list)   # per round: n_layers, val_loss, matched, steps, train_s, ...
    reference_loss: float = float("nan")
    matched: bool = False
    n_layers: int = 0


def _extend(student, reference, n_layers: int, copy_embeddings: bool, random_state):
    """``regrow="extend"``: the trained student's blocks, then reference blocks up to ``n_layers``."""
    grown = inherit(reference, n_layers, copy_embeddings=copy_embeddings, random_state=random_state)
    missing, unexpected = grown.load_state_dict(student.state_dict(), strict=False)
    if unexpected:
        raise RuntimeError(f"student has weights the grown model lacks: {unexpected[:3]}")
    return grown


def inheritune(reference, train_data, val_data, *, start_layers=None, step: int = 2, max_rounds: int,
               steps_per_round: int, regrow: str = "reinherit", max_layers=None, reference_loss=None,
               tolerance: float = 0.0, copy_embeddings: bool = True, train_config: TrainConfig | None = None,
               random_state=0, pad_token_id: int = 0, **train_overrides) -> InherituneResult:
    """The Inheritune growth loop (arXiv:2404.08634, Sec. 2, steps 1-3).

    Round ``r`` trains a student of ``start_layers + r * step`` blocks for ``steps_per_round``
    optimiser steps (fresh AdamW, warmup + cosine: the reference's recipe) on ``train_data``;
    when its validation loss on ``val_data`` is at most the reference's (+ ``tolerance``), the
    loop stops; otherwise it grows and repeats (GPT-2 medium went 12 -> 14 -> 16 layers).

    Parameters
    ----------
    reference : transformers causal LM with ``L`` blocks (left unchanged)
    train_data, val_data : datasets of ``input_ids``/``labels`` dicts (e.g. ``BlockDataset``)
    start_layers : int, optional
        Blocks of the first student; ``L // 2`` by default (the paper's choice).
    step : int
        Blocks added per round (2 in the paper).
    max_rounds : int
        At most this many students are trained.
    steps_per_round : int
        Optimiser steps per round.
    regrow : "reinherit" or "extend"
        The paper is ambiguous: each round either inherits the first ``l`` blocks afresh from
        the reference (``"reinherit"``) or keeps the trained student and appends the reference's
        next ``step`` blocks (``"extend"``).
    max_layers : int, optional
        Largest student (``L`` by default); the loop also stops when it cannot grow further.
    reference_loss : float, optional
        The target; ``evaluate_loss(reference, val_data)`` when omitted.
    tolerance : float
        The student matches when ``val_loss <= reference_loss + tolerance``.
    copy_embeddings : bool
        See :func:`inherit`.
    train_config : TrainConfig, optional; ``train_overrides`` replace its fields (``lr=...``).
    random_state : int
        Seeds the data order and any fresh initialisation.

    Returns
    -------
    InherituneResult
    """
    check_option(regrow, ("reinherit", "extend"), "regrow")
    n_total = len(_blocks(reference))
    max_layers = n_total if max_layers is None else check_scalar(max_layers, "max_layers", integer=True)
    if not 1 <= max_layers <= n_total:
        raise ValueError(f"max_layers must be between 1 and the reference's {n_total} layers; got {max_layers}")
    start = n_total // 2 if start_layers is None else check_scalar(start_layers, "start_layers", integer=True)
    if not 1 <= start <= max_layers:
        raise ValueError(f"start_layers must be between 1 and max_layers ({max_layers}); got {start}")
    step = check_scalar(step, "step", integer=True, low=1)
    max_rounds = check_scalar(max_rounds, "max_rounds", integer=True, low=1)
    steps_per_round = check_scalar(steps_per_round, "steps_per_round", integer=True, low=1)
    tolerance = check_scalar(tolerance, "tolerance")
    copy_embeddings = check_bool(copy_embeddings, "copy_embeddings")
    if not (isinstance(reference_loss, (float, np.floating)) and np.isinf(reference_loss)):
        # +-inf are deliberate targets (always / never matched); NaN and non-numbers are refused
        reference_loss = check_scalar(reference_loss, "reference_loss", allow_none=True)
    if reference_loss is None:
        reference_loss = evaluate_loss(reference, val_data, pad_token_id=pad_token_id)
    config = TrainConfig(**{**asdict(train_config or TrainConfig()), **train_overrides, "max_steps": steps_per_round})
    result = InherituneResult(model=None, reference_loss=float(reference_loss))
    n_layers, student = start, None
    for r in range(max_rounds):
        if student is None or regrow == "reinherit":
            student = inherit(reference, n_layers, copy_embeddings=copy_embeddings, random_state=random_state)
        else:
            student = _extend(student, reference, n_layers, copy_embeddings, random_state)
        t0 = time.perf_counter()
        train = train_causal_lm(student, train_data, config=config, eval_dataset=val_data,
                                random_state=random_state + r if isinstance(random_state, int) else random_state,
                                pad_token_id=pad_token_id, desc=f"inheritune {n_layers}L")
        val = train.eval_history[-1]["val_loss"]
        matched = val <= reference_loss + tolerance
        result.history.append({"round": r, "n_layers": n_layers, "val_loss": float(val), "matched": bool(matched),
                               "steps": train.steps, "n_tokens": train.n_tokens,
                               "train_s": time.perf_counter() - t0, "eval_history": train.eval_history})
        result.model, result.n_layers, result.matched = student, n_layers, bool(matched)
        if matched or n_layers + step > max_layers:
            break
        n_layers += step
    return result


__all__ = ["AttentionRankProfile", "BLOCK_PATHS", "InherituneResult", "LAZY_RANK", "attention_rank_profile",
           "block_path", "column_mass", "energy_rank", "inherit", "inheritune", "random_student"]
