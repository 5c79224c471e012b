import math

import numpy as np
import pytest
from scipy.optimize import minimize

from frugalml.minimax import (
    adaptive_step_size,
    cubic_bilinear,
    local_lipschitz_estimate,
    solve_minimax,
    torch_operator,
)
from frugalml.minimax.problems import as_problem


@pytest.fixture(scope="module")
def small():
    return cubic_bilinear(30, generator="orthogonal", random_state=1)


@pytest.fixture(scope="module")
def bidiag():
    return cubic_bilinear(40, generator="bidiagonal", random_state=2)


# ---------------------------------------------------------------- step size (pure function)
def test_step_size_is_the_positive_root():
    rng = np.random.default_rng(0)
    for _ in range(200):
        nF, nv, lam, a = rng.exponential(size=4) * np.array([1, 1, 1, 0.3])
        a = min(a, 0.99)
        eta = adaptive_step_size(nF, nv, lam, a)
        # equality eta * lam * (eta * ||F|| + ||v||) = alpha, and eta > 0
        assert eta > 0
        assert eta * lam * (eta * nF + nv) == pytest.approx(a, rel=1e-10)


def test_step_size_special_cases():
    assert adaptive_step_size(0.0, 0.0, 1.0, 0.5) == math.inf
    # v = 0: eta = sqrt(alpha / (lam ||F||))
    assert adaptive_step_size(4.0, 0.0, 2.0, 0.5) == pytest.approx(math.sqrt(0.5 / 8.0))
    # F = 0: eta = alpha / (lam ||v||)
    assert adaptive_step_size(0.0, 3.0, 2.0, 0.5) == pytest.approx(0.5 / 6.0)
    assert local_lipschitz_estimate(1.0, 2.0) == pytest.approx(0.5)
    assert math.isnan(local_lipschitz_estimate(1.0, 0.0))


# ---------------------------------------------------------------- counters prove no line search
@pytest.mark.parametrize("option", [1, 2])
def test_adaptive_one_jacobian_one_solve_per_iteration(small, option):
    kw = {"L2": small.L2} if option == 1 else {"lambda0": 1.0}
    res = solve_minimax(small.F, small.z0, jac=small.jac, method="adaptive", option=option, **kw)
    assert res.success, res.message
    assert res.njev == res.nit
    assert res.nlinsolve == res.nit
    assert res.nfev == res.nit + 1
    assert np.all(np.diff(res.history["nlinsolve"]) == 1)


def test_adaptive_probe_costs_exactly_one_extra_evaluation(small):
    res = solve_minimax(small.F, small.z0, jac=small.jac, method="adaptive", option=2)
    assert res.success
    assert res.nlinsolve == res.nit
    assert res.njev == res.nit + 1  # the lambda0 probe forms J(z0) once
    assert res.nfev == res.nit + 2
    res = solve_minimax(small.F, small.z0, jvp=small.jvp, linear_solver="gmres", option=2)
    assert res.success and res.njev == res.nit + 1 and res.nlinsolve == res.nit


def test_probe_sees_curvature_where_F_vanishes():
    # z0 = 0 on the bidiagonal problem: F(z0) has no x part, yet the probe must see the cubic term
    p = cubic_bilinear(200, L2=1e4, random_state=0)
    res = solve_minimax(p.F, p.z0, jac=p.jac, option=2, max_iter=1)
    assert 1e2 < res.lambda0 <= 1e4


def test_linesearch_counts_backtracks():
    # a bad first trial step forces backtracking: more solves than iterations, one J per iteration
    p = cubic_bilinear(30, generator="bidiagonal", random_state=3)
    res = solve_minimax(p.F, p.z0, jac=p.jac, method="linesearch", options={"eta0": 1e6})
    assert res.success
    assert res.njev == res.nit
    assert res.nlinsolve > res.nit
    assert res.nfev == res.nlinsolve + 1


# ---------------------------------------------------------------- Option I acceptance inequality
@pytest.mark.parametrize("seed", range(6))
def test_option1_step_always_satisfies_acceptance_test(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    gen = "orthogonal" if seed % 2 else "bidiagonal"
    L2 = float(10 ** rng.uniform(-3, 1))
    p = cubic_bilinear(n, generator=gen, L2=L2, random_state=seed)
    z0 = rng.standard_normal(2 * n) * 3
    alpha = float(rng.uniform(0.1, 0.9))
    rows = []

    def F(z):
        return p.F(z)

    # re-run the recursion by hand along the solver's iterates and check every step
    res = solve_minimax(F, z0, jac=p.jac, method="adaptive", option=1, L2=L2, alpha=alpha, max_iter=60)
    assert res.nit > 3
    z, v = z0.copy(), np.zeros_like(z0)
    for k in range(res.nit):
        Fz = p.F(z)
        eta = adaptive_step_size(np.linalg.norm(Fz), np.linalg.norm(v), L2, alpha)
        assert eta == pytest.approx(res.history["eta"][k + 1], rel=1e-8)
        J = p.jac(z)
        d = np.linalg.solve(np.eye(2 * n) + eta * J, -(eta * Fz + v))
        e = p.F(z + d) - Fz - J @ d
        rows.append(eta * np.linalg.norm(e) / np.linalg.norm(d))
        v = eta * e
        z = z + d
        if np.linalg.norm(p.F(z)) <= 1e-8:
            break
    assert max(rows) <= alpha / 2 * (1 + 1e-9)


# ---------------------------------------------------------------- convergence to the known saddle point
@pytest.mark.parametrize("method,kw", [
    ("adaptive", {"option": 1}),
    ("adaptive", {"option": 2, "lambda0": 1e-2}),
    ("linesearch", {}),
    ("hipnex", {}),
])
@pytest.mark.parametrize("gen", ["bidiagonal", "orthogonal"])
def test_converges_to_saddle_point(method, kw, gen):
    p = cubic_bilinear(25, generator=gen, random_state=4)
    if method in ("hipnex",) or kw.get("option") == 1:
        kw = {**kw, "L2": p.L2}
    res = solve_minimax(p.F, p.z0, jac=p.jac, method=method, tol=1e-8, **kw)
    assert res.success, res.message
    assert res.fun_norm <= 1e-8
    assert np.linalg.norm(res.x - p.z_star) <= 1e-6
    assert res.history["norm_F"][-1] == pytest.approx(res.fun_norm)


def test_extragradient_converges_slowly(small):
    L1 = small.lipschitz_F(2 * np.linalg.norm(small.z_star) + 1)
    res = solve_minimax(small.F, small.z0, method="extragradient", step_size=0.5 / L1, tol=1e-6, max_iter=20000)
    assert res.success
    assert np.linalg.norm(res.x - small.z_star) < 1e-4
    fast = solve_minimax(small.F, small.z0, jac=small.jac, option=1, L2=small.L2, tol=1e-6)
    assert res.nit > 20 * fast.nit


@pytest.mark.parametrize("option", [1, 2])
def test_lambda0_robust_and_gap_decreases(bidiag, option):
    kw = {"L2": bidiag.L2} if option == 1 else {"lambda0": 1e6}
    res = solve_minimax(bidiag.F, bidiag.z0, jac=bidiag.jac, option=option, gap=bidiag.restricted_gap, **kw)
    assert res.success
    gap = res.history["gap"]
    assert gap[0] > 0 and gap[-1] < 1e-6 * gap[0]
    assert np.all(gap >= -1e-9)
    assert bidiag.restricted_gap(res.x_avg) < gap[0]


# ---------------------------------------------------------------- linear solvers agree
@pytest.mark.parametrize("solver", ["minres", "gmres", "structured"])
def test_linear_solvers_give_the_same_iterates(bidiag, solver):
    ref = solve_minimax(bidiag.F, bidiag.z0, jac=bidiag.jac, option=2, lambda0=1.0)
    if solver == "structured":
        res = solve_minimax(bidiag.F, bidiag.z0, jvp=bidiag.jvp, option=2, lambda0=1.0,
                            linear_solver=bidiag.solve_shifted)
    else:
        res = solve_minimax(bidiag.F, bidiag.z0, jvp=bidiag.jvp, option=2, lambda0=1.0, linear_solver=solver,
                            n_x=bidiag.n)
        assert res.njvp > res.nit
    assert res.success and res.nit == ref.nit and res.nlinsolve == res.nit and res.njev == res.nit
    np.testing.assert_allclose(res.history["norm_F"], ref.history["norm_F"], rtol=1e-4, atol=1e-10)


def test_structured_solve_matches_dense(bidiag):
    rng = np.random.default_rng(0)
    for eta in (1e-3, 1.0, 1e4):
        z, r = rng.standard_normal(bidiag.d), rng.standard_normal(bidiag.d)
        d = bidiag.solve_shifted(z, eta, r)
        np.testing.assert_allclose((np.eye(bidiag.d) + eta * bidiag.jac(z)) @ d, r, atol=1e-8)
        np.testing.assert_allclose(bidiag.jvp(z, r), bidiag.jac(z) @ r, atol=1e-12)


def test_structured_solve_rejects_dense_A(small):
    with pytest.raises(ValueError, match="tridiagonal"):
        small.solve_shifted(small.z0, 1.0, small.z0)


# ---------------------------------------------------------------- problems
def test_jacobian_matches_finite_differences(small):
    rng = np.random.default_rng(1)
    z, u = rng.standard_normal(small.d), rng.standard_normal(small.d)
    h = 1e-6
    fd = (small.F(z + h * u) - small.F(z - h * u)) / (2 * h)
    np.testing.assert_allclose(small.jac(z) @ u, fd, rtol=1e-6, atol=1e-8)


def test_restricted_gap_matches_scipy_and_vanishes_at_solution():
    p = cubic_bilinear(4, generator="orthogonal", L2=0.5, random_state=0)
    n, zs = p.n, p.z_star
    assert abs(p.restricted_gap(zs)) < 1e-10
    rng = np.random.default_rng(0)
    r = 0.7
    for _ in range(3):
        z = zs + rng.standard_normal(2 * n)
        x, y = z[:n], z[n:]
        cons = {"type": "ineq", "fun": lambda u: r ** 2 - np.sum((u - zs[:n]) ** 2)}
        lo = minimize(lambda u: p.f(u, y), zs[:n], constraints=[cons], method="SLSQP", options={"ftol": 1e-14})
        cons_y = {"type": "ineq", "fun": lambda u: r ** 2 - np.sum((u - zs[n:]) ** 2)}
        hi = minimize(lambda u: -p.f(x, u), zs[n:], constraints=[cons_y], method="SLSQP", options={"ftol": 1e-14})
        assert p.restricted_gap(z, radius=r) == pytest.approx(-hi.fun - lo.fun, rel=1e-5, abs=1e-7)


def test_bidiagonal_generator_matches_len_repository():
    p = cubic_bilinear(6, random_state=0)
    A = p.A.toarray()
    assert np.allclose(np.diag(A), 1) and np.allclose(np.diag(A, 1), -1) and np.count_nonzero(A) == 11
    assert set(np.unique(p.b)) <= {-1.0, 1.0}
    assert p.L2 == pytest.approx(1 / 120) and not p.z0.any()
    assert np.linalg.norm(p.F(p.z_star)) < 1e-12


def test_orthogonal_generator_condition_number():
    p = cubic_bilinear(30, generator="orthogonal", random_state=0)
    s = np.linalg.svd(p.A, compute_uv=False)
    assert s.max() / s.min() == pytest.approx(20.0, rel=1e-8)
    assert p.L2 == 1e-3


# ---------------------------------------------------------------- torch helper
def test_torch_operator_matches_analytic(small):
    import torch

    A = torch.as_tensor(small.A)
    b = torch.as_tensor(small.b)
    L2 = small.L2
    op = torch_operator(lambda x, y: L2 / 6 * torch.linalg.vector_norm(x) ** 3 + y @ (A @ x - b), n_x=small.n)
    rng = np.random.default_rng(0)
    z, u = rng.standard_normal(small.d), rng.standard_normal(small.d)
    np.testing.assert_allclose(op.F(z), small.F(z), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.jac(z), small.jac(z), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.jvp(z, u), small.jvp(z, u), rtol=1e-10, atol=1e-12)
    res = solve_minimax(op.F, small.z0, jvp=op.jvp, linear_solver="minres", n_x=small.n, lambda0=1.0)
    assert res.success and np.linalg.norm(res.x - small.z_star) < 1e-6


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise(small):
    z = small.z0.copy()
    z[0] = np.nan
    with pytest.raises(ValueError, match="z0"):
        solve_minimax(small.F, z, jac=small.jac)
    with pytest.raises(ValueError, match="second order"):
        solve_minimax(small.F, small.z0, method="adaptive")
    with pytest.raises(ValueError, match="second order"):
        solve_minimax(small.F, small.z0, method="linesearch")
    with pytest.raises(ValueError, match="L2"):
        solve_minimax(small.F, small.z0, jac=small.jac, option=1)
    with pytest.raises(ValueError, match="L2"):
        solve_minimax(small.F, small.z0, jac=small.jac, method="hipnex")
    with pytest.raises(ValueError, match="method"):
        solve_minimax(small.F, small.z0, jac=small.jac, method="newton")
    with pytest.raises(ValueError, match="option"):
        solve_minimax(small.F, small.z0, jac=small.jac, option=3)
    with pytest.raises(ValueError, match="alpha"):
        solve_minimax(small.F, small.z0, jac=small.jac, alpha=1.5)
    with pytest.raises(ValueError, match="step_size"):
        solve_minimax(small.F, small.z0, method="extragradient")
    with pytest.raises(ValueError, match="n_x"):
        solve_minimax(small.F, small.z0, jvp=small.jvp, linear_solver="minres")
    with pytest.raises(ValueError, match="jac"):
        solve_minimax(small.F, small.z0, jvp=small.jvp, linear_solver="direct")
    with pytest.raises(ValueError, match="linear_solver"):
        solve_minimax(small.F, small.z0, jac=small.jac, linear_solver="cholesky")
    with pytest.raises(ValueError, match="shape"):
        solve_minimax(lambda z: z[:3], small.z0, jac=small.jac)
    with pytest.raises(ValueError, match="A must be square"):
        as_problem(np.ones((3, 2)), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="generator"):
        cubic_bilinear(5, generator="circulant")


def test_nan_becomes_a_status_not_a_crash(small):
    calls = {"n": 0}

    def F(z):
        calls["n"] += 1
        return small.F(z) if calls["n"] < 4 else np.full_like(z, np.nan)

    res = solve_minimax(F, small.z0, jac=small.jac, option=1, L2=small.L2)
    assert not res.success and res.status == 3
    assert np.all(np.isfinite(res.x))


def test_max_iter_and_callback(small):
    res = solve_minimax(small.F, small.z0, jac=small.jac, option=1, L2=small.L2, max_iter=2)
    assert res.status == 1 and res.nit == 2 and not res.success
    seen = []
    res = solve_minimax(small.F, small.z0, jac=small.jac, option=1, L2=small.L2,
                        callback=lambda z, k: seen.append(k) or k == 1)
    assert seen == [0, 1] and res.nit == 2 and not res.success and "callback" in res.message


# ---------------------------------------------------------------- options and bounded inner loops
def _within(seconds, fn):
    """Run fn in a worker thread; fail (instead of hanging the suite) if it takes longer."""
    import concurrent.futures as cf

    pool = cf.ThreadPoolExecutor(1)
    try:
        return pool.submit(fn).result(timeout=seconds)
    except cf.TimeoutError:
        pytest.fail(f"did not return within {seconds}s")
    finally:
        pool.shutdown(wait=False)


@pytest.mark.parametrize("method,options,match", [
    ("hipnex", {"sigma": -1}, "sigma"),
    ("hipnex", {"sigma": 1.0}, "sigma"),
    ("hipnex", {"max_inner": 0}, "max_inner"),
    ("hipnex", {"beta": 0.5}, "unknown options"),
    ("linesearch", {"beta": 1.5}, "beta"),
    ("linesearch", {"eta0": 0.0}, "eta0"),
    ("linesearch", {"max_backtracks": 2.5}, "max_backtracks"),
    ("adaptive", {"sigma": 0.5}, "unknown options"),
    ("adaptive", {"linear_rtol": -1.0}, "linear_rtol"),
])
def test_bad_options_are_rejected_quickly(small, method, options, match):
    def call():
        with pytest.raises(ValueError, match=match):
            solve_minimax(small.F, small.z0, jac=small.jac, method=method, L2=small.L2, options=options, max_time=1)

    _within(10, call)


def test_hipnex_homotopy_loop_honours_max_time_and_max_inner(small):
    # sigma < 0 makes the homotopy loop endless (its exit threshold is negative); reaching the
    # loop past the option check shows it still stops on the clock and on max_inner
    from frugalml.minimax.solvers import _Run

    def run(max_time, max_inner):
        r = _Run(small.F, small.z0, small.jac, None, "direct", None, 1e-8, 100, max_time, None, None, {})
        return r.hipnex(small.L2, -1.0, max_inner)

    res = _within(20, lambda: run(0.5, 10 ** 12))
    assert res.status == 2 and not res.success
    res = _within(20, lambda: run(None, 1000))
    assert res.status == 6 and "max_inner" in res.message


def test_linesearch_backtracking_honours_max_time(small):
    # an F that makes every trial step fail the acceptance test forces backtracking
    slow = {"n": 0}

    def F(z):
        slow["n"] += 1
        import time

        time.sleep(0.01)
        return small.F(z) + (slow["n"] > 1) * 1e3 * np.sign(z)

    res = _within(20, lambda: solve_minimax(F, small.z0, jac=small.jac, method="linesearch",
                                            options={"max_backtracks": 10 ** 6}, max_time=0.5))
    assert res.status == 2 and not res.success  # without the clock check: ~1000 backtracks, status 4


# ---------------------------------------------------------------- fast orthogonal (HIPNEX family, O(n log n))
def test_fast_orthogonal_instance_matches_its_dense_form():
    p = cubic_bilinear(48, generator="fast_orthogonal", random_state=3)
    A = p.A.toarray()
    U, s, Vt = np.linalg.svd(A)
    assert s.max() / s.min() == pytest.approx(20.0, rel=1e-10)  # HIPNEX's kappa
    np.testing.assert_allclose(np.sort(s), np.exp(np.linspace(-np.log(20), 0, 48)), rtol=1e-10)
    np.testing.assert_allclose(p.A.T.toarray(), A.T, atol=1e-13)
    rng = np.random.default_rng(0)
    b = rng.standard_normal(48)
    np.testing.assert_allclose(A @ p.A.solve(b), b, atol=1e-12)
    np.testing.assert_allclose(A.T @ p.A.T.solve(b), b, atol=1e-12)
    assert np.linalg.norm(p.F(p.z_star)) < 1e-12
    assert np.linalg.norm(p.z_star[:48]) <= 20 * np.linalg.norm(p.b)  # ||x*|| <= kappa ||b||
    for eta in (1e-3, 1.0, 1e4):
        z, r = rng.standard_normal(96), rng.standard_normal(96)
        d = p.solve_shifted(z, eta, r)
        np.testing.assert_allclose((np.eye(96) + eta * p.jac(z)) @ d, r, atol=1e-8 * max(1, eta))
        np.testing.assert_allclose(p.jvp(z, r), p.jac(z) @ r, atol=1e-12)


def test_fast_orthogonal_structured_solve_gives_the_dense_iterates():
    p = cubic_bilinear(40, generator="fast_orthogonal", random_state=1)
    ref = solve_minimax(p.F, p.z0, jac=p.jac, option=2, lambda0=1.0)
    res = solve_minimax(p.F, p.z0, jvp=p.jvp, linear_solver=p.solve_shifted, option=2, lambda0=1.0)
    assert ref.success and res.nit == ref.nit
    np.testing.assert_allclose(res.history["norm_F"], ref.history["norm_F"], rtol=1e-6, atol=1e-11)
