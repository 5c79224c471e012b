"""The training loop for causal LMs, written once, on Hugging Face ``accelerate``.

AdamW, linear warmup then cosine decay, gradient clipping, gradient accumulation,
periodic validation loss, checkpoints (``save_pretrained``) and a progress bar. The
same function runs on this CPU and, unchanged, under ``accelerate launch`` or ``torchrun``
with several processes (DDP; gloo on CPUs, NCCL on GPUs):

- ``batch_size`` is the *global* micro-batch: each of N processes takes ``batch_size / N``
  examples of it (``accelerate``'s ``split_batches``), so a run on N processes sees the same
  batches, in the same order, as a run on one; gradients are averaged across processes.
- the logged loss is the mean over processes; token counts are summed;
- the progress bar, checkpoints and logs come from the main process only.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from frugalml._core import progress, torch_generator
from frugalml._core.validation import check_option, check_positive, check_scalar
from frugalml.lm.data import collate
from frugalml.lm.losses import LOSS_REDUCTIONS, causal_lm_loss, per_sample_loss
from frugalml.lm.models import hf_quiet


@dataclass
class TrainConfig:
    """Optimisation settings of :func:`train_causal_lm` (defaults suit the small models here)."""

    lr: float = 1e-3                 # peak learning rate
    weight_decay: float = 0.0        # AdamW decoupled weight decay
    betas: tuple = (0.9, 0.95)
    batch_size: int = 16             # examples per micro-batch
    grad_accum: int = 1              # micro-batches per optimiser step
    epochs: float = 1.0              # used when max_steps is None
    max_steps: int | None = None     # optimiser steps (overrides epochs)
    warmup: float = 0.05             # warmup steps: a fraction of the run (<1) or a count (>=1)
    schedule: str = "cosine"         # "cosine" (to min_lr_ratio * lr) or "constant" after warmup
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0    # max global grad norm; None disables
    eval_every: int | None = None    # steps between validation losses (None: only at the end)
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None
    checkpoint_steps: tuple = ()     # extra steps at which to save a checkpoint
    loss_reduction: str = "sample"   # "sample": mean of per-sample means; "token": HF / official FLOW

    def validate(self) -> "TrainConfig":
        """Check every setting (numbers finite and in range, options known); returns self."""
        self.lr = check_positive(self.lr, "lr")
        self.weight_decay = check_positive(self.weight_decay, "weight_decay", strict=False)
        self.batch_size = check_scalar(self.batch_size, "batch_size", integer=True, low=1)
        self.grad_accum = check_scalar(self.grad_accum, "grad_accum", integer=True, low=1)
        self.epochs = check_positive(self.epochs, "epochs")
        self.max_steps = check_scalar(self.max_steps, "max_steps", integer=True, low=1, allow_none=True)
        check_option(self.schedule, ("cosine", "constant"), "schedule")
        self.warmup = check_positive(self.warmup, "warmup", strict=False)
        self.min_lr_ratio = check_scalar(self.min_lr_ratio, "min_lr_ratio", low=0, high=1)
        check_option(self.loss_reduction, LOSS_REDUCTIONS, "loss_reduction")
        if self.grad_clip is not None:
            self.grad_clip = check_positive(self.grad_clip, "grad_clip")
        try:
            b1, b2 = (check_scalar(b, "betas", low=0, high=1, high_inclusive=False) for b in self.betas)
        except TypeError:
            raise ValueError(f"betas must be a pair of numbers in [0, 1); got {self.betas!r}") from None
        self.betas = (b1, b2)
        return self


@dataclass
class TrainResult:
    """What a training run did: per-step history, validation history, throughput."""

    steps: int
    n_tokens: int                    # non-padding tokens seen (inputs)
    runtime_s: float
    history: list = field(default_factory=list)       # {"step", "loss", "lr"}
    eval_history: list = field(default_factory=list)  # {"step", "val_loss"}
    checkpoints: list = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / max(self.runtime_s, 1e-9)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens_per_s"] = self.tokens_per_s
        return d


def lr_lambda(step: int, total: int, warmup: int, schedule: str, min_lr_ratio: float) -> float:
    """Multiplier of the peak learning rate at ``step``: linear warmup, then cosine or constant."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress_ = (step - warmup) / max(1, total - warmup)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))


@torch.no_grad()
def evaluate_losses(model, dataset, *, batch_size: int = 32, pad_token_id: int = 0) -> np.ndarray:
    """Per-example mean token loss (over unmasked labels) of ``model`` on ``dataset``, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = np.empty(len(dataset), dtype=np.float64)
    for start in range(0, len(dataset), batch_size):
        idx = range(start, min(start + batch_size, len(dataset)))
        batch = collate([dataset[i] for i in idx], pad_token_id=pad_token_id)
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits
        out[start:start + len(idx)] = per_sample_loss(logits, batch["labels"].to(device)).double().cpu().numpy()
    model.train(was_training)
    return out


@torch.no_grad()
def evaluate_token_accuracy(model, dataset, *, batch_size: int = 32, pad_token_id: int = 0) -> float:
    """Teacher-forced next-token accuracy (argmax) over all labelled positions of ``dataset``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    hits = total = 0
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))],
                        pad_token_id=pad_token_id)
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device)).logits   # [B, T, V]
        target = batch["labels"][:, 1:].to(device)                                  # [B, T-1]
        mask = target != -100
        hits += int(((logits[:, :-1].argmax(-1) == target) & mask).sum())
        total += int(mask.sum())
    model.train(was_training)
    return hits / max(total, 1)


def evaluate_loss(model, dataset, *, batch_size: int = 32, pad_token_id: int = 0) -> float:
    """Mean over examples of :func:`evaluate_losses`."""
    return float(evaluate_losses(model, dataset, batch_size=batch_size, pad_token_id=pad_token_id).mean())


def train_causal_lm(model, train_dataset, *, config: TrainConfig | None = None, eval_dataset=None,
                    regularizer=None, random_state=0, pad_token_id: int = 0, desc: str = "train",
                    **overrides) -> TrainResult:
    """Train a causal LM on ``train_dataset`` in place.

    Parameters
    ----------
    model : transformers causal LM (or PEFT-wrapped one)
    train_dataset : Dataset of dicts with ``input_ids`` and ``labels`` (and optionally ``weight``)
        e.g. :class:`BlockDataset`, :class:`PromptResponseDataset`, :class:`WeightedDataset`.
        When examples carry ``weight``, the objective is ``(1/B) sum_i w_i l_i``.
    config : TrainConfig, optional; ``overrides`` replace its fields (``lr=3e-4``, ...).
    eval_dataset : Dataset, optional
        Validation loss every ``config.eval_every`` steps and at the end.
    regularizer : callable(model) -> scalar Tensor, optional
        Added to the loss at every step (e.g. l2 towards the initial weights).
    random_state : int
        Seeds the data order.

    Returns
    -------
    TrainResult
    """
    from accelerate import Accelerator

    config = TrainConfig(**{**asdict(config or TrainConfig()), **overrides}).validate()
    loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=config.batch_size, shuffle=True, drop_last=False,
        generator=torch_generator(random_state), collate_fn=partial(collate, pad_token_id=pad_token_id))
    steps_per_epoch = max(1, len(loader) // config.grad_accum)
    total = config.max_steps or max(1, int(round(config.epochs * steps_per_epoch)))
    warmup = int(config.warmup * total) if config.warmup < 1 else int(config.warmup)

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=tuple(config.betas))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(lr_lambda, total=total, warmup=warmup, schedule=config.schedule,
                           min_lr_ratio=config.min_lr_ratio))
    accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum, split_batches=True)
    if config.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size ({config.batch_size}) is the global batch and must be divisible by the "
                         f"number of processes ({accelerator.num_processes})")
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    main = accelerator.is_main_process

    result = TrainResult(steps=0, n_tokens=0, runtime_s=0.0)
    model.train()
    start = time.perf_counter()
    bar = progress(total=total, desc=desc, enabled=main)
    running = []
    while result.steps < total:
        for batch in loader:
            with accelerator.accumulate(model):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = causal_lm_loss(logits, batch["labels"], batch.get("weight"), batch.get("token_weight"),
                                      reduction=config.loss_reduction)
                running.append(float(accelerator.reduce(loss.detach(), reduction="mean")))
                if regularizer is not None:
                    loss = loss + regularizer(model)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {float(loss)} at step {result.steps}; lower lr")
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.grad_clip is not None:
                    accelerator.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            result.n_tokens += int(accelerator.reduce(batch["attention_mask"].sum(), reduction="sum"))
            if not accelerator.sync_gradients:
                continue
            result.steps += 1
            result.history.append({"step": result.steps, "loss": float(np.mean(running)),
                                   "lr": float(scheduler.get_last_lr()[0])})
            running = []
            bar.update(1)
            bar.set_postfix(loss=f"{result.history[-1]['loss']:.3f}")
            last = result.steps == total
            keep = result.steps in config.checkpoint_steps
            if eval_dataset is not None and ((config.eval_every and result.steps % config.eval_every == 0)
                                             or last or keep):
                val = evaluate_loss(accelerator.unwrap_model(model), eval_dataset, pad_token_id=pad_token_id)
                result.eval_history.append({"step": result.steps, "val_loss": val})
                model.train()
            if config.checkpoint_dir and ((config.checkpoint_every and result.steps % config.checkpoint_every == 0)
                                          or last or keep):
                path = Path(config.checkpoint_dir) / f"step-{result.steps}"
                accelerator.wait_for_everyone()
                if main:
                    with hf_quiet():
                        accelerator.unwrap_model(model).save_pretrained(path)
                result.checkpoints.append(str(path))
            if last:
                break
    bar.close()
    result.runtime_s = time.perf_counter() - start
    accelerator.unwrap_model(model).eval()
    accelerator.free_memory()
    return result
