"""Adaptive second-order optimistic methods for convex-concave min-max (Jiang et al., NeurIPS 2024).

Experiment: the cubic-regularised bilinear problem ``(L2/6)||x||^3 + y^T(Ax - b)`` with both
published generators (LEN's bidiagonal ``A``, HIPNEX's ``A = U S V``), every method of
:func:`frugalml.minimax.solve_minimax` run to ``||F|| <= 1e-8``; Option II's robustness to
``lambda0``; and large runs on HIPNEX's instance family built with fast orthogonal transforms
(``generator="fast_orthogonal"``, O(n log n) solves) at d = dim z = 1e5 and 1e6 and
``L2`` in {1e-3, 1e4}: wall time and linear solves to ``||F(z)|| <= 1e-8 ||F(z0)||``, paired over
seeds, as in the paper's Figure 1. Each large instance is checked for being well posed (solution
norm, conditioning) before anything is timed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from frugalml._core.progress import progress
from frugalml.minimax import cubic_bilinear, solve_minimax
from frugalml.repro.stats import superiority, threshold_test
from frugalml.repro.verdict import claim, verdict

NAME = "minimax"
PAPER = ("Jiang, Kavis, Jin, Sanghavi & Mokhtari, 'Adaptive and Optimal Second-order Optimistic Methods "
         "for Minimax Optimization', NeurIPS 2024 (arXiv 2406.02016)")
CLAIM = ("A second-order optimistic method with an adaptive, recursively defined step size needs no line "
         "search (one Jacobian and one linear solve per iteration), converges in few iterations, is robust to "
         "its initial Lipschitz guess (Option II), and is faster in wall-clock than HIPNEX and the line-search "
         "method in high dimension.")

TOL = 1e-8
METHODS = {  # label -> solve_minimax keywords (L2 filled in per problem where needed)
    "Adaptive SOM I": {"method": "adaptive", "option": 1},
    "Adaptive SOM II": {"method": "adaptive", "option": 2},
    "Optimal SOM (line search)": {"method": "linesearch"},
    "HIPNEX": {"method": "hipnex"},
    "Extragradient": {"method": "extragradient"},
}
SECOND_ORDER = [m for m in METHODS if m != "Extragradient"]

LARGE_RTOL = 1e-8  # large runs stop at ||F(z)|| <= LARGE_RTOL ||F(z0)|| (the paper's metric ||F||^2/||F0||^2 <= 1e-16)
WELL_POSED = 1e3  # an instance is timed for the claim only if ||z0 - z*|| <= WELL_POSED * max(1, ||z0||)
RATIO_MARKS = (1e-2, 1e-4, 1e-6, 1e-8)  # ||F||/||F0|| levels whose first-hit time is reported
# A timing claim needs the rival's median CPU time above (1 + TIME_MARGIN) x ours, beyond the seeds' noise.
# The margin is larger than the spread of CPU-time ratios between *identical* arms measured on a
# loaded machine (two busy processes beside the run; docs/minimax.md, "Timing on a loaded machine").
TIME_MARGIN = 0.25

SETTINGS = {  # large: (d = dim z, L2, seeds); an ill-posed instance is run once, capped at ill_time
    "smoke": {"gen1_sizes": [30, 60], "gen2_sizes": [40], "lambda0s": [1e-8, 1e-4, 1.0, 1e4, 1e8],
              "large": [(20000, 1e-3, 5), (2000, 1e4, 2)], "large_time": 10.0, "ill_time": 0.5, "repeats": 5,
              "large_max_iter": 20000, "eg_max_iter": 20000},
    "default": {"gen1_sizes": [50, 100, 200], "gen2_sizes": [100], "lambda0s": [10.0 ** k for k in range(-8, 9, 2)],
                "large": [(100_000, 1e-3, 5), (1_000_000, 1e-3, 3), (100_000, 1e4, 5), (1_000_000, 1e4, 3)],
                "large_time": 60.0, "ill_time": 5.0, "repeats": 3, "large_max_iter": 100000, "eg_max_iter": 60000},
    "paper": {"gen1_sizes": [50, 100, 200], "gen2_sizes": [100, 200], "lambda0s": [10.0 ** k for k in range(-8, 9)],
              "large": [(d, L2, 10) for L2 in (1e-3, 1e4) for d in (100_000, 500_000, 1_000_000)],
              "large_time": 300.0, "ill_time": 60.0, "repeats": 5, "large_max_iter": 10 ** 6, "eg_max_iter": 200000},
}


def _downsample(n, k=160):
    """Indices 0..n-1, log-spaced, always keeping the first and last."""
    if n <= k:
        return np.arange(n)
    idx = np.unique(np.round(np.logspace(0, np.log10(n), k)).astype(int) - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def _summary(res, probe):
    h = res.history
    ratio = (h["norm_F"] / h["norm_F"][0]) ** 2
    idx = _downsample(len(ratio))
    return {
        "success": bool(res.success), "message": res.message, "nit": int(res.nit), "nfev": int(res.nfev),
        "njev": int(res.njev), "njvp": int(res.njvp), "nlinsolve": int(res.nlinsolve), "lambda0_probe": bool(probe),
        "time_s": float(h["time"][-1]), "final_ratio": float(ratio[-1]), "final_norm_F": float(h["norm_F"][-1]),
        "curve": {"iter": idx.tolist(), "ratio": ratio[idx].tolist(), "time": h["time"][idx].tolist()},
    }


def _run_method(label, p, *, structured=False, max_iter=1000, max_time=None, eg_max_iter=60000, lambda0=None):
    kw = dict(METHODS[label])
    if kw["method"] == "hipnex" or kw.get("option") == 1:
        kw["L2"] = p.L2
    if kw.get("option") == 2 and lambda0 is not None:
        kw["lambda0"] = lambda0
    if kw["method"] == "extragradient":
        R = np.linalg.norm(p.z_star[: p.n]) + np.linalg.norm(p.z0 - p.z_star)
        kw["step_size"] = 0.9 / p.lipschitz_F(R)  # Korpelevich: step < 1 / Lip(F) on the iterates' ball
        max_iter = eg_max_iter
    elif structured:
        kw.update(jvp=p.jvp, linear_solver=p.solve_shifted)
    else:
        kw["jac"] = p.jac
    res = solve_minimax(p.F, p.z0, tol=TOL, max_iter=max_iter, max_time=max_time, **kw)
    return _summary(res, probe=kw.get("option") == 2 and "lambda0" not in kw)


def run(scale: str = "default", seed: int = 0) -> dict:
    cfg = SETTINGS[scale]
    warm = cubic_bilinear(10, random_state=0)  # import / BLAS warm-up outside the timings
    solve_minimax(warm.F, warm.z0, jac=warm.jac, lambda0=1.0)
    _warm_up_large(cfg)
    out = {"scale": scale, "seed": seed, "tol": TOL, "settings": cfg, "generator1": {}, "generator2": {}}
    small = [("generator1", "bidiagonal", n) for n in cfg["gen1_sizes"]] + \
            [("generator2", "orthogonal", n) for n in cfg["gen2_sizes"]]
    for key, gen, n in progress(small, desc="minimax: small instances"):
        p = cubic_bilinear(n, generator=gen, random_state=seed)
        out[key][str(n)] = {"L2": p.L2, "geometry": instance_geometry(p), "methods": {
            m: _run_method(m, p, eg_max_iter=cfg["eg_max_iter"]) for m in METHODS}}

    sweep = {"lambda0": cfg["lambda0s"]}
    for key, gen, n in (("generator1", "bidiagonal", cfg["gen1_sizes"][len(cfg["gen1_sizes"]) // 2]),
                        ("generator2", "orthogonal", cfg["gen2_sizes"][0])):
        p = cubic_bilinear(n, generator=gen, random_state=seed)
        sweep[key] = {"n": n, "L2": p.L2, "runs": [
            _run_method("Adaptive SOM II", p, lambda0=lam, max_iter=5000) for lam in cfg["lambda0s"]]}
    out["lambda0_sweep"] = sweep

    out["large"] = {}
    for d, L2, n_seeds in progress(cfg["large"], desc="minimax: large runs"):
        out["large"][f"d={d},L2={L2:g}"] = _large_setting(d, L2, n_seeds, cfg, seed)
    return out


def instance_geometry(p) -> dict:
    """Is the instance well posed? Solution norms, distance from the start, conditioning.

    ``cond_A`` is exact for the orthogonal families (``max s / min s``). At ``z*`` the Jacobian's
    x-block is ``(L2/2)(||x*|| I + x* x*^T/||x*||)``; ``curvature`` = ``(L2/2)||x*||`` against
    ``sigma_min(A)^2`` says how strongly the y-block is coupled: the Schur complement
    ``A H^{-1} A^T`` has smallest eigenvalue about ``sigma_min(A)^2 / (L2 ||x*||)``.
    """
    zs, n = p.z_star, p.n
    if p.fast:
        s = p.A.s
    elif p.n <= 2000:  # small dense / sparse A: singular values directly
        s = np.linalg.svd(p.A.toarray() if p.sparse else p.A, compute_uv=False)
    else:
        s = None
    dist0 = float(np.linalg.norm(p.z0 - zs))
    z0n = float(np.linalg.norm(p.z0))
    geo = {"x_star_norm": float(np.linalg.norm(zs[:n])), "y_star_norm": float(np.linalg.norm(zs[n:])),
           "z0_norm": z0n, "dist0": dist0, "residual_at_z_star": float(np.linalg.norm(p.F(zs))),
           "cond_A": float(s.max() / s.min()) if s is not None else None,
           "curvature": float(0.5 * p.L2 * np.linalg.norm(zs[:n])),
           "schur_min_eig": float(s.min() ** 2 / (p.L2 * np.linalg.norm(zs[:n]))) if s is not None else None}
    geo["well_posed"] = bool(np.isfinite(dist0) and dist0 <= WELL_POSED * max(1.0, z0n))
    return geo


def _large_run(label, p, F0, cfg, max_time):
    kw = dict(METHODS[label], jvp=p.jvp, linear_solver=p.solve_shifted)
    if kw["method"] == "hipnex" or kw.get("option") == 1:
        kw["L2"] = p.L2
    from threadpoolctl import threadpool_limits

    # CPU time = the main thread's (time.thread_time), with the BLAS / OpenMP pools held to one thread so
    # that the main thread does all the work. With OMP_NUM_THREADS=2 the process CPU time counted a second
    # thread's spin-waits on these O(n) vector operations (up to 5x, unevenly between methods), and the
    # smoke verdict flipped with the thread count; the main thread's time does not. Counts never depend on it.
    with threadpool_limits(limits=1):
        cpu0, th0 = time.process_time(), time.thread_time()
        res = solve_minimax(p.F, p.z0, tol=LARGE_RTOL * F0, max_iter=cfg["large_max_iter"], max_time=max_time, **kw)
        cpu, th = time.process_time() - cpu0, time.thread_time() - th0
    h = res.history
    rel = h["norm_F"] / F0
    idx = _downsample(len(rel))
    marks = {f"{m:g}": (float(h["time"][np.argmax(rel <= m)]) if np.any(rel <= m) else None) for m in RATIO_MARKS}
    out = {"success": bool(res.success), "message": res.message, "nit": int(res.nit), "nlinsolve": int(res.nlinsolve),
           "nfev": int(res.nfev), "njvp": int(res.njvp), "time_s": float(h["time"][-1]), "cpu_s": float(th),
           "process_cpu_s": float(cpu),
           "final_ratio": float(rel[-1] ** 2), "time_to": marks,
           "rel_dist": float(np.linalg.norm(res.x - p.z_star) / np.linalg.norm(p.z0 - p.z_star)),
           "curve": {"ratio": (rel[idx] ** 2).tolist(), "time": h["time"][idx].tolist()}}
    lam = h["lam"][1:]
    if label == "Adaptive SOM II" and np.any(np.isfinite(lam)):  # Option II's local curvature estimate / L2
        out["lam_over_L2"] = {"median": float(np.nanmedian(lam) / p.L2), "max": float(np.nanmax(lam) / p.L2),
                              "min": float(np.nanmin(lam) / p.L2)}
    return out


def _merge_repeats(runs):
    """One seed's repeats of one method -> the first run's record, with the medians of wall and CPU time.

    ``time_s`` and ``cpu_s`` become the medians over the repeats (``wall_s_runs``, ``cpu_s_runs`` keep
    every value); a run counts as converged only if every repeat converged. The counters and the
    curve are the first repeat's (the counters are the same in every repeat: the runs are
    deterministic given the instance).
    """
    out = dict(runs[0])
    out["wall_s_runs"] = [r["time_s"] for r in runs]
    out["cpu_s_runs"] = [r["cpu_s"] for r in runs]
    out["time_s"] = float(np.median(out["wall_s_runs"]))
    out["cpu_s"] = float(np.median(out["cpu_s_runs"]))
    out["success"] = all(r["success"] for r in runs)
    out["counts_agree"] = all(r["nlinsolve"] == runs[0]["nlinsolve"] and r["nfev"] == runs[0]["nfev"] for r in runs)
    return out


def _warm_up_large(cfg, methods=None):
    """Run every timed method once on a small fast-orthogonal instance, outside the timings (imports, FFT plans)."""
    p = cubic_bilinear(1000, generator="fast_orthogonal", L2=1e-3, random_state=12345)
    F0 = float(np.linalg.norm(p.F(p.z0)))
    for m in methods or SECOND_ORDER:
        _large_run(m, p, F0, cfg, cfg["large_time"])


def _large_setting(d, L2, n_seeds, cfg, seed, methods=None):
    """One (d, L2) cell: geometry first, then every second-order method on each seed's instance.

    Timing robust to load: on each seed's instance the methods run ``repeats`` times, interleaved
    (round r starts at method r, so no method always runs first or right after a given rival),
    and each (method, seed) keeps the median wall time and the median CPU time of its process
    (``time.thread_time`` of the main thread, BLAS held to one thread) beside the deterministic counts
    (linear solves, operator calls). An ill-posed cell runs once, capped, for the record.
    """
    methods = list(methods or SECOND_ORDER)
    rec = {"d": d, "n": d // 2, "L2": L2, "rtol": LARGE_RTOL, "seeds": [], "instances": [],
           "methods": {m: [] for m in methods}, "repeats": 1}
    for s in range(n_seeds):
        p = cubic_bilinear(d // 2, generator="fast_orthogonal", L2=L2, random_state=seed * 1000 + s)
        geo = instance_geometry(p)  # before any timing
        rec["seeds"].append(seed * 1000 + s)
        rec["instances"].append(geo)
        well = geo["well_posed"]
        cap = cfg["large_time"] if well else cfg["ill_time"]
        repeats = cfg.get("repeats", 1) if well else 1
        rec["repeats"] = repeats
        F0 = float(np.linalg.norm(p.F(p.z0)))
        runs = {m: [] for m in methods}
        for r in range(repeats):
            k = r % len(methods)
            for m in methods[k:] + methods[:k]:
                runs[m].append(_large_run(m, p, F0, cfg, cap))
        for m in methods:
            rec["methods"][m].append(_merge_repeats(runs[m]))
        if not well:  # the claim cannot be seen here: one capped run for the record
            break
    rec["well_posed"] = all(g["well_posed"] for g in rec["instances"])
    rec["max_time"] = cfg["large_time"] if rec["well_posed"] else cfg["ill_time"]
    return rec


def timing_spread(d: int, n_seeds: int, repeats: int = 3, seed: int = 0) -> dict:
    """How far apart can *identical* arms look? The measurement behind :data:`TIME_MARGIN`.

    Runs the large-run protocol at ``d`` (``L2 = 1e-3``) with Option I entered twice (the same method
    under two names) beside the rivals, interleaved and repeated, and returns per seed the claim's
    statistic between the two copies (:func:`_seed_log_ratio`, as a ratio) for CPU and wall time,
    the rivals' CPU ratios, and the largest max/min of single runs. Run it beside other work
    (e.g. two ``python -c "while True: pass"``) to see the spread a loaded machine adds.
    """
    twin = "Adaptive SOM I (identical copy)"
    methods = ["Adaptive SOM I", twin] + [m for m in SECOND_ORDER if m != "Adaptive SOM I"]
    METHODS[twin] = dict(METHODS["Adaptive SOM I"])
    try:
        cfg = dict(SETTINGS["default"], repeats=repeats)
        _warm_up_large(cfg)
        M = _large_setting(d, 1e-3, n_seeds, cfg, seed, methods=methods)["methods"]
    finally:
        del METHODS[twin]

    def wall(r):
        return {**r, "cpu_s_runs": r["wall_s_runs"]}

    a, b = M["Adaptive SOM I"], M[twin]
    return {"d": d, "n_seeds": n_seeds, "repeats": repeats,
            "identical_cpu_ratio": [float(np.exp(_seed_log_ratio(x, y))) for x, y in zip(a, b)],
            "identical_wall_ratio": [float(np.exp(_seed_log_ratio(wall(x), wall(y)))) for x, y in zip(a, b)],
            "single_run_cpu_max_over_min": float(max(max(r["cpu_s_runs"]) / min(r["cpu_s_runs"])
                                                     for v in M.values() for r in v)),
            "single_run_wall_max_over_min": float(max(max(r["wall_s_runs"]) / min(r["wall_s_runs"])
                                                      for v in M.values() for r in v)),
            "rival_cpu_ratio": {f"{m} vs {o}": [float(np.exp(_seed_log_ratio(x, y))) for x, y in zip(M[m], M[o])]
                                for m in ("Adaptive SOM I", "Adaptive SOM II")
                                for o in ("Optimal SOM (line search)", "HIPNEX")}}


def _cpu(run):
    """A run's (median) CPU time; results saved before CPU time was recorded fall back to wall time."""
    return run.get("cpu_s", run["time_s"])


def _seed_log_ratio(ours, rival):
    """One seed's ``log(cpu_rival / cpu_ours)``: the median over the interleaved rounds of the ratio within a round.

    The two arms of a round ran back to back, so they saw nearly the same machine load; the median
    over the rounds drops a round that another job disturbed.
    """
    a, b = ours.get("cpu_s_runs") or [_cpu(ours)], rival.get("cpu_s_runs") or [_cpu(rival)]
    if len(a) != len(b):
        a, b = [float(np.median(a))], [float(np.median(b))]
    return float(np.median(np.log(np.asarray(b, dtype=float) / np.asarray(a, dtype=float))))


def paired_speedup(ours, rival, margin=TIME_MARGIN, label="") -> dict:
    """CPU time to the tolerance, ``rival`` against ``ours``, paired by seed: a superiority record.

    Per seed the effect is the median over the interleaved repeats of ``log(cpu_rival / cpu_ours)``
    (:func:`_seed_log_ratio`); the claim needs its mean over seeds above ``log(1 + margin)`` by the
    one-sided t-test of :func:`frugalml.repro.stats.superiority` (the rival more than ``1 + margin``
    times slower, beyond the seeds' noise). ``margin`` is larger than the spread of CPU-time ratios
    measured between identical arms on a loaded machine (docs/minimax.md). ``held`` also needs every
    run of ours to converge. A rival that hit its time cap counts at the cap (a lower bound on its
    time: the comparison is conservative). Wall-time medians and linear-solve counts ride along in
    the record (reported, not gating).
    """
    effects = [_seed_log_ratio(a, b) for a, b in zip(ours, rival)]
    t = superiority(effects, margin=float(np.log1p(margin)), label=label)
    t["held"] = bool(t["held"] and len(ours) > 1 and all(r["success"] for r in ours))
    t.update(margin_ratio=1.0 + margin, cpu_ratio=float(np.exp(t["effect"])),
             ours=float(np.mean([_cpu(r) for r in ours])), rival=float(np.mean([_cpu(r) for r in rival])),
             wall_ours=float(np.mean([r["time_s"] for r in ours])),
             wall_rival=float(np.mean([r["time_s"] for r in rival])),
             wall_ratio=float(np.exp(np.mean(np.log([b["time_s"] / a["time_s"] for a, b in zip(ours, rival)])))),
             solves_ours=float(np.mean([r["nlinsolve"] for r in ours])),
             solves_rival=float(np.mean([r["nlinsolve"] for r in rival])),
             rival_converged=int(sum(r["success"] for r in rival)))
    return t


def _worst_norm(runs):
    """The largest final ||F|| of ``runs``; a run that did not converge counts as inf."""
    return max(r.get("final_norm_F", 0.0) if r["success"] else np.inf for r in runs)


def _norm_test(worst, tol, label):
    """Convergence as a ratio to the line: tolerance / largest final ||F|| (above 1: every run converged)."""
    return threshold_test(tol / max(worst, 1e-300), 1.0, label=label)


def _mean_time_to(runs, level):
    t = [r["time_to"][f"{level:g}"] for r in runs]
    return "-" if any(v is None for v in t) else f"{np.mean(t):.2f}"


def _mean_solves(runs):
    return float(np.mean([r["nlinsolve"] for r in runs]))


def check(result: dict) -> dict:
    instances = [(f"gen1 n={n}", r) for n, r in result["generator1"].items()] + \
                [(f"gen2 n={n}", r) for n, r in result["generator2"].items()]
    claims = []

    conv = {f"{name} {m}": (r["methods"][m]["success"], r["methods"][m]["nit"]) for name, r in instances
            for m in ("Adaptive SOM I", "Adaptive SOM II")}
    worst = _worst_norm([r["methods"][m] for _, r in instances for m in ("Adaptive SOM I", "Adaptive SOM II")])
    claims.append(claim(f"Adaptive SOM I and II reach ||F|| <= {result['tol']:g} on every small instance",
                        all(s for s, _ in conv.values()),
                        "; ".join(f"{k}: {'ok' if s else 'FAILED'} in {it} it" for k, (s, it) in conv.items()),
                        paper="converges (optimal O(T^-1.5) gap rate)",
                        test=_norm_test(worst, result["tol"], "tol / largest final ||F|| (Options I, II)")))

    eg = [r["methods"]["Extragradient"]["nit"] if r["methods"]["Extragradient"]["success"] else np.inf
          for _, r in instances]
    so = [max(r["methods"][m]["nit"] for m in ("Adaptive SOM I", "Adaptive SOM II")) for _, r in instances]
    ratios = [e / s for e, s in zip(eg, so)]
    claims.append(claim("second-order adaptive methods need >= 100x fewer iterations than extragradient",
                        min(ratios) >= 100,
                        "EG / adaptive iterations: " + ", ".join(f"{name}: {e:g}/{s}" for (name, _), e, s in
                                                                 zip(instances, eg, so)),
                        paper="second-order methods converge in far fewer iterations than first-order ones",
                        test=threshold_test(min(min(ratios), 1e12), 100, label="smallest EG / adaptive iteration ratio")))

    ls = [(name, r["methods"]["Adaptive SOM II"]["nlinsolve"], r["methods"]["Optimal SOM (line search)"]["nlinsolve"])
          for name, r in instances]
    claims.append(claim("Adaptive SOM II uses fewer linear solves than the line-search method on every instance",
                        all(a < b for _, a, b in ls),
                        "; ".join(f"{name}: {a} vs {b} (ratio {a / b:.2f})" for name, a, b in ls),
                        paper="fewer linear solves (no backtracking)",
                        test=threshold_test(min(b / a for _, a, b in ls), 1.0,
                                            label="smallest line-search / Option II solve ratio")))

    sw = result["lambda0_sweep"]
    rob = [(k, lam, run["success"], run["nit"]) for k in ("generator1", "generator2")
           for lam, run in zip(sw["lambda0"], sw[k]["runs"])]
    claims.append(claim(f"Adaptive SOM II converges for every lambda0 in [{min(sw['lambda0']):g}, {max(sw['lambda0']):g}]",
                        all(s for _, _, s, _ in rob),
                        "; ".join(f"{k[-1]}:{lam:g}->{'ok' if s else 'FAIL'} {it}it" for k, lam, s, it in rob),
                        paper="robust to the initial lambda0 (Figure 6)",
                        test=_norm_test(_worst_norm([run for k in ("generator1", "generator2") for run in sw[k]["runs"]]),
                                        result["tol"], "tol / largest final ||F|| over lambda0")))

    table, beyond = [], []
    rivals = ("HIPNEX", "Optimal SOM (line search)")
    for r in result["large"].values():
        M = r["methods"]
        geo = r["instances"][0]
        geo_txt = (f"||x*||={geo['x_star_norm']:.3g}, ||y*||={geo['y_star_norm']:.3g}, ||z0-z*||={geo['dist0']:.3g}, "
                   f"cond(A)={geo['cond_A']:.3g}, (L2/2)||x*||={geo['curvature']:.3g}")
        lam = [x["lam_over_L2"]["median"] for x in M["Adaptive SOM II"] if "lam_over_L2" in x]
        lam_txt = f"Option II's curvature estimate / L2: median {np.median(lam):.2g}" if lam else "no estimate"
        solves = ", ".join(f"{m.split(' (')[0]} {_mean_solves(M[m]):.1f}" for m in SECOND_ORDER)
        if r["well_posed"]:
            for m in ("Adaptive SOM I", "Adaptive SOM II"):
                tests = {o: paired_speedup(M[m], M[o], label=f"d={r['d']:,}: {m} vs {o.split(' (')[0]}, "
                                                             "log CPU-time ratio") for o in rivals}
                meas = "; ".join(
                    f"vs {o.split(' (')[0]}: CPU {t['ours']:.2f}s vs {t['rival']:.2f}s (ratio {t['cpu_ratio']:.2f}, "
                    f"line {t['margin_ratio']:.2f}), wall {t['wall_ours']:.2f}s vs {t['wall_rival']:.2f}s (ratio "
                    f"{t['wall_ratio']:.2f}), solves {t['solves_ours']:.0f} vs {t['solves_rival']:.0f}"
                    for o, t in tests.items())
                conv_txt = ", ".join(f"{k.split(' (')[0]} {sum(x['success'] for x in v)}/{len(v)}" for k, v in M.items())
                claims.append(claim(
                    f"d={r['d']:,}, L2={r['L2']:g}: {m} reaches ||F|| <= {r['rtol']:g} ||F0|| faster than HIPNEX and "
                    f"the line-search method (median CPU time of {r.get('repeats', 1)} interleaved repeats, paired over seeds: "
                    f"each rival > {1 + TIME_MARGIN:.2f}x slower, one-sided t-test)",
                    all(t["held"] for t in tests.values()),
                    f"{meas}; {len(M[m])} seeds; converged: {conv_txt}",
                    paper="Adaptive SOM I and II faster than HIPNEX and Optimal SOM in wall clock (Fig. 1, d = 1e5, 5e5)",
                    test=list(tests.values())))
        else:
            beyond.append(f"d={r['d']:,}, L2={r['L2']:g} is ill posed for a {r['rtol']:g} relative tolerance "
                          f"({geo_txt}): no claim is tested there")
        times = "; ".join(f"{m.split(' (')[0]}: " + "/".join(_mean_time_to(M[m], q) for q in (1e-2, 1e-4, 1e-8))
                          + f"s, rel. dist {np.mean([x['rel_dist'] for x in M[m]]):.2g}" for m in SECOND_ORDER)
        table.append({"setting": f"large d={r['d']:,}, L2={r['L2']:g} ({'well posed' if r['well_posed'] else 'ILL POSED'}; "
                                 f"{geo_txt}): mean seconds to ||F||/||F0|| <= 1e-2/1e-4/1e-8 ('-': not reached), final ||z - z*||/||z0 - z*||; linear solves",
                      "paper": "Adaptive SOM I, II reach a given ||F||^2/||F0||^2 first (Fig. 1)",
                      "ours": f"{times}; solves {solves}; {lam_txt}"})
    for name, r in instances:
        M = r["methods"]
        g = r.get("geometry")
        geo = f" (||x*||={g['x_star_norm']:.3g}, ||y*||={g['y_star_norm']:.3g})" if g else ""
        table.append({"setting": f"{name}{geo}: iterations to ||F||<=1e-8 (linear solves)",
                      "paper": "few (SOM) vs thousands (EG)",
                      "ours": ", ".join(f"{k.split(' (')[0]}={v['nit']}({v['nlinsolve']})" if v["success"]
                                        else f"{k.split(' (')[0]}=no" for k, v in M.items())})
    note = ("Step sizes: Option I uses eta_k = 2a/(L2||v_k|| + sqrt(L2^2||v_k||^2 + 4aL2||F(z_k)||)), derived from the "
            "acceptance test; Option II replaces L2 by 2||e||/||dz||^2 (allowed to decrease). The text of the paper's "
            "Algorithm 1 could not be retrieved, so its exact constants are unverified. Option II starts from a one-probe "
            "curvature estimate (ours, not the paper's heuristic). Large runs: HIPNEX's instance family (kappa = 20, "
            "b, z0 ~ N(0, I)/sqrt(n)) with U, V built from DCTs, sign flips and a permutation, so every linear solve is "
            "O(n log n); d = dim z = 2n; each method runs to ||F|| <= 1e-8 ||F0|| (capped). Timing robust to load: "
            "on each seed's instance the methods run several times, interleaved (each round starts at the next method), "
            "and each keeps the median of its repeats; the claim is tested on CPU time (time.thread_time of the main "
            "thread with BLAS held to one thread: the work done, which another job on the machine inflates far less "
            "than wall time, and which does not depend on OMP_NUM_THREADS), paired over seeds on the "
            f"log ratio, against a line of {1 + TIME_MARGIN:.2f}x, larger than the spread measured between identical arms "
            "on a machine with two busy processes beside the run (docs/minimax.md); wall-time medians and linear-solve "
            "counts are shown beside. An instance is timed for the claim only if "
            f"||z0 - z*|| <= {WELL_POSED:g} max(1, ||z0||), checked before timing. "
            "Beyond the paper: " + ("; ".join(beyond) if beyond else "every large instance was well posed") + ". "
            "'One Jacobian and one linear solve per iteration' is a regression test of the solver "
            "(tests/minimax), not evidence here: the counters are incremented on the code path they describe. "
            "Extragradient uses step 0.9/Lip(F).")
    return verdict(claims, table=table, note=note)


def plot(result: dict, outdir) -> list:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    styles = {"Adaptive SOM I": ("C0", "-"), "Adaptive SOM II": ("C1", "-"), "Optimal SOM (line search)": ("C2", "--"),
              "HIPNEX": ("C3", ":"), "Extragradient": ("C7", "-.")}
    panels = [(f"bidiagonal A, n={n}", r) for n, r in result["generator1"].items()] + \
             [(f"orthogonal A (kappa=20), n={n}", r) for n, r in result["generator2"].items()]
    files = []
    for xkey, xlabel, fname in (("iter", "iteration", "convergence_iterations.png"),
                                ("time", "wall time (s)", "convergence_time.png")):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.0), squeeze=False)
        for ax, (title, r) in zip(axes[0], panels):
            for m, s in r["methods"].items():
                c, ls = styles[m]
                ax.plot(np.maximum(s["curve"][xkey], 1e-6) if xkey == "time" else np.array(s["curve"][xkey]) + 1,
                        s["curve"]["ratio"], color=c, ls=ls, label=m)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(title)
            ax.set_xlabel(xlabel + (" + 1" if xkey == "iter" else ""))
        axes[0][0].set_ylabel("||F(z_T)||^2 / ||F(z_0)||^2")
        axes[0][0].legend()
        files.append(save_figure(fig, outdir / fname))

    sw = result["lambda0_sweep"]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0))
    cmap = plt.get_cmap("viridis")
    for ax, key in zip(axes, ("generator1", "generator2")):
        for i, (lam, run) in enumerate(zip(sw["lambda0"], sw[key]["runs"])):
            ax.plot(np.array(run["curve"]["iter"]) + 1, run["curve"]["ratio"],
                    color=cmap(i / max(1, len(sw["lambda0"]) - 1)), label=f"{lam:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"Option II, {'bidiagonal' if key == 'generator1' else 'orthogonal'} A, n={sw[key]['n']}")
        ax.set_xlabel("iteration + 1")
    axes[0].set_ylabel("||F||^2 / ||F_0||^2")
    axes[1].legend(title="lambda0", fontsize=6, ncol=2)
    files.append(save_figure(fig, outdir / "lambda0_robustness.png"))

    large = result["large"]
    fig, axes = plt.subplots(1, len(large), figsize=(4.0 * len(large), 3.2), squeeze=False)
    for ax, r in zip(axes[0], large.values()):
        for m, runs in r["methods"].items():  # first seed's curve
            c, ls = styles[m]
            ax.plot(np.maximum(runs[0]["curve"]["time"], 1e-4), runs[0]["curve"]["ratio"], color=c, ls=ls, label=m)
        ax.set_yscale("log")
        peak = max(max(runs[0]["curve"]["ratio"]) for runs in r["methods"].values())
        if peak > 1e3:  # an overshoot of Option II from a poor lambda0 would flatten every curve
            ax.set_ylim(top=1e3)
            ax.text(0.02, 0.02, f"axis cut at 1e3 (peak {peak:.0e})", transform=ax.transAxes, fontsize=6)
        ax.set_xlabel("wall time (s)")
        ax.set_title(f"d = {r['d']:,}, L2 = {r['L2']:g}" + ("" if r["well_posed"] else " (ill posed)"), fontsize=8)
    axes[0][0].set_ylabel("||F(z_T)||^2 / ||F(z_0)||^2")
    axes[0][0].legend()
    files.append(save_figure(fig, outdir / "large_runtime.png"))

    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    labels = [t for t, _ in panels]
    width = 0.8 / len(SECOND_ORDER)
    for j, m in enumerate(SECOND_ORDER):
        vals = [r["methods"][m]["nlinsolve"] for _, r in panels]
        ax.bar(np.arange(len(panels)) + j * width, vals, width, color=styles[m][0], label=m)
    ax.set_xticks(np.arange(len(panels)) + 0.4 - width / 2)
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel("linear solves to ||F|| <= 1e-8")
    ax.legend(fontsize=6)
    files.append(save_figure(fig, outdir / "linear_solves.png"))
    return files
