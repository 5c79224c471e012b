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


def _check_examples(examples) -> list:
    """``examples`` as a list of ``(query, document)`` str pairs, or a ValueError naming it."""
    if examples is None:
        return []
    if isinstance(examples, (str, bytes)):
        raise ValueError(f"examples must be a sequence of (query, document) pairs, not a string; got {examples!r}"[:200])
    out = []
    for pair in examples:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(f"examples: each example must be a (query, document) pair; got {pair!r}"[:200])
        q, d = pair
        if not isinstance(q, str) or not isinstance(d, str):
            raise ValueError(f"examples: each example must be a (query, document) pair of str; got {pair!r}"[:200])
        out.append((q, d))
    return out


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
    if instruction is not None and not isinstance(instruction, str):
        raise ValueError(f"instruction must be a str or None; got {type(instruction).__name__}")
    lines = [f"Instruct: {instruction}"] if instruction else []
    for q, d in _check_examples(examples):
        if max_example_words is not None:
            d = " ".join(d.split()[:max_example_words])
        lines += [f"Query: {q}", f"Positive Document: {d}"]
    lines.append(f"Query: {query}")
    return "\n".join(lines)


@dataclass
class FittedQuery:
    """A RARe query fitted to an encoder's token limit by :func:`fit_query`.

    Attributes
    ----------
    text : str
        The query string to encode: at most ``max_length`` tokens whenever ``target_intact``.
    n_tokens_full : int
        Tokens (special tokens included) of the query with every example, before fitting:
        what a plain right-truncating encoder would have been given.
    n_tokens : int
        Tokens the encoder sees (``min(len(text), max_length)``).
    n_examples, n_examples_given : int
        Examples kept (whole or trimmed) and examples offered.
    n_trimmed : int
        Kept examples whose document was shortened to fit (0 or 1).
    target_intact : bool
        The target query (and the instruction) fit: nothing of them is cut. False only when
        the instruction and target query alone exceed ``max_length``.
    """

    text: str
    n_tokens_full: int
    n_tokens: int
    n_examples: int
    n_examples_given: int
    n_trimmed: int
    target_intact: bool


def count_tokens(tokenizer, texts) -> list:
    """Token counts of ``texts`` with the tokenizer's special tokens and no truncation."""
    enc = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in enc["input_ids"]]


def fit_query(query: str, examples=(), instruction: str | None = None, *, tokenizer, max_length: int,
              max_example_words: int | None = None, min_example_words: int = 4) -> FittedQuery:
    """:func:`format_query`, fitted so that the target query is never truncated.

    The target query sits last in the RARe template, so an encoder that truncates on the
    right cuts it first (and a query-token pooling would then pool an example's query).
    When the full string exceeds ``max_length`` tokens, examples give way, least similar
    first (``examples`` are ordered least to most similar, as :meth:`ExampleRetriever.retrieve`
    returns them): the least similar examples are dropped until the rest fit, then the last
    dropped one is put back with its document cut to the most words that still fit (at least
    ``min_example_words``; otherwise it stays out). The instruction and the target query are
    never changed; if they alone exceed ``max_length`` no example is kept and
    ``target_intact`` is False.

    Parameters
    ----------
    tokenizer : callable
        A Hugging Face tokenizer (``model.tokenizer`` of a sentence-transformers model).
    max_length : int
        The encoder's limit in tokens, special tokens included (``model.max_seq_length``).
    """
    max_length = check_positive(max_length, "max_length", integer=True)
    min_example_words = check_positive(min_example_words, "min_example_words", integer=True)
    if not callable(tokenizer):
        raise ValueError(f"tokenizer must be a callable tokenizer (model.tokenizer); got {type(tokenizer).__name__}")
    examples = _check_examples(examples)
    if max_example_words is not None:
        check_positive(max_example_words, "max_example_words", integer=True)
        examples = [(q, " ".join(d.split()[:max_example_words])) for q, d in examples]
    full = format_query(query, examples, instruction)
    n_full = count_tokens(tokenizer, [full])[0]
    if n_full <= max_length:
        return FittedQuery(full, n_full, n_full, len(examples), len(examples), 0, True)
    # drop the least similar examples until the rest fit
    texts = [format_query(query, examples[j:], instruction) for j in range(1, len(examples) + 1)]
    counts = count_tokens(tokenizer, texts)
    j = next((i + 1 for i, n in enumerate(counts) if n <= max_length), None)
    if j is None:  # the instruction and target alone are too long: keep them whole, the encoder cuts the end
        return FittedQuery(texts[-1], n_full, min(counts[-1], max_length), 0, len(examples), 0, False)
    kept, text, n_tok = examples[j:], texts[j - 1], counts[j - 1]
    # put the last dropped example back with its document trimmed to the most words that fit
    q_back, words = examples[j - 1][0], examples[j - 1][1].split()
    lo, hi, best = min_example_words, len(words) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        cand = format_query(query, [(q_back, " ".join(words[:mid]))] + kept, instruction)
        n = count_tokens(tokenizer, [cand])[0]
        if n <= max_length:
            best, lo = (cand, n), mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return FittedQuery(best[0], n_full, best[1], len(kept) + 1, len(examples), 1, True)
    return FittedQuery(text, n_full, n_tok, len(kept), len(examples), 0, True)


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
        for name, texts in (("pool_queries", pool_queries), ("pool_documents", pool_documents)):
            if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
                raise ValueError(f"{name} must be a sequence of str, not {type(texts).__name__}")
        self.pool_queries = list(pool_queries)
        self.pool_documents = list(pool_documents)
        self.k = k
        self.method = method
        self.model = model
        self.random_state = random_state
        for name, texts in (("pool_queries", self.pool_queries), ("pool_documents", self.pool_documents)):
            bad = [t for t in texts if not isinstance(t, str)][:1]  # (a None entry is the bad one)
            if bad:
                raise ValueError(f"{name} must hold str; got {type(bad[0]).__name__} {bad[0]!r}"[:200])
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

            tokens = bm25s.tokenize(self.pool_queries, stopwords="en", show_progress=False)
            if not tokens.vocab:
                raise ValueError("pool_queries: no pool query has a word other than an English stop word (all "
                                 "empty or stop words), so BM25 has nothing to index; use method='random' or "
                                 "'embedding', or a pool with content words")
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokens, show_progress=False)
        elif method == "embedding":
            self._emb = np.asarray(model.encode(self.pool_queries, normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False))

    def _banned(self, query, exclude):
        banned = set(self._index.get(query.strip(), []))
        if exclude is not None:
            items = [exclude] if np.isscalar(exclude) else list(exclude)
            n = len(self.pool_queries)
            for i in items:
                if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < n:
                    raise ValueError(f"exclude must hold pool indices in [0, {n}) (ints); got {i!r}"[:200])
            banned.update(int(i) for i in items)
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
        if isinstance(queries, (str, bytes)):
            raise ValueError("queries must be a sequence of str, not one string (use retrieve for one query)")
        queries = list(queries)
        bad = [q for q in queries if not isinstance(q, str)][:1]
        if bad:
            raise ValueError(f"queries must hold str; got {type(bad[0]).__name__} {bad[0]!r}"[:200])
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
