"""Benchmark: GM Matching on embeddings larger than memory (a float32 ``.npy`` memmap).

Selects 10% per class (10 classes) with ``GMMatching(n_batches=...)`` from n x 256 float32
embeddings stored in a ``.npy`` file, opened with ``mmap_mode="r"``: each random batch of
about ``--batch-rows`` rows of a class is read, herded towards its own geometric median
(the paper's batched version) and dropped. Every size runs in a fresh process so that its
peak resident memory (``ru_maxrss``) is its own; the file's size is printed beside it.

Run: ``python benchmarks/bench_scale.py [--sizes 250000 500000 1000000 2000000] [--threads 2]``.
Writes ``benchmarks/out/scale.json``. The files go to ``--tmp`` (default: a temporary folder)
and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

D, CLASSES, FRACTION = 256, 10, 0.1


def make_file(path: Path, n: int, seed: int = 0) -> None:
    """n x D float32 Gaussian clusters (one per class) written in 100k-row slabs, never whole in memory."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
    centres = rng.normal(scale=3.0, size=(CLASSES, D)).astype(np.float32)
    for s in range(0, n, 100_000):
        e = min(s + 100_000, n)
        y = np.arange(s, e) % CLASSES
        X[s:e] = centres[y] + rng.normal(size=(e - s, D)).astype(np.float32)
    X.flush()
    del X


def _anon_mb() -> float:
    """Anonymous resident memory (heap, arrays) of this process, without the memmap's file pages."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) / 1024


def child(path: str, n: int, batch_rows: int) -> None:
    """Run one selection in this process and print its time and peak memory as JSON.

    ``peak_rss_mb`` (``ru_maxrss``) counts the memmap's file pages that were read, which the
    kernel can drop at any time; ``peak_anon_mb`` (sampled every 20 ms) is the memory the
    selection itself holds.
    """
    import resource
    import threading

    import numpy as np

    from frugalml.selection import GMMatching

    peak, done = [_anon_mb()], threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], _anon_mb())

    threading.Thread(target=sample, daemon=True).start()
    y = np.arange(n) % CLASSES
    X = np.load(path, mmap_mode="r")
    n_batches = max(1, round(n / CLASSES / batch_rows))
    base = _anon_mb()
    start = time.perf_counter()
    idx = GMMatching(fraction=FRACTION, n_batches=n_batches, random_state=0).select(X, y)
    seconds = time.perf_counter() - start
    done.set()
    print(json.dumps({"n": n, "n_batches_per_class": n_batches, "selected": int(idx.size), "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_anon_mb": peak[0], "anon_before_mb": base,
                      "file_mb": os.path.getsize(path) / 2**20}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000, 2_000_000])
    p.add_argument("--batch-rows", type=int, default=1024, help="rows per herding batch (per class)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tmp", default=None)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"X-{n}.npy"
            make_file(path, n)
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                  "--child", str(path), str(n), str(args.batch_rows)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
            path.unlink()
    record = {"machine": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
              "d": D, "classes": CLASSES, "fraction": FRACTION, "batch_rows": args.batch_rows, "rows": rows}
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps(record, indent=2))
    print(f"{'n':>10} {'file MB':>8} {'peak RSS MB':>12} {'peak anon MB':>13} {'seconds':>8}")
    for r in rows:
        print(f"{r['n']:>10} {r['file_mb']:>8.0f} {r['peak_rss_mb']:>12.0f} {r['peak_anon_mb']:>13.0f} "
              f"{r['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
