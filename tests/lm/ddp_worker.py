"""Train a tiny LM with ``train_causal_lm``; run alone or under ``torchrun`` by test_lm_distributed.py.

Usage: ``python ddp_worker.py OUT.json`` (one process) or
``torchrun --nproc_per_node 2 ddp_worker.py OUT.json`` (DDP on CPU, gloo). The main process writes
the loss history and a checksum of the final weights to OUT.json.
"""

import json
import sys

import torch

from frugalml.lm import BlockDataset, SmallLMConfig, make_small_lm, train_causal_lm, train_tokenizer

TEXTS = [f"def f{i}(a, b):\n    return a * {i} + b - {i % 7}\n\n" for i in range(200)]


def run(out: str | None = None) -> dict:
    torch.set_num_threads(1)
    tok = train_tokenizer(TEXTS, vocab_size=300)
    data = BlockDataset(tok, TEXTS, block_size=16)
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2), tokenizer=tok, random_state=0)
    n = 8 * (len(data) // 8)                       # whole global batches only
    data = torch.utils.data.Subset(data, range(n))
    result = train_causal_lm(model, data, batch_size=8, max_steps=12, lr=3e-3, warmup=0, random_state=0,
                             pad_token_id=tok.pad_token_id)
    record = {"loss": [h["loss"] for h in result.history], "n_tokens": result.n_tokens,
              "weight_sum": float(sum(p.detach().double().abs().sum() for p in model.parameters()))}
    import os

    if out is not None and os.environ.get("RANK", "0") == "0":
        with open(out, "w") as f:
            json.dump(record, f)
    return record


if __name__ == "__main__":
    run(sys.argv[1])
