"""Benchmark: SVFT training step time and memory vs PEFT LoRA / PiSSA at equal budgets; merged inference.

On one model of the shared reference shape (8-layer Llama, d_model 128, vocab 2048; random
weights: timing does not depend on their values), all arms adapting q, k, v, o, gate, up, down:

1. Step time (forward + backward + AdamW step, batch x block tokens) of SVFT plain vs LoRA r=1 and
   SVFT banded d=4 vs LoRA r=4 / PiSSA r=4 (SVFT's budgets are the smaller ones), SVFT in its
   three forward modes (``auto``, ``factored``, ``dense``). Arms are interleaved within each
   repeat and the median over repeats is kept; ratios are against LoRA at the paired budget.
2. Memory per step: bytes of the tensors autograd saves for backward (activations), plus the
   adapters' frozen buffers (SVFT's U and V), trainable parameters and AdamW's two moments.
   (CPU has no peak-allocator counter; this sums what a step must hold beyond the base weights.)
3. Inference after merging: forward time of the merged model over the base model's (same
   architecture, so ~1.0) and of the unmerged SVFT model.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_svft.py [--repeats 5] [--batch 16] [--block 128]

Writes JSON to ``benchmarks/out/svft.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_arm(base, arm):
    from peft import LoraConfig, get_peft_model

    from frugalml.finetune.svft import SVFTConfig, apply_svft

    kind, _, rest = arm.partition(":")
    if kind in ("lora", "pissa"):
        r = int(rest)
        cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, lora_dropout=0.0,
                         init_lora_weights="pissa" if kind == "pissa" else True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return get_peft_model(copy.deepcopy(base), cfg)
    pattern, forward = rest.split("/")
    kw = {"pattern": "plain"} if pattern == "plain" else {"pattern": "banded", "off_diag": int(pattern[1:])}
    return apply_svft(copy.deepcopy(base), SVFTConfig(target_modules=TARGETS, forward=forward, **kw))


def step_time(model, x, n):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i:                                   # the first step warms up (allocations, AdamW state)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def step_memory(model, x):
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=x, labels=x).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for n, b in model.named_buffers() if "svft_" in n)
    return {"activations_MB": saved[0] / 2**20, "adapter_buffers_MB": buffers / 2**20,
            "params_and_adam_MB": 3 * trainable / 2**20,
            "total_MB": (saved[0] + buffers + 3 * trainable) / 2**20}


@torch.no_grad()
def forward_time(model, x, n):
    model.eval()
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        model(input_ids=x)
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per arm and repeat")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "svft.json"))
    args = ap.parse_args(argv)

    from frugalml.finetune.svft import merge_and_unload, trainable_parameters
    from frugalml.lm import PRESETS, make_small_lm

    base = make_small_lm(PRESETS["reference"].model_config(), random_state=0)
    x = torch.randint(0, base.config.vocab_size, (args.batch, args.block), generator=torch.Generator().manual_seed(0))
    arms = ["lora:1", "svft:plain/auto", "lora:4", "pissa:4", "svft:d4/auto", "svft:d4/factored", "svft:d4/dense"]
    models = {a: make_arm(base, a) for a in arms}
    times = {a: [] for a in arms}
    for _ in range(args.repeats):
        for a in arms:                          # interleaved: contention hits every arm alike
            times[a].append(step_time(models[a], x, args.steps))
    med = {a: float(np.median(t)) for a, t in times.items()}
    mem = {a: step_memory(models[a], x) for a in arms}
    n_params = {a: trainable_parameters(models[a]) for a in arms}
    ref = {"svft:plain/auto": "lora:1", "svft:d4/auto": "lora:4", "svft:d4/factored": "lora:4",
           "svft:d4/dense": "lora:4", "pissa:4": "lora:4"}

    svft = models["svft:d4/auto"]
    with torch.no_grad():                       # a non-zero update, so merging changes the weights
        for p in svft.parameters():
            if p.requires_grad:
                p.normal_(0, 0.01)
    unmerged = [forward_time(svft, x, args.steps) for _ in range(args.repeats)]
    merged_model = merge_and_unload(copy.deepcopy(svft))
    merged, plain = [], []
    for _ in range(args.repeats):
        merged.append(forward_time(merged_model, x, args.steps))
        plain.append(forward_time(base, x, args.steps))
    infer = {"base_s": float(np.median(plain)), "merged_s": float(np.median(merged)),
             "unmerged_s": float(np.median(unmerged))}

    out = {"machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
           "batch": args.batch, "block": args.block, "repeats": args.repeats, "steps": args.steps,
           "n_params": n_params, "step_s": med, "step_s_runs": times, "memory": mem,
           "ratio_vs_lora": {a: med[a] / med[r] for a, r in ref.items()}, "inference": infer}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"{out['machine']}; batch {args.batch} x {args.block} tokens; median of {args.repeats} repeats")
    print("| arm | trainable | step (s) | vs LoRA | activations + U/V + params/Adam (MB) |\n|---|---|---|---|---|")
    for a in arms:
        ratio = f"{out['ratio_vs_lora'][a]:.2f}x {ref[a]}" if a in ref else "-"
        m = mem[a]
        print(f"| {a} | {n_params[a]:,} | {med[a]:.3f} | {ratio} | {m['activations_MB']:.1f} + "
              f"{m['adapter_buffers_MB']:.2f} + {m['params_and_adam_MB']:.2f} = {m['total_MB']:.1f} |")
    print(f"| inference: merged / base forward | | {infer['merged_s']:.3f} / {infer['base_s']:.3f} | "
          f"{infer['merged_s'] / infer['base_s']:.2f}x | |")
    print(f"| inference: unmerged SVFT d4 / base forward | | {infer['unmerged_s']:.3f} / {infer['base_s']:.3f} | "
          f"{infer['unmerged_s'] / infer['base_s']:.2f}x | |")


if __name__ == "__main__":
    main()
