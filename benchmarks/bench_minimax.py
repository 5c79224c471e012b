"""Wall time to ||F|| <= 1e-8: adaptive SOM (Jiang et al. 2024) vs the line-search SOM and HIPNEX.

The peers are MATLAB code (joaompereira/hipnex ships HIPNEX and Jiang's ``ORN_ls_simple``); no
PyPI package implements them, so they are timed as the ports in ``frugalml.minimax`` (same
operator, same linear solver, same stopping test), which is the comparison the paper makes.

Problems: the cubic-regularised bilinear problem, (a) HIPNEX's instance family with fast
orthogonal transforms (``generator="fast_orthogonal"``, ``L2 = 1e-3``, O(n log n) structured
solve) at d = 2n = 1e4, 1e5, 1e6, run to ``||F|| <= 1e-8 ||F(z0)||``, and (b) HIPNEX's dense
orthogonal generator (LU solves) at n = 100, 400, run to ``||F|| <= 1e-8``. Each run is capped at
``--max-time``. (LEN's bidiagonal generator is no longer timed at large n: with ``z0 = 0`` its
solution norm grows without bound, ~1e17 at n = 5e4 with ``L2 = 1e4``.)

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_minimax.py [--quick] [--repeat R]``
(JSON in ``benchmarks/out/minimax.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from frugalml.minimax import cubic_bilinear, solve_minimax

METHODS = {
    "adaptive-I": {"method": "adaptive", "option": 1},
    "adaptive-II": {"method": "adaptive", "option": 2},
    "linesearch": {"method": "linesearch"},
    "hipnex": {"method": "hipnex"},
}


def one(p, label, structured, max_time, tol):
    kw = dict(METHODS[label])
    if label in ("adaptive-I", "hipnex"):
        kw["L2"] = p.L2
    if structured:
        kw.update(jvp=p.jvp, linear_solver=p.solve_shifted)
    else:
        kw["jac"] = p.jac
    t = time.perf_counter()
    r = solve_minimax(p.F, p.z0, tol=tol, max_iter=10 ** 6, max_time=max_time, **kw)
    return {"wall_s": time.perf_counter() - t, "success": bool(r.success), "nit": r.nit,
            "nlinsolve": r.nlinsolve, "nfev": r.nfev, "final_norm_F": r.fun_norm}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes only (seconds)")
    ap.add_argument("--repeat", type=int, default=1, help="repeats; the median wall time is kept")
    ap.add_argument("--max-time", type=float, default=60.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "minimax.json"))
    args = ap.parse_args()
    cases = [("fast_orthogonal", n, True) for n in ((5000, 50000) if args.quick else (5000, 50000, 500000))]
    cases += [("orthogonal", n, False) for n in ((100,) if args.quick else (100, 400))]
    warm = cubic_bilinear(10, random_state=0)
    solve_minimax(warm.F, warm.z0, jac=warm.jac, lambda0=1.0)
    rows = []
    for gen, n, structured in cases:
        p = cubic_bilinear(n, generator=gen, random_state=0)
        for label in METHODS:
            tol = 1e-8 * float(np.linalg.norm(p.F(p.z0))) if structured else 1e-8
            reps = [one(p, label, structured, args.max_time, tol) for _ in range(args.repeat)]
            rec = dict(reps[int(np.argsort([r["wall_s"] for r in reps])[len(reps) // 2])])
            rec.update(generator=gen, n=n, d=2 * n, method=label, solver="structured O(n log n)" if structured else "dense LU")
            rows.append(rec)
            print(f"{gen:10s} d={2 * n:7d} {label:12s} {'ok ' if rec['success'] else 'CAP'} "
                  f"{rec['wall_s']:8.3f}s  it={rec['nit']:6d}  solves={rec['nlinsolve']:6d}", flush=True)
    meta = {"machine": f"{platform.processor() or platform.machine()}, 2-core CPU", "python": platform.python_version(),
            "max_time_s": args.max_time, "repeat": args.repeat}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
