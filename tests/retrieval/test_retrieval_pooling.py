"""Query-token pooling: documents pooled as before, RARe queries over their target query's tokens."""

import numpy as np
import pytest
import torch

from frugalml.retrieval import format_query, load_base_model
from frugalml.retrieval.pooling import QueryTokenPooling, query_token_mask, use_query_pooling

pytest.importorskip("sentence_transformers")

QUERY, INSTRUCT = [7, 3], [9, 3]


def test_mask_keeps_only_the_tokens_after_the_last_marker_of_a_query_row():
    ids = torch.tensor([
        [1, 9, 3, 5, 7, 3, 6, 6, 7, 3, 8, 2, 0],   # Instruct: ... Query: ex ... Query: q [SEP] [PAD]
        [1, 7, 3, 8, 8, 2, 0, 0, 0, 0, 0, 0, 0],   # Query: q [SEP]
        [1, 5, 7, 3, 8, 2, 0, 0, 0, 0, 0, 0, 0],   # a document that contains the marker mid-text
        [1, 9, 3, 5, 5, 7, 3, 2, 0, 0, 0, 0, 0],   # the target query truncated away: only [SEP] is left
    ])
    mask = (ids != 0).long()
    out = query_token_mask(ids, mask, QUERY, [INSTRUCT, QUERY])
    assert out[0].tolist() == [0] * 10 + [1, 1, 0]
    assert out[1].tolist() == [0, 0, 0, 1, 1, 1] + [0] * 7
    assert torch.equal(out[2], mask[2])
    assert out[3].tolist() == [0] * 7 + [1] + [0] * 5   # only [SEP] left after the marker: still pooled there
    assert torch.equal(mask, (ids != 0).long())          # the input mask is not modified


@pytest.fixture(scope="module")
def model():
    return load_base_model(max_seq_length=128)


def test_swap_pools_queries_over_their_tokens_and_swaps_back(model):
    doc, q = "def parse(x): return int(x)", "convert a string to an integer"
    plain = format_query(q, [], "Retrieve code")
    with_ex = format_query(q, [("sum a list", "def s(l): return sum(l)"), ("open a file", "with open(p) as f")],
                           "Retrieve code")
    before = model.encode([doc, plain, with_ex, q])
    use_query_pooling(model)
    assert isinstance(model[1], QueryTokenPooling)
    after = model.encode([doc, plain, with_ex, q])
    np.testing.assert_allclose(after[[0, 3]], before[[0, 3]], atol=1e-6)   # documents and raw text unchanged
    # the instruction-only query: the normalised mean of its target query's token states (+ [SEP])
    feats = model.preprocess([plain])
    with torch.no_grad():
        states = model[0](dict(feats))["token_embeddings"][0]
    ids = feats["input_ids"][0].tolist()
    marker = model.tokenizer("Query:", add_special_tokens=False)["input_ids"]
    last = max(p for p in range(len(ids)) if ids[p:p + len(marker)] == marker)
    ref = states[last + len(marker):].mean(0)
    np.testing.assert_allclose(after[1], (ref / ref.norm()).numpy(), atol=1e-5)
    # examples now reach the embedding through attention only: it stays close to the bare query's
    assert after[2] @ after[3] > before[2] @ before[3] + 0.1
    use_query_pooling(model)                                 # idempotent
    use_query_pooling(model, False)
    np.testing.assert_allclose(model.encode([doc, plain, with_ex]), before[:3], atol=1e-6)


def test_swap_refuses_models_it_cannot_serve(model):
    with pytest.raises(TypeError, match="enable"):
        use_query_pooling(model, "yes")
    from sentence_transformers.sentence_transformer.modules import Pooling

    other = load_base_model(max_seq_length=32)
    other._modules["1"] = Pooling(other[1].embedding_dimension, pooling_mode="cls")
    with pytest.raises(ValueError, match="mean pooling"):
        use_query_pooling(other)
