import numpy as np
import pytest

from frugalml.selection import SELECTORS, GMMatching, MeanHerding, allocate_budget, herding


def _brute_force_greedy(X, target, k):
    """Greedy step by enumeration: add the point minimising ||mean(S + x) - target||."""
    picked = []
    for _ in range(k):
        best = min((i for i in range(len(X)) if i not in picked),
                   key=lambda i: np.linalg.norm(X[picked + [i]].mean(0) - target))
        picked.append(best)
    return picked


@pytest.mark.parametrize("seed", range(3))
def test_exact_herding_is_the_greedy_mean_matcher(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3)) * rng.uniform(0.2, 3, size=(40, 1))  # unequal norms
    target = rng.normal(size=3) * 0.3
    assert list(herding(X, target, 12)) == _brute_force_greedy(X, target, 12)


@pytest.mark.parametrize("seed", range(3))
def test_paper_step_favours_large_norms_and_matches_worse(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(1.0, 1.0, size=(500, 8)) * rng.uniform(0.3, 3, size=(500, 1))  # unequal norms
    target = np.median(X, axis=0)
    paper, exact = herding(X, target, 50, exact=False), herding(X, target, 50, exact=True)
    norms = np.linalg.norm(X, axis=1)
    assert norms[paper].mean() > norms.mean() > norms[exact].mean()
    err = lambda idx: np.linalg.norm(X[idx].mean(0) - target)  # noqa: E731
    assert err(exact) < 0.5 * err(paper)


@pytest.mark.parametrize("name", sorted(SELECTORS))
@pytest.mark.parametrize("labels", [False, True])
def test_budget_contract(name, labels):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(203, 6))
    y = rng.integers(0, 4, size=203) if labels else None
    idx = SELECTORS[name](fraction=0.17, random_state=0).select(X, y)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted and unique
    assert idx.size == round(0.17 * 203)
    if labels:
        expected = allocate_budget(np.bincount(y), idx.size)
        assert np.array_equal(np.bincount(y[idx], minlength=4), expected)
    assert np.array_equal(idx, SELECTORS[name](fraction=0.17, random_state=0).select(X, y))  # seeded
    full = SELECTORS[name](n_select=203, random_state=0).select(X, y)
    assert np.array_equal(full, np.arange(203))


def test_allocate_budget_is_proportional_and_exact():
    assert allocate_budget([10, 10, 10], 10).tolist() == [4, 3, 3]
    assert allocate_budget([100, 50, 10], 16).tolist() == [10, 5, 1]
    alloc = allocate_budget([7, 1, 93], 50)
    assert alloc.sum() == 50 and np.all(alloc <= [7, 1, 93])


@pytest.mark.parametrize("psi", [0.2, 0.4])
def test_gm_matching_is_robust_to_far_outliers(psi):
    rng = np.random.default_rng(7)
    n, d = 2000, 16
    X = rng.normal(1.0, 1.0, size=(n, d))
    bad = rng.choice(n, int(psi * n), replace=False)
    X[bad] += 50 * np.sqrt(d) * np.eye(d)[0]
    gm = GMMatching(fraction=0.1, random_state=0).select(X)
    herd = MeanHerding(fraction=0.1, random_state=0).select(X)
    assert np.isin(gm, bad).mean() < 0.02  # barely picked
    assert np.isin(herd, bad).mean() > psi - 0.05  # the mean-matcher takes its share
    clean_mean = np.delete(X, bad, axis=0).mean(0)
    assert np.linalg.norm(X[gm].mean(0) - clean_mean) < 0.05 * np.linalg.norm(X[herd].mean(0) - clean_mean)


def test_gm_matching_rate_beats_random():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 10))
    from frugalml.selection import geometric_median

    gm = geometric_median(X).median
    ks = np.array([8, 32, 128, 512])
    order = herding(X, gm, ks.max())
    err = [np.linalg.norm(X[order[:k]].mean(0) - gm) for k in ks]
    slope = np.polyfit(np.log(ks), np.log(err), 1)[0]
    assert slope < -0.8


def test_options_gm_fraction_batches_cosine():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) + 3
    y = rng.integers(0, 3, size=400)
    for kw in (dict(gm_fraction=0.3), dict(n_batches=4), dict(metric="cosine"), dict(per_class=False)):
        idx = GMMatching(n_select=60, random_state=1, **kw).select(X, y)
        assert idx.size == 60 and np.unique(idx).size == 60


@pytest.mark.parametrize("kwargs, X, y, match", [
    (dict(fraction=0.1), np.full((10, 2), np.nan), None, "NaN"),
    (dict(fraction=0.1), np.zeros(10), None, "2-D"),
    (dict(n_select=0), np.zeros((10, 2)), None, "n_select"),
    (dict(n_select=11), np.zeros((10, 2)), None, "exceeds"),
    (dict(), np.zeros((10, 2)), None, "exactly one"),
    (dict(fraction=1.5), np.zeros((10, 2)), None, "fraction"),
    (dict(fraction=0.5), np.zeros((10, 2)), np.zeros(9, int), "y has 9"),
    (dict(fraction=0.5, metric="manhattan"), np.zeros((10, 2)), None, "metric"),
    (dict(fraction=0.5, gm_fraction=0), np.zeros((10, 2)), None, "gm_fraction"),
    (dict(fraction=0.5, n_batches=0), np.zeros((10, 2)), None, "n_batches"),
    (dict(fraction=0.5, metric="cosine"), np.zeros((10, 2)), None, "zero rows"),
])
def test_bad_input_names_the_argument(kwargs, X, y, match):
    with pytest.raises(ValueError, match=match):
        GMMatching(**kwargs).select(X, y)
