"""RARe: retrievers that use in-context examples (Tejaswi, Lee, Sanghavi, Choi, COLM 2025).

BEIR-format data (:func:`load_beir`, :func:`save_beir`), example selection
(:class:`ExampleRetriever`, BM25 from ``bm25s``), the query template (:func:`format_query`;
:func:`fit_query` fits it to the encoder's token limit without ever cutting the target query),
training on sentence-transformers' trainer (:func:`train_rare`), evaluation
(:func:`evaluate_retrieval`; metrics as plain functions :func:`ndcg_at_k`,
:func:`recall_at_k`, :func:`mrr_at_k`), offline tasks (:mod:`frugalml.retrieval.tasks`) and
the shipped base model (:func:`load_base_model`); for large corpora, multi-process encoding
(:func:`encode_texts`) and exact or approximate FAISS search (:class:`VectorIndex`);
:func:`use_query_pooling` pools RARe queries over their target query's tokens.
"""

from frugalml.retrieval.beir import BeirData, document_text, load_beir, save_beir
from frugalml.retrieval.evaluation import (
    RetrievalEvaluation,
    bm25_search,
    encode_corpus,
    evaluate_retrieval,
    fit_queries,
    score_run,
)
from frugalml.retrieval.examples import ExampleRetriever, FittedQuery, count_tokens, fit_query, format_query
from frugalml.retrieval.index import VectorIndex, encode_texts, recall_against_exact
from frugalml.retrieval.metrics import dcg, mrr_at_k, ndcg_at_k, recall_at_k
from frugalml.retrieval.models import base_model_path, load_base_model
from frugalml.retrieval.tasks import BUILDERS, RetrievalTask, build_task
from frugalml.retrieval.training import RareTrainResult, train_rare

__all__ = [
    "BUILDERS",
    "BeirData",
    "ExampleRetriever",
    "RareTrainResult",
    "RetrievalEvaluation",
    "RetrievalTask",
    "VectorIndex",
    "base_model_path",
    "bm25_search",
    "build_task",
    "dcg",
    "document_text",
    "encode_corpus",
    "encode_texts",
    "evaluate_retrieval",
    "fit_queries",
    "fit_query",
    "FittedQuery",
    "count_tokens",
    "format_query",
    "load_base_model",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_against_exact",
    "recall_at_k",
    "save_beir",
    "score_run",
    "train_rare",
    "use_query_pooling",
    "QueryTokenPooling",
]

_LAZY = {"use_query_pooling", "QueryTokenPooling"}  # import sentence-transformers only when used


def __getattr__(name):
    if name in _LAZY:
        from frugalml.retrieval import pooling

        return getattr(pooling, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
