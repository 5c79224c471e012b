"""Ranking metrics against hand computation and pytrec_eval; BEIR I/O round trip and errors."""

import json
import math

import numpy as np
import pytest

from frugalml.data import DataNotFoundError
from frugalml.retrieval import load_beir, mrr_at_k, ndcg_at_k, recall_at_k, save_beir
from frugalml.retrieval.metrics import dcg

QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "e": 1}, "q2": {"x": 1}, "q3": {"z": 0}}
RUN = {"q1": {"b": 0.9, "c": 0.8, "a": 0.7, "d": 0.6, "e": 0.1},
       "q2": {"y": 0.5, "w": 0.4, "x": 0.3}}


def test_ndcg_hand_computed_graded():
    # q1 ranking b(1), c(0), a(2), d(-), e(1); exponential gains 2^g - 1, log2(rank + 1) discount
    dcg3 = 1 / math.log2(2) + 0 / math.log2(3) + 3 / math.log2(4)
    idcg3 = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # ideal from qrels: 2, 1, 1
    assert ndcg_at_k(QRELS, RUN, 3)["q1"] == pytest.approx(dcg3 / idcg3)
    dcg5 = dcg3 + 1 / math.log2(6)
    assert ndcg_at_k(QRELS, RUN, 5)["q1"] == pytest.approx(dcg5 / idcg3)


def test_ndcg_q2_and_unjudged_queries():
    got = ndcg_at_k(QRELS, RUN, 3)
    assert got["q2"] == pytest.approx(0.5)
    assert "q3" not in got  # no relevant document: not scored
    assert ndcg_at_k(QRELS, RUN, 2)["q2"] == 0.0
    assert ndcg_at_k({"q9": {"a": 1}}, RUN, 10) == {"q9": 0.0}  # query missing from the run


def test_ndcg_is_one_for_ideal_run_and_bounded():
    rng = np.random.default_rng(0)
    for _ in range(20):
        docs = [f"d{i}" for i in range(15)]
        grades = {d: int(g) for d, g in zip(docs, rng.integers(0, 4, size=15))}
        grades["d0"] = 3
        ideal = {d: float(grades[d]) * 10 - i * 1e-3 for i, d in enumerate(docs)}
        assert ndcg_at_k({"q": grades}, {"q": ideal}, 10)["q"] == pytest.approx(1.0)
        shuffled = {d: float(s) for d, s in zip(docs, rng.random(15))}
        assert 0.0 <= ndcg_at_k({"q": grades}, {"q": shuffled}, 10)["q"] <= 1.0 + 1e-12


def test_recall_and_mrr_hand_computed():
    assert recall_at_k(QRELS, RUN, 1)["q1"] == pytest.approx(1 / 3)
    assert recall_at_k(QRELS, RUN, 3)["q1"] == pytest.approx(2 / 3)
    assert recall_at_k(QRELS, RUN, 5)["q1"] == pytest.approx(1.0)
    assert mrr_at_k(QRELS, RUN)["q1"] == 1.0
    assert mrr_at_k(QRELS, RUN)["q2"] == pytest.approx(1 / 3)
    assert mrr_at_k(QRELS, RUN, 2)["q2"] == 0.0


def test_dcg_linear_vs_exponential_and_bad_input():
    assert dcg([2, 1], "linear") == pytest.approx(2 + 1 / math.log2(3))
    assert dcg([2, 1]) == pytest.approx(3 + 1 / math.log2(3))
    with pytest.raises(ValueError, match="gains"):
        dcg([1], "log")
    with pytest.raises(ValueError, match="k"):
        ndcg_at_k(QRELS, RUN, 0)
    with pytest.raises(ValueError, match="grade"):
        ndcg_at_k({"q": {"a": -1}}, RUN, 3)
    with pytest.raises(ValueError, match="dict"):
        recall_at_k([("q", "a")], RUN, 3)


def _random_case(rng, n_q=30, n_d=40):
    qrels, run = {}, {}
    for i in range(n_q):
        q = f"q{i}"
        judged = rng.choice(n_d, size=8, replace=False)
        qrels[q] = {f"d{j}": int(rng.integers(0, 4)) for j in judged}
        qrels[q][f"d{judged[0]}"] = max(1, qrels[q][f"d{judged[0]}"])
        ranked = rng.choice(n_d, size=20, replace=False)
        run[q] = {f"d{j}": float(s) for j, s in zip(ranked, rng.random(20))}
    return qrels, run


def test_against_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier not installed (dev extra)")
    qrels, run = _random_case(np.random.default_rng(1))
    # a tie, broken as trec_eval does (larger docid first)
    run["q0"]["d1"] = run["q0"]["d2"] = 0.5
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "recall.5,10", "recip_rank"})
    ref = ev.evaluate(run)
    for k in (5, 10):
        ours = ndcg_at_k(qrels, run, k, gains="linear")
        rec = recall_at_k(qrels, run, k)
        for q in qrels:
            assert ours[q] == pytest.approx(ref[q][f"ndcg_cut_{k}"], abs=1e-9)
            assert rec[q] == pytest.approx(ref[q][f"recall_{k}"], abs=1e-9)
    mrr = mrr_at_k(qrels, run)
    for q in qrels:
        assert mrr[q] == pytest.approx(ref[q]["recip_rank"], abs=1e-9)
    # binary relevance: exponential and linear gains agree, so BEIR's binary nDCG is pytrec_eval's
    binary = {q: {d: int(g > 0) for d, g in r.items()} for q, r in qrels.items()}
    ref_b = pytrec_eval.RelevanceEvaluator(binary, {"ndcg_cut.10"}).evaluate(run)
    ours_b = ndcg_at_k(binary, run, 10)
    for q in binary:
        assert ours_b[q] == pytest.approx(ref_b[q]["ndcg_cut_10"], abs=1e-9)


def test_beir_round_trip(tmp_path):
    corpus = {"d1": {"title": "T", "text": "first doc"}, "d2": {"title": "", "text": "second, with ünïcode"}}
    queries = {"q1": "find first", "q2": "find second"}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}
    save_beir(tmp_path, corpus, queries, qrels, "test")
    data = load_beir(tmp_path, "test")
    assert data.corpus == corpus and data.queries == queries and data.qrels == qrels
    save_beir(tmp_path, corpus, {"q3": "train query"}, {"q3": {"d2": 1}}, "train", append_queries=True)
    assert load_beir(tmp_path, "train").queries == {"q3": "train query"}
    assert load_beir(tmp_path, "test").queries == queries
    save_beir(tmp_path / "np", corpus, queries, {"q1": {"d1": np.int64(1)}, "q2": {"d2": np.uint8(2)}})
    assert load_beir(tmp_path / "np", "test").qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}  # numpy grades too


def test_beir_errors_name_file_and_line(tmp_path):
    with pytest.raises(DataNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)
    save_beir(tmp_path, {"d1": {"title": "", "text": "x"}}, {"q1": "y"}, {"q1": {"d1": 1}})
    with open(tmp_path / "queries.jsonl", "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ValueError, match=r"queries.jsonl, line 2"):
        load_beir(tmp_path)
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "y"}) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(ValueError, match=r"test.tsv, line 2: score"):
        load_beir(tmp_path)
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td9\t1\n")
    with pytest.raises(ValueError, match="d9"):
        load_beir(tmp_path)
    with pytest.raises(DataNotFoundError, match="dev.tsv"):
        load_beir(tmp_path, "dev")
    with pytest.raises(ValueError, match="not in corpus"):
        save_beir(tmp_path / "b", {"d1": {"text": "x"}}, {"q": "y"}, {"q": {"d2": 1}})
