import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from frugalml.selection import geometric_median


def _objective(X, z, w=None):
    w = np.full(len(X), 1 / len(X)) if w is None else w / w.sum()
    return float(w @ np.linalg.norm(X - z, axis=1))


@pytest.mark.parametrize("seed", range(4))
def test_matches_scipy_minimiser_on_small_sets(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(25, 3))
    X[:8] += rng.normal(scale=30, size=3)  # a cluster of outliers
    w = rng.uniform(0.5, 2.0, size=len(X))
    ref = minimize(lambda z: _objective(X, z, w), X.mean(0), method="Nelder-Mead",
                   options=dict(xatol=1e-11, fatol=1e-13, maxiter=50000))
    r = geometric_median(X, weights=w, tol=1e-10)
    assert r.converged
    assert r.objective <= ref.fun * (1 + 1e-9)
    assert np.allclose(r.median, ref.x, atol=1e-5)
    assert r.objective == pytest.approx(_objective(X, r.median, w), rel=1e-12)


def test_closed_forms():
    # collinear points: the GM is the (weighted) median
    X = np.array([[0.0], [1.0], [5.0], [100.0], [7.0]])
    assert geometric_median(X, tol=1e-12).median == pytest.approx([5.0], abs=1e-6)
    # the Fermat point of an equilateral triangle is its centre
    tri = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
    assert np.allclose(geometric_median(tri, tol=1e-12).median, tri.mean(0), atol=1e-8)


def test_vardi_zhang_when_an_iterate_lands_on_a_data_point():
    # The mean (start) is exactly a data point, and that point is the GM (majority weight there):
    # plain Weiszfeld divides by zero; the correction certifies optimality at once.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    r = geometric_median(X)
    assert r.converged and np.all(np.isfinite(r.median))
    assert np.allclose(r.median, 0.0, atol=1e-12)
    # start on a data point that is NOT the GM: the correction must move away from it
    Y = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0], [3.0, -1.0], [-3.0, 0.0]])  # mean (1.2, 0)
    Y = np.vstack([Y, [[2 * 1.2 - 0.0, 0.0]]])  # shift the mean so it lands on a point
    r = geometric_median(np.vstack([Y, Y.mean(0)]))
    assert np.all(np.isfinite(r.median)) and r.converged


def test_breakdown_point_far_minority_does_not_move_it():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(600, 5))
    far = rng.normal(size=(400, 5)) + 1e6  # 40% at a huge distance
    r = geometric_median(np.vstack([clean, far]))
    assert np.linalg.norm(r.median) < 3.0  # the mean is ~4e5 away


def test_torch_matches_numpy_and_keeps_type():
    rng = np.random.default_rng(1)
    X = rng.standard_t(df=2, size=(300, 7))
    a = geometric_median(X, tol=1e-10)
    b = geometric_median(torch.tensor(X, dtype=torch.float32), tol=1e-10)
    assert isinstance(b.median, torch.Tensor) and b.median.dtype == torch.float32
    assert np.allclose(b.median.numpy(), a.median, atol=1e-4)


@pytest.mark.parametrize("bad, match", [
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.zeros(3), "2-D"),
    (np.zeros((0, 2)), "at least 1"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        geometric_median(bad)


def test_bad_weights_and_options():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="weights"):
        geometric_median(X, weights=[1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        geometric_median(X, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="init"):
        geometric_median(X, init="median")
    with pytest.raises(ValueError, match="tol"):
        geometric_median(X, tol=0)
