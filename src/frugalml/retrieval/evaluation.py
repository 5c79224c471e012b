"""Retrieval evaluation: dense search with a sentence-transformers model, BM25, metrics.

Documents are encoded alone (no instruction, no examples), queries as
:func:`~frugalml.retrieval.examples.format_query` writes them (RARe Sec. 3.1), fitted to the
encoder's token limit by :func:`~frugalml.retrieval.examples.fit_query` so that the target
query, which comes last, is never truncated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from frugalml._core import check_positive
from frugalml._core.validation import check_array, check_scalar
from frugalml.retrieval.beir import document_text
from frugalml.retrieval.examples import ExampleRetriever, FittedQuery, count_tokens, fit_query, format_query
from frugalml.retrieval.metrics import mean, mrr_at_k, ndcg_at_k, recall_at_k


@dataclass
class RetrievalEvaluation:
    """What :func:`evaluate_retrieval` measured.

    Attributes
    ----------
    metrics : dict
        Flat ``{"ndcg@10": ..., "recall@10": ..., "mrr@10": ..., "query_ms": ...}``; the
        primary metric is ``"ndcg@10"``. ``query_ms`` is the wall time to encode the
        queries divided by their number (batched, as a search service would),
        ``example_ms`` the time to pick the examples per query, ``query_tokens`` the mean
        query length in tokens the encoder sees, and the other token statistics of
        :func:`fit_queries` (``query_tokens_full`` before fitting, ``examples_kept``, ...).
        Queries with examples are fitted to ``model.max_seq_length`` by :func:`fit_query`:
        least similar examples give way, the target query is never cut.
    per_query : dict
        ``{metric: {qid: value}}`` for paired comparisons between systems.
    run : dict
        ``{qid: {docid: score}}``, the top ``max(k_values)`` documents per query.
    """

    metrics: dict
    per_query: dict
    run: dict = field(repr=False)
    primary_metric: str = "ndcg@10"

    def __getitem__(self, key):
        return self.metrics[key]


def _check_k_values(k_values) -> tuple:
    """A non-empty 1-D sequence of positive integer cut-offs."""
    ks = check_array(k_values, "k_values", ndim=1, dtype=None)
    return tuple(check_positive(k, "k_values", integer=True) for k in ks)


def score_run(qrels: dict, run: dict, k_values=(1, 10, 100)) -> tuple[dict, dict]:
    """Mean nDCG@k, recall@k and MRR@k of a run, and the per-query values."""
    k_values = _check_k_values(k_values)
    per_query = {}
    for k in k_values:
        per_query[f"ndcg@{k}"] = ndcg_at_k(qrels, run, k)
        per_query[f"recall@{k}"] = recall_at_k(qrels, run, k)
        per_query[f"mrr@{k}"] = mrr_at_k(qrels, run, k)
    return {m: mean(v) for m, v in per_query.items()}, per_query


def encode_corpus(model, corpus: dict, *, batch_size: int = 64, processes=None):
    """``(docids, embeddings)`` of a BEIR corpus, L2-normalised (``title + " " + text``).

    ``processes``: encode on N CPU worker processes (an int) or on a list of devices, with
    sentence-transformers' multi-process pool (see :func:`frugalml.retrieval.index.encode_texts`).
    """
    from frugalml.retrieval.index import encode_texts

    ids = list(corpus)
    return ids, encode_texts(model, [document_text(corpus[d]) for d in ids], batch_size=batch_size,
                             processes=processes)


def _top_k(scores: np.ndarray, ids, qids, k):
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return {q: {ids[j]: float(row[j]) for j in cand} for q, row, cand in zip(qids, scores, part)}


def bm25_search(corpus: dict, queries: dict, k: int = 100) -> dict:
    """BM25 (``bm25s``, Lucene variant, English stop words) over ``title + " " + text``."""
    import bm25s

    check_positive(k, "k", integer=True)
    ids = list(corpus)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([document_text(corpus[d]) for d in ids], stopwords="en", show_progress=False),
                    show_progress=False)
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", return_ids=False, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False, n_threads=1)
    return {q: {ids[j]: float(s) for j, s in zip(drow, srow)} for q, drow, srow in zip(qids, docs, scores)}


def format_queries(queries: dict, *, instruction=None, examples=None, max_example_words=None,
                   exclude_self: dict | None = None, _pairs: bool = False) -> tuple[dict, float]:
    """Formatted query strings and the example-selection time per query (ms).

    ``examples`` is None, an :class:`ExampleRetriever` (called on the raw query text), or
    ``{qid: [(query, document), ...]}``; ``exclude_self`` maps a qid to its pool index.
    """
    qids = list(queries)
    t0 = time.perf_counter()
    if examples is None:
        ex = [()] * len(qids)
    elif isinstance(examples, ExampleRetriever):
        excl = [exclude_self.get(q) for q in qids] if exclude_self else None
        ex = examples.retrieve_many([queries[q] for q in qids], excl)
    elif isinstance(examples, dict):
        missing = [q for q in qids if q not in examples]
        if missing:
            raise ValueError(f"examples has no entry for {len(missing)} query id(s), e.g. {missing[0]!r}")
        ex = [examples[q] for q in qids]
    else:
        raise ValueError(f"examples must be None, an ExampleRetriever or a dict; got {type(examples).__name__}")
    example_ms = 1000 * (time.perf_counter() - t0) / max(len(qids), 1) if examples is not None else 0.0
    if _pairs:  # (target query, examples) per qid, for fit_queries
        return {q: (queries[q], e) for q, e in zip(qids, ex)}, example_ms
    if instruction is None and examples is None:
        return dict(queries), example_ms
    return ({q: format_query(queries[q], e, instruction, max_example_words=max_example_words)
             for q, e in zip(qids, ex)}, example_ms)


def fit_queries(queries: dict, *, tokenizer, max_length: int, instruction=None, examples=None,
                max_example_words=None, exclude_self: dict | None = None) -> tuple[dict, float, dict]:
    """:func:`format_queries` with every query fitted to ``max_length`` tokens (:func:`fit_query`).

    Returns the query strings, the example-selection time per query (ms) and the token
    statistics: ``query_tokens_full`` (mean tokens before fitting, i.e. untruncated),
    ``query_tokens_full_max``, ``query_tokens`` (mean tokens the encoder sees),
    ``examples_given`` and ``examples_kept`` (mean per query), ``examples_trimmed`` (fraction
    of queries with one example document shortened) and ``target_truncated`` (fraction of
    queries whose instruction + target alone exceed the limit, so the encoder still cuts them).
    """
    texts, example_ms = format_queries(queries, instruction=None, examples=examples, exclude_self=exclude_self,
                                       max_example_words=None, _pairs=True)
    fitted = [fit_query(q, ex, instruction, tokenizer=tokenizer, max_length=max_length,
                        max_example_words=max_example_words) if (ex or instruction) else None
              for q, ex in texts.values()]
    raw = [q for (q, ex), f in zip(texts.values(), fitted) if f is None]
    raw_n = iter(count_tokens(tokenizer, raw)) if raw else iter(())
    out, full, enc, given, kept, trimmed, cut = {}, [], [], [], [], [], []
    for qid, (q, _ex), f in zip(texts, texts.values(), fitted):
        if f is None:
            n = next(raw_n)
            f = FittedQuery(q, n, min(n, max_length), 0, 0, 0, n <= max_length)
        out[qid] = f.text
        full.append(f.n_tokens_full)
        enc.append(f.n_tokens)
        given.append(f.n_examples_given)
        kept.append(f.n_examples)
        trimmed.append(f.n_trimmed)
        cut.append(not f.target_intact)
    stats = {"query_tokens_full": float(np.mean(full)), "query_tokens_full_max": int(np.max(full)),
             "query_tokens": float(np.mean(enc)), "query_tokens_max": int(np.max(enc)),
             "examples_given": float(np.mean(given)), "examples_kept": float(np.mean(kept)),
             "examples_trimmed": float(np.mean(trimmed)), "target_truncated": float(np.mean(cut)),
             "max_length": int(max_length)}
    return out, example_ms, stats


def _check_corpus_embeddings(ids, demb, corpus):
    """``corpus_embeddings`` as ``encode_corpus`` returns it: one row per id, the ids those of ``corpus``."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise ValueError(f"corpus_embeddings must be (ids, embeddings) as encode_corpus returns; ids is {type(ids).__name__}")
    demb = check_array(demb, "corpus_embeddings", ndim=2, dtype=np.float32)
    ids = list(ids)
    if len(ids) != demb.shape[0]:
        raise ValueError(f"corpus_embeddings: {len(ids)} ids but {demb.shape[0]} embedding rows; they must match "
                         "(encode_corpus(model, corpus) gives both)")
    if len(set(ids)) != len(ids):
        raise ValueError("corpus_embeddings: the ids hold duplicates")
    unknown = [d for d in ids if d not in corpus]
    if unknown:
        raise ValueError(f"corpus_embeddings: {len(unknown)} id(s) are not in corpus, e.g. {unknown[0]!r}")
    if len(ids) != len(corpus):
        raise ValueError(f"corpus_embeddings covers {len(ids)} of the {len(corpus)} corpus documents; "
                         "encode the whole corpus (encode_corpus(model, corpus))")
    return ids, demb


def evaluate_retrieval(model, corpus: dict, queries: dict, qrels: dict, *, instruction: str | None = None,
                       examples=None, k_values=(1, 10, 100), batch_size: int = 32, max_example_words=None,
                       corpus_embeddings=None) -> RetrievalEvaluation:
    """Dense retrieval with ``model`` over ``corpus``, scored against ``qrels``.

    Parameters
    ----------
    model : SentenceTransformer
        Encodes queries and documents; cosine similarity ranks.
    corpus, queries, qrels : dict
        BEIR dicts (see :func:`frugalml.retrieval.load_beir`).
    instruction : str, optional
        Task instruction; with it (or with examples) queries are written by
        :func:`format_query`, without both they are encoded raw.
    examples : ExampleRetriever or dict, optional
        In-context examples per query (RARe); ``None`` for none.
    k_values : tuple of int
        Cut-offs for nDCG@k, recall@k and MRR@k.
    corpus_embeddings : (ids, array), optional
        Reuse :func:`encode_corpus` output across calls with the same model.
    """
    if not queries:
        raise ValueError("queries is empty")
    k_values = _check_k_values(k_values)
    batch_size = check_scalar(batch_size, "batch_size", integer=True, low=1)
    ids, demb = corpus_embeddings if corpus_embeddings is not None else encode_corpus(model, corpus,
                                                                                       batch_size=2 * batch_size)
    ids, demb = _check_corpus_embeddings(ids, demb, corpus)
    max_length = getattr(model, "max_seq_length", None)
    texts, example_ms, token_stats = fit_queries(queries, tokenizer=model.tokenizer, max_length=max_length or 10**9,
                                                 instruction=instruction, examples=examples,
                                                 max_example_words=max_example_words)
    qids = list(texts)
    t0 = time.perf_counter()
    qemb = model.encode([texts[q] for q in qids], batch_size=batch_size, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)
    query_ms = 1000 * (time.perf_counter() - t0) / len(qids)
    run = _top_k(np.asarray(qemb, dtype=np.float32) @ demb.T, ids, qids, max(k_values))
    metrics, per_query = score_run(qrels, run, k_values)
    metrics.update(query_ms=query_ms, example_ms=example_ms, n_queries=len(qids), **token_stats)
    return RetrievalEvaluation(metrics, per_query, run)
