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
from frugalml._core.validation import check_array


def _ranked(scores: dict) -> list:
    """Document ids of one query's run, best first (ties: larger docid first, as trec_eval)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _types(keys) -> set:
    return {"str" if isinstance(k, str) else "int" if isinstance(k, (int, np.integer)) else type(k).__name__
            for k in keys}


def _check(qrels, run, k):
    if not isinstance(qrels, dict) or not isinstance(run, dict):
        raise ValueError("qrels and run must be dicts {qid: {docid: grade/score}}; "
                         f"got {type(qrels).__name__} and {type(run).__name__}")
    if k is not None:
        check_positive(k, "k", integer=True)
    for qid, rels in qrels.items():
        if not isinstance(rels, dict):
            raise ValueError(f"qrels[{qid!r}] must be a dict {{docid: grade}}; got {type(rels).__name__}")
        for docid, grade in rels.items():
            if not isinstance(grade, (int, np.integer)) or isinstance(grade, (bool, np.bool_)) or grade < 0:
                raise ValueError(f"qrels[{qid!r}][{docid!r}] must be a non-negative integer grade; got {grade!r}")
    if not _judged_or_empty(qrels):
        raise ValueError("qrels judges no query with a relevant document (grade > 0): there is nothing to score "
                         f"({len(qrels)} query id(s) in qrels)")
    for qid, scores in run.items():
        if not isinstance(scores, dict):
            raise ValueError(f"run[{qid!r}] must be a dict {{docid: score}}; got {type(scores).__name__}")
        for docid, score in scores.items():
            if isinstance(score, (bool, np.bool_)) or not isinstance(score, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(score):
                raise ValueError(f"run[{qid!r}][{docid!r}] must be a finite number (higher is better); got {score!r}")
    # ids are compared exactly: 1 != "1". A run whose ids are all of another type than the qrels'
    # would score 0 everywhere without a word.
    q_run, q_rel = _types(run), _types(qrels)
    if run and q_run.isdisjoint(q_rel):
        raise ValueError(f"run's query ids are {'/'.join(sorted(q_run))} but qrels' are {'/'.join(sorted(q_rel))}; "
                         "ids are compared exactly (1 != '1'): convert them to one type")
    d_run = _types(d for scores in run.values() for d in scores)
    d_rel = _types(d for rels in qrels.values() for d in rels)
    if d_run and d_rel and d_run.isdisjoint(d_rel):
        raise ValueError(f"run's document ids are {'/'.join(sorted(d_run))} but qrels' are "
                         f"{'/'.join(sorted(d_rel))}; ids are compared exactly (1 != '1'): convert them to one type")


def _judged_or_empty(qrels) -> bool:
    return any(isinstance(rels, dict) and any(isinstance(g, (int, np.integer)) and g > 0 for g in rels.values())
               for rels in qrels.values())


def _judged(qrels):
    return {qid: rels for qid, rels in qrels.items() if any(g > 0 for g in rels.values())}


def dcg(grades, gains: str = "exponential") -> float:
    """Discounted cumulative gain of grades in rank order: ``sum_i gain(g_i) / log2(i + 1)``.

    ``gains="exponential"`` uses ``2**g - 1`` (Burges et al., 2005; BEIR papers' nDCG with
    binary labels is the same); ``"linear"`` uses ``g`` (``trec_eval`` / ``pytrec_eval``).
    """
    check_option(gains, ("exponential", "linear"), "gains")
    g = check_array(list(grades), "grades", ndim=1, min_samples=0)  # finite, real
    if g.size and g.min() < 0:
        raise ValueError(f"grades must be non-negative relevance grades; got {g.min():g}")
    if g.size and gains == "exponential" and g.max() > _MAX_EXP_GRADE:
        raise ValueError(f"grades up to {g.max():g}: the exponential gain 2**g - 1 overflows above "
                         f"{_MAX_EXP_GRADE}; use gains='linear' (ndcg_at_k handles such grades by scaling)")
    return _dcg(g, gains)


_MAX_EXP_GRADE = 1000  # 2**1023 is the largest power of two in float64; the margin leaves room for the sum


def _dcg(g: np.ndarray, gains: str, shift: float = 0.0) -> float:
    """DCG of grades ``g`` with exponential gains scaled by ``2**-shift`` (ratios unchanged, no overflow)."""
    if g.size == 0:
        return 0.0
    gain = (np.power(2.0, g - shift) - np.power(2.0, -shift)) if gains == "exponential" else g
    return float(np.sum(gain / np.log2(np.arange(2, g.size + 2))))


def ndcg_at_k(qrels: dict, run: dict, k: int, *, gains: str = "exponential") -> dict:
    """nDCG@k per query: DCG of the top ``k`` of the run over the ideal DCG from ``qrels``.

    The ideal ranking sorts all judged grades of the query (from ``qrels``, not the run),
    so a run that misses a relevant document cannot reach 1.
    """
    _check(qrels, run, k)
    check_option(gains, ("exponential", "linear"), "gains")
    out = {}
    for qid, rels in _judged(qrels).items():
        ranked = _ranked(run.get(qid, {}))[:k]
        best = np.asarray(sorted(rels.values(), reverse=True)[:k], dtype=np.float64)
        # both DCGs scaled by 2**-max_grade: a grade of 1,100 no longer overflows (inf / inf = NaN)
        shift = float(best[0]) if gains == "exponential" and best[0] > _MAX_EXP_GRADE else 0.0
        ideal = _dcg(best, gains, shift)
        out[qid] = _dcg(np.asarray([rels.get(d, 0) for d in ranked], dtype=np.float64), gains, shift) / ideal
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
    """Average of a ``{qid: value}`` dict (NaN when empty: the metric functions refuse qrels that judge nothing)."""
    return float(np.mean(list(per_query.values()))) if per_query else math.nan
