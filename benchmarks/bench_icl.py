"""Benchmark: pretrained softmax attention vs per-context tuned k-NN / kernel regression.

The pretrained unit (Collins et al., 2024) predicts ``f(x_q)`` from a context in one
batched forward pass with a window learned once, offline, on tasks of the same class.
The peers a practitioner would pick instead are local averagers tuned *per context*
by cross-validation on the context's own ``n`` points:

* scikit-learn ``GridSearchCV(KNeighborsRegressor)``, ``n_neighbors`` by 5-fold CV;
* scikit-learn ``GridSearchCV(KNeighborsRegressor(weights=gaussian))`` over the bandwidth
  (Nadaraya-Watson kernel regression on the ``n_train`` nearest points), 5-fold CV;
* Nadaraya-Watson with a Gaussian kernel, bandwidth by exact leave-one-out CV (numpy,
  vectorised; the fastest honest per-context tuner).

All see the same contexts (inputs uniform on the unit sphere, noisy labels) and are scored on
the noiseless query target. Times are per context, on one thread; the attention's pretraining
time is reported separately (paid once per task class).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_icl.py [--contexts 200] [--steps 1000]

Only numpy, torch and scikit-learn (core dependencies). Writes JSON to
``benchmarks/out/icl.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

SETTINGS = [  # (task class, L, sigma, n)
    ("affine", 1.0, 0.5, 50),
    ("affine", 4.0, 0.5, 50),
    ("cosine", 4.0, 0.25, 100),
    ("relu", 2.0, 0.5, 200),
]
K_GRID = [1, 2, 3, 5, 8, 12, 20, 30]
H_GRID = np.geomspace(0.05, 2.0, 12)  # Gaussian bandwidths (inputs on the unit sphere: distances <= 2)


def _gauss(dist, h):
    return np.exp(-0.5 * (dist / h) ** 2) + 1e-300


def nw_loo(x, y, xq, grid=H_GRID):
    """Nadaraya-Watson with the bandwidth minimising exact leave-one-out error on (x, y)."""
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # (n, n)
    dq = ((x - xq) ** 2).sum(-1)  # (n,)
    best, best_h = np.inf, grid[0]
    for h in grid:
        k = np.exp(-d2 / (2 * h * h))
        np.fill_diagonal(k, 0.0)
        s = k.sum(1)
        ok = s > 1e-300
        pred = np.where(ok, (k @ y) / np.where(ok, s, 1.0), y.mean())
        err = np.mean((pred - y) ** 2)
        if err < best:
            best, best_h = err, h
    w = np.exp(-(dq - dq.min()) / (2 * best_h * best_h))
    return float(w @ y / w.sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, default=200, help="test contexts per setting")
    ap.add_argument("--steps", type=int, default=1000, help="pretraining steps of the attention unit")
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "icl.json"))
    args = ap.parse_args(argv)

    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KNeighborsRegressor

    from frugalml.icl import AffineTasks, CosineTasks, ReLUTasks, SoftmaxAttentionRegressor, train_icl

    torch.set_num_threads(1)
    classes = {"affine": AffineTasks, "cosine": CosineTasks, "relu": ReLUTasks}
    rows = []
    for kind, L, sigma, n in SETTINGS:
        tasks = classes[kind](args.d, lipschitz=L, noise=sigma)
        model = SoftmaxAttentionRegressor(args.d, dtype=torch.float64)
        t = time.perf_counter()
        train_icl(model, tasks, n_steps=args.steps, context_size=n, batch_size=256, lr=0.05, random_state=args.seed)
        t_pre = time.perf_counter() - t
        batch = tasks.sample(args.contexts, n, random_state=args.seed + 1000, dtype=torch.float64)
        X, Y = batch.x.numpy(), batch.y.numpy()
        XQ, target = batch.x_query.numpy(), batch.y_query.numpy()

        preds, times = {}, {}
        t = time.perf_counter()
        with torch.no_grad():
            preds["softmax attention (pretrained)"] = model(batch.x, batch.y, batch.x_query).numpy()
        times["softmax attention (pretrained)"] = time.perf_counter() - t

        cv = KFold(5, shuffle=True, random_state=args.seed)
        k_grid = [k for k in K_GRID if k <= int(0.8 * n)]
        n_fit = int(0.8 * n)  # training-fold size: the kernel uses all of a fold's points
        peers = {
            "sklearn KNN, k by 5-fold CV": lambda: GridSearchCV(
                KNeighborsRegressor(), {"n_neighbors": k_grid}, cv=cv, scoring="neg_mean_squared_error"),
            "sklearn Gaussian-weighted KNN (kernel reg.), h by 5-fold CV": lambda: GridSearchCV(
                KNeighborsRegressor(n_neighbors=n_fit),
                {"weights": [partial(_gauss, h=h) for h in H_GRID]}, cv=cv, scoring="neg_mean_squared_error"),
        }
        for name, make in peers.items():
            out = np.empty(args.contexts)
            t = time.perf_counter()
            for i in range(args.contexts):
                out[i] = make().fit(X[i], Y[i]).predict(XQ[i][None])[0]
            times[name] = time.perf_counter() - t
            preds[name] = out
        out = np.empty(args.contexts)
        t = time.perf_counter()
        for i in range(args.contexts):
            out[i] = nw_loo(X[i], Y[i], XQ[i])
        times["Nadaraya-Watson, h by LOO-CV (numpy)"] = time.perf_counter() - t
        preds["Nadaraya-Watson, h by LOO-CV (numpy)"] = out

        for name, p in preds.items():
            se = (p - target) ** 2
            rows.append({
                "task": kind, "L": L, "sigma": sigma, "n": n, "method": name,
                "mse": float(se.mean()), "mse_se": float(se.std(ddof=1) / np.sqrt(len(se))),
                "ms_per_context": 1e3 * times[name] / args.contexts,
                "pretrain_s": t_pre if name.startswith("softmax") else 0.0,
                "w": model.w if name.startswith("softmax") else None,
            })
        print(f"done {kind} L={L} sigma={sigma} n={n} (w={model.w:.2f}, pretrain {t_pre:.1f} s)", flush=True)

    meta = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__, "sklearn": sklearn.__version__, "threads": 1, "contexts": args.contexts,
            "steps": args.steps, "d": args.d, "seed": args.seed}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("\n| task (L, sigma, n) | method | ICL MSE (± s.e.) | ms / context | speed-up of attention |")
    print("|---|---|---|---|---|")
    for kind, L, sigma, n in SETTINGS:
        sub = [r for r in rows if (r["task"], r["L"], r["sigma"], r["n"]) == (kind, L, sigma, n)]
        att = sub[0]["ms_per_context"]
        for r in sub:
            extra = f" (pretrain {r['pretrain_s']:.1f} s once, w={r['w']:.2f})" if r["w"] is not None else ""
            print(f"| {kind} ({L:g}, {sigma:g}, {n}) | {r['method']}{extra} | {r['mse']:.4f} ± {r['mse_se']:.4f} "
                  f"| {r['ms_per_context']:.3f} | {r['ms_per_context'] / att:.0f}x |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
