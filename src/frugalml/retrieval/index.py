"""Dense search for corpora too large for one process or for exact search.

- :func:`encode_texts` encodes with sentence-transformers, on several worker processes
  (its multi-process pool: ``processes=N`` on CPUs, or a list of CUDA devices) when asked.
- :class:`VectorIndex` searches by inner product (cosine on normalised embeddings), either
  exactly (a blocked matrix product) or approximately with FAISS (HNSW graph, or an IVF
  inverted file), the maintained library a user would pick; :func:`recall_against_exact` measures
  an approximate index against the exact one.
"""

from __future__ import annotations

import numpy as np

from frugalml._core.validation import check_array, check_bool, check_option, check_scalar

METHODS = ("exact", "hnsw", "ivf")
# Search runs in float32 (max ~3.4e38): entries up to 1e15 keep inner products finite for any
# realistic dimension; larger ones would overflow to inf scores (embeddings are normalised anyway).
MAX_ABS = 1e15


def encode_texts(model, texts, *, batch_size: int = 64, processes=None, normalize: bool = True) -> np.ndarray:
    """Embeddings of ``texts`` (float32, L2-normalised by default) with a sentence-transformers model.

    ``processes`` : None (this process), an int N (N CPU worker processes) or a list of
    devices such as ``["cuda:0", "cuda:1"]``: sentence-transformers' multi-process pool
    splits the texts into chunks, encodes them in parallel and keeps their order.
    """
    texts = list(texts)
    batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1)
    normalize = check_bool(normalize, "normalize")
    if processes is None:
        out = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=normalize,
                           show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)
    if isinstance(processes, (list, tuple)):
        devices = list(processes)
    else:
        devices = ["cpu"] * check_scalar(processes, "processes", integer=True, low=1)
    pool = model.start_multi_process_pool(target_devices=devices)
    try:
        out = model.encode(texts, batch_size=batch_size, pool=pool, normalize_embeddings=normalize,
                           convert_to_numpy=True, show_progress_bar=False)
    finally:
        model.stop_multi_process_pool(pool)
    return np.asarray(out, dtype=np.float32)


class VectorIndex:
    """Top-k inner-product search over fixed embeddings: exact, or approximate with FAISS.

    Parameters
    ----------
    method : {"exact", "hnsw", "ivf"}
        ``"hnsw"``: FAISS ``IndexHNSWFlat`` (``m`` links per node, ``ef_search`` candidates at
        query time); ``"ivf"``: FAISS ``IndexIVFFlat`` with ``n_lists`` k-means cells, of which
        ``n_probe`` are searched. Both trade recall for speed; measure it with
        :func:`recall_against_exact`.
    m, ef_construction, ef_search, n_lists, n_probe : int
    block_rows : int
        Query rows per block of the exact search (bounds its memory).

    Attributes
    ----------
    n_ : int   indexed vectors; ``d_`` their dimension.
    """

    def __init__(self, method: str = "exact", *, m: int = 32, ef_construction: int = 80, ef_search: int = 64,
                 n_lists: int | None = None, n_probe: int = 8, block_rows: int = 1024):
        self.method = method
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.block_rows = block_rows

    def fit(self, embeddings) -> "VectorIndex":
        check_option(self.method, METHODS, "method")
        self._block_rows = check_scalar(self.block_rows, "block_rows", integer=True, low=1)
        X = np.ascontiguousarray(check_array(embeddings, "embeddings", max_abs=MAX_ABS), dtype=np.float32)
        self.n_, self.d_ = X.shape
        if self.method == "exact":
            self._X = X
            return self
        try:
            import faiss
        except ImportError:
            raise ImportError("approximate search needs FAISS: pip install faiss-cpu "
                              "(or 'frugalml[scale]')") from None
        if self.method == "hnsw":
            index = faiss.IndexHNSWFlat(self.d_, check_scalar(self.m, "m", integer=True, low=2),
                                        faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = check_scalar(self.ef_construction, "ef_construction", integer=True, low=1)
            index.hnsw.efSearch = check_scalar(self.ef_search, "ef_search", integer=True, low=1)
        else:
            # default: ~4 sqrt(n) cells, never more cells than vectors (a tiny corpus gets one vector per cell)
            n_lists = self.n_lists or min(self.n_, max(1, int(round(4 * np.sqrt(self.n_)))))
            n_lists = check_scalar(n_lists, "n_lists", integer=True, low=1, high=self.n_)
            quantizer = faiss.IndexFlatIP(self.d_)
            index = faiss.IndexIVFFlat(quantizer, self.d_, n_lists, faiss.METRIC_INNER_PRODUCT)
            index.train(X)
            index.nprobe = check_scalar(self.n_probe, "n_probe", integer=True, low=1)
            self._quantizer = quantizer            # FAISS does not own it: keep it alive
        index.add(X)
        self._index = index
        self._faiss = faiss
        return self

    def search(self, queries, k: int = 10):
        """``(scores, ids)``, each (n_queries, k), best first; ids index the fitted embeddings."""
        if not hasattr(self, "n_"):
            raise ValueError("this VectorIndex is not fitted yet: call fit(embeddings) first")
        Q = np.ascontiguousarray(check_array(queries, "queries", ndim=2, max_abs=MAX_ABS), dtype=np.float32)
        if Q.shape[1] != self.d_:
            raise ValueError(f"queries have {Q.shape[1]} columns but the index holds {self.d_}-d vectors")
        k = check_scalar(k, "k", integer=True, low=1, high=self.n_)
        if self.method != "exact":
            return self._search_approx(Q, k)
        return self._search_exact(Q, k)

    def _search_approx(self, Q, k):
        """FAISS search that always returns ``k`` real ids per query.

        FAISS pads with id -1 (score -3.4e38) when the search sees fewer than ``k`` vectors: an
        HNSW search with ``efSearch < k``, or IVF cells probed holding fewer than ``k`` vectors
        (default settings on 1,000 vectors, k=100). Used as an index, -1 picks the last document.
        Here HNSW searches with ``efSearch >= k``, and queries still short are searched again
        with twice the IVF probes (up to every cell, which is exhaustive) or, for HNSW, exactly.
        """
        if self.method == "hnsw":
            self._index.hnsw.efSearch = max(int(self.ef_search), k)
        scores, ids = self._index.search(Q, k)
        ids = ids.astype(np.int64)
        short = np.flatnonzero((ids < 0).any(axis=1))
        if self.method == "ivf":
            nprobe = self._index.nprobe
            while short.size and nprobe < self._index.nlist:
                nprobe = min(2 * nprobe, self._index.nlist)
                params = self._faiss.SearchParametersIVF(nprobe=nprobe)
                s2, i2 = self._index.search(Q[short], k, params=params)
                scores[short], ids[short] = s2, i2.astype(np.int64)
                short = short[(ids[short] < 0).any(axis=1)]
        if short.size:  # a disconnected HNSW graph: exact search for those queries
            scores[short], ids[short] = self._search_exact(Q[short], k, self._index.reconstruct_n(0, self.n_))
        self.n_short_queries_ = int(short.size)
        return scores, ids

    def _search_exact(self, Q, k, X=None):
        X = self._X if X is None else X
        block_rows = getattr(self, "_block_rows", 1024)
        scores = np.empty((len(Q), k), np.float32)
        ids = np.empty((len(Q), k), np.int64)
        for s in range(0, len(Q), block_rows):
            S = Q[s:s + block_rows] @ X.T                                   # (b, n)
            top = np.argpartition(-S, k - 1, axis=1)[:, :k]                 # (b, k) unordered
            order = np.argsort(-np.take_along_axis(S, top, 1), axis=1, kind="stable")
            ids[s:s + len(S)] = np.take_along_axis(top, order, 1)
            scores[s:s + len(S)] = np.take_along_axis(S, ids[s:s + len(S)], 1)
        return scores, ids


def _check_ids(ids, name):
    """(n_queries, k) integer ids, as :meth:`VectorIndex.search` returns them."""
    arr = check_array(ids, name, ndim=2, dtype=None)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer ids (n_queries, k); got dtype {arr.dtype}")
    return arr


def recall_against_exact(approx_ids, exact_ids, k: int | None = None) -> float:
    """Mean over queries of ``|approx top-k & exact top-k| / k`` (the ANN literature's recall@k)."""
    approx_ids, exact_ids = _check_ids(approx_ids, "approx_ids"), _check_ids(exact_ids, "exact_ids")
    if approx_ids.shape[0] != exact_ids.shape[0]:
        raise ValueError(f"approx_ids has {approx_ids.shape[0]} rows but exact_ids has {exact_ids.shape[0]}")
    k = exact_ids.shape[1] if k is None else check_scalar(k, "k", integer=True, low=1, high=exact_ids.shape[1])
    hits = [len(set(a[:k]) & set(e[:k])) for a, e in zip(approx_ids, exact_ids)]
    return float(np.mean(hits) / k)


__all__ = ["METHODS", "VectorIndex", "encode_texts", "recall_against_exact"]
