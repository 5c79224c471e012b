"""Offline tasks (disjoint splits, BEIR round trip) and evaluate_retrieval with a mock encoder."""

import math

import numpy as np
import pytest

from frugalml.retrieval import RetrievalTask, build_task, evaluate_retrieval, format_query
from frugalml.retrieval.tasks import WORDNET_DIR, coded_attributes


def _check_task(t, n_train, n_test):
    assert len(t.queries["train"]) == n_train and len(t.queries["test"]) == n_test
    assert set(t.queries["train"]).isdisjoint(t.queries["test"])
    assert set(t.queries["train"].values()).isdisjoint(t.queries["test"].values())  # unseen test queries
    for split in ("train", "test"):
        for rels in t.qrels[split].values():
            assert rels and all(d in t.corpus for d in rels)


@pytest.mark.parametrize("name", ["coded_people", "gsm_solutions", "code_search"])
def test_tasks_build_with_disjoint_splits(name):
    t = build_task(name, 30, 10, random_state=0)
    _check_task(t, 30, 10)
    assert build_task(name, 30, 10, random_state=0).queries == t.queries  # seeded


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").is_file(),
                    reason="WordNet missing: sudo apt-get install wordnet-base")
def test_wordnet_tasks():
    for name in ("wordnet_definitions", "wordnet_usage"):
        t = build_task(name, 30, 10, random_state=0)
        _check_task(t, 30, 10)
        for qid, q in t.queries["test"].items():
            doc = t.corpus[next(iter(t.qrels["test"][qid]))]
            first = doc["title"].split(", ")[0]
            assert not (" " not in first and first.lower() in q.lower().split())  # the word is removed


def test_coded_task_relevance_is_exact():
    t = coded_attributes(20, 5, kind="products", random_state=3)
    inverse = {w: av for av, w in t.meta["code"].items()}
    for split in ("train", "test"):
        for qid, q in t.queries[split].items():
            wanted = [inverse[w] for w in q.split()]  # e.g. "color=red"
            match = {d for d, doc in t.corpus.items()
                     if all(f"{a}: {v}." in doc["text"] for a, v in (x.split("=") for x in wanted))}
            assert set(t.qrels[split][qid]) == match


def test_task_beir_round_trip(tmp_path):
    t = build_task("coded_people", 20, 5, random_state=0)
    t.save(tmp_path / "coded")
    back = RetrievalTask.load(tmp_path / "coded")
    assert back.corpus == t.corpus and back.queries == t.queries and back.qrels == t.qrels
    assert back.instruction == t.instruction


class MockEncoder:
    """Text -> fixed vector table; unknown text -> zero vector."""

    max_seq_length = 512

    def __init__(self, table):
        self.table = table

    def encode(self, texts, normalize_embeddings=True, **kw):
        v = np.array([self.table.get(t, [0.0, 0.0, 0.0]) for t in texts], dtype=np.float64)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n > 0, n, 1)

    def tokenizer(self, texts, **kw):  # one token per whitespace word
        return {"input_ids": [t.split() for t in texts]}


def test_evaluate_retrieval_by_hand():
    corpus = {"a": {"title": "", "text": "A"}, "b": {"title": "", "text": "B"}, "c": {"title": "", "text": "C"}}
    queries = {"q1": "x", "q2": "y"}
    qrels = {"q1": {"b": 1}, "q2": {"c": 1, "a": 1}}
    table = {"A": [1, 0, 0], "B": [0, 1, 0], "C": [0, 0, 1],
             "x": [0.9, 0.5, 0.1],   # ranks a, b, c -> relevant b at rank 2
             "y": [0.1, 0.2, 0.9]}   # ranks c, b, a -> relevant c at 1, a at 3
    ev = evaluate_retrieval(MockEncoder(table), corpus, queries, qrels, k_values=(1, 3))
    nd1 = 1 / math.log2(3)
    nd2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ev["ndcg@3"] == pytest.approx((nd1 + nd2) / 2)
    assert ev["recall@1"] == pytest.approx((0 + 0.5) / 2)
    assert ev["mrr@3"] == pytest.approx((0.5 + 1) / 2)
    assert ev.per_query["ndcg@3"]["q1"] == pytest.approx(nd1)
    # with an instruction and examples the encoder sees the formatted string
    fq = format_query("x", [("y", "C")], "I")
    ev2 = evaluate_retrieval(MockEncoder({**table, fq: [0, 1, 0], format_query("y", [("x", "B")], "I"): [0, 0, 1]}),
                             corpus, queries, qrels, instruction="I",
                             examples={"q1": [("y", "C")], "q2": [("x", "B")]}, k_values=(1,))
    assert ev2["ndcg@1"] == pytest.approx(1.0)
    assert ev2["query_tokens"] > ev["query_tokens"]
    with pytest.raises(ValueError, match="no entry"):
        evaluate_retrieval(MockEncoder(table), corpus, queries, qrels, examples={"q1": []})


@pytest.mark.parametrize("name", ["code_search", "code_summaries", "coded_people"])
def test_distractors_make_the_pool_a_small_share(name):
    from frugalml.retrieval.tasks import distractors_for_share

    nd = distractors_for_share(30, 10, 0.2)
    t = build_task(name, 30, 10, random_state=0, n_distractors=nd)
    _check_task(t, 30, 10)
    assert t.pool_share() <= 0.2 + 1e-9
    assert build_task(name, 30, 10, random_state=0).pool_share() > 0.2 or name == "coded_people"
    judged = {d for split in t.qrels.values() for rels in split.values() for d in rels}
    texts = [f"{d['title']} {d['text']}" for i, d in t.corpus.items() if i not in judged]
    assert len(set(texts)) == len(texts)  # unjudged distractors are distinct


def test_code_summaries_is_the_reverse_task_on_other_files():
    s = build_task("code_summaries", 30, 10, random_state=0)
    c = build_task("code_search", 30, 10, random_state=0)
    _check_task(s, 30, 10)
    assert s.meta["source"] == c.meta["source"]
    for qid, q in s.queries["test"].items():
        assert q.startswith("def ") and s.corpus[next(iter(s.qrels["test"][qid]))]["title"] == ""
    # the same docstring line never serves both tasks (code_search's queries are summaries too)
    summaries = {d["text"] for d in s.corpus.values()}
    assert not summaries & (set(c.queries["train"].values()) | set(c.queries["test"].values()))


def test_evaluate_retrieval_fits_queries_to_the_limit():
    corpus = {"a": {"title": "", "text": "A"}, "b": {"title": "", "text": "B"}}
    enc = MockEncoder({"A": [1, 0, 0], "B": [0, 1, 0]})
    enc.max_seq_length = 10  # mock tokens: one per whitespace word
    ex = {"q1": [("w w w w", "d d d d"), ("v v", "e e")]}
    ev = evaluate_retrieval(enc, corpus, {"q1": "target words"}, {"q1": {"a": 1}}, examples=ex, k_values=(1,))
    # the full query is 21 words; fitted to 10, the least similar example goes and the target stays
    assert ev["query_tokens_full"] == 21 and ev["query_tokens"] == 10 and ev["target_truncated"] == 0.0
    assert ev["examples_given"] == 2 and ev["examples_kept"] == 1
