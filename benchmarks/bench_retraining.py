"""Benchmark: consensus-based retraining vs cleanlab's CleanLearning on label-DP Fashion-MNIST.

Both take a classifier and noisy labels and return a model trained on a filtered set:
consensus RT keeps the samples where the model's in-sample prediction equals the given
label (Das et al. 2025); CleanLearning drops the label issues found by confident learning on
out-of-sample (cross-validated) probabilities (Northcutt et al. 2021). Same base model
(logistic regression on PCA-50 features), same RR labels, one run, one machine.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_retraining.py [--n-train 15000] [--seeds 2]

Needs the bench extra: ``pip install -e ".[bench]"`` (cleanlab). Writes JSON to
``benchmarks/out/retraining.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=15000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "retraining.json"))
    args = ap.parse_args(argv)

    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from frugalml.data import load_fashion_mnist
    from frugalml.noisy_labels import RetrainingClassifier, randomized_response

    try:
        import cleanlab
        from cleanlab.classification import CleanLearning
    except ImportError as exc:
        raise SystemExit("cleanlab is not installed: pip install -e '.[bench]' (or pip install cleanlab)") from exc

    ds = load_fashion_mnist(n_train=args.n_train, n_test=args.n_test, random_state=0)
    pipe = make_pipeline(PCA(50, random_state=0), StandardScaler()).fit(ds.X_train)
    Xtr, Xte = pipe.transform(ds.X_train), pipe.transform(ds.X_test)

    def lr():
        return LogisticRegression(C=1.0, max_iter=300)

    with warnings.catch_warnings():  # warm-up: keep import / first-call costs out of the timings
        warnings.simplefilter("ignore")
        CleanLearning(lr(), seed=0, verbose=False).fit(Xtr[:2000], ds.y_train[:2000])
        RetrainingClassifier(lr()).fit(Xtr[:2000], ds.y_train[:2000])

    rows = []
    for eps in args.eps:
        for seed in range(args.seeds):
            yn = randomized_response(ds.y_train, eps, 10, random_state=seed)
            rec = {"eps": eps, "seed": seed, "given_label_acc": float(np.mean(yn == ds.y_train))}
            t = time.perf_counter()
            base = lr().fit(Xtr, yn)
            rec["baseline_s"] = time.perf_counter() - t
            rec["baseline_acc"] = float(base.score(Xte, ds.y_test))
            t = time.perf_counter()
            rt = RetrainingClassifier(lr(), mode="consensus").fit(Xtr, yn)
            rec["consensus_s"] = time.perf_counter() - t
            rec["consensus_acc"] = float(rt.score(Xte, ds.y_test))
            m = rt.consensus_mask_
            rec["consensus_kept"] = float(m.mean())
            rec["consensus_kept_label_acc"] = float(np.mean(yn[m] == ds.y_train[m]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                cl = CleanLearning(lr(), seed=seed, verbose=False).fit(Xtr, yn)
                rec["cleanlab_s"] = time.perf_counter() - t
            rec["cleanlab_acc"] = float(cl.score(Xte, ds.y_test))
            keep = ~cl.label_issues_df["is_label_issue"].to_numpy()
            rec["cleanlab_kept"] = float(keep.mean())
            rec["cleanlab_kept_label_acc"] = float(np.mean(yn[keep] == ds.y_train[keep]))
            rows.append(rec)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rec.items()}), flush=True)

    out = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
           "cleanlab": cleanlab.__version__, "n_train": args.n_train, "n_test": args.n_test, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))

    print("\n| eps | given labels correct | baseline | consensus RT (kept, kept correct, time) "
          "| CleanLearning (kept, kept correct, time) | time ratio CL / consensus |")
    print("|---|---|---|---|---|---|")
    for eps in args.eps:
        r = [x for x in rows if x["eps"] == eps]
        mean = lambda k: float(np.mean([x[k] for x in r]))  # noqa: E731
        print(f"| {eps:g} | {100*mean('given_label_acc'):.1f}% | {100*mean('baseline_acc'):.2f} "
              f"| {100*mean('consensus_acc'):.2f} ({100*mean('consensus_kept'):.0f}%, "
              f"{100*mean('consensus_kept_label_acc'):.0f}%, {mean('consensus_s'):.2f} s) "
              f"| {100*mean('cleanlab_acc'):.2f} ({100*mean('cleanlab_kept'):.0f}%, "
              f"{100*mean('cleanlab_kept_label_acc'):.0f}%, {mean('cleanlab_s'):.2f} s) "
              f"| {mean('cleanlab_s') / mean('consensus_s'):.1f}x |")


if __name__ == "__main__":
    main()
