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
