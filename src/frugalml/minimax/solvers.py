"""``solve_minimax``: second-order optimistic methods and baselines for convex-concave min-max.

Problem: ``min_x max_y f(x, y)``; with ``z = (x, y)`` the operator ``F(z) = (grad_x f, -grad_y f)``
is monotone and a saddle point solves ``F(z) = 0``. All methods stop when ``||F(z)|| <= tol``.

Methods
-------
``"adaptive"``
    Adaptive second-order optimistic method (Jiang, Kavis, Jin, Sanghavi & Mokhtari, NeurIPS 2024,
    arXiv 2406.02016). One Jacobian and one linear solve per iteration, no line search.
    ``option=1`` uses the Hessian-Lipschitz constant ``L2``; ``option=2`` is parameter-free and
    tracks it locally from ``lambda0``. Step size: :func:`frugalml.minimax.step.adaptive_step_size`.
``"linesearch"``
    Second-order optimistic method with backtracking (Jiang & Mokhtari, "Generalized optimistic
    methods for convex-concave saddle point problems", arXiv 2202.09674; "Optimal SOM" in the
    2024 paper). Port of the authors' MATLAB ``ORN_ls_simple`` (shipped in joaompereira/hipnex).
``"hipnex"``
    Homotopy inexact proximal-Newton extragradient (Alves, Pereira & Svaiter, 2023); port of
    joaompereira/hipnex ``hipnex.m`` with exact linear solves.
``"extragradient"``
    Korpelevich's extragradient, first order, constant step ``step_size``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from frugalml._core.validation import check_array, check_option, check_positive, check_scalar
from frugalml.minimax._result import STATUS_MESSAGES, History, MinimaxResult
from frugalml.minimax.linear import LINEAR_SOLVERS, Counters, LinearSolveError, LinearSystems
from frugalml.minimax.step import adaptive_step_size, local_lipschitz_estimate

METHODS = ("adaptive", "linesearch", "hipnex", "extragradient")

# method -> option -> (default, check(value) -> bool, what the value must be)
_ITERATIVE = {"linear_rtol": (1e-10, lambda v: _real(v) and 0 < v < 1, "a number in (0, 1)"),
              "linear_maxiter": (None, lambda v: v is None or _int(v) and v >= 1, "an integer >= 1 or None")}
OPTIONS = {
    "adaptive": dict(_ITERATIVE),
    "linesearch": {"beta": (0.5, lambda v: _real(v) and 0 < v < 1, "a number in (0, 1)"),
                   "eta0": (1.0, lambda v: _real(v) and v > 0, "a finite number > 0"),
                   "max_backtracks": (200, lambda v: _int(v) and v >= 1, "an integer >= 1"),
                   **_ITERATIVE},
    "hipnex": {"sigma": (0.95, lambda v: _real(v) and 0 < v < 1, "a number in (0, 1)"),
               "max_inner": (10_000, lambda v: _int(v) and v >= 1, "an integer >= 1"),
               **_ITERATIVE},
    "extragradient": {},
}


def _real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_options(method, options):
    """Defaults filled in; an unknown key or a bad value raises ``ValueError`` naming it."""
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"options must be a dict or None; got {type(options).__name__}")
    spec = OPTIONS[method]
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(spec))
    if unknown:
        raise ValueError(f"unknown options for method={method!r}: {unknown}; allowed: {sorted(spec) or 'none'}")
    out = {}
    for key, (default, ok, what) in spec.items():
        value = opts.get(key, default)
        if key in opts and not ok(value):
            raise ValueError(f"options[{key!r}] must be {what}; got {value!r}")
        out[key] = value
    return out


def solve_minimax(F, z0, *, jac=None, jvp=None, method="adaptive", option=2, L2=None, lambda0=None,
                  alpha=0.5, linear_solver="direct", tol=1e-8, max_iter=1000, max_time=None,
                  callback=None, n_x=None, step_size=None, gap=None, options=None) -> MinimaxResult:
    """Find a zero of the monotone operator ``F`` (a saddle point of a convex-concave ``f``).

    Parameters
    ----------
    F : callable
        ``F(z) -> array (d,)``, the operator ``(grad_x f, -grad_y f)``.
    z0 : array-like (d,)
        Starting point; must be finite.
    jac : callable, optional
        ``jac(z) -> (d, d)`` array (or scipy sparse matrix): the Jacobian of ``F``.
    jvp : callable, optional
        ``jvp(z, u) -> J(z) u``. One of ``jac`` / ``jvp`` is required by the second-order methods.
    method : {"adaptive", "linesearch", "hipnex", "extragradient"}
    option : {1, 2}
        Adaptive method only: 1 needs ``L2``; 2 is parameter-free (tracks ``L2`` locally).
    L2 : float, optional
        Lipschitz constant of the Jacobian. Required by ``option=1`` and by ``"hipnex"``.
    lambda0 : float, optional
        Option 2's initial estimate of ``L2``. ``None``: one probe
        ``2 ||F(z0 + s) - F(z0) - J s|| / ||s||^2`` along a short step ``s`` of length
        ``1e-3 max(1, ||z0||)`` in the direction ``u/||u|| - F(z0)/||F(z0)||`` (``u`` a fixed
        pseudo-random vector); one extra ``F`` and one Jacobian-vector evaluation, both counted.
        A heuristic of ours, not the paper's initialisation rule.
    alpha : float in (0, 1)
        Acceptance parameter ``eta ||e|| <= (alpha / 2) ||z+ - z||`` (adaptive and linesearch).
    linear_solver : {"direct", "minres", "gmres"} or callable
        How ``(I + eta J(z)) d = r`` is solved; a callable is ``solver(z, eta, r) -> d``.
    tol : float
        Stop when ``||F(z)|| <= tol``.
    max_iter : int
        Outer iterations.
    max_time : float, optional
        Wall-clock limit in seconds.
    callback : callable, optional
        ``callback(z, k)`` after each iteration; returning ``True`` stops the run (status 0 is
        not claimed: the message says the callback stopped it).
    n_x : int, optional
        Size of the ``x`` block; needed by ``linear_solver="minres"``.
    step_size : float, optional
        Extragradient step (required for ``"extragradient"``; at most ``1 / Lip(F)``).
    gap : callable, optional
        ``gap(z) -> float`` recorded in ``history["gap"]`` (its cost is excluded from the times).
    options : dict, optional
        Method-specific settings: linesearch ``beta`` (0.5), ``eta0`` (1.0), ``max_backtracks`` (200);
        hipnex ``sigma`` in (0, 1) (0.95) and ``max_inner`` (10,000: homotopy steps per
        iteration); iterative solvers ``linear_rtol`` (1e-10), ``linear_maxiter``. Unknown keys
        and out-of-range values raise ``ValueError`` (see :data:`OPTIONS`).

    Returns
    -------
    MinimaxResult
        ``x``, ``x_avg``, ``success``, ``status``, ``message``, ``nit``, ``nfev``, ``njev``,
        ``njvp``, ``nlinsolve``, ``history``.

    Examples
    --------
    >>> from frugalml.minimax import solve_minimax
    >>> from frugalml.minimax.problems import cubic_bilinear
    >>> p = cubic_bilinear(20, generator="bidiagonal", random_state=0)
    >>> res = solve_minimax(p.F, p.z0, jac=p.jac, method="adaptive", option=1, L2=p.L2)
    >>> bool(res.success), res.nlinsolve == res.nit
    (True, True)
    """
    check_option(method, METHODS, "method")
    z0 = check_array(z0, "z0", ndim=1)
    if not callable(F):
        raise ValueError(f"F must be callable F(z) -> array; got {type(F).__name__}")
    tol = check_positive(tol, "tol", strict=False)
    max_iter = check_positive(max_iter, "max_iter", integer=True, strict=False)
    if max_time is not None:
        max_time = check_positive(max_time, "max_time")
    # numpy scalars (np.float32(0.5)) are numbers too: the shared validator accepts them
    alpha = check_scalar(alpha, "alpha", low=0, high=1, low_inclusive=False, high_inclusive=False)
    opts = _check_options(method, options)
    second_order = method != "extragradient"
    if second_order:
        if jac is None and jvp is None:
            raise ValueError(f"method={method!r} is second order: pass jac=(z -> Jacobian) or "
                             "jvp=((z, u) -> J(z) u); frugalml.minimax.torch_operator builds both from f(x, y)")
        if not callable(linear_solver):
            check_option(linear_solver, LINEAR_SOLVERS, "linear_solver")
            if linear_solver == "direct" and jac is None:
                raise ValueError("linear_solver='direct' needs jac; with only jvp use 'gmres', 'minres' or a callable")
            if linear_solver == "minres":
                if n_x is None:
                    raise ValueError("linear_solver='minres' needs n_x (the size of the x block, 0 <= n_x <= len(z0))")
                n_x = check_scalar(n_x, "n_x", integer=True, low=0, high=z0.size)
    if method == "adaptive":
        check_option(option, (1, 2), "option")
        if option == 1:
            if L2 is None:
                raise ValueError("option=1 needs L2 (the Jacobian's Lipschitz constant); use option=2 if unknown")
            L2 = check_positive(L2, "L2")
        if lambda0 is not None:
            lambda0 = check_positive(lambda0, "lambda0")
    if method == "hipnex":
        if L2 is None:
            raise ValueError("method='hipnex' needs L2 (the Jacobian's Lipschitz constant)")
        L2 = check_positive(L2, "L2")
    if method == "extragradient":
        if step_size is None:
            raise ValueError("method='extragradient' needs step_size (at most 1 / Lipschitz constant of F)")
        step_size = check_positive(step_size, "step_size")

    run = _Run(F, z0, jac, jvp, linear_solver, n_x, tol, max_iter, max_time, callback, gap, opts)
    if method == "adaptive":
        return run.adaptive(option, L2, lambda0, alpha)
    if method == "linesearch":
        return run.linesearch(alpha, opts["beta"], opts["eta0"], opts["max_backtracks"])
    if method == "hipnex":
        return run.hipnex(L2, opts["sigma"], opts["max_inner"])
    return run.extragradient(step_size)


class _Stop(Exception):
    def __init__(self, status, message=None):
        self.status, self.message = status, message


class _Run:
    """State shared by the methods: counters, clock, history, termination."""

    def __init__(self, F, z0, jac, jvp, linear_solver, n_x, tol, max_iter, max_time, callback, gap, opts):
        self.Fu, self.tol, self.max_iter, self.max_time = F, tol, max_iter, max_time
        self.callback = callback
        self.c = Counters()
        self.systems = LinearSystems(jac, jvp, linear_solver, n_x, opts.get("linear_rtol", 1e-10), self.c,
                                     opts.get("linear_maxiter"))
        self.hist = History(gap)
        self.t0 = time.perf_counter()
        self.z = z0.copy()
        self.Fz = self.F(self.z)
        if not np.all(np.isfinite(self.Fz)):
            raise ValueError("F(z0) is not finite; start from a point where the operator is defined")
        self.nit = 0
        self.x_avg = None
        self.lambda0 = None
        self.record(self.z, np.linalg.norm(self.Fz))

    def F(self, z):
        self.c.nfev += 1
        out = np.asarray(self.Fu(z), dtype=float).ravel()
        if out.shape != z.shape:
            raise ValueError(f"F(z) must return an array of shape {z.shape}; got {out.shape}")
        return out

    def elapsed(self):
        return time.perf_counter() - self.t0

    def record(self, z, norm_F, eta=np.nan, lam=np.nan):
        self.hist.record(z, norm_F, self.elapsed(), self.c.nlinsolve, self.c.nfev, eta, lam)

    def check_stop(self, k):
        """Called after iterate k+1 is recorded; raises _Stop when the run must end."""
        if self.callback is not None and self.callback(self.z.copy(), k) is True:
            raise _Stop(0, "stopped by callback")
        if np.linalg.norm(self.Fz) <= self.tol:
            raise _Stop(0)
        if self.out_of_time():
            raise _Stop(2)

    def out_of_time(self):
        return self.max_time is not None and self.elapsed() - self.hist.gap_time >= self.max_time

    def finish(self, status, message=None, success=None):
        h = self.hist.arrays()
        return MinimaxResult(
            x=self.z, x_avg=self.x_avg, fun_norm=float(np.linalg.norm(self.Fz)),
            success=(status == 0 and message is None) if success is None else success,
            status=status, message=message or STATUS_MESSAGES[status], nit=self.nit,
            lambda0=self.lambda0, nfev=self.c.nfev, njev=self.c.njev, njvp=self.c.njvp, nlinsolve=self.c.nlinsolve, history=h,
        )

    def loop(self, step):
        """Run ``step(k)`` until a stop condition; each step updates z, Fz and records."""
        if np.linalg.norm(self.Fz) <= self.tol:
            return self.finish(0)
        try:
            for k in range(self.max_iter):
                step(k)
                self.nit = k + 1
                self.check_stop(k)
            return self.finish(1)
        except _Stop as stop:
            return self.finish(stop.status, stop.message)
        except LinearSolveError as exc:
            return self.finish(5, f"{STATUS_MESSAGES[5]}: {exc}")
        except np.linalg.LinAlgError as exc:
            return self.finish(3, f"{STATUS_MESSAGES[3]} ({exc})")

    def accept(self, z_new, F_new):
        if not (np.all(np.isfinite(z_new)) and np.all(np.isfinite(F_new))):
            raise _Stop(3)
        self.z, self.Fz = z_new, F_new

    # ------------------------------------------------------------------ adaptive (2406.02016)
    def adaptive(self, option, L2, lambda0, alpha):
        v = np.zeros_like(self.z)  # v_0 = eta_{-1} e_0 = 0 (z_{-1} = z_0)
        if option == 1:
            lam = float(L2)
        elif lambda0 is not None:
            lam = float(lambda0)
        else:
            lam = self._probe_lambda()
        self.lambda0 = lam
        state = {"v": v, "lam": lam, "w": 0.0, "zsum": np.zeros_like(self.z)}

        def step(k):
            norm_F = float(np.linalg.norm(self.Fz))
            eta = adaptive_step_size(norm_F, float(np.linalg.norm(state["v"])), state["lam"], alpha)
            system = self.systems.at(self.z)  # exactly one Jacobian ...
            d = system.solve(eta, -(eta * self.Fz + state["v"]))  # ... and one linear solve
            z_new = self.z + d
            F_new = self.F(z_new)
            if not np.all(np.isfinite(F_new)):
                raise _Stop(3)
            e = F_new - self.Fz - system.matvec(d)  # prediction error e_{k+1}
            state["v"] = eta * e
            if option == 2:
                est = local_lipschitz_estimate(float(np.linalg.norm(e)), float(np.linalg.norm(d)))
                if est > 0 and math.isfinite(est):  # e = 0: the model was exact, keep the estimate
                    state["lam"] = est
            self.accept(z_new, F_new)
            state["w"] += eta
            state["zsum"] += eta * z_new
            self.x_avg = state["zsum"] / state["w"]
            self.record(self.z, np.linalg.norm(self.Fz), eta, state["lam"])

        return self.loop(step)

    def _probe_lambda(self):
        """Heuristic lambda0: curvature of F along a short step -F(z0) (one extra F evaluation)."""
        # direction: -F(z0) mixed with a fixed pseudo-random unit vector, so that curvature in
        # blocks where F(z0) vanishes (e.g. x = 0 in a bilinear-plus-cubic problem) is seen too
        nF = float(np.linalg.norm(self.Fz))
        u = np.random.default_rng(0).standard_normal(self.z.shape)
        s = u / np.linalg.norm(u) - (self.Fz / nF if nF > 0 else 0.0)
        s *= 1e-3 * max(1.0, float(np.linalg.norm(self.z))) / np.linalg.norm(s)
        J = self.systems
        self.c.njev += 1  # Jacobian information formed at z0 (a jvp or a jac call), counted once
        if J.jvp is not None:
            self.c.njvp += 1
            Js = np.asarray(J.jvp(self.z, s), dtype=float).ravel()
        else:
            Js = np.asarray(J.jac(self.z) @ s, dtype=float).ravel()
        e = self.F(self.z + s) - self.Fz - Js
        est = local_lipschitz_estimate(float(np.linalg.norm(e)), float(np.linalg.norm(s)))
        return est if est > 0 and math.isfinite(est) else 1.0

    # ------------------------------------------------------------------ line search (2202.09674)
    def linesearch(self, alpha, beta, eta0, max_backtracks):
        state = {"v": np.zeros_like(self.z), "sigma": float(eta0), "w": 0.0, "zsum": np.zeros_like(self.z)}

        def step(k):
            system = self.systems.at(self.z)
            eta = state["sigma"]
            for _ in range(max_backtracks):
                d = system.solve(eta, -(eta * self.Fz + state["v"]))
                z_new = self.z + d
                F_new = self.F(z_new)
                if np.all(np.isfinite(F_new)):
                    e = F_new - self.Fz - system.matvec(d)
                    if eta * np.linalg.norm(e) <= 0.5 * alpha * np.linalg.norm(d):
                        break
                eta *= beta
                if eta < 1e-300:
                    raise _Stop(4)
                if self.out_of_time():
                    raise _Stop(2)
            else:
                raise _Stop(4)
            state["v"] = eta * e
            state["sigma"] = eta / beta  # next trial: the last rejected size (warm start)
            self.accept(z_new, F_new)
            state["w"] += eta
            state["zsum"] += eta * z_new
            self.x_avg = state["zsum"] / state["w"]
            self.record(self.z, np.linalg.norm(self.Fz), eta)

        return self.loop(step)

    # ------------------------------------------------------------------ HIPNEX (Alves, Pereira, Svaiter)
    def hipnex(self, L, sigma, max_inner):
        theta = 0.5  # (1 - hat_sigma)(1 - 2 hat_sigma)/2 with exact solves (hat_sigma = 0)
        hat_theta = theta * theta
        etaL = 2.0 * hat_theta / sigma
        eta_c = etaL / L
        tau = (theta - hat_theta) / (theta + etaL / 4 + math.sqrt((theta + etaL / 4) ** 2 - theta * (theta - hat_theta)))
        state = {"x": self.z.copy(), "lam": math.sqrt(2 * theta / (L * max(np.linalg.norm(self.Fz), 1e-300)))}

        def step(k):
            x, lam, y, Fy = state["x"], state["lam"], self.z, self.Fz
            inner = 0

            def bounded():  # every homotopy step counts against max_inner and the clock
                nonlocal inner
                inner += 1
                if inner > max_inner:
                    raise _Stop(6)
                if self.out_of_time():
                    raise _Stop(2)

            while np.linalg.norm(lam * Fy + y - x) <= 2 * hat_theta / (lam * L):
                while lam * np.linalg.norm(y - x) >= eta_c:
                    bounded()
                    x = x - (tau * lam) * Fy
                    lam = lam * (1 - tau)
                bounded()
                lam = lam / (1 - tau)
            r = lam * Fy + y - x
            system = self.systems.at(y)
            dy = system.solve(lam, r)  # (I + lam J(y)) dy = r
            y_new = y - dy
            F_new = self.F(y_new)
            state["x"], state["lam"] = x, lam
            self.accept(y_new, F_new)
            self.record(self.z, np.linalg.norm(self.Fz), lam)

        return self.loop(step)

    # ------------------------------------------------------------------ extragradient
    def extragradient(self, gamma):
        def step(k):
            z_half = self.z - gamma * self.Fz
            F_half = self.F(z_half)
            z_new = self.z - gamma * F_half
            self.accept(z_new, self.F(z_new))
            self.record(self.z, np.linalg.norm(self.Fz), gamma)

        return self.loop(step)
