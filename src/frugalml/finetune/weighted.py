"""Weighted fine-tuning of causal LMs and the forgetting baselines FLOW is compared with.

``finetune`` runs the shared loop (:func:`frugalml.lm.train_causal_lm`) on
``(1/B) sum_i w_i l_i`` with optional l2 pull towards the pre-trained weights, on all
weights (``method="full"``), on LoRA adapters (Hugging Face PEFT, ``method="lora"``) or on SVFT
adapters (:mod:`frugalml.finetune.svft`, ``method="svft"``).
``wise_ft`` interpolates pre-trained and fine-tuned weights (Wortsman et al., 2022).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from frugalml._core import check_option, check_random_state
from frugalml._core.validation import check_bool, check_positive, check_scalar
from frugalml.lm.data import TokenWeightedDataset, WeightedDataset
from frugalml.lm.models import _seeded
from frugalml.lm.train import TrainConfig, TrainResult, train_causal_lm

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class FinetuneResult:
    """The fine-tuned model (LoRA merged into plain weights unless ``merge=False``) and its run."""

    model: object
    train: TrainResult
    n_trainable: int


def l2_to_init(model, strength: float, *, per_parameter: bool = True):
    """Regulariser pulling the trainable parameters towards their values when this is called.

    ``per_parameter=True`` (default, as the official FLOW trainer's l2 baseline):
    ``strength * sum_j ||theta_j - theta_j^0||^2 / N`` with ``N`` the number of trainable
    scalars, so one strength means the same pull for any model size. ``False``: the plain sum
    ``strength * sum_j ||theta_j - theta_j^0||^2``.
    """
    strength = check_positive(strength, "strength")
    per_parameter = check_bool(per_parameter, "per_parameter")
    anchors = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]
    scale = strength / sum(p.numel() for p, _ in anchors) if per_parameter else strength

    def regularizer(_model):
        return scale * sum(((p - p0) ** 2).sum() for p, p0 in anchors)

    return regularizer


def finetune(model, dataset, *, sample_weights=None, token_weights=None, method: str = "full", lr: float = 1e-3,
             epochs: float = 1.0, batch_size: int = 16, l2_to_init_strength: float = 0.0,
             l2_per_parameter: bool = True, loss_reduction: str = "token",
             lora_r: int = 8, lora_alpha: int = 16, lora_target_modules=None, lora_init=True,
             svft_config=None, merge: bool = True,
             eval_dataset=None, random_state=0, pad_token_id: int = 0, **train_overrides) -> FinetuneResult:
    """Fine-tune a causal LM on prompt/response data, optionally with per-sample weights.

    Parameters
    ----------
    model : transformers causal LM
        Trained in place for ``method="full"``; for ``"lora"`` adapters are injected, trained
        and (``merge=True``) merged back, leaving a plain model of the original class.
    dataset : PromptResponseDataset (or any dataset of ``input_ids``/``labels`` dicts)
    sample_weights : array-like of shape (n,), optional
        ``w_i`` multiplying each sample's loss (FLOW: :func:`flow_weights`). ``None`` is
        standard fine-tuning; all-ones weights give exactly the same objective.
    token_weights : list of 1-D arrays, optional
        FLOW's token-level variant: one weight per labelled token of each sample
        (:func:`flow_token_weights`). Combines with ``sample_weights``.
    method : "full", "lora" or "svft"
    lr, epochs, batch_size : optimisation settings (AdamW, warmup + cosine, clip 1.0).
    l2_to_init_strength : float
        If positive, adds ``strength * ||theta - theta_0||^2`` (the l2-to-init baseline),
        divided by the number of trainable parameters when ``l2_per_parameter`` (default, as
        the official FLOW code; see :func:`l2_to_init`).
    loss_reduction : "token" (default) or "sample"
        "token", as the official FLOW trainer and Hugging Face: each sample's *summed* token
        losses times ``w_i``, over the micro-batch's labelled-token count (long responses
        weigh more). "sample": ``(1/B) sum_i w_i l_i`` with ``l_i`` the mean token loss, the
        paper's Alg. 1 read literally. They coincide for equal-length labelled blocks.
    lora_r, lora_alpha, lora_target_modules : LoRA settings (PEFT ``LoraConfig``).
    lora_init : bool or str
        PEFT's ``init_lora_weights`` (``"pissa"`` for PiSSA's SVD initialisation).
    svft_config : SVFTConfig, optional
        For ``method="svft"`` (default: plain SVFT on the LoRA target modules).
    train_overrides : further :class:`frugalml.lm.TrainConfig` fields.

    Returns
    -------
    FinetuneResult
    """
    check_option(method, ("full", "lora", "svft"), "method")
    check_option(loss_reduction, ("token", "sample"), "loss_reduction")
    l2_to_init_strength = check_positive(l2_to_init_strength, "l2_to_init_strength", strict=False)
    lr = check_positive(lr, "lr")
    epochs = check_positive(epochs, "epochs")
    batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1)
    for flag, value in (("l2_per_parameter", l2_per_parameter), ("merge", merge)):
        check_bool(value, flag)
    data = dataset if token_weights is None else TokenWeightedDataset(dataset, token_weights)
    data = data if sample_weights is None else WeightedDataset(data, sample_weights)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0,
                         target_modules=list(lora_target_modules or LORA_TARGETS), task_type="CAUSAL_LM",
                         init_lora_weights=lora_init)
        seed = int(check_random_state(random_state).integers(0, 2**31 - 1))
        with _seeded(seed):  # PEFT draws lora_A from torch's global generator
            train_model = get_peft_model(model, cfg)
    elif method == "svft":
        from frugalml.finetune.svft import SVFTConfig, apply_svft

        train_model = apply_svft(model, svft_config or SVFTConfig(target_modules=list(LORA_TARGETS)))
    else:
        train_model = model
    n_trainable = sum(p.numel() for p in train_model.parameters() if p.requires_grad)
    regularizer = (l2_to_init(train_model, l2_to_init_strength, per_parameter=l2_per_parameter)
                   if l2_to_init_strength > 0 else None)
    config = TrainConfig(lr=lr, epochs=epochs, batch_size=batch_size, loss_reduction=loss_reduction,
                         **train_overrides)
    result = train_causal_lm(train_model, data, config=config, eval_dataset=eval_dataset,
                             regularizer=regularizer, random_state=random_state, pad_token_id=pad_token_id,
                             desc=f"finetune[{method}]")
    out = train_model
    if method == "lora" and merge:
        out = train_model.merge_and_unload()
    elif method == "svft" and merge:
        from frugalml.finetune.svft import merge_and_unload

        out = merge_and_unload(train_model)
    out.eval()
    return FinetuneResult(model=out, train=result, n_trainable=n_trainable)


@torch.no_grad()
def wise_ft(pretrained, finetuned, alpha: float = 0.5):
    """WiSE-FT: a new model with weights ``(1 - alpha) * theta_pre + alpha * theta_ft``.

    ``alpha = 0`` returns the pre-trained weights, ``alpha = 1`` the fine-tuned ones.
    """
    alpha = check_scalar(alpha, "alpha", low=0, high=1)
    pre, ft = pretrained.state_dict(), finetuned.state_dict()
    if pre.keys() != ft.keys():
        raise ValueError("pretrained and finetuned must have the same parameter names (merge LoRA first)")
    out = copy.deepcopy(finetuned)
    mixed = {}
    for k, v in ft.items():
        if pre[k].shape != v.shape:
            raise ValueError(f"parameter {k} has shape {tuple(pre[k].shape)} vs {tuple(v.shape)}")
        mixed[k] = (1 - alpha) * pre[k] + alpha * v if v.is_floating_point() else v
    out.load_state_dict(mixed)
    out.eval()
    return out
