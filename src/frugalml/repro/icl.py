"""Softmax attention adapts its window to function Lipschitzness (Collins et al., NeurIPS 2024).

Experiment (inputs uniform on the unit sphere in R^d, one softmax attention unit
``y_hat = sum_i y_i softmax_i(x_i^T M x_q)`` pretrained online with Adam):

1. window ``w = tr(M)/d`` of the scalar unit ``M = w I`` against the Lipschitz constant
   ``L``, the label noise ``sigma`` and the context size ``n`` (affine tasks; ReLU and
   cosine tasks for the ``L`` sweep too), beside the Monte Carlo minimiser of the exact
   affine risk ``L^2 G(w) + sigma^2 H(w)``;
2. the invariance ``w*(L=4, sigma=2) = w*(L=2, sigma=1)`` (risk depends on ``L/sigma``);
3. attention weights around one query for several ``L``;
4. ICL error against ``n``: softmax attention against linear attention, whose error cannot
   drop below ``Var(b)`` on affine tasks with a random intercept;
5. low-rank tasks ``f(x) = g(B^T x)``: how much of the full matrix ``M`` lies in ``span(B)``;
6. train-``L`` against test-``L`` mismatch: each test ``L`` is best served by the model
   pretrained on the same ``L``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from frugalml.icl import (
    AffineTasks,
    CosineTasks,
    LinearAttentionRegressor,
    LowRankTasks,
    ReLUTasks,
    SoftmaxAttentionRegressor,
    attention_window,
    evaluate_icl,
    optimal_affine_window,
    optimal_linear_attention,
    optimal_window,
    subspace_concentration,
    train_icl,
)
from frugalml.repro.stats import threshold_test
from frugalml.repro.verdict import claim, verdict

NAME = "icl"
PAPER = ("Collins, Parulekar, Mokhtari, Sanghavi & Shakkottai, 'In-Context Learning with Transformers: "
         "Softmax Attention Adapts to Function Lipschitzness', NeurIPS 2024 (arXiv 2402.11639)")
CLAIM = ("A single softmax attention unit pretrained on in-context regression learns a nearest-neighbour "
         "window that narrows as the tasks' Lipschitz constant grows and widens with label noise, projects onto "
         "the tasks' subspace for low-rank tasks, beats linear attention (which cannot fit an intercept), and "
         "generalises best when pretraining and test Lipschitzness match.")

SETTINGS = {
    "smoke": dict(d=3, n=30, steps=200, batch=128, seeds=1, n_eval=2000,
                  L_grid=[1.0, 4.0], sigma_grid=[0.5, 2.0], n_grid=[15, 60], sweep_L=4.0, n_sweep_L=2.0,
                  other_classes={"relu": [1.0, 4.0], "cosine": [1.0, 4.0]}, cosine_scaled_L=[2.0, 8.0],
                  icl_n=[10, 80], icl_L=1.0, icl_sigma=0.5,
                  lr_d=6, lr_rank=2, lr_steps=200, weights_L=[1.0, 4.0]),
    "default": dict(d=3, n=50, steps=1000, batch=256, seeds=1, n_eval=10000,
                    L_grid=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0], sigma_grid=[0.125, 0.25, 0.5, 1.0, 2.0],
                    n_grid=[12, 25, 50, 100, 200], sweep_L=4.0, n_sweep_L=2.0,
                    other_classes={"relu": [0.5, 2.0, 8.0], "cosine": [0.5, 2.0, 8.0]},
                    cosine_scaled_L=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0], icl_n=[10, 25, 50, 100, 200, 400, 800], icl_L=1.0, icl_sigma=0.5,
                    lr_d=8, lr_rank=2, lr_steps=1000, weights_L=[0.5, 2.0, 8.0]),
    "paper": dict(d=3, n=50, steps=3000, batch=512, seeds=3, n_eval=40000,
                  L_grid=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], sigma_grid=[0.125, 0.25, 0.5, 1.0, 2.0, 4.0],
                  n_grid=[12, 25, 50, 100, 200, 400], sweep_L=4.0, n_sweep_L=2.0,
                  other_classes={"relu": [0.5, 1.0, 2.0, 4.0, 8.0], "cosine": [0.5, 1.0, 2.0, 4.0, 8.0]},
                  cosine_scaled_L=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0], icl_n=[10, 25, 50, 100, 200, 400, 800, 1600], icl_L=1.0, icl_sigma=0.5,
                  lr_d=8, lr_rank=2, lr_steps=3000, weights_L=[0.5, 2.0, 8.0]),
}
CLASSES = {"affine": AffineTasks, "relu": ReLUTasks, "cosine": CosineTasks}
LR = 0.05
# cosine tasks f = (L / omega) cos(omega u.x + phi) + b: the frequency stays fixed and L scales the amplitude, so
# every L of the sweep is resolvable by n = 50 points in d = 3 (with omega = L the best window collapses to plain
# averaging at L = 8, a property of that task family, reported beside the verdict)
COSINE_FREQUENCY = 2.0
W_REL_TOL = 0.10  # trained w within 10% of the risk minimiser
LINEAR_TRAINED_TOL = 0.05  # trained linear attention within 5% of its least-squares optimum


def _tasks(kind, d, L, sigma, **kw):
    if kind == "cosine":
        kw.setdefault("frequency", COSINE_FREQUENCY)
    return CLASSES[kind](d, lipschitz=L, noise=sigma, **kw)


class _Trainer:
    """Trains and caches scalar softmax units so that sweeps share identical settings."""

    def __init__(self, cfg, seed):
        self.cfg, self.seed, self.count, self.cache = cfg, seed, 0, {}

    def _next_seed(self):
        self.count += 1
        return int(np.random.SeedSequence([self.seed, self.count]).generate_state(1)[0])

    def scalar(self, kind, L, sigma, n):
        key = (kind, float(L), float(sigma), int(n))
        if key not in self.cache:
            cfg = self.cfg
            models = []
            for _ in range(cfg["seeds"]):
                model = SoftmaxAttentionRegressor(cfg["d"])
                train_icl(model, _tasks(kind, cfg["d"], L, sigma), n_steps=cfg["steps"],
                          context_size=n, batch_size=cfg["batch"], lr=LR, random_state=self._next_seed(),
                          desc=f"{kind} L={L} s={sigma} n={n}")
                models.append(model)
            self.cache[key] = models
        return self.cache[key]

    def w(self, kind, L, sigma, n):
        ws = [m.w for m in self.scalar(kind, L, sigma, n)]
        return float(np.mean(ws)), ws


def _sweep(trainer, cfg, kind, values, make_key, ref):
    rows = []
    for v in values:
        L, sigma, n = make_key(v)
        w, ws = trainer.w(kind, L, sigma, n)
        row = {"value": v, "L": L, "sigma": sigma, "n": n, "w": w, "w_seeds": ws,
               "n_eff": attention_window(trainer.scalar(kind, L, sigma, n)[0], context_size=n,
                                         n_contexts=2000, random_state=0)["n_eff"]}
        if kind == "affine":  # exact in the task and the noise: L^2 G(w) + sigma^2 H(w)
            row["w_opt"] = optimal_affine_window(cfg["d"], n, L, sigma, n_contexts=ref, random_state=0)
        else:  # Monte Carlo argmin of the ICL risk of M = w I, and the trained window vs plain averaging (w -> 0)
            tasks = _tasks(kind, cfg["d"], L, sigma)
            row["w_opt"] = optimal_window(tasks, n, n_contexts=ref, random_state=0)
            n_eval = min(cfg["n_eval"], 4000)
            row["err_trained"] = evaluate_icl(trainer.scalar(kind, L, sigma, n)[0], tasks, n, n_eval, random_state=4)
            row["err_uniform"] = evaluate_icl(SoftmaxAttentionRegressor(cfg["d"], init_w=1e-4), tasks, n, n_eval,
                                              random_state=4)
        rows.append(row)
    return rows


def _attention_profiles(trainer, cfg, seed):
    """Weights of one fixed context around one query, for the models of several L."""
    d, n = cfg["d"], cfg["n"]
    gen = torch.Generator().manual_seed(seed + 12345)
    z = torch.randn(n + 1, d, generator=gen)
    z = z / z.norm(dim=-1, keepdim=True)
    x, xq = z[None, :n], z[None, n]
    dist = (x[0] - xq[0]).norm(dim=-1)
    out = {"distance": dist.tolist(), "models": []}
    for L in cfg["weights_L"]:
        model = trainer.scalar("affine", L, 1.0, n)[0]
        with torch.no_grad():
            a = model.attention(x, xq)[0]
        out["models"].append({"L": L, "w": model.w, "weights": a.tolist()})
    return out


def _icl_vs_n(cfg, trainer):
    rows = []
    L, sigma = cfg["icl_L"], cfg["icl_sigma"]
    tasks = AffineTasks(cfg["d"], lipschitz=L, noise=sigma, bias=1.0)
    for n in cfg["icl_n"]:
        soft = trainer.scalar("affine", L, sigma, n)[0]
        lin = LinearAttentionRegressor(cfg["d"])
        untrained = evaluate_icl(lin, tasks, n, n_contexts=cfg["n_eval"], random_state=1)  # M = 0
        train_icl(lin, tasks, n_steps=cfg["steps"], context_size=n, batch_size=cfg["batch"], lr=LR,
                  random_state=trainer._next_seed(), desc=f"linear n={n}")
        best = LinearAttentionRegressor(cfg["d"])  # the least-squares optimum, on an independent sample
        with torch.no_grad():
            best.M.copy_(torch.as_tensor(optimal_linear_attention(tasks, n, n_contexts=cfg["n_eval"],
                                                                  random_state=trainer._next_seed())))
        rows.append({
            "n": n,
            "softmax": evaluate_icl(soft, tasks, n, n_contexts=cfg["n_eval"], random_state=1),
            "linear": evaluate_icl(lin, tasks, n, n_contexts=cfg["n_eval"], random_state=1),
            "linear_opt": evaluate_icl(best, tasks, n, n_contexts=cfg["n_eval"], random_state=1),
            "linear_untrained": untrained,
            "w": soft.w,
        })
    return {"L": L, "sigma": sigma, "var_b": 1.0, "rows": rows}


def _low_rank(cfg, trainer):
    d, r, n = cfg["lr_d"], cfg["lr_rank"], cfg["n"]
    tasks = LowRankTasks(d, r, base="affine", lipschitz=4.0, noise=0.5, random_state=trainer.seed)
    full = SoftmaxAttentionRegressor(d, "full")
    before = subspace_concentration(full.M.detach(), tasks.projector)
    train_icl(full, tasks, n_steps=cfg["lr_steps"], context_size=n, batch_size=cfg["batch"], lr=LR,
              random_state=trainer._next_seed(), desc="low-rank full M")
    scalar = SoftmaxAttentionRegressor(d)
    train_icl(scalar, tasks, n_steps=cfg["lr_steps"], context_size=n, batch_size=cfg["batch"], lr=LR,
              random_state=trainer._next_seed(), desc="low-rank scalar")
    M = full.M.detach().double()
    # M in coordinates [B, B_perp]: the task block is the top-left r x r corner
    q, _ = torch.linalg.qr(torch.cat([tasks.basis, torch.eye(d, dtype=torch.float64)], dim=1))
    q = torch.cat([tasks.basis, q[:, r:d]], dim=1)
    return {
        "d": d, "rank": r, "L": 4.0, "sigma": 0.5, "n": n,
        "concentration_init": before,
        "concentration": subspace_concentration(M, tasks.projector),
        "M_rotated": (q.T @ M @ q).tolist(),
        "eigenvalues": attention_window(full)["eigenvalues"],
        "error_full": evaluate_icl(full, tasks, n, n_contexts=cfg["n_eval"], random_state=2),
        "error_scalar": evaluate_icl(scalar, tasks, n, n_contexts=cfg["n_eval"], random_state=2),
        "w_scalar": scalar.w,
    }


def _mismatch(cfg, trainer):
    Ls, n = cfg["L_grid"], cfg["n"]
    err = []
    for L_train in Ls:
        model = trainer.scalar("affine", L_train, 1.0, n)[0]
        err.append([evaluate_icl(model, AffineTasks(cfg["d"], lipschitz=L_test, noise=1.0), n,
                                 n_contexts=cfg["n_eval"], random_state=3) for L_test in Ls])
    return {"L": Ls, "sigma": 1.0, "error": err}  # error[i][j]: trained on L_i, tested on L_j


def run(scale: str = "default", seed: int = 0) -> dict:
    if scale not in SETTINGS:
        raise ValueError(f"scale must be one of {sorted(SETTINGS)}; got {scale!r}")
    cfg = SETTINGS[scale]
    t0 = time.perf_counter()
    trainer = _Trainer(cfg, seed)
    ref = {"smoke": 3000, "default": 10000, "paper": 40000}[scale]
    n = cfg["n"]
    result = {"scale": scale, "seed": seed, "config": {k: v for k, v in cfg.items()}}
    result["w_vs_L"] = _sweep(trainer, cfg, "affine", cfg["L_grid"], lambda L: (L, 1.0, n), ref)
    result["w_vs_sigma"] = _sweep(trainer, cfg, "affine", cfg["sigma_grid"],
                                  lambda s: (cfg["sweep_L"], s, n), ref)
    result["w_vs_n"] = _sweep(trainer, cfg, "affine", cfg["n_grid"], lambda m: (cfg["n_sweep_L"], 1.0, m), ref)
    result["w_vs_L_other"] = {kind: _sweep(trainer, cfg, kind, Ls, lambda L: (L, 1.0, n), ref)
                              for kind, Ls in cfg["other_classes"].items()}
    # beyond the paper: the risk minimiser when L is put into the cosine's frequency instead (no training)
    result["cosine_frequency_scaled"] = [
        {"L": L, "w_opt": optimal_window(CosineTasks(cfg["d"], lipschitz=L, noise=1.0), n, n_contexts=ref, random_state=0)}
        for L in cfg["cosine_scaled_L"]]
    result["cosine_frequency"] = COSINE_FREQUENCY
    w21, _ = trainer.w("affine", 2.0, 1.0, n)
    w42, _ = trainer.w("affine", 4.0, 2.0, n)
    result["invariance"] = {"w_L2_s1": w21, "w_L4_s2": w42,
                            "w_opt_L2_s1": optimal_affine_window(cfg["d"], n, 2.0, 1.0, n_contexts=ref),
                            "w_opt_L4_s2": optimal_affine_window(cfg["d"], n, 4.0, 2.0, n_contexts=ref)}
    result["attention_profiles"] = _attention_profiles(trainer, cfg, seed)
    result["icl_vs_n"] = _icl_vs_n(cfg, trainer)
    result["low_rank"] = _low_rank(cfg, trainer)
    result["mismatch"] = _mismatch(cfg, trainer)
    result["n_trained"] = trainer.count
    result["runtime_s"] = time.perf_counter() - t0
    return result


def _steps(rows, increasing=True, key="value", val="w"):
    """One threshold test per consecutive pair of a sweep: the ratio ``w_{i+1} / w_i`` against 1.

    Monotone (strictly) iff every test holds. One trained unit per point at the default scale,
    evaluated without sampling noise in ``w``, so the tests carry no SE (the plain comparison).
    """
    return [threshold_test(b[val] / a[val], 1.0, higher_is_better=increasing,
                           label=f"{val}({b[key]:g}) / {val}({a[key]:g}) {'>' if increasing else '<'} 1")
            for a, b in zip(rows, rows[1:])]


def _all(tests):
    return all(t["held"] for t in tests)


def _fmt(rows, key="value", val="w"):
    return ", ".join(f"{r[key]:g}: {r[val]:.2f}" for r in rows)


def check(result: dict) -> dict:
    cl = []
    wl, ws, wn = result["w_vs_L"], result["w_vs_sigma"], result["w_vs_n"]
    t = _steps(wl)
    cl.append(claim("the window narrows as Lipschitzness grows: w increases with L (affine, sigma=1)",
                    _all(t), "w by L: " + _fmt(wl),
                    paper="w grows with L (reference CPU run, d=3, n=50: 0.8 -> 10.8 over L=0.25..8)", test=t))
    t = _steps(ws, increasing=False)
    cl.append(claim("the window widens with label noise: w decreases with sigma",
                    _all(t), "w by sigma: " + _fmt(ws),
                    paper="w falls with sigma (reference run, L=4: 13.6 -> 5.1 over sigma=0.125..2)", test=t))
    t = _steps(wn)
    cl.append(claim("the window narrows with more context: w increases with n",
                    _all(t), "w by n: " + _fmt(wn),
                    paper="w grows with n (reference run: 3.05 -> 8.1 over n=12..200)", test=t))
    other = result.get("w_vs_L_other", {})
    for kind, rows in other.items():
        errs = "; ICL error trained / plain average (w->0): " + ", ".join(
            f"{r['value']:g}: {r['err_trained']:.3f}/{r['err_uniform']:.3f}" for r in rows if "err_trained" in r)
        what = (f" (f = (L/{result['cosine_frequency']:g}) cos({result['cosine_frequency']:g} u.x + phi) + b)"
                if kind == "cosine" else "")
        t = _steps(rows)
        cl.append(claim(f"the same adaptation on {kind} tasks{what}: w increases with L",
                        _all(t), "w by L: " + _fmt(rows) + errs,
                        paper="the window adapts to the Lipschitz constant of the task class (Section 3)", test=t))
    inv = result["invariance"]
    rel = abs(inv["w_L4_s2"] / inv["w_L2_s1"] - 1)
    t = threshold_test(rel, 0.05, higher_is_better=False, label="|w(4,2) / w(2,1) - 1| < 5%")
    cl.append(claim("affine invariance: w*(L=4, sigma=2) equals w*(L=2, sigma=1) within 5% (independent runs)",
                    t["held"], f"w(4,2)={inv['w_L4_s2']:.3f}, w(2,1)={inv['w_L2_s1']:.3f} (rel. diff {rel:.1%})",
                    paper="risk = L^2 G(w) + sigma^2 H(w), so w* depends on L/sigma only", test=t))
    gaps = {"affine": [abs(r["w"] / r["w_opt"] - 1) for r in wl + ws + wn]}
    gaps.update({kind: [abs(r["w"] / r["w_opt"] - 1) for r in rows] for kind, rows in other.items()})
    t = [threshold_test(max(g), W_REL_TOL, higher_is_better=False,
                        label=f"{kind}: largest |w / argmin - 1| < {W_REL_TOL:.0%}") for kind, g in gaps.items()]
    cl.append(claim(f"training finds the risk minimiser for every task class: trained w within {W_REL_TOL:.0%} of "
                    "the argmin of the ICL risk of M = w I (affine: exact L^2 G(w) + sigma^2 H(w); ReLU, cosine: "
                    "Monte Carlo) at every sweep point", _all(t),
                    "largest relative gap " + ", ".join(f"{k} {max(g):.1%} ({len(g)} points)" for k, g in gaps.items())
                    + "; w / argmin for " + "; ".join(f"{k}: " + ", ".join(f"{r['value']:g}: {r['w']:.2f}/{r['w_opt']:.2f}"
                                                                       for r in rows) for k, rows in other.items()),
                    paper="the pretraining optimum is M = w* I (Theorem 3.4)", test=t))
    icl = result["icl_vs_n"]
    rows, var_b = icl["rows"], icl["var_b"]
    lin_min = min(r["linear"] for r in rows)
    lin_excess = max(r["linear"] / r["linear_opt"] - 1 for r in rows)
    soft_last, soft_first = rows[-1]["softmax"], rows[0]["softmax"]
    t = [threshold_test(lin_min, 0.9 * var_b, label="smallest linear-attention error > 0.9 Var(b)"),
         threshold_test(lin_excess, LINEAR_TRAINED_TOL, higher_is_better=False,
                        label=f"linear attention's excess over its least-squares optimum < {LINEAR_TRAINED_TOL:.0%}")]
    cl.append(claim(f"linear attention, trained to within {LINEAR_TRAINED_TOL:.0%} of its least-squares optimum, "
                    "cannot fit the intercept: its error stays >= 0.9 Var(b) at every n",
                    _all(t),
                    "linear error by n: " + _fmt(rows, "n", "linear") + f" (Var(b)={var_b:g}); least-squares optimum: "
                    + _fmt(rows, "n", "linear_opt") + f" (largest excess {lin_excess:+.1%}); untrained (M=0): "
                    + _fmt(rows, "n", "linear_untrained"),
                    paper="linear attention's ICL error is bounded below by Var(b) (Section 3.3)", test=t))
    t = [threshold_test(soft_last, soft_first, higher_is_better=False,
                        label=f"softmax error at n={rows[-1]['n']} < at n={rows[0]['n']}"),
         threshold_test(soft_last, 0.25 * var_b, higher_is_better=False,
                        label="softmax error at the largest n < 0.25 Var(b)")]
    cl.append(claim("softmax attention's ICL error falls with n to well below Var(b) (< 0.25 Var(b) at the largest n)",
                    _all(t), "softmax error by n: " + _fmt(rows, "n", "softmax"),
                    paper="reference run: 0.35 -> 0.02 from n=10 to 800", test=t))
    lr = result["low_rank"]
    t = threshold_test(lr["concentration"], 0.2, higher_is_better=False, label="||M - PMP|| / ||M|| < 0.2")
    cl.append(claim("low-rank tasks: full M concentrates on span(B), ||M - PMP||/||M|| <= 0.2",
                    t["held"],
                    f"{lr['concentration']:.3f} (at init {lr['concentration_init']:.3f}); d={lr['d']}, rank={lr['rank']}",
                    paper="reference run (d=8, rank 2): ~0.07; M aligns with B B^T (Section 4)", test=t))
    t = threshold_test(lr["error_full"], lr["error_scalar"], higher_is_better=False,
                       label="ICL error, full M < scalar w I (same contexts)")
    cl.append(claim("low-rank tasks: projecting onto span(B) lowers the ICL error below the isotropic window",
                    t["held"], f"full M {lr['error_full']:.4f} vs scalar w I {lr['error_scalar']:.4f}",
                    paper="the projection enlarges the useful neighbourhood", test=t))
    mm = result["mismatch"]
    err = np.asarray(mm["error"])
    col_best = err.argmin(axis=0)
    on_diag = [int(j) for j in range(len(mm["L"])) if col_best[j] == j]
    # per test-L column: the best off-diagonal error over the diagonal one, against 1
    t = [threshold_test(float(np.delete(err[:, j], j).min() / err[j, j]), 1.0,
                        label=f"test L={mm['L'][j]:g}: best other pretraining L / matched L error > 1")
         for j in range(len(mm["L"]))]
    cl.append(claim("pretraining L must match test L: every test-L column is minimised by the model pretrained on that L",
                    _all(t),
                    f"{len(on_diag)}/{len(mm['L'])} columns minimised on the diagonal "
                    f"(best train L per test L: {[mm['L'][i] for i in col_best]})",
                    paper="each column's minimum on the diagonal (Section 5)", test=t))
    table = [
        {"setting": "w over L=0.25..8 (sigma=1)", "paper": "paper: w grows with L; page's reference CPU run 0.8 -> 10.8",
         "ours": f"{wl[0]['w']:.2f} -> {wl[-1]['w']:.2f} over L={wl[0]['value']:g}..{wl[-1]['value']:g}"},
        {"setting": "w over sigma (L=4)", "paper": "paper: w falls with sigma; page's reference run 13.6 -> 5.1",
         "ours": f"{ws[0]['w']:.2f} -> {ws[-1]['w']:.2f} over sigma={ws[0]['value']:g}..{ws[-1]['value']:g}"},
        {"setting": "w over n (L=2, sigma=1)", "paper": "paper: w grows with n; page's reference run 3.05 -> 8.1",
         "ours": f"{wn[0]['w']:.2f} -> {wn[-1]['w']:.2f} over n={wn[0]['value']:g}..{wn[-1]['value']:g}"},
        {"setting": "w*(4,2) vs w*(2,1)", "paper": "theory: equal (risk depends on L/sigma)", "ours": f"{inv['w_L4_s2']:.3f} vs {inv['w_L2_s1']:.3f}"},
        {"setting": "low-rank ||M-PMP||/||M||", "paper": "paper: M projects onto span(B); page's reference run ~0.07",
         "ours": f"{lr['concentration']:.3f}"},
        {"setting": f"ICL error n={rows[0]['n']}->{rows[-1]['n']} softmax / linear (linear's LS optimum)",
         "paper": "paper: linear >= Var(b); page's reference run softmax 0.35 -> 0.02",
         "ours": f"{soft_first:.3f} -> {soft_last:.3f} / {rows[0]['linear']:.3f} -> {rows[-1]['linear']:.3f} "
                 f"({rows[0]['linear_opt']:.3f} -> {rows[-1]['linear_opt']:.3f})"},
    ]
    for kind, krows in other.items():
        table.append({"setting": f"{kind}: trained w / Monte Carlo argmin by L", "paper": "paper: w grows with L",
                      "ours": ", ".join(f"{r['value']:g}: {r['w']:.2f}/{r['w_opt']:.2f}" for r in krows)})
    cfg = result["config"]
    note = (f"d={cfg['d']}, n={cfg['n']}, {cfg['steps']} Adam steps of {cfg['batch']} fresh contexts per model, "
            f"{cfg['seeds']} seed(s); each sub-claim is a threshold test on these numbers (one trained unit per point "
            "and common evaluation contexts: no standard error, the plain comparison with its ratio to the line). "
            "The paper gives no code and its exact task distributions and training budgets are "
            "reconstructed (affine f = L u.x + b with b ~ N(0,1); ReLU f = L relu(u.x) + b; cosine "
            f"f = (L/{result['cosine_frequency']:g}) cos({result['cosine_frequency']:g} u.x + phi) + b: fixed frequency, "
            "L scales the amplitude). The 'paper' column states the paper's claims; the figures beside them are a "
            "reference CPU run quoted on the paper page, not values printed in the paper. The ICL-error-vs-n task uses "
            "L=%g, sigma=%g. Beyond the paper (not in the verdict): " % (result["icl_vs_n"]["L"], result["icl_vs_n"]["sigma"])
            + ("with L in the cosine's frequency instead (amplitude 1), the Monte Carlo risk minimiser is "
               + ", ".join(f"L={r['L']:g}: {r['w_opt']:.3g}" for r in result.get("cosine_frequency_scaled", []))
               + f" (n={cfg['n']}, d={cfg['d']}, sigma=1): once n points cannot resolve the oscillation, plain "
               "averaging (w -> 0) is optimal, so a monotone window is not expected there. " if
               result.get("cosine_frequency_scaled") else "")
            + "An untrained linear attention (M = 0) scores " + _fmt(rows, "n", "linear_untrained")
            + ", so the >= Var(b) bound alone does not show the baseline was trained; the least-squares optimum does.")
    return verdict(cl, table=table, note=note)


def _plain_log_ticks(ax, x=True, y=True):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    for on, axis in ((x, ax.xaxis), (y, ax.yaxis)):
        if on:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(fmt)
            axis.set_minor_formatter(NullFormatter())


def plot(result: dict, outdir) -> list[Path]:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    paths = []

    # 1. window sweeps, log-log
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    specs = [("w_vs_L", "Lipschitz constant L (sigma=1)"), ("w_vs_sigma", "label noise sigma (L=%g)" % result["config"]["sweep_L"]),
             ("w_vs_n", "context size n (L=%g, sigma=1)" % result["config"]["n_sweep_L"])]
    for ax, (key, xlabel) in zip(axes, specs):
        rows = result[key]
        xs = [r["value"] for r in rows]
        ax.plot(xs, [r["w"] for r in rows], "o-", label="trained softmax (affine)")
        if all("w_opt" in r for r in rows):
            ax.plot(xs, [r["w_opt"] for r in rows], "k--", lw=1, label="argmin L²G(w)+σ²H(w)")
        if key == "w_vs_L":
            for kind, other in result.get("w_vs_L_other", {}).items():
                line, = ax.plot([r["value"] for r in other], [r["w"] for r in other], "s:", label=f"trained ({kind})")
                if all("w_opt" in r for r in other):
                    ax.plot([r["value"] for r in other], [r["w_opt"] for r in other], "x", ms=8,
                            color=line.get_color(), label=f"Monte Carlo argmin ({kind})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("window w = tr(M)/d")
        ax.legend()
    fig.suptitle("The attention window adapts: larger w = narrower window")
    paths.append(save_figure(fig, outdir / "window_sweeps.png"))

    # 2. attention weights around a query
    prof = result["attention_profiles"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    dist = np.asarray(prof["distance"])
    order = np.argsort(dist)
    for mdl in prof["models"]:
        a = np.asarray(mdl["weights"])
        ax.plot(dist[order], a[order], "o-", ms=3, lw=1, label=f"pretrained on L={mdl['L']:g} (w={mdl['w']:.2f})")
    ax.set_xlabel("||x_i - x_q|| (one context, one query)")
    ax.set_ylabel("attention weight a_i")
    ax.set_title("Higher L: attention concentrates on nearer tokens")
    ax.legend()
    paths.append(save_figure(fig, outdir / "attention_weights.png"))

    # 3. ICL error vs n
    icl = result["icl_vs_n"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ns = [r["n"] for r in icl["rows"]]
    ax.plot(ns, [r["softmax"] for r in icl["rows"]], "o-", label="softmax attention")
    ax.plot(ns, [r["linear"] for r in icl["rows"]], "s-", label="linear attention")
    ax.axhline(icl["var_b"], color="k", ls="--", lw=1, label="Var(b)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel("context size n")
    ax.set_ylabel("ICL error E(ŷ - f(x_q))²")
    ax.set_title(f"Affine tasks, L={icl['L']:g}, sigma={icl['sigma']:g}")
    ax.legend()
    paths.append(save_figure(fig, outdir / "icl_error_vs_n.png"))

    # 4. mismatch heat map
    mm = result["mismatch"]
    err = np.asarray(mm["error"])
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    rel = err / err.min(axis=0, keepdims=True)
    lrel = np.log10(rel)
    im = ax.imshow(lrel, cmap="viridis", origin="lower")
    labels = [f"{v:g}" for v in mm["L"]]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("test L")
    ax.set_ylabel("pretraining L")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{err[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="w" if lrel[i, j] < 0.5 * lrel.max() else "k")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="log10(error / column minimum)")
    ax.set_title("ICL error: pretraining L vs test L")
    paths.append(save_figure(fig, outdir / "mismatch.png"))

    # 5. low-rank M
    lr = result["low_rank"]
    Mr = np.asarray(lr["M_rotated"])
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    v = np.abs(Mr).max()
    im = ax.imshow(Mr, cmap="RdBu_r", vmin=-v, vmax=v)
    ax.axhline(lr["rank"] - 0.5, color="k", lw=0.8)
    ax.axvline(lr["rank"] - 0.5, color="k", lw=0.8)
    ax.grid(False)
    fig.colorbar(im, ax=ax)
    ax.set_title(f"Learned M in basis [B, B⊥] (d={lr['d']}, rank {lr['rank']})\n"
                 f"||M-PMP||/||M|| = {lr['concentration']:.3f}")
    paths.append(save_figure(fig, outdir / "low_rank_M.png"))
    return paths
