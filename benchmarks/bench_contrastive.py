"""Benchmark: InfoNCEProjection vs a hand-written torch loop, and vs scikit-learn PCA / LDA.

What a user would otherwise run:

* a plain torch linear encoder (``nn.Linear(d, r, bias=False)``) trained "the usual way":
  ``DataLoader(TensorDataset(X, X_pos), batch_size=256, shuffle=True)``, Adam, in-batch
  ``F.cross_entropy`` InfoNCE, the same number of steps. Same loss, same optimiser, so the
  time ratio is the wrapper's overhead (validation, centring, the scale-aware init);
* the leanest hand loop (tensors sliced by a per-epoch permutation, no DataLoader), which
  isolates the DataLoader's per-batch collation cost from the wrapper's;
* scikit-learn ``PCA`` (no labels, the spectral method the paper says fails) and
  ``LinearDiscriminantAnalysis`` (needs the labels InfoNCE never sees): closed forms, so they
  are much faster; the point of the comparison is what each recovers per second.

All are scored by the sine of the largest principal angle to the true Fisher subspace.
Synthetic setting of the paper page: K=4, d=20, r=3, ||mu_k||=3, three noise directions of
variance 25. An optional real-data row (Fashion-MNIST, 784 pixels, r=9) times the fits only.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_contrastive.py [--sizes 2000 8000] [--steps 2000] [--repeat 1] [--no-real]

Only core dependencies (numpy, torch, scikit-learn). Writes ``benchmarks/out/contrastive.json``
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch


def plain_torch_infonce(X, X_pos, r, n_steps, batch_size=256, lr=3e-3, seed=0):
    """The loop a user writes by hand: nn.Linear + DataLoader + Adam + cross-entropy InfoNCE."""
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    mean = (X.mean(0) + X_pos.mean(0)) / 2
    ds = TensorDataset(torch.tensor(X - mean, dtype=torch.float32), torch.tensor(X_pos - mean, dtype=torch.float32))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)
    enc = torch.nn.Linear(X.shape[1], r, bias=False)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    step = 0
    while step < n_steps:
        for xb, xpb in loader:
            z, zp = enc(xb), enc(xpb)
            loss = F.cross_entropy(z @ zp.T, torch.arange(len(xb)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == n_steps:
                break
    return enc.weight.detach().double().numpy()


def minimal_torch_infonce(X, X_pos, r, n_steps, batch_size=256, lr=3e-3, seed=0):
    """The leanest hand loop: tensors sliced directly by a per-epoch permutation, no DataLoader."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    mean = (X.mean(0) + X_pos.mean(0)) / 2
    A_, B_ = torch.tensor(X - mean, dtype=torch.float32), torch.tensor(X_pos - mean, dtype=torch.float32)
    W = (torch.randn(r, X.shape[1], generator=g) / X.shape[1] ** 0.5).requires_grad_(True)
    opt = torch.optim.Adam([W], lr=lr)
    n, order, pos = len(A_), torch.randperm(len(A_), generator=g), 0
    target = torch.arange(batch_size)
    for _ in range(n_steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos: pos + batch_size]
        pos += batch_size
        loss = F.cross_entropy((A_[idx] @ W.T) @ (B_[idx] @ W.T).T, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach().double().numpy()


def timed(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1, help="repeats; the fastest wall time is kept")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-real", action="store_true", help="skip the Fashion-MNIST timing row")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "contrastive.json"))
    args = ap.parse_args(argv)

    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from frugalml.contrastive import GaussianMixturePairs, InfoNCEProjection, SameClassPairs, subspace_distance

    torch.set_num_threads(1)
    gm = GaussianMixturePairs.random(4, 20, random_state=args.seed)
    F_sub = gm.fisher_subspace()
    warm = gm.sample(512, random_state=1)  # warm-up: keep import / first-call costs out of the timings
    InfoNCEProjection(3, n_steps=20, random_state=0).fit(warm.X, warm.X_pos)
    plain_torch_infonce(warm.X, warm.X_pos, 3, 20)
    minimal_torch_infonce(warm.X, warm.X_pos, 3, 20)

    rows = []
    for n in args.sizes:
        p = gm.sample(n, random_state=args.seed + 10)
        both, labels = np.vstack([p.X, p.X_pos]), np.concatenate([p.z, p.z_pos])
        t_nce, est = timed(lambda: InfoNCEProjection(3, n_steps=args.steps, random_state=args.seed).fit(p.X, p.X_pos),
                           args.repeat)
        t_plain, W = timed(lambda: plain_torch_infonce(p.X, p.X_pos, 3, args.steps, seed=args.seed), args.repeat)
        t_min, W2 = timed(lambda: minimal_torch_infonce(p.X, p.X_pos, 3, args.steps, seed=args.seed), args.repeat)
        t_pca, pca = timed(lambda: PCA(3).fit(both), args.repeat)
        t_lda, lda = timed(lambda: LinearDiscriminantAnalysis(n_components=3).fit(both, labels), args.repeat)
        rows.append({
            "dataset": "gmm K=4 d=20", "n_pairs": n, "steps": args.steps,
            "infonce_s": t_nce, "plain_torch_s": t_plain, "minimal_torch_s": t_min, "pca_s": t_pca, "lda_s": t_lda,
            "ratio_infonce_over_plain": t_nce / t_plain, "ratio_infonce_over_minimal": t_nce / t_min,
            "ratio_infonce_over_lda": t_nce / t_lda,
            "sin_infonce": subspace_distance(est.components_, F_sub), "sin_plain_torch": subspace_distance(W, F_sub),
            "sin_minimal_torch": subspace_distance(W2, F_sub),
            "sin_pca": subspace_distance(pca.components_, F_sub),
            "sin_lda": subspace_distance(lda.scalings_[:, :3].T, F_sub),
        })
        print(rows[-1], flush=True)

    if not args.no_real:
        from frugalml.data import load_fashion_mnist

        ds = load_fashion_mnist(n_train=10000, n_test=10, random_state=args.seed)
        sampler = SameClassPairs(ds.X_train, ds.y_train)
        Xa, Xb = sampler(len(ds.y_train), np.random.default_rng(args.seed))
        t_nce, _ = timed(lambda: InfoNCEProjection(9, n_steps=args.steps, random_state=args.seed).fit(Xa, Xb), args.repeat)
        t_plain, _ = timed(lambda: plain_torch_infonce(Xa, Xb, 9, args.steps, seed=args.seed), args.repeat)
        t_min, _ = timed(lambda: minimal_torch_infonce(Xa, Xb, 9, args.steps, seed=args.seed), args.repeat)
        t_pca, _ = timed(lambda: PCA(9).fit(ds.X_train), args.repeat)
        t_lda, _ = timed(lambda: LinearDiscriminantAnalysis(n_components=9).fit(ds.X_train, ds.y_train), args.repeat)
        rows.append({"dataset": "fashion_mnist 10k x 784", "n_pairs": len(ds.y_train), "steps": args.steps,
                     "infonce_s": t_nce, "plain_torch_s": t_plain, "minimal_torch_s": t_min, "pca_s": t_pca,
                     "lda_s": t_lda, "ratio_infonce_over_plain": t_nce / t_plain,
                     "ratio_infonce_over_minimal": t_nce / t_min, "ratio_infonce_over_lda": t_nce / t_lda})
        print(rows[-1], flush=True)

    meta = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "repeat": args.repeat}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))

    print("\n| data | pairs | InfoNCEProjection | torch + DataLoader (ratio) | minimal torch loop (ratio) | PCA | "
          "LDA (labels) | sin to Fisher: InfoNCE / DataLoader / minimal / PCA / LDA |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        sins = (" / ".join(f"{r[k]:.3f}" for k in ("sin_infonce", "sin_plain_torch", "sin_minimal_torch", "sin_pca",
                                                    "sin_lda")) if "sin_pca" in r else "-")
        print(f"| {r['dataset']} | {r['n_pairs']} | {r['infonce_s']:.2f} s | {r['plain_torch_s']:.2f} s "
              f"({r['ratio_infonce_over_plain']:.2f}x) | {r['minimal_torch_s']:.2f} s ({r['ratio_infonce_over_minimal']:.2f}x) | "
              f"{r['pca_s'] * 1e3:.1f} ms | {r['lda_s'] * 1e3:.1f} ms | {sins} |")


if __name__ == "__main__":
    main()
