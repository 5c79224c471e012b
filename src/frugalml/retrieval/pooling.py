"""Pool a RARe query over its target query's tokens only.

A RARe query is ``"Instruct: ...\\nQuery: q_1\\nPositive Document: d_1 ... Query: q"``
(:func:`~frugalml.retrieval.format_query`). With plain mean pooling the embedding is mostly the
average of the examples' tokens, so the query lands near the examples' documents. The
retrievers of the paper do not pool that way: E5-Mistral takes the last token's state and
LLM2Vec mean-pools with the instruction tokens left out, so in both the examples reach the
embedding only through attention from the query's own tokens. :class:`QueryTokenPooling` does
the same for a mean-pooling encoder: rows that begin with ``Instruct:`` or ``Query:`` are
averaged over the tokens after their last ``Query:`` marker (the [SEP] token included); any
other row (a document) is averaged over all its tokens, as before.

:func:`use_query_pooling` swaps it into a loaded sentence-transformers model (and back). It is
our code, so a model saved with it in place reloads only with ``trust_remote_code=True``; swap
back (``use_query_pooling(model, False)``) before saving to keep a stock model, and swap in
again after loading.
"""

from __future__ import annotations

import torch

from frugalml._core.validation import check_bool

QUERY_MARKER = "Query:"
INSTRUCT_MARKER = "Instruct:"


def query_token_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, marker: list[int],
                     starts: list[list[int]]) -> torch.Tensor:
    """A copy of ``attention_mask`` with every token up to a query row's last ``marker`` zeroed.

    A row is a query row when its tokens, right after the first (the tokenizer's [CLS]) or from
    the very start, begin with one of ``starts``. A row whose mask would become empty (its
    target query truncated away) keeps its mask.
    """
    mask = attention_mask.clone()
    m = len(marker)
    for i, row in enumerate(input_ids.tolist()):
        if not any(row[k:k + len(s)] == s for s in starts for k in (0, 1)):
            continue
        hits = [p for p in range(len(row) - m + 1) if row[p:p + m] == marker]
        if not hits:
            continue
        keep = mask[i].clone()
        keep[: hits[-1] + m] = 0
        if keep.any():
            mask[i] = keep
    return mask


def _pooling_base():
    from sentence_transformers.sentence_transformer.modules import Pooling

    return Pooling


class QueryTokenPooling(_pooling_base()):
    """Mean pooling that averages a RARe query over its target query's tokens (module docstring)."""

    config_keys = ["embedding_dimension", "marker_ids", "start_ids"]

    def __init__(self, embedding_dimension: int, marker_ids: list[int], start_ids: list[list[int]]):
        super().__init__(embedding_dimension, pooling_mode="mean")
        if not marker_ids or not start_ids:
            raise ValueError("marker_ids and start_ids must be non-empty token id lists")
        self.marker_ids = [int(t) for t in marker_ids]
        self.start_ids = [[int(t) for t in s] for s in start_ids]

    def forward(self, features: dict, **kwargs) -> dict:
        mask = query_token_mask(features["input_ids"], features["attention_mask"], self.marker_ids, self.start_ids)
        pooled = super().forward({**features, "attention_mask": mask}, **kwargs)
        features["sentence_embedding"] = pooled["sentence_embedding"]
        return features


def use_query_pooling(model, enable: bool = True):
    """Swap ``model``'s mean ``Pooling`` module for :class:`QueryTokenPooling` (or back); returns ``model``.

    The model's tokenizer gives the marker ids, so the swap works for any sentence-transformers
    model whose pooling is plain mean pooling.
    """
    enable = check_bool(enable, "enable")
    Pooling = _pooling_base()
    idx = [i for i, mod in enumerate(model) if isinstance(mod, Pooling)]
    if len(idx) != 1:
        raise ValueError(f"the model must have exactly one Pooling module; found {len(idx)}")
    i, current = idx[0], model[idx[0]]
    if enable:
        if isinstance(current, QueryTokenPooling):
            return model
        if current.pooling_mode != "mean" or not current.include_prompt:
            raise ValueError(f"query pooling replaces plain mean pooling; this model pools with "
                             f"{current.pooling_mode!r} (include_prompt={current.include_prompt})")
        tok = model.tokenizer

        def ids(text):
            return tok(text, add_special_tokens=False)["input_ids"]

        new = QueryTokenPooling(current.embedding_dimension, ids(QUERY_MARKER), [ids(INSTRUCT_MARKER), ids(QUERY_MARKER)])
    else:
        if not isinstance(current, QueryTokenPooling):
            return model
        new = Pooling(current.embedding_dimension, pooling_mode="mean")
    model._modules[str(i)] = new
    return model


__all__ = ["QueryTokenPooling", "query_token_mask", "use_query_pooling"]
