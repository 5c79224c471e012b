"""Example retrieval (never the query itself, honours k, most similar last) and the query template."""

import numpy as np
import pytest

from frugalml.retrieval import ExampleRetriever, format_query

POOL_Q = ["how to bake sourdough bread", "capital city of france", "boil rice in a pot", "population of paris",
          "repair a flat bike tire", "bake a chocolate cake", "bread flour types"]
POOL_D = [f"doc for {q}" for q in POOL_Q]


def test_bm25_never_returns_the_query_and_honours_k():
    for k in (1, 2, 3, 5):
        r = ExampleRetriever(POOL_Q, POOL_D, k=k, random_state=0)
        for q in POOL_Q:
            ex = r.retrieve(q)
            assert len(ex) == k
            assert q not in [e[0] for e in ex]
            assert all(d == f"doc for {qq}" for qq, d in ex)  # pairs stay aligned


def test_bm25_most_similar_is_last_and_matches_bm25s_ranking():
    import bm25s

    r = ExampleRetriever(POOL_Q, POOL_D, k=3, random_state=0)
    ex = r.retrieve("bake bread at home")
    # reference: bm25s scores of every pool query, computed independently
    ref = bm25s.BM25()
    ref.index(bm25s.tokenize(POOL_Q, stopwords="en", show_progress=False), show_progress=False)
    docs, scores = ref.retrieve(bm25s.tokenize(["bake bread at home"], stopwords="en", return_ids=False,
                                               show_progress=False), k=len(POOL_Q), show_progress=False)
    best = [POOL_Q[i] for i, s in zip(docs[0], scores[0]) if s > 0][:2]
    assert ex[-1][0] == best[0] and ex[-2][0] == best[1]


def test_exclude_by_index_and_duplicate_text():
    pool_q = POOL_Q + ["capital city of france"]  # the same text twice: both excluded for that query
    r = ExampleRetriever(pool_q, POOL_D + ["dup"], k=3, random_state=0)
    ex = r.retrieve("capital city of france")
    assert "capital city of france" not in [e[0] for e in ex]
    ex = r.retrieve("paris france", exclude=3)
    assert "population of paris" not in [e[0] for e in ex]


def test_random_method_is_seeded_and_excludes_self():
    a = ExampleRetriever(POOL_Q, POOL_D, k=3, method="random", random_state=1)
    b = ExampleRetriever(POOL_Q, POOL_D, k=3, method="random", random_state=1)
    got = [a.retrieve(q) for q in POOL_Q]
    assert got == [b.retrieve(q) for q in POOL_Q]
    assert all(q not in [e[0] for e in ex] for q, ex in zip(POOL_Q, got))
    assert len({tuple(e[0] for e in ex) for ex in got}) > 1


def test_embedding_method_with_a_mock_encoder():
    class Enc:
        def encode(self, texts, normalize_embeddings=True, **kw):
            v = np.array([[t.count("bake") + 0.1, t.count("paris") + 0.1, 0.1] for t in texts])
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    r = ExampleRetriever(POOL_Q, POOL_D, k=2, method="embedding", model=Enc())
    ex = r.retrieve("bake bake")
    assert {e[0] for e in ex} == {"how to bake sourdough bread", "bake a chocolate cake"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        ExampleRetriever(POOL_Q, POOL_D, method="tfidf")
    with pytest.raises(ValueError, match="k=7"):
        ExampleRetriever(POOL_Q, POOL_D, k=7)
    with pytest.raises(ValueError, match="same length"):
        ExampleRetriever(POOL_Q, POOL_D[:-1])
    with pytest.raises(ValueError, match="model"):
        ExampleRetriever(POOL_Q, POOL_D, method="embedding")
    with pytest.raises(ValueError, match="k"):
        ExampleRetriever(POOL_Q, POOL_D, k=0)


def test_format_query_follows_the_template():
    s = format_query("q?", [("q1", "d1"), ("q2", "d2 is long text")], "Find it", max_example_words=2)
    assert s == "Instruct: Find it\nQuery: q1\nPositive Document: d1\nQuery: q2\nPositive Document: d2 is\nQuery: q?"
    assert format_query("q?", [], "Find it") == "Instruct: Find it\nQuery: q?"
    assert format_query("q?") == "Query: q?"
    with pytest.raises(ValueError, match="pair"):
        format_query("q", [("a", "b", "c")])
    with pytest.raises(ValueError, match="max_example_words"):
        format_query("q", [], max_example_words=0)
