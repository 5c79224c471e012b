"""Ranking metrics on BEIR-style dicts, one value per query.

``qrels`` is ``{qid: {docid: grade}}`` (grades are non-negative integers; a grade > 0 is
relevant) and ``run`` is ``{qid: {docid: score}}`` (higher is better). Every function
returns ``{qid: value}`` for each query of ``qrels`` that has at least one relevant
document; a query missing from ``run`` scores 0 (a retriever that returned nothing).

Ranking follows ``trec_eval``: documents sorted by score, descending, ties broken by
document id, descending, so the values agree with ``pytrec_eval`` on the same input.
"""

from __future__ import annotations

import math

import numpy as np

from frugalml._core import check_option, check_positive


def _ranked(scores: dict) -> list:
    """Document ids of one query's run, best first (ties: larger docid first, as trec_eval)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _check(qrels, run, k):
    if not isinstance(qrels, dict) or not isinstance(run, dict):
        raise ValueError("qrels and run must be dicts {qid: {docid: grade/score}}; "
                         f"got {type(qrels).__name__} and {type(run).__name__}")
    if k is not None:
        check_positive(k, "k", integer=True)
    for qid, rels in qrels.items():
        for docid, grade in rels.items():
            if not isinstance(grade, (int, np.integer)) or grade < 0:
                raise ValueError(f"qrels[{qid!r}][{docid!r}] must be a non-negative integer grade; got {grade!r}")


def _judged(qrels):
    return {qid: rels for qid, rels in qrels.items() if any(g > 0 for g in rels.values())}


def dcg(grades, gains: str = "exponential") -> float:
    """Discounted cumulative gain of grades in rank order: ``sum_i gain(g_i) / log2(i + 1)``.

    ``gains="exponential"`` uses ``2**g - 1`` (Burges et al., 2005; BEIR papers' nDCG with
    binary labels is the same); ``"linear"`` uses ``g`` (``trec_eval`` / ``pytrec_eval``).
    """
    check_option(gains, ("exponential", "linear"), "gains")
    g = np.asarray(list(grades), dtype=np.float64)
    if g.size == 0:
        return 0.0
    gain = np.power(2.0, g) - 1.0 if gains == "exponential" else g
    return float(np.sum(gain / np.log2(np.arange(2, g.size + 2))))


def ndcg_at_k(qrels: dict, run: dict, k: int, *, gains: str = "exponential") -> dict:
    """nDCG@k per query: DCG of the top ``k`` of the run over the ideal DCG from ``qrels``.

    The ideal ranking sorts all judged grades of the query (from ``qrels``, not the run),
    so a run that misses a relevant document cannot reach 1.
    """
    _check(qrels, run, k)
    out = {}
    for qid, rels in _judged(qrels).items():
        ranked = _ranked(run.get(qid, {}))[:k]
        ideal = dcg(sorted(rels.values(), reverse=True)[:k], gains)
        out[qid] = dcg([rels.get(d, 0) for d in ranked], gains) / ideal
    return out


def recall_at_k(qrels: dict, run: dict, k: int) -> dict:
    """Fraction of the query's relevant documents (grade > 0) found in the top ``k``."""
    _check(qrels, run, k)
    out = {}
    for qid, rels in _judged(qrels).items():
        relevant = {d for d, g in rels.items() if g > 0}
        top = set(_ranked(run.get(qid, {}))[:k])
        out[qid] = len(relevant & top) / len(relevant)
    return out


def mrr_at_k(qrels: dict, run: dict, k: int | None = None) -> dict:
    """Reciprocal rank of the first relevant document within the top ``k`` (all if ``None``)."""
    _check(qrels, run, k)
    out = {}
    for qid, rels in _judged(qrels).items():
        ranked = _ranked(run.get(qid, {}))
        if k is not None:
            ranked = ranked[:k]
        out[qid] = next((1.0 / (i + 1) for i, d in enumerate(ranked) if rels.get(d, 0) > 0), 0.0)
    return out


def mean(per_query: dict) -> float:
    """Average of a ``{qid: value}`` dict (NaN when empty)."""
    return float(np.mean(list(per_query.values()))) if per_query else math.nan
