"""Out-of-core selection: memmaps, Dask arrays and a 2-process dask.distributed cluster give the
in-memory indices exactly; herding and the geometric median run on torch tensors."""

import numpy as np
import pytest
import torch

from frugalml import cli
from frugalml.selection import SELECTORS, GMMatching, geometric_median, herding
from frugalml.selection.out_of_core import chunk_statistics, npy_as_dask

da = pytest.importorskip("dask.array")


def _data(n=900, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[: n // 5] += 20.0                                   # 20% far outliers
    y = rng.integers(0, 3, size=n)
    return X, y


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    X, y = _data()
    path = tmp_path_factory.mktemp("emb") / "X.npy"
    np.save(path, X)
    return path, X, y


SETTINGS = [(name, {}) for name in SELECTORS] + [("gm_matching", {"n_batches": 3, "gm_fraction": 0.5}),
                                               ("gm_matching", {"metric": "cosine"}),
                                               ("gm_matching", {"metric": "cosine", "n_batches": 2})]


@pytest.mark.parametrize("name,extra", SETTINGS)
def test_memmap_and_dask_equal_in_memory(npy, name, extra):
    path, X, y = npy
    selector = SELECTORS[name](fraction=0.1, random_state=3, **extra)
    expected = selector.select(X, y)
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    np.testing.assert_array_equal(selector.select(mm, y), expected)
    np.testing.assert_array_equal(selector.select(da.from_array(X, chunks=(128, 6)), y), expected)
    np.testing.assert_array_equal(selector.select(npy_as_dask(path, chunk_rows=200), y), expected)


def test_nan_in_a_memmap_group_is_reported(tmp_path):
    X, y = _data(n=120)
    X[7, 2] = np.nan
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="NaN"):
        GMMatching(fraction=0.2).select(np.load(tmp_path / "X.npy", mmap_mode="r"), y)


def test_geometric_median_dask_map_reduce_matches_numpy():
    X, _ = _data(n=700, d=5, seed=1)
    ref = geometric_median(X.astype(np.float64), tol=1e-12)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X))
    got = geometric_median(da.from_array(X, chunks=(100, 5)), tol=1e-12)
    np.testing.assert_allclose(got.median, ref.median, rtol=1e-9, atol=1e-9)
    assert got.converged and abs(got.objective - ref.objective) <= 1e-9 * ref.objective
    weighted = geometric_median(da.from_array(X, chunks=(64, 5)), weights=w, tol=1e-12)
    np.testing.assert_allclose(weighted.median, geometric_median(X, weights=w, tol=1e-12).median, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="init"):
        geometric_median(da.from_array(X, chunks=(100, 5)), init="coordinate_median")


def test_chunk_statistics_add_up_over_blocks():
    X, _ = _data(n=300, d=4, seed=4)
    X = X.astype(np.float64)
    a = np.full(len(X), 1 / len(X))
    mu = X.mean(0)
    whole = chunk_statistics(X, a, mu, 1e-9)
    parts = [chunk_statistics(X[s:s + 70], a[s:s + 70], mu, 1e-9) for s in range(0, 300, 70)]
    for j in range(4):
        np.testing.assert_allclose(sum(p[j] for p in parts), whole[j], rtol=1e-12)


def test_herding_and_median_on_torch_equal_numpy():
    X, _ = _data(n=400, d=8, seed=5)
    X64 = X.astype(np.float64)
    target = geometric_median(X64).median
    for exact in (True, False):
        np.testing.assert_array_equal(herding(torch.from_numpy(X), torch.from_numpy(target), 50, exact=exact),
                                      herding(X64, target, 50, exact=exact))
    t = geometric_median(torch.from_numpy(X64)).median
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), target, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="target"):
        herding(torch.from_numpy(X), torch.zeros(3), 5)


@pytest.mark.slow
def test_local_cluster_two_processes_equal_in_memory(npy):
    distributed = pytest.importorskip("distributed")
    path, X, y = npy
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster):
        for name, extra in [("gm_matching", {}), ("gm_matching", {"n_batches": 2}), ("random", {})]:
            selector = SELECTORS[name](fraction=0.1, random_state=3, **extra)
            np.testing.assert_array_equal(selector.select(npy_as_dask(path, chunk_rows=256), y), selector.select(X, y))
        got = geometric_median(npy_as_dask(path, chunk_rows=256), tol=1e-12)
        np.testing.assert_allclose(got.median, geometric_median(X.astype(np.float64), tol=1e-12).median,
                                   rtol=1e-9, atol=1e-9)
        address = cluster.scheduler_address
    # the command line on the same data: in memory, --mmap, and --scheduler (a fresh cluster)
    out = {mode: path.parent / f"idx-{mode}.npy" for mode in ("memory", "mmap", "scheduler")}
    np.save(path.parent / "y.npy", y)
    base = ["select", "--embeddings", str(path), "--labels", str(path.parent / "y.npy"), "--fraction", "0.1",
            "--n-batches", "2"]
    assert cli.main(base + ["--out", str(out["memory"])]) == 0
    assert cli.main(base + ["--mmap", "--out", str(out["mmap"])]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster:
        assert cli.main(base + ["--scheduler", cluster.scheduler_address, "--out", str(out["scheduler"])]) == 0
    expected = GMMatching(fraction=0.1, n_batches=2, random_state=0).select(X, y)
    for mode in out:
        np.testing.assert_array_equal(np.load(out[mode]), expected)
    assert cli.main(base + ["--scheduler", address, "--out", str(out["memory"])]) == 2   # that cluster is closed


def test_cli_n_batches_is_for_gm_matching_only(npy, capsys):
    path, _, _ = npy
    assert cli.main(["select", "--embeddings", str(path), "--fraction", "0.1", "--method", "random",
                     "--n-batches", "2", "--out", str(path.parent / "o.npy")]) == 2
    assert "--n-batches" in capsys.readouterr().err
