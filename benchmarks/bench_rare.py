"""Benchmark: what in-context examples cost a retriever (RARe), and frugalml's encoding overhead.

1. Query encoding with k = 0 / 3 / 5 BM25-retrieved examples (all-MiniLM-L6-v2, GSM-style
   problems as queries, example documents cut to 40 words, each query fitted to 256 tokens by
   ``fit_query``, so the target query is never cut): latency of one query at a time (batch 1,
   median) and batched throughput (queries/s), mean tokens and the examples that fit.
2. Corpus encoding throughput: :func:`frugalml.retrieval.encode_corpus` against plain
   ``SentenceTransformer.encode`` on the same documents (the peer a user would call).
3. BM25 example retrieval (:class:`ExampleRetriever`, ``bm25s``) time per query over a pool.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_rare.py [--threads 2] [--n-queries 64]

Writes JSON to ``benchmarks/out/rare.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-queries", type=int, default=64)
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "rare.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from frugalml.retrieval import ExampleRetriever, build_task, encode_corpus, fit_query, load_base_model

    task = build_task("gsm_solutions", args.pool, args.n_queries, random_state=0)
    _, pool_q, pool_d = task.pool("train")
    queries = list(task.queries["test"].values())
    model = load_base_model(max_seq_length=256)
    out = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "threads": args.threads,
           "torch": torch.__version__, "n_queries": len(queries), "pool": len(pool_q), "query": {}}
    model.encode(queries[:4])  # warm-up

    for k in (0, 3, 5):
        if k:
            retr = ExampleRetriever(pool_q, pool_d, k=k, random_state=0)
            t0 = time.perf_counter()
            ex = retr.retrieve_many(queries)
            bm25_ms = 1000 * (time.perf_counter() - t0) / len(queries)
        else:
            ex, bm25_ms = [()] * len(queries), 0.0
        fitted = [fit_query(q, e, task.instruction, tokenizer=model.tokenizer, max_length=model.max_seq_length,
                            max_example_words=40) for q, e in zip(queries, ex)]
        texts = [f.text for f in fitted]  # the target query is never cut: least similar examples give way
        tok = float(np.mean([f.n_tokens for f in fitted]))
        out["query"].setdefault("fit", {})[k] = {
            "tokens_full": float(np.mean([f.n_tokens_full for f in fitted])),
            "examples_kept": float(np.mean([f.n_examples for f in fitted])),
            "target_truncated": float(np.mean([not f.target_intact for f in fitted]))}
        single = [_median_time(lambda t=t: model.encode([t]), 1) for t in texts[:16]]
        batched = _median_time(lambda: model.encode(texts, batch_size=32), args.repeats)
        out["query"][k] = {"tokens": tok, "latency_ms_batch1": 1000 * float(np.median(single)),
                           "throughput_qps": len(texts) / batched, "bm25_example_ms_per_query": bm25_ms}

    docs_corpus = task.corpus
    from frugalml.retrieval import document_text

    texts = [document_text(d) for d in docs_corpus.values()]
    ours = _median_time(lambda: encode_corpus(model, docs_corpus, batch_size=64), args.repeats)
    peer = _median_time(lambda: model.encode(texts, batch_size=64, normalize_embeddings=True), args.repeats)
    out["corpus"] = {"n_docs": len(texts), "ours_docs_per_s": len(texts) / ours, "peer_docs_per_s": len(texts) / peer,
                     "ratio_peer_over_ours_time": ours / peer}

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    q0 = out["query"][0]
    print(f"machine: {out['machine']}, threads {args.threads}, torch {out['torch']}")
    print("| k examples | tokens | latency, batch 1 (ms) | x vs k=0 | throughput (queries/s) | BM25 examples (ms/query) |")
    print("|---|---|---|---|---|---|")
    for k, r in out["query"].items():
        if k == "fit":
            continue
        print(f"| {k} | {r['tokens']:.0f} | {r['latency_ms_batch1']:.1f} | {r['latency_ms_batch1'] / q0['latency_ms_batch1']:.1f} "
              f"| {r['throughput_qps']:.1f} | {r['bm25_example_ms_per_query']:.2f} |")
    for k, f in out["query"]["fit"].items():
        print(f"k={k}: {f['tokens_full']:.0f} tokens before fitting to {model.max_seq_length}, "
              f"{f['examples_kept']:.2f} of {k} examples kept, target cut in {f['target_truncated']:.0%} of queries")
    c = out["corpus"]
    print(f"\ncorpus ({c['n_docs']} docs): encode_corpus {c['ours_docs_per_s']:.1f} docs/s, "
          f"SentenceTransformer.encode {c['peer_docs_per_s']:.1f} docs/s (time ratio ours/peer {c['ratio_peer_over_ours_time']:.2f})")
    return out


if __name__ == "__main__":
    main()
