"""One RARe training step changes the model, keeps it loadable, and builds the rows the paper says."""

import numpy as np
import pytest

from frugalml.retrieval import build_task, load_base_model, train_rare
from frugalml.retrieval.training import build_training_rows

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def task():
    return build_task("coded_people", 24, 6, random_state=0)


def test_training_rows_follow_the_recipe(task):
    rows, frac = build_training_rows(task, k=2, example_fraction=0.5, random_state=0)
    assert set(rows) == {"anchor", "positive", "negative"}
    n = len(rows["anchor"])
    with_ex = [a.count("Positive Document:") for a in rows["anchor"]]
    assert set(with_ex) <= {0, 2}
    assert frac == pytest.approx(np.mean([c > 0 for c in with_ex]))
    _, pq, pd = task.pool()
    for a, q, d, neg in zip(rows["anchor"], pq, pd, rows["negative"]):
        assert a.startswith(f"Instruct: {task.instruction}\n") and a.endswith(f"\nQuery: {q}")
        assert f"Query: {q}\nPositive Document: {d}" not in a  # never its own answer
        assert neg != d
    rows0, frac0 = build_training_rows(task, k=2, example_fraction=0.0, hard_negatives=False, random_state=0)
    assert frac0 == 0.0 and "negative" not in rows0
    assert all("Positive Document" not in a for a in rows0["anchor"]) and len(rows0["anchor"]) == n


def test_one_step_changes_the_model_and_it_reloads(task, tmp_path, capfd):
    from sentence_transformers import SentenceTransformer

    model = load_base_model(max_seq_length=64)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    probe = ["Query: zoka mela", "occupation: baker. city: Oslo."]
    e0 = model.encode(probe)
    res = train_rare(model, [task], k=2, max_steps=1, batch_size=4, lr=1e-3, train_layers=1, warmup_ratio=0.0,
                     random_state=0)
    assert res.steps == 1 and len(res.loss_history) == 1 and np.isfinite(res.loss_history[0])
    assert "Computing widget examples" not in capfd.readouterr().err  # no stray progress bar of the trainer
    assert model.model_card_data.widget  # the card still gets its examples (ours)
    changed = [n for n, p in model.named_parameters() if not np.allclose(p.detach(), before[n])]
    assert changed and all(".layer.5." in n for n in changed)  # only the top layer trained
    assert res.n_trainable == sum(before[n].numel() for n in before if ".layer.5." in n)
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again afterwards
    e1 = model.encode(probe)
    assert not np.allclose(e0, e1)
    model.save(str(tmp_path / "m"))
    back = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(back.encode(probe), e1, atol=1e-5)


def test_bad_arguments(task):
    with pytest.raises(ValueError, match="example_fraction"):
        train_rare(None, [task], example_fraction=1.5)
    with pytest.raises(ValueError, match="method"):
        train_rare(None, [task], method="bm26")
    with pytest.raises(ValueError, match="train_tasks"):
        train_rare(None, [])


def test_hard_negatives_are_never_test_positives():
    from frugalml.retrieval.training import test_positives

    t = build_task("coded_people", 24, 12, random_state=1, n_distractors=40)
    banned = test_positives(t)
    assert banned  # the coded task's test queries share entities with the corpus
    rows, _ = build_training_rows(t, k=2, example_fraction=0.5, random_state=0)
    banned_text = {f"{t.corpus[d]['title']} {t.corpus[d]['text']}".strip() for d in banned}
    assert not banned_text & set(rows["negative"])


def test_training_anchors_fit_the_limit_and_keep_the_target(task):
    model = load_base_model(max_seq_length=40)
    stats = {}
    rows, _ = build_training_rows(task, k=3, example_fraction=1.0, hard_negatives=False, random_state=0,
                                  tokenizer=model.tokenizer, max_length=40, stats=stats)
    _, pq, _ = task.pool()
    n = [len(x) for x in model.tokenizer(rows["anchor"])["input_ids"]]
    assert max(n) <= 40 and all(a.endswith(f"\nQuery: {q}") for a, q in zip(rows["anchor"], pq))
    assert np.mean(stats["tokens_full"]) > np.mean(stats["tokens"]) and not any(stats["target_truncated"])
    assert np.mean(stats["examples_kept"]) < 3


def _brute_force_padding(lengths, max_buckets):
    """Least padded size over every split of the sorted rows into at most max_buckets runs."""
    from itertools import combinations

    sl = sorted(lengths)
    n, best = len(sl), None
    for b in range(1, min(max_buckets, n) + 1):
        for cuts in combinations(range(1, n), b - 1):
            bounds = (0, *cuts, n)
            size = sum((j - i) * sl[j - 1] for i, j in zip(bounds, bounds[1:]))
            best = size if best is None else min(best, size)
    return best


def test_length_buckets_pad_least_and_cover_every_row():
    from frugalml.retrieval.training import length_buckets

    rng = np.random.default_rng(0)
    for _ in range(40):
        n, b = int(rng.integers(1, 9)), int(rng.integers(1, 4))
        lengths = rng.integers(3, 60, size=n)
        groups = length_buckets(lengths, b)
        assert 1 <= len(groups) <= b
        assert sorted(np.concatenate(groups).tolist()) == list(range(n))
        assert sum(len(g) * lengths[g].max() for g in groups) == _brute_force_padding(lengths.tolist(), b)
    # a RARe batch: short instruction-only queries and long ones with examples come apart
    lengths = [40] * 5 + [180] * 11
    groups = length_buckets(lengths, 3)
    assert [sorted(g.tolist()) for g in groups] == [list(range(5)), list(range(5, 16))]
    assert len(length_buckets([7, 7, 7], 3)) == 1  # no split when nothing is saved
    with pytest.raises(ValueError, match="max_buckets"):
        length_buckets([1, 2], 0)


def test_length_bucketed_loss_equals_the_padded_one():
    """Embeddings, loss and gradients of the bucketed anchor column match one padded forward (no dropout)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss as MNRL

    from frugalml.retrieval import format_query, use_query_pooling
    from frugalml.retrieval.training import _length_bucketed_loss, embed_by_length

    model = use_query_pooling(load_base_model(max_seq_length=128))
    model.eval()
    ex = [("a lamp", "a device that gives light"), ("a chair", "a seat for one person with a back")]
    anchors = [format_query("a table", ex if i % 3 else [], "Find the definition") for i in range(6)]
    anchors[4] = format_query("a very long question about " + "many things " * 12, ex, "Find the definition")
    positives = [f"definition number {i}" for i in range(6)]
    negatives = [f"some other text {i} about nothing" for i in range(6)]
    feats = [model.tokenize(col) for col in (anchors, positives, negatives)]
    assert len(set(feats[0]["attention_mask"].sum(1).tolist())) > 2  # lengths really differ

    with torch.no_grad():
        np.testing.assert_allclose(embed_by_length(model, dict(feats[0])),
                                   model(dict(feats[0]))["sentence_embedding"], atol=1e-5)
    grads, losses = [], []
    for loss_fn in (MNRL(model=model, scale=20.0), _length_bucketed_loss(MNRL, model=model, scale=20.0)):
        model.zero_grad()
        loss = loss_fn([dict(f) for f in feats], None)
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
    assert float(grads[0].abs().max()) > 0
