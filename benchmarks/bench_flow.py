"""Benchmark: FLOW's weighting overhead, and the throughput of frugalml's training loop.

1. Overhead of FLOW: one inference pass of the frozen pre-trained model over the fine-tuning
   set (``sample_losses`` + ``flow_weights``) as a fraction of one fine-tuning epoch
   (the paper reports about +17% for 2 epochs, i.e. ~1/3 of an epoch).
2. Training throughput (non-padding tokens/s) of one fine-tuning epoch on the same model and
   data with: frugalml's loop (``finetune`` on ``accelerate``), a plain PyTorch loop (same
   loss, no accelerate), and Hugging Face ``Trainer`` (what the official FLOW code uses).

The model is the cached ``default`` small LM (pre-trained on first use, a few minutes) and
the data the GSM-style problems of ``frugalml reproduce flow``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_flow.py [--repeats 2] [--preset default]

Writes JSON to ``benchmarks/out/flow.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch


def plain_torch_epoch(model, dataset, *, lr, batch_size, pad, seed):
    from frugalml.lm import causal_lm_loss, collate

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=gen,
                                         collate_fn=partial(collate, pad_token_id=pad))
    model.train()
    n_tok, t0 = 0, time.perf_counter()
    for batch in loader:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = causal_lm_loss(logits, batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        n_tok += int(batch["attention_mask"].sum())
    return n_tok / (time.perf_counter() - t0)


def hf_trainer_epoch(model, dataset, *, lr, batch_size, pad, seed):
    from transformers import Trainer, TrainingArguments

    from frugalml.lm import collate

    def collator(items):
        b = collate(items, pad_token_id=pad)
        return {k: b[k] for k in ("input_ids", "attention_mask", "labels")}

    n_tok = sum(len(x["input_ids"]) for x in dataset)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=batch_size, num_train_epochs=1,
                                 learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=1,
                                 max_grad_norm=1.0, report_to=[], save_strategy="no", logging_strategy="no",
                                 use_cpu=True, dataloader_num_workers=0, seed=seed, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
        t0 = time.perf_counter()
        trainer.train()
        return n_tok / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "flow.json"))
    args = ap.parse_args(argv)

    from frugalml.finetune import finetune, flow_weights, sample_losses
    from frugalml.lm import PromptResponseDataset, pretrained_small_lm
    from frugalml.repro.flow import SCALES, _short_task

    cfg = dict(SCALES["default" if args.preset == "default" else "smoke"])
    model, tok, info = pretrained_small_lm(args.preset)
    task = _short_task(tok, cfg, 0)
    ds = PromptResponseDataset(tok, task.train_prompts, task.train_responses, max_length=cfg["max_length"])
    pad, lr, bs = tok.pad_token_id, cfg["lr"], cfg["batch_size"]
    rows = {"weights_s": [], "epoch_s": [], "flow_epoch_s": [], "frugalml": [], "plain_torch": [], "hf_trainer": []}
    for r in range(args.repeats):
        t0 = time.perf_counter()
        w = flow_weights(sample_losses(model, ds, pad_token_id=pad))
        rows["weights_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = finetune(copy.deepcopy(model), ds, lr=lr, batch_size=bs, epochs=1, random_state=r, pad_token_id=pad)
        rows["epoch_s"].append(time.perf_counter() - t0)
        rows["frugalml"].append(res.train.tokens_per_s)
        t0 = time.perf_counter()
        finetune(copy.deepcopy(model), ds, sample_weights=w, lr=lr, batch_size=bs, epochs=1, random_state=r,
                 pad_token_id=pad)
        rows["flow_epoch_s"].append(time.perf_counter() - t0)
        rows["plain_torch"].append(plain_torch_epoch(copy.deepcopy(model), ds, lr=lr, batch_size=bs, pad=pad, seed=r))
        rows["hf_trainer"].append(hf_trainer_epoch(copy.deepcopy(model), ds, lr=lr, batch_size=bs, pad=pad, seed=r))
    med = {k: float(np.median(v)) for k, v in rows.items()}
    out = {"machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
           "preset": args.preset, "n_params": int(sum(p.numel() for p in model.parameters())),
           "n_samples": len(ds), "n_tokens": ds.n_tokens, "runs": rows, "median": med,
           "overhead_frac_of_epoch": med["weights_s"] / med["epoch_s"],
           "pretrain_tokens_per_s": info["train"]["tokens_per_s"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"model {out['n_params'] / 1e6:.2f}M params, {len(ds)} samples, {ds.n_tokens} tokens/epoch")
    print("| measure | value |\n|---|---|")
    print(f"| FLOW weights (one inference pass) | {med['weights_s']:.2f} s |")
    print(f"| one standard fine-tuning epoch | {med['epoch_s']:.2f} s |")
    print(f"| one FLOW-weighted epoch | {med['flow_epoch_s']:.2f} s |")
    print(f"| overhead, fraction of one epoch | {100 * out['overhead_frac_of_epoch']:.1f}% |")
    for k in ("frugalml", "plain_torch", "hf_trainer"):
        print(f"| throughput {k} | {med[k]:.0f} tokens/s |")


if __name__ == "__main__":
    main()
