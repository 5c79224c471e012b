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


# ----------------------------------------------------------------------------- issue 24: input checks
def test_input_checks_name_the_argument():
    with pytest.raises(ValueError, match="pool_documents"):
        ExampleRetriever(POOL_Q, POOL_D[:-1] + [None])
    with pytest.raises(ValueError, match="pool_queries"):
        ExampleRetriever("abc", ["x", "y", "z"], k=1)
    with pytest.raises(ValueError, match="pool_queries.*stop word"):
        ExampleRetriever(["", "the of", "and", "   "], ["a", "b", "c", "d"], k=1)
    # a pool with some content words still works, and a stop-word query gets (random) examples
    r = ExampleRetriever(["", "the of", "bake cake", "boil rice"], ["a", "b", "c", "d"], k=2, random_state=0)
    assert len(r.retrieve("the")) == 2
    r = ExampleRetriever(POOL_Q, POOL_D, k=2, random_state=0)
    for bad in (len(POOL_Q), -1, 2.0, "1", True):
        with pytest.raises(ValueError, match="exclude"):
            r.retrieve("bake bread", exclude=bad)
    with pytest.raises(ValueError, match="exclude"):
        r.retrieve_many(["bake bread"], exclude=[[0, 99]])
    with pytest.raises(ValueError, match="queries"):
        r.retrieve_many("bake bread")
    with pytest.raises(ValueError, match="queries"):
        r.retrieve_many(["bake", None])


def test_format_query_refuses_strings_as_pairs():
    with pytest.raises(ValueError, match="examples"):
        format_query("q", ["ab"])            # would unpack "ab" into ("a", "b")
    with pytest.raises(ValueError, match="examples"):
        format_query("q", "ab")
    with pytest.raises(ValueError, match="examples"):
        format_query("q", [("a", None)])
    with pytest.raises(ValueError, match="instruction"):
        format_query("q", [], instruction=3)
    assert format_query("q", None) == "Query: q"


# ----------------------------------------------------------------------------- issue 22: the target is never cut
@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    from frugalml.retrieval import load_base_model, use_query_pooling

    return use_query_pooling(load_base_model(max_seq_length=96))


LONG_EX = [(f"example question number {i} about baking bread and cakes at home",
            " ".join(["flour water salt yeast oven"] * 8)) for i in range(4)]


def test_fit_query_keeps_the_target_and_drops_least_similar_first(minilm):
    from frugalml.retrieval import fit_query

    tok = minilm.tokenizer
    target = "which volcano erupted near pompeii in the first century"
    plain = format_query(target, LONG_EX, "Find it")
    assert len(tok(plain)["input_ids"]) > 96      # a right-truncating encoder would cut the target away
    f = fit_query(target, LONG_EX, "Find it", tokenizer=tok, max_length=96)
    ids = tok(f.text)["input_ids"]
    assert f.target_intact and len(ids) == f.n_tokens <= 96 and f.n_tokens_full == len(tok(plain)["input_ids"])
    want = tok(target, add_special_tokens=False)["input_ids"]
    assert ids[-len(want) - 1:-1] == want          # the target's tokens, whole, right before [SEP]
    assert f.text.endswith(f"\nQuery: {target}") and f.text.startswith("Instruct: Find it\n")
    # the most similar example (last) is kept whole; only less similar ones give way
    assert f"Query: {LONG_EX[-1][0]}\nPositive Document: {LONG_EX[-1][1]}\nQuery: {target}" in f.text
    assert LONG_EX[0][0] not in f.text and 1 <= f.n_examples < len(LONG_EX)
    kept = [q for q, _ in LONG_EX if q in f.text]
    assert kept == [q for q, _ in LONG_EX][len(LONG_EX) - f.n_examples:]
    # a query that fits is left exactly as format_query writes it
    short = fit_query("q", LONG_EX[:1], None, tokenizer=tok, max_length=512)
    assert short.text == format_query("q", LONG_EX[:1]) and short.n_examples == 1 and short.n_trimmed == 0
    # a target longer than the limit cannot be saved: said so, not hidden
    huge = fit_query(" ".join(["word"] * 100), LONG_EX, None, tokenizer=tok, max_length=64)
    assert not huge.target_intact and huge.n_examples == 0 and huge.n_tokens == 64
    with pytest.raises(ValueError, match="max_length"):
        fit_query("q", [], tokenizer=tok, max_length=0)


def test_fit_query_trims_the_borderline_example(minilm):
    from frugalml.retrieval import fit_query

    tok = minilm.tokenizer
    ex = [("short query one", " ".join(f"w{i}" for i in range(40))), ("short query two", "tiny doc")]
    f = fit_query("the target", ex, None, tokenizer=tok, max_length=48)
    assert f.n_examples == 2 and f.n_trimmed == 1 and f.n_tokens <= 48
    assert "w0 w1" in f.text and "w39" not in f.text and f.text.endswith("tiny doc\nQuery: the target")


def test_two_targets_behind_the_same_examples_embed_differently(minilm):
    from frugalml.retrieval import fit_query

    tok = minilm.tokenizer
    q1, q2 = "which volcano erupted near pompeii", "how many moons does jupiter have"
    fitted = [fit_query(q, LONG_EX, "Find it", tokenizer=tok, max_length=minilm.max_seq_length).text
              for q in (q1, q2)]
    e = minilm.encode(fitted, normalize_embeddings=True)
    assert float(e[0] @ e[1]) < 0.9
    # the defect it fixes: right-truncated, the two queries are the same tokens and embed identically
    cut = minilm.encode([format_query(q, LONG_EX, "Find it") for q in (q1, q2)], normalize_embeddings=True)
    assert float(cut[0] @ cut[1]) > 0.999
