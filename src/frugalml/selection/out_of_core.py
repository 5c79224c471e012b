"""Selection from arrays larger than memory: numpy memmaps and Dask arrays (optionally on a cluster).

GM Matching and the baselines work group by group (one class, or one random batch of the
paper's batched version), and a group is much smaller than the data. So an out-of-core
selection never holds the whole array: each group's rows are read (from the memmap, or
computed from the Dask graph), selected from, and dropped. With a ``dask.distributed``
client active (``Client(...)`` in the caller, or ``--scheduler`` on the command line), the
groups of a Dask array run as tasks on the cluster and only the picked indices come back.

Every group draws from its own generator, seeded from ``random_state`` in group order, so
the in-memory, memmap, Dask and cluster paths return exactly the same indices.

:func:`geometric_median` of a whole Dask array is a map-reduce: each Weiszfeld iteration
sums the per-chunk statistics (see :func:`chunk_statistics`), so the array is read once per
iteration and never gathered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frugalml._core.validation import check_array
from frugalml.selection._weiszfeld import NumpyOps, check_weights, row_statistics


def is_dask_array(X) -> bool:
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def is_out_of_core(X) -> bool:
    """True for a numpy memmap or a Dask array: such inputs are read group by group, never whole."""
    return isinstance(X, np.memmap) or is_dask_array(X)


def check_out_of_core(X, name: str = "X"):
    """Cheap checks that need no pass over the data (finiteness is checked as each group is read)."""
    if len(X.shape) != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {tuple(X.shape)}")
    kind = np.dtype(X.dtype).kind
    if kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {X.dtype}")
    return X


def read_rows(X, rows, name: str = "X") -> np.ndarray:
    """Rows ``rows`` (sorted indices) of a memmap, Dask or in-memory array as checked float64."""
    part = X[rows]
    if is_dask_array(part):
        part = part.compute()
    return check_array(np.asarray(part), name, max_abs=1e100)


def active_client():
    """The active ``dask.distributed`` client, or None (no distributed installed or none running)."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - dask is a dev dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


class LazyRows:
    """The rows ``rows`` of an out-of-core array, read only when indexed (``len`` and ``[local]``).

    A selector that works batch by batch (``GMMatching(n_batches=...)``) then holds one
    batch in memory, not its whole class. Each read is checked, float64 and passed through
    ``transform`` (the metric's row-wise map), so it equals indexing the loaded group.
    """

    def __init__(self, X, rows, transform=None):
        self.X, self.rows, self.transform = X, np.asarray(rows), transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, local):
        local = np.asarray(local)
        order = np.argsort(local, kind="stable")       # read in file order, return in the order asked
        data = read_rows(self.X, self.rows[local[order]])
        if self.transform is not None:
            data = self.transform(data)
        out = np.empty_like(data)
        out[order] = data
        return out


def _run_group(fn, X_group, k, rng):
    return fn(check_array(np.asarray(X_group), "X", max_abs=1e100), k, rng)


def map_groups(fn, X, tasks, *, lazy: bool = False):
    """``rows[fn(X[rows], k, rng)]`` for each task ``(rows, k, rng)``.

    Runs on the active Dask cluster when ``X`` is a Dask array and a client is active
    (each group's rows are computed on the workers, and ``fn`` runs there too); otherwise
    in this process, reading one group at a time (or, with ``lazy``, handing ``fn`` a
    :class:`LazyRows` of the group, so that it reads only what it indexes).
    """
    client = active_client() if is_dask_array(X) else None
    if client is None:
        load = (lambda rows: LazyRows(X, rows)) if lazy and is_out_of_core(X) else (lambda rows: read_rows(X, rows))
        return [rows[fn(load(rows), k, rng)] for rows, k, rng in tasks]
    futures = [client.submit(_run_group, fn, client.compute(X[rows]), k, rng, pure=False)
               for rows, k, rng in tasks]
    return [rows[local] for (rows, _, _), local in zip(tasks, client.gather(futures))]


def chunk_statistics(X, a, mu, threshold: float):
    """The sums one Weiszfeld / Vardi-Zhang step needs over a block of rows.

    With ``d_i = ||x_i - mu||``, points with ``d_i <= threshold`` count as "on" ``mu``:
    returns ``(sum_i w_i, sum_i w_i x_i, sum_{on} a_i, sum_i a_i d_i)`` with
    ``w_i = a_i / d_i`` off the point and 0 on it. Sums over blocks add up, which is what
    makes one iteration a map-reduce.
    """
    X = np.asarray(X, dtype=np.float64)
    sqnorms = np.einsum("ij,ij->i", X, X)
    return row_statistics(NumpyOps, X, a, sqnorms, mu, threshold)


def dask_weiszfeld_inputs(X, weights):
    """Row-chunked blocks of a Dask array with their weights, the data scale and the weighted mean."""
    import dask
    import dask.array as da

    X = check_out_of_core(X).rechunk({1: -1}).astype(np.float64)
    n = X.shape[0]
    if weights is None:
        a = da.full((n,), 1.0 / n, chunks=(X.chunks[0],))
    else:
        a = da.from_array(check_weights(np.asarray(weights), n), chunks=(X.chunks[0],))
    max_abs, max_sq, mean = dask.compute(abs(X).max(), (X * X).sum(1).max(), a @ X)
    if not np.isfinite(max_abs):
        raise ValueError("X contains NaN or infinite values; clean or impute them first")
    if max_abs > 1e100:
        raise ValueError(f"X has entries up to {max_abs:.3g}, too large to square; rescale it")
    blocks = list(zip(X.to_delayed().ravel(), a.to_delayed().ravel()))
    return blocks, max(float(max_sq) ** 0.5, 1e-300), mean


def dask_statistics(blocks):
    """A ``stats(mu, threshold)`` function that sums :func:`chunk_statistics` over the blocks."""
    import dask

    def stats(mu, threshold):
        parts = dask.compute(*[dask.delayed(chunk_statistics)(b, a, mu, threshold) for b, a in blocks])
        W, wX, eta, mean_dist = (sum(p[j] for p in parts) for j in range(4))
        return float(W), np.asarray(wX), float(eta), float(mean_dist)

    return stats


def _npy_rows(path, start, stop):
    return np.load(path, mmap_mode="r", allow_pickle=False)[start:stop]


def npy_as_dask(path, chunk_rows: int = 65_536):
    """A Dask array over a ``.npy`` file whose chunks are read by the workers themselves.

    Unlike ``da.from_array(np.load(path, mmap_mode="r"))``, nothing but the file name
    travels to the workers (which must see the same file system).
    """
    import dask
    import dask.array as da

    path = str(Path(path).resolve())
    header = np.load(path, mmap_mode="r", allow_pickle=False)
    check_out_of_core(header, "embeddings")
    n, d = header.shape
    chunk_rows = max(1, int(chunk_rows))
    parts = [da.from_delayed(dask.delayed(_npy_rows)(path, s, min(s + chunk_rows, n)),
                             shape=(min(s + chunk_rows, n) - s, d), dtype=header.dtype)
             for s in range(0, n, chunk_rows)]
    return da.concatenate(parts, axis=0)


__all__ = ["LazyRows", "active_client", "check_out_of_core", "chunk_statistics", "is_dask_array", "is_out_of_core",
           "map_groups", "npy_as_dask", "read_rows"]
