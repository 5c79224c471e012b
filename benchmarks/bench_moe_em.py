"""Benchmark: MixtureOfExperts (vectorised EM) vs cgmm's MixtureOfExpertsRegressor.

Three measurements on synthetic mixtures of linear experts (``frugalml.moe.make_moe``):

1. Seconds per EM iteration of ``MixtureOfExperts`` at n=100,000, d=50, K=8 (target: under
   2 s on one core), end to end (``fit`` with ``max_iter=6`` minus ``max_iter=1`` from the
   same start, divided by 5) and split into E-step, experts M-step and gate M-step.
2. The same data with cgmm 0.5.1 (``pip install cgmm``; a peer with the same model: linear
   softmax gate with a zero baseline row, Gaussian affine experts with learned variances).
   cgmm's E-step loops over samples and experts in Python, so at n=100,000 only one
   iteration is timed (init + 1 iteration); its per-iteration time is also measured at
   n=10,000 as ``(t(max_iter=3) - t(max_iter=1)) / 2``, with ours beside it.
3. Quality on a small problem (n=3,000, d=5, K=3, 40 iterations, same data): final mean
   log-likelihood, ``converged_`` and ``n_iter_`` of both.

Both models fit intercepts and per-expert variances (``noise_variance="estimate"``).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_moe_em.py [--quick]

``--quick`` skips cgmm at n=100,000 (minutes). Writes ``benchmarks/out/moe_em.json`` and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from frugalml.moe import ConvergenceWarning, MixtureOfExperts, make_moe
from frugalml.moe._multinomial import fit_multinomial


def _ours(K, **kw):
    return MixtureOfExperts(K, noise_variance="estimate", fit_intercept=True, tol=0.0, **kw)


def ours_per_iteration(data, K, n_iter=5):
    """End-to-end seconds per iteration from a fixed start, and the step breakdown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        init = _ours(K, max_iter=0, random_state=0).fit(data.X, data.y)
        t_init = time.perf_counter() - t
        start = dict(gate_init=np.column_stack([init.gate_coef_, init.gate_intercept_]),
                     expert_init=np.column_stack([init.expert_coef_, init.expert_intercept_]))
        times = {}
        for it in (1, 1 + n_iter):
            m = _ours(K, max_iter=it, **start)
            t = time.perf_counter()
            m.fit(data.X, data.y)
            times[it] = time.perf_counter() - t
        # breakdown on the fitted model's internals (same code paths as fit)
        Xd, y = m._design(data.X), data.y
        split = {"e_step": [], "experts": [], "gate": []}
        for _ in range(3):
            t0 = time.perf_counter()
            log_resp, _ = m._e_step(Xd, y)
            R = np.exp(log_resp)
            t1 = time.perf_counter()
            P, _ = m._family.m_step(Xd, y, R, m._P, 0.0, m._mask)
            t2 = time.perf_counter()
            W, _ = fit_multinomial(Xd, R, np.ones(len(y)), m._W, n_total=len(y), mask=m._mask, tol=1e-10,
                                   max_iter=m.inner_max_iter)
            t3 = time.perf_counter()
            m._P, m._W = P, W
            split["e_step"].append(t1 - t0)
            split["experts"].append(t2 - t1)
            split["gate"].append(t3 - t2)
    return {"init_s": t_init, "per_iteration_s": (times[1 + n_iter] - times[1]) / n_iter,
            "breakdown_s": {k: float(np.median(v)) for k, v in split.items()}}


def cgmm_fit(data, K, max_iter):
    from cgmm import MixtureOfExpertsRegressor

    m = MixtureOfExpertsRegressor(K, max_iter=max_iter, tol=0.0, random_state=0)
    t = time.perf_counter()
    m.fit(data.X, data.y)
    return m, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip cgmm at n=100,000")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "moe_em.json"))
    args = ap.parse_args()
    try:
        import cgmm

        cgmm_version = cgmm.__version__ if hasattr(cgmm, "__version__") else "installed"
    except ImportError:
        cgmm_version = None
    res = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "cgmm": cgmm_version}

    big = make_moe(100_000, 50, 8, random_state=0)
    res["ours_n1e5"] = ours_per_iteration(big, 8)
    print(f"ours n=1e5 d=50 K=8: {res['ours_n1e5']['per_iteration_s']:.2f} s/iteration "
          f"{res['ours_n1e5']['breakdown_s']}", flush=True)

    mid = make_moe(10_000, 50, 8, random_state=1)
    res["ours_n1e4"] = ours_per_iteration(mid, 8)
    print(f"ours n=1e4: {res['ours_n1e4']['per_iteration_s']:.3f} s/iteration", flush=True)

    if cgmm_version:
        _, t1 = cgmm_fit(mid, 8, 1)
        _, t3 = cgmm_fit(mid, 8, 3)
        res["cgmm_n1e4"] = {"init_plus_1_s": t1, "per_iteration_s": (t3 - t1) / 2}
        print(f"cgmm n=1e4: {res['cgmm_n1e4']['per_iteration_s']:.2f} s/iteration", flush=True)
        if not args.quick:
            _, tb = cgmm_fit(big, 8, 1)
            res["cgmm_n1e5"] = {"init_plus_1_s": tb}
            print(f"cgmm n=1e5: init + 1 iteration {tb:.1f} s", flush=True)

    small = make_moe(3000, 5, 3, beta_norm=3.0, w_norm=2.0, noise_std=0.5, random_state=2)
    truth = MixtureOfExperts(3, fit_intercept=False, noise_variance=0.25, max_iter=0, gate_init=small.gate_coef,
                             expert_init=small.expert_coef).fit(small.X, small.y)
    quality = {"true_params_loglik": truth.score(small.X, small.y)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        m = MixtureOfExperts(3, noise_variance="estimate", max_iter=40, tol=1e-8, random_state=0).fit(small.X, small.y)
        quality["ours"] = {"loglik": m.score(small.X, small.y), "converged_": m.converged_, "n_iter_": m.n_iter_,
                           "seconds": time.perf_counter() - t}
        t = time.perf_counter()
        m = MixtureOfExperts(3, noise_variance="estimate", max_iter=3, tol=1e-8, random_state=0).fit(small.X, small.y)
        quality["ours_3_iterations"] = {"loglik": m.score(small.X, small.y), "converged_": m.converged_}
    if cgmm_version:
        cm, tc = cgmm_fit(small, 3, 40)
        quality["cgmm"] = {"loglik": float(np.mean(cm.log_prob(small.X, small.y))), "converged_": bool(cm.converged_),
                           "n_iter_": int(cm.n_iter_), "seconds": tc}
        cm3, _ = cgmm_fit(small, 3, 3)
        quality["cgmm_3_iterations"] = {"loglik": float(np.mean(cm3.log_prob(small.X, small.y))),
                                        "converged_": bool(cm3.converged_)}
    res["quality_n3000"] = quality
    print(json.dumps(quality, indent=1), flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    o, ob = res["ours_n1e5"], res["ours_n1e4"]
    print("\n| measurement | frugalml MixtureOfExperts | cgmm MixtureOfExpertsRegressor |")
    print("|---|---|---|")
    print(f"| s / EM iteration, n=1e5, d=50, K=8 | {o['per_iteration_s']:.2f} (E {o['breakdown_s']['e_step']:.2f}, "
          f"experts {o['breakdown_s']['experts']:.2f}, gate {o['breakdown_s']['gate']:.2f}) | "
          + (f"init + 1 iteration: {res['cgmm_n1e5']['init_plus_1_s']:.0f} s |" if "cgmm_n1e5" in res else "not run |"))
    if "cgmm_n1e4" in res:
        c = res["cgmm_n1e4"]
        print(f"| s / EM iteration, n=1e4, d=50, K=8 | {ob['per_iteration_s']:.3f} | {c['per_iteration_s']:.2f} "
              f"({c['per_iteration_s'] / ob['per_iteration_s']:.0f}x) |")
        q = res["quality_n3000"]
        print(f"| n=3000, d=5, K=3: mean log-lik after 3 / 40 iterations (truth {q['true_params_loglik']:.4f}) | "
              f"{q['ours_3_iterations']['loglik']:.4f} / {q['ours']['loglik']:.4f} | "
              f"{q['cgmm_3_iterations']['loglik']:.4f} / {q['cgmm']['loglik']:.4f} |")
        print(f"| converged_ after 3 iterations | {q['ours_3_iterations']['converged_']} | "
              f"{q['cgmm_3_iterations']['converged_']} |")


if __name__ == "__main__":
    main()
