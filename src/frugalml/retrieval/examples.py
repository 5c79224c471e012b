"""In-context examples for a retriever: pick them (:class:`ExampleRetriever`), format the query.

RARe (Tejaswi et al., 2025, Sec. 3) prepends ``k`` (query, positive document) pairs from
the task's example pool to each target query. The pairs are chosen by BM25 similarity of
their *queries* to the target query, the target itself is never one of them, and the most
similar pair sits right before the target query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frugalml._core import check_option, check_positive, check_random_state

METHODS = ("bm25", "embedding", "random")


def format_query(query: str, examples=(), instruction: str | None = None, *,
                 max_example_words: int | None = None) -> str:
    """The RARe query string (paper Sec. 3.1, Fig. 2).

    ``"Instruct: {instruction}\\nQuery: {q_1}\\nPositive Document: {d_1}\\n ... Query: {q}"``;
    with no examples it is the instruction-only query ``"Instruct: ...\\nQuery: {q}"`` and with
    no instruction either, the bare ``"Query: {q}"`` lines.

    Parameters
    ----------
    query : str
        The target query.
    examples : sequence of (str, str)
        ``(example_query, example_document)`` pairs in the order they are written; put the
        most similar last (as :meth:`ExampleRetriever.retrieve` returns them).
    instruction : str, optional
        The task instruction.
    max_example_words : int, optional
        Keep only the first words of each example document so that a length-limited encoder
        does not truncate away the target query at the end.
    """
    if not isinstance(query, str):
        raise ValueError(f"query must be a str; got {type(query).__name__}")
    if max_example_words is not None:
        check_positive(max_example_words, "max_example_words", integer=True)
    lines = [f"Instruct: {instruction}"] if instruction else []
    for pair in examples:
        if len(pair) != 2:
            raise ValueError(f"each example must be a (query, document) pair; got {pair!r}")
        q, d = pair
        if not isinstance(q, str) or not isinstance(d, str):
            raise ValueError(f"each example must be a (query, document) pair of str; got {pair!r}"[:200])
        if max_example_words is not None:
            d = " ".join(d.split()[:max_example_words])
        lines += [f"Query: {q}", f"Positive Document: {d}"]
    lines.append(f"Query: {query}")
    return "\n".join(lines)


@dataclass
class _Pool:
    queries: list
    documents: list


class ExampleRetriever:
    """The ``k`` pool examples most similar to a query, as (query, document) pairs.

    Parameters
    ----------
    pool_queries, pool_documents : sequence of str
        The example pool (RARe: the task's training queries and each one's top-graded
        positive document), aligned.
    k : int
        Examples per query.
    method : {"bm25", "embedding", "random"}
        ``"bm25"`` ranks pool *queries* by BM25 (``bm25s``, English stop words removed), as
        the paper; ``"embedding"`` by cosine similarity under ``model``; ``"random"`` draws
        ``k`` pool entries uniformly (the paper's random-example ablation).
    model : SentenceTransformer, optional
        Needed for ``method="embedding"``.
    random_state : int or numpy Generator, optional
        For ``method="random"`` and to break all-zero BM25 ties.

    Notes
    -----
    A pool entry whose query text equals the target query (or whose index is passed as
    ``exclude``) is never returned, so a training query never sees its own answer. The
    returned list is ordered least to most similar: the most similar example sits next to
    the target query in :func:`format_query`.
    """

    def __init__(self, pool_queries, pool_documents, k: int = 5, method: str = "bm25", *, model=None,
                 random_state=None):
        self.pool_queries = list(pool_queries)
        self.pool_documents = list(pool_documents)
        self.k = k
        self.method = method
        self.model = model
        self.random_state = random_state
        for name, texts in (("pool_queries", self.pool_queries), ("pool_documents", self.pool_documents)):
            bad = next((t for t in texts if not isinstance(t, str)), None)
            if bad is not None:
                raise ValueError(f"{name} must hold str; got {type(bad).__name__} {bad!r}"[:200])
        if len(self.pool_queries) != len(self.pool_documents):
            raise ValueError(f"pool_queries ({len(self.pool_queries)}) and pool_documents "
                             f"({len(self.pool_documents)}) must have the same length")
        check_positive(k, "k", integer=True)
        check_option(method, METHODS, "method")
        if k >= len(self.pool_queries):
            raise ValueError(f"k={k} needs a pool of at least k + 1 examples (the query itself is excluded); "
                             f"got {len(self.pool_queries)}")
        if method == "embedding" and model is None:
            raise ValueError("method='embedding' needs model= (a SentenceTransformer)")
        self._rng = check_random_state(random_state)
        self._index = {}
        for i, q in enumerate(self.pool_queries):
            self._index.setdefault(q.strip(), []).append(i)
        if method == "bm25":
            import bm25s

            self._bm25 = bm25s.BM25()
            self._bm25.index(bm25s.tokenize(self.pool_queries, stopwords="en", show_progress=False),
                             show_progress=False)
        elif method == "embedding":
            self._emb = np.asarray(model.encode(self.pool_queries, normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False))

    def _banned(self, query, exclude):
        banned = set(self._index.get(query.strip(), []))
        if exclude is not None:
            banned.update([exclude] if np.isscalar(exclude) else exclude)
        return banned

    def _scores(self, queries):
        """(n_queries, n_pool) similarity scores."""
        n = len(self.pool_queries)
        if self.method == "random":
            return self._rng.random((len(queries), n))
        if self.method == "embedding":
            q = np.asarray(self.model.encode(list(queries), normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=False))
            return q @ self._emb.T
        import bm25s

        tokens = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
        docs, scores = self._bm25.retrieve(tokens, k=n, show_progress=False, n_threads=1)
        out = np.zeros((len(queries), n))
        np.put_along_axis(out, np.asarray(docs), np.asarray(scores, dtype=np.float64), axis=1)
        # a tiny random tie-breaker: queries sharing no term with the pool get random examples
        return out + 1e-9 * self._rng.random(out.shape)

    def retrieve_many(self, queries, exclude=None) -> list:
        """:meth:`retrieve` for a list of queries (``exclude``: one pool index or None per query)."""
        queries = list(queries)
        if exclude is None:
            exclude = [None] * len(queries)
        if len(exclude) != len(queries):
            raise ValueError(f"exclude has {len(exclude)} entries for {len(queries)} queries")
        scores = self._scores(queries)
        out = []
        for row, q, ex in zip(scores, queries, exclude):
            banned = self._banned(q, ex)
            if len(banned) > len(row) - self.k:
                raise ValueError(f"only {len(row) - len(banned)} pool examples remain for query {q!r}; k={self.k}")
            order = [i for i in np.argsort(-row, kind="stable") if i not in banned][: self.k]
            out.append([(self.pool_queries[i], self.pool_documents[i]) for i in reversed(order)])
        return out

    def retrieve(self, query: str, exclude=None) -> list:
        """The ``k`` most similar pool examples as ``(query, document)`` pairs, most similar last.

        ``exclude``: a pool index (or indices) never to return, e.g. the query's own entry.
        """
        if not isinstance(query, str):
            raise ValueError(f"query must be a str; got {type(query).__name__}")
        return self.retrieve_many([query], [exclude])[0]
