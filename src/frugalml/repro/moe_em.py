"""Reproduction: EM vs gradient descent for mixtures of experts (Fruytier et al., ICML 2025).

Claim -> data -> fit -> figure:

1. Symmetric mixture of two linear experts (``||beta*|| = 2``, ``||w*|| = 1``, start at
   distance 1 from the truth): parameter error vs iteration for EM, gradient descent and
   gradient EM over seeds (the GD / gradient-EM step tuned on a grid).
2. Iterations to reach ``1e-6`` of the MLE as the SNR (``||beta*|| / sigma``) and the
   conditioning of ``x`` vary: EM vs best-tuned GD.
3. "Altered" images (half of them inverted; Fashion-MNIST, digits at smoke scale) with two
   softmax experts: training NLL and test accuracy vs iteration, EM vs best-tuned GD, with
   wall time and gradient evaluations (EM's inner solver is not free).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from frugalml.repro.stats import superiority, threshold_test
from frugalml.repro.verdict import claim, verdict

NAME = "moe_em"
PAPER = ("Fruytier, Mokhtari, Sanghavi. Learning Mixtures of Experts with EM: A Mirror Descent "
         "Perspective. ICML 2025 (arXiv:2411.06056)")
CLAIM = ("For mixtures of experts with a linear softmax gate, EM (mirror descent with unit step) "
         "converges in far fewer iterations than gradient descent and reaches a lower loss.")

LR_GRID_SYM = [0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8]

SCALES = {
    "smoke": dict(n=2000, d=5, seeds=2, iters=40, mle_seeds=1, snr=[1.0, 4.0], cond=[1.0, 10.0], cap=1500,
                  lr_grid=[0.2, 0.5, 1.0, 1.4, 2.0], gem_steps=5, images="digits", n_train=None, n_test=None,
                  em_iters=5, gd_iters=30, img_lr_mult=[4, 16, 64, 256], restarts=1, inner_max_iter=30),
    "default": dict(n=10_000, d=10, seeds=5, iters=100, mle_seeds=3, snr=[0.5, 1.0, 2.0, 4.0],
                    cond=[1.0, 10.0, 100.0], cap=5000, lr_grid=LR_GRID_SYM, gem_steps=5, images="fashion",
                    n_train=3000, n_test=2000, em_iters=12, gd_iters=50, img_lr_mult=[2, 4, 8, 16, 32, 64],
                    restarts=2, inner_max_iter=30),
    "paper": dict(n=10_000, d=10, seeds=10, iters=100, mle_seeds=5, snr=[0.5, 1.0, 2.0, 4.0],
                  cond=[1.0, 10.0, 100.0], cap=20_000, lr_grid=LR_GRID_SYM, gem_steps=5, images="fashion",
                  n_train=60_000, n_test=10_000, em_iters=50, gd_iters=50, img_lr_mult=[2, 4, 8, 16, 32, 64, 128],
                  restarts=3, inner_max_iter=50),
}
MLE_TOL = 1e-6
FLOOR_FRACTION = 0.1  # "at the statistical floor": within 10% of the MLE's own error


# ----------------------------------------------------------------------------- part 1 and 2
def _start(data, rng, distance=1.0):
    """A start at Euclidean distance ``distance`` from ``(beta*, w*)`` in a random direction."""
    d = data.beta.shape[0]
    u = rng.normal(size=2 * d)
    u *= distance / np.linalg.norm(u)
    return data.beta + u[:d], data.w + u[d:]


def _dist(b, w, bh, wh):
    return float(np.sqrt(np.sum((b - bh) ** 2) + np.sum((w - wh) ** 2)))


def _first_below(values, threshold):
    idx = np.flatnonzero(np.asarray(values) <= threshold)
    return int(idx[0]) if idx.size else None


def _mle(X, y, b0, w0, cap):
    from frugalml.moe import fit_symmetric

    return fit_symmetric(X, y, b0, w0, solver="em", max_iter=cap, tol=1e-14)


def _tune(X, y, b0, w0, solver, grid, iters, steps=1):
    """Best stable step: the highest final log-likelihood after ``iters`` iterations."""
    from frugalml.moe import fit_symmetric

    best = None
    for lr in grid:
        fit = fit_symmetric(X, y, b0, w0, solver=solver, learning_rate=lr, inner_steps=steps, max_iter=iters)
        ll = fit.log_likelihood[-1]
        if fit.nit == iters and np.isfinite(ll) and ll >= fit.log_likelihood[0] and (best is None or ll > best[0]):
            best = (ll, lr)
    return best[1] if best else grid[0]


def _trajectories(cfg, seed):
    from frugalml.moe import fit_symmetric, make_symmetric_moe, symmetric_error

    T = cfg["iters"]
    errs = {s: {"beta": [], "w": []} for s in ("em", "gd", "gradient_em")}
    to_floor = {s: [] for s in errs}
    floors_b, floors_w, max_decrease = [], [], 0.0
    lrs = {"gd": [], "gradient_em": []}
    for s in range(cfg["seeds"]):
        data = make_symmetric_moe(cfg["n"], cfg["d"], beta_norm=2.0, w_norm=1.0, random_state=seed * 1000 + s)
        rng = np.random.default_rng(seed * 1000 + s + 1)
        b0, w0 = _start(data, rng)
        mle = _mle(data.X, data.y, b0, w0, 5000)
        fb, fw = symmetric_error(mle.beta, mle.w, data.beta, data.w)
        floors_b.append(fb)
        floors_w.append(fw)
        floor_dist = _dist(mle.beta, mle.w, data.beta, data.w)
        # steps tuned per seed on the same budget the figure shows
        lr_gd = _tune(data.X, data.y, b0, w0, "gd", cfg["lr_grid"], T)
        lr_gem = _tune(data.X, data.y, b0, w0, "gradient_em", cfg["lr_grid"], T, cfg["gem_steps"])
        lrs["gd"].append(lr_gd)
        lrs["gradient_em"].append(lr_gem)
        fits = {
            "em": fit_symmetric(data.X, data.y, b0, w0, solver="em", max_iter=T),
            "gd": fit_symmetric(data.X, data.y, b0, w0, solver="gd", learning_rate=lr_gd, max_iter=T),
            "gradient_em": fit_symmetric(data.X, data.y, b0, w0, solver="gradient_em", learning_rate=lr_gem,
                                         inner_steps=cfg["gem_steps"], max_iter=T),
        }
        max_decrease = max(max_decrease, float(-np.min(np.diff(fits["em"].log_likelihood))))
        for name, fit in fits.items():
            pairs = [symmetric_error(b, w, data.beta, data.w) for b, w in zip(fit.beta_path, fit.w_path)]
            eb = [p[0] for p in pairs] + [pairs[-1][0]] * (T + 1 - len(pairs))
            ew = [p[1] for p in pairs] + [pairs[-1][1]] * (T + 1 - len(pairs))
            errs[name]["beta"].append(eb)
            errs[name]["w"].append(ew)
            gap = [_dist(b, w, mle.beta, mle.w) for b, w in zip(fit.beta_path, fit.w_path)]
            k = _first_below(gap, FLOOR_FRACTION * floor_dist)
            to_floor[name].append(k if k is not None else T + 1)

    def band(a):
        a = np.asarray(a)
        return {"median": np.median(a, 0).tolist(), "lo": np.quantile(a, 0.25, 0).tolist(),
                "hi": np.quantile(a, 0.75, 0).tolist()}

    out = {"iterations": list(range(T + 1)), "floor_beta": float(np.median(floors_b)),
           "floor_w": float(np.median(floors_w)), "max_loglik_decrease_em": max_decrease,
           "gem_inner_steps": cfg["gem_steps"]}
    for name in errs:
        out[name] = {"beta_error": band(errs[name]["beta"]), "w_error": band(errs[name]["w"]),
                     "iters_to_floor": [int(v) for v in to_floor[name]],
                     "median_iters_to_floor": float(np.median(to_floor[name]))}
        if name in lrs:
            out[name]["learning_rates"] = [float(v) for v in lrs[name]]
    return out


def _iterations_to_mle(cfg, seed, beta_norm, cond):
    """EM iterations and best-tuned GD iterations to reach ``||theta_t - theta_hat|| <= 1e-6``."""
    from frugalml.moe import fit_symmetric, make_symmetric_moe

    em_counts, gd_counts, gd_lrs, decreases = [], [], [], []
    cap = cfg["cap"]
    for s in range(cfg["mle_seeds"]):
        data = make_symmetric_moe(cfg["n"], cfg["d"], beta_norm=beta_norm, w_norm=1.0, condition_number=cond,
                                  random_state=seed * 1000 + 500 + s)
        b0, w0 = _start(data, np.random.default_rng(seed * 1000 + 600 + s))
        mle = _mle(data.X, data.y, b0, w0, 4 * cap)
        decreases.append(float(-np.min(np.diff(mle.log_likelihood))))
        gap = [_dist(b, w, mle.beta, mle.w) for b, w in zip(mle.beta_path, mle.w_path)]
        k = _first_below(gap, MLE_TOL)
        em_counts.append(k if (k is not None and mle.converged) else cap + 1)
        best, best_lr = cap + 1, None
        for lr in sorted(cfg["lr_grid"], reverse=True):  # large steps first: later runs stop at the best count
            fit = fit_symmetric(data.X, data.y, b0, w0, solver="gd", learning_rate=lr, max_iter=min(cap, best),
                                stop=lambda b, w, m=mle: _dist(b, w, m.beta, m.w) <= MLE_TOL, diverge_below=1.0)
            if fit.converged and fit.nit < best:
                best, best_lr = fit.nit, lr
        gd_counts.append(best)
        gd_lrs.append(best_lr)
    return {"beta_norm": beta_norm, "condition_number": cond, "em": float(np.median(em_counts)),
            "gd": float(np.median(gd_counts)), "em_all": em_counts, "gd_all": gd_counts,
            "gd_learning_rates": gd_lrs, "gd_censored": bool(np.median(gd_counts) > cap),
            "em_censored": bool(np.median(em_counts) > cap), "max_loglik_decrease_em": max(decreases)}


# ----------------------------------------------------------------------------- part 3
def _altered_images(cfg, seed):
    from frugalml.data import load_digits, load_fashion_mnist
    from frugalml.moe import ConvergenceWarning, MixtureOfExperts

    if cfg["images"] == "digits":
        ds = load_digits(random_state=seed)
    else:
        ds = load_fashion_mnist(n_train=cfg["n_train"], n_test=cfg["n_test"], random_state=seed)
    rng = np.random.default_rng(seed)

    def alter(X):
        X = np.asarray(X, dtype=np.float64).copy()
        flip = rng.random(len(X)) < 0.5
        X[flip] = 1.0 - X[flip]
        return X

    Xtr, Xte = alter(ds.X_train), alter(ds.X_test)
    ytr, yte = ds.y_train, ds.y_test
    C, d = int(max(ytr.max(), yte.max()) + 1), Xtr.shape[1]
    Xa = np.column_stack([Xtr, np.ones(len(Xtr))])
    lam = float(np.linalg.eigvalsh(Xa.T @ Xa / len(Xa))[-1])
    penalty = 1e-4

    def run(solver, iters, restart, lr=None):
        r = np.random.default_rng(seed * 100 + restart)
        m = MixtureOfExperts(2, "softmax", solver, learning_rate=lr, gate_penalty=penalty, expert_penalty=penalty,
                             max_iter=1, tol=0.0, warm_start=True, inner_max_iter=cfg["inner_max_iter"],
                             gate_init=0.01 * r.normal(size=(2, d)), expert_init=0.01 * r.normal(size=(2, C, d)))
        nll, acc, wall, evals = [], [], [], []
        t, e = 0.0, 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for it in range(iters):
                t0 = time.perf_counter()
                m.fit(Xtr, ytr)
                t += time.perf_counter() - t0
                e += m.n_grad_evals_
                if it == 0:
                    nll.append(-float(m.lower_bounds_[0]))  # objective at the start (penalty is ~0 there)
                    acc.append(float("nan"))
                    wall.append(0.0)
                    evals.append(0)
                nll.append(-m.score(Xtr, ytr))
                acc.append(float(np.mean(m.predict(Xte) == yte)))
                wall.append(t)
                evals.append(e)
                if not np.isfinite(nll[-1]):
                    break
        return {"nll": nll, "test_accuracy": acc, "wall_s": wall, "grad_evals": evals}

    grid = [mult / lam for mult in cfg["img_lr_mult"]]
    grid_final = []
    for lr in grid:
        out = run("gd", cfg["gd_iters"], 0, lr)
        ok = len(out["nll"]) == cfg["gd_iters"] + 1 and np.isfinite(out["nll"][-1]) and out["nll"][-1] < out["nll"][0]
        grid_final.append(float(out["nll"][-1]) if ok else float("inf"))
    best_lr = grid[int(np.argmin(grid_final))]
    em = [run("em", cfg["em_iters"], r) for r in range(cfg["restarts"])]
    gd = [run("gd", cfg["gd_iters"], r, best_lr) for r in range(cfg["restarts"])]
    return {"dataset": ds.name if hasattr(ds, "name") else cfg["images"], "n_train": int(len(Xtr)),
            "n_test": int(len(Xte)), "n_features": d, "n_classes": C, "penalty": penalty,
            "inner_max_iter": cfg["inner_max_iter"], "lambda_max": lam,
            "em": em, "gd": gd, "gd_learning_rate": best_lr, "gd_lr_grid": grid,
            "gd_grid_final_nll": [v if np.isfinite(v) else None for v in grid_final]}


# ----------------------------------------------------------------------------- API
def run(scale="default", seed=0):
    """Run the three parts at ``scale``; returns plain numbers (JSON-able)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}; got {scale!r}")
    cfg = SCALES[scale]
    t0 = time.perf_counter()
    traj = _trajectories(cfg, seed)
    t1 = time.perf_counter()
    cache = {}

    def setting(beta_norm, cond):  # the (||beta*|| = 2, cond = 1) setting is shared by both sweeps
        if (beta_norm, cond) not in cache:
            cache[beta_norm, cond] = _iterations_to_mle(cfg, seed, beta_norm, cond)
        return cache[beta_norm, cond]

    snr = [setting(b, 1.0) for b in cfg["snr"]]
    cond = [setting(2.0, c) for c in cfg["cond"]]
    t2 = time.perf_counter()
    images = _altered_images(cfg, seed)
    t3 = time.perf_counter()
    return {"scale": scale, "seed": seed, "config": {k: v for k, v in cfg.items()},
            "trajectory": traj, "iterations_to_mle": {"tol": MLE_TOL, "cap": cfg["cap"], "snr": snr, "cond": cond},
            "images": images, "timing_s": {"trajectory": t1 - t0, "iterations_to_mle": t2 - t1, "images": t3 - t2}}


def _steps(lrs):
    vals = sorted({lr for lr in lrs if lr is not None})
    return "/".join(f"{v:g}" for v in vals) if vals else "none stable"


def _fmt(v, cap):
    return f">{cap}" if v > cap else f"{v:.0f}"


def _fewer(a, b, label):
    """EM-style "fewer iterations": a one-sided paired t-test over seeds that ``a`` needs fewer than ``b``.

    A run that never got there is counted at its cap + 1 (so a censored arm can still lose or win).
    """
    return superiority(a, b, higher_is_better=False, label=label)


def check(result):
    """Five sub-claims; each can fail, reports the measured numbers and carries its test.

    Comparisons of iteration counts are one-sided paired t-tests over seeds at alpha 0.05
    (:mod:`frugalml.repro.stats`; with one seed, the plain comparison); the table shows medians.
    """
    tr, itm, img = result["trajectory"], result["iterations_to_mle"], result["images"]
    T, cap = len(tr["iterations"]) - 1, itm["cap"]
    k = {s: tr[s]["median_iters_to_floor"] for s in ("em", "gradient_em", "gd")}
    t_floor = [_fewer(tr["em"]["iters_to_floor"], tr[s]["iters_to_floor"], f"iterations to the floor: EM vs {s}")
               for s in ("gradient_em", "gd")]
    claims = [claim(
        "symmetric linear MoE: EM reaches the statistical floor (within 10% of the MLE's error) in fewer "
        "iterations than gradient EM and GD (paired over seeds, steps tuned)",
        all(t["held"] for t in t_floor),
        f"median EM {_fmt(k['em'], T)}, gradient EM {_fmt(k['gradient_em'], T)}, GD {_fmt(k['gd'], T)} iterations "
        f"(mean paired saving {t_floor[0]['effect']:.1f} ± {t_floor[0]['se'] or 0:.1f} and {t_floor[1]['effect']:.1f} ± "
        f"{t_floor[1]['se'] or 0:.1f} s.e. over {t_floor[0]['n']} seeds); "
        f"floor ||beta-beta*|| = {tr['floor_beta']:.3f}, ||w-w*|| = {tr['floor_w']:.3f}",
        paper="EM ~7, gradient EM ~35-40, GD ~80-100 iterations (beta floor ~0.03)", test=t_floor)]
    rows = itm["snr"] + [r for r in itm["cond"] if r["condition_number"] != 1.0]
    t_mle = [_fewer(r["em_all"], r["gd_all"], f"||beta*||={r['beta_norm']:g}, cond={r['condition_number']:g}: "
                    "iterations to 1e-6 of the MLE, EM vs GD") for r in rows]
    claims.append(claim(
        "iterations to 1e-6 of the MLE: EM fewer than best-tuned GD in every SNR / conditioning setting",
        all(t["held"] for t in t_mle),
        "; ".join(f"||beta*||={r['beta_norm']:g}, cond={r['condition_number']:g}: EM {_fmt(r['em'], cap)} vs "
                  f"GD {_fmt(r['gd'], cap)}" for r in rows),
        paper="EM ~18, GD ~50 (isotropic), GD ~1900 at cond(Sigma)=100", test=t_mle))
    lo, hi = min(itm["snr"], key=lambda r: r["beta_norm"]), max(itm["snr"], key=lambda r: r["beta_norm"])
    t_snr = superiority(lo["em_all"], hi["em_all"], label=f"EM iterations at ||beta*||={lo['beta_norm']:g} vs "
                        f"{hi['beta_norm']:g} (paired by seed)")
    claims.append(claim(
        "EM slows as the SNR falls (iterations at the lowest SNR exceed those at the highest)",
        t_snr["held"],
        f"||beta*||={lo['beta_norm']:g}: {_fmt(lo['em'], cap)}, ||beta*||={hi['beta_norm']:g}: {_fmt(hi['em'], cap)} "
        f"(medians)", paper="linear rate governed by the SNR; EM slows at low SNR", test=t_snr))
    dec = max([tr["max_loglik_decrease_em"]] + [r["max_loglik_decrease_em"] for r in rows])
    t_dec = threshold_test(dec, 1e-10, higher_is_better=False, label="largest log-likelihood decrease of EM")
    claims.append(claim("EM never decreases the log-likelihood (tolerance 1e-10)", t_dec["held"],
                        f"largest decrease over all EM runs: {dec:.2e}", paper="monotone (EM / mirror descent)",
                        test=t_dec))
    em5_all = [r["nll"][min(5, len(r["nll"]) - 1)] for r in img["em"]]
    gd_all = [r["nll"][-1] for r in img["gd"]]
    em5 = float(np.mean(em5_all))
    em_last = float(np.mean([r["nll"][-1] for r in img["em"]]))
    gd50 = float(np.mean([r["nll"][-1] for r in img["gd"]]))
    n_gd = len(img["gd"][0]["nll"]) - 1
    n_em = len(img["em"][0]["nll"]) - 1
    em_acc = float(np.mean([r["test_accuracy"][-1] for r in img["em"]]))
    gd_acc = float(np.mean([r["test_accuracy"][-1] for r in img["gd"]]))
    em_t = float(np.mean([r["wall_s"][-1] for r in img["em"]]))
    gd_t = float(np.mean([r["wall_s"][-1] for r in img["gd"]]))
    em_ev = float(np.mean([r["grad_evals"][-1] for r in img["em"]]))
    # wall time EM needs to match GD's final NLL (per restart, interpolation-free: first iterate below it)
    em_match = []
    for r_em, r_gd in zip(img["em"], img["gd"]):
        k_match = _first_below(r_em["nll"], r_gd["nll"][-1])
        em_match.append(r_em["wall_s"][k_match] if k_match is not None else float("inf"))
    em_match_t = float(np.mean(em_match))
    label = f"training NLL, EM@5 vs GD@{n_gd} (paired by restart)"
    if np.all(np.isfinite(em5_all + gd_all)):
        t_img = superiority(em5_all, gd_all, higher_is_better=False, label=label)
    else:  # a diverged run (NLL inf / nan): the plain comparison of the means
        t_img = threshold_test(em5, gd50, higher_is_better=False, label=label)
    claims.append(claim(
        f"altered {img['dataset']} (half inverted), 2 softmax experts: EM's training NLL after 5 iterations is "
        f"below GD's after {n_gd} at the best stable step (paired over {len(em5_all)} restarts)",
        t_img["held"],
        f"EM@5 {em5:.3f} vs GD@{n_gd} {gd50:.3f} (lr {img['gd_learning_rate']:.3g}); EM@{n_em} {em_last:.3f}",
        paper="NLL EM ~0.85 vs GD ~1.75 after 50 iterations (Fashion-MNIST)", test=t_img))
    table = [
        {"setting": "symmetric MoE: iterations to floor (EM / GEM / GD)", "paper": "~7 / ~35-40 / ~80-100",
         "ours": f"{_fmt(k['em'], T)} / {_fmt(k['gradient_em'], T)} / {_fmt(k['gd'], T)}"},
        {"setting": "beta error floor", "paper": "~0.03", "ours": f"{tr['floor_beta']:.3f}"},
    ] + [{"setting": f"iters to 1e-6 of MLE, ||beta*||={r['beta_norm']:g}, cond={r['condition_number']:g} (EM / GD)",
          "paper": "~18 / ~50" if (r["condition_number"] == 1 and r["beta_norm"] == 2)
          else ("— / ~1900" if r["condition_number"] == 100 else "—"),
          "ours": f"{_fmt(r['em'], cap)} / {_fmt(r['gd'], cap)} (GD step {_steps(r['gd_learning_rates'])})"}
         for r in rows] + [
        {"setting": f"altered {img['dataset']}: train NLL (EM@5, EM@{n_em} / GD@{n_gd})",
         "paper": "EM ~0.85@50 / GD ~1.75@50", "ours": f"{em5:.3f}, {em_last:.3f} / {gd50:.3f}"},
        {"setting": "test accuracy (EM / GD)", "paper": "EM saturates by ~10", "ours": f"{em_acc:.3f} / {gd_acc:.3f}"},
        {"setting": f"wall time s (EM {n_em} it. / GD {n_gd} it.); gradient evaluations (EM / GD)",
         "paper": "—", "ours": f"{em_t:.1f} / {gd_t:.1f}; {em_ev:.0f} / {n_gd}"},
        {"setting": f"wall time s for EM to reach GD's NLL after {n_gd} iterations (vs GD's time)",
         "paper": "—", "ours": f"{em_match_t:.1f} (vs {gd_t:.1f})"},
    ]
    note = (f"Scale {result['scale']}: symmetric model with n={result['config']['n']}, d={result['config']['d']}, "
            f"{result['config']['seeds']} seeds; GD / gradient-EM steps tuned per seed on a grid; gradient EM takes "
            f"{tr['gem_inner_steps']} inner steps; images: {img['n_train']} training images, L2 {img['penalty']:g} on "
            f"gate and experts, EM's inner L-BFGS capped at {img['inner_max_iter']} iterations.")
    return verdict(claims, table=table, note=note)


def plot(result, outdir):
    """Three figures rebuilt from the result dict."""
    from pathlib import Path

    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    paths = []
    tr = result["trajectory"]
    colors = {"em": "C0", "gradient_em": "C2", "gd": "C3"}
    labels = {"em": "EM", "gradient_em": f"gradient EM ({tr['gem_inner_steps']} inner steps)", "gd": "GD"}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    it = tr["iterations"]
    for ax, key, floor, title in ((axes[0], "beta_error", tr["floor_beta"], r"$\|\beta_t-\beta^*\|$ (sign-invariant)"),
                                  (axes[1], "w_error", tr["floor_w"], r"$\|w_t-w^*\|$")):
        for s in ("em", "gradient_em", "gd"):
            b = tr[s][key]
            ax.plot(it, b["median"], color=colors[s], label=labels[s])
            ax.fill_between(it, b["lo"], b["hi"], color=colors[s], alpha=0.2)
        ax.axhline(floor, color="k", ls="--", lw=0.8, label="MLE error (floor)")
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(title)
    axes[0].legend()
    fig.suptitle("Symmetric mixture of 2 linear experts: median and quartiles over seeds")
    paths.append(save_figure(fig, outdir / "symmetric_error_vs_iteration.png"))

    itm = result["iterations_to_mle"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, rows, key, xlabel in ((axes[0], itm["snr"], "beta_norm", r"SNR $\|\beta^*\|/\sigma$ (cond = 1)"),
                                  (axes[1], itm["cond"], "condition_number", r"cond($\Sigma_x$) ($\|\beta^*\|$ = 2)")):
        x = [r[key] for r in rows]
        for s, c in (("em", "C0"), ("gd", "C3")):
            yv = [min(r[s], itm["cap"] + 1) for r in rows]
            ax.plot(x, yv, "o-", color=c, label="EM" if s == "em" else "GD (best step)")
            for xi, r in zip(x, rows):
                if r[f"{s}_censored"]:
                    ax.annotate(f">{itm['cap']}", (xi, itm["cap"] + 1), color=c, fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"iterations to {itm['tol']:g} of the MLE")
    axes[0].legend()
    paths.append(save_figure(fig, outdir / "iterations_to_mle.png"))

    img = result["images"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for s, c, lab in (("em", "C0", "EM"), ("gd", "C3", f"GD (lr {img['gd_learning_rate']:.3g})")):
        for i, r in enumerate(img[s]):
            kw = {"label": lab} if i == 0 else {}
            axes[0].plot(range(len(r["nll"])), r["nll"], color=c, alpha=0.8, **kw)
            axes[1].plot(range(len(r["test_accuracy"])), r["test_accuracy"], color=c, alpha=0.8, **kw)
            axes[2].plot(np.maximum(r["wall_s"], 1e-3), r["nll"], color=c, alpha=0.8, **kw)
    axes[0].set(xlabel="iteration", ylabel="training NLL (cross-entropy)", title=f"altered {img['dataset']}")
    axes[1].set(xlabel="iteration", ylabel="test accuracy")
    axes[2].set(xlabel="wall time (s)", ylabel="training NLL", xscale="log")
    axes[0].legend()
    paths.append(save_figure(fig, outdir / "altered_images.png"))
    return paths
