"""Benchmark: exact vs approximate (FAISS HNSW / IVF) dense search, recall@10 against exact.

n clustered unit vectors of dimension 384 (MiniLM's), 1,000 queries; build time, query time
per 1,000 queries and recall@10 of each index against exact search. Run:
``python benchmarks/bench_index.py [--n 200000] [--threads 2]``; writes ``benchmarks/out/index.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    from frugalml.retrieval.index import VectorIndex, recall_against_exact

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, args.d))

    def sample(n):
        X = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, args.d))
        return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)

    X, Q = sample(args.n), sample(args.queries)
    rows, exact_ids = [], None
    for method, kw in [("exact", {}), ("hnsw", {"ef_search": 64}), ("hnsw", {"ef_search": 128}),
                       ("ivf", {"n_probe": 8}), ("ivf", {"n_probe": 32})]:
        t = time.perf_counter()
        index = VectorIndex(method, **kw).fit(X)
        build = time.perf_counter() - t
        t = time.perf_counter()
        _, ids = index.search(Q, 10)
        query = time.perf_counter() - t
        exact_ids = ids if method == "exact" else exact_ids
        rows.append({"method": method, **kw, "build_s": build, "query_s_per_1000": query * 1000 / len(Q),
                     "recall_at_10": recall_against_exact(ids, exact_ids)})
        print(rows[-1], flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "index.json").write_text(json.dumps({"machine": platform.platform(), "threads": args.threads,
                                                "n": args.n, "d": args.d, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
