import math

import numpy as np
import pytest
import torch

from frugalml.lm import (
    BlockDataset,
    PromptResponseDataset,
    SmallLMConfig,
    TrainConfig,
    causal_lm_loss,
    collate,
    make_small_lm,
    per_sample_loss,
    pretrained_small_lm,
    train_causal_lm,
    train_tokenizer,
)
from frugalml.lm.train import lr_lambda

TEXTS = ["def add(a, b):\n    return a + b\n\n", "class Point:\n    x: int = 0\n    y: int = 0\n"] * 30
CFG = SmallLMConfig(n_layer=2, d_model=32, n_head=2)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, vocab_size=300)


def test_block_dataset_packs_with_eos(tok):
    ds = BlockDataset(tok, TEXTS[:4], block_size=8)
    ids = sum((tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in TEXTS[:4]), [])
    assert len(ds) == len(ids) // 8
    assert ds[1]["input_ids"].tolist() == ids[8:16] and torch.equal(ds[1]["labels"], ds[1]["input_ids"])
    with pytest.raises(ValueError, match="block_size"):
        BlockDataset(tok, TEXTS, block_size=1)


def test_prompt_response_masks_prompt_exactly(tok):
    ds = PromptResponseDataset(tok, ["Question: 2+3?\nAnswer: "], ["5"], max_length=64)
    x = ds[0]
    n_prompt = 1 + len(tok("Question: 2+3?\nAnswer: ", add_special_tokens=False)["input_ids"])  # + bos
    assert x["prompt_length"] == n_prompt
    assert (x["labels"][:n_prompt] == -100).all()
    assert x["labels"][n_prompt:].tolist() == x["input_ids"][n_prompt:].tolist()
    assert x["input_ids"][-1] == tok.eos_token_id
    with pytest.raises(ValueError, match="max_length"):
        PromptResponseDataset(tok, ["a long prompt " * 10], ["r"], max_length=4)
    with pytest.raises(ValueError, match="same length"):
        PromptResponseDataset(tok, ["a"], [], max_length=4)


def test_collate_pads_right(tok):
    ds = PromptResponseDataset(tok, ["Q: 1?\nA: ", "Q: a longer one?\nA: "], ["1", "22"], max_length=64)
    b = collate([ds[0], ds[1]], pad_token_id=tok.pad_token_id)
    n0 = len(ds[0]["input_ids"])
    assert b["input_ids"].shape == b["labels"].shape == b["attention_mask"].shape
    assert b["attention_mask"][0].sum() == n0 and (b["labels"][0, n0:] == -100).all()
    assert (b["input_ids"][0, n0:] == tok.pad_token_id).all()


def test_loss_equals_hf_loss_on_full_blocks_and_unit_weights(tok):
    model = make_small_lm(CFG, tokenizer=tok)
    batch = collate([BlockDataset(tok, TEXTS, 16)[i] for i in range(4)])
    out = model(input_ids=batch["input_ids"], labels=batch["labels"])
    ours = causal_lm_loss(out.logits, batch["labels"])
    assert torch.allclose(ours, out.loss, atol=1e-5)
    assert torch.allclose(causal_lm_loss(out.logits, batch["labels"], torch.ones(4)), ours)
    w = torch.tensor([0.0, 1.0, 2.0, 0.5])
    assert torch.allclose(causal_lm_loss(out.logits, batch["labels"], w),
                          (w * per_sample_loss(out.logits, batch["labels"])).mean())


def test_lr_schedule_warmup_then_cosine_to_floor():
    f = [lr_lambda(s, total=100, warmup=10, schedule="cosine", min_lr_ratio=0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert np.all(np.diff(f[10:]) <= 1e-12)


def test_training_lowers_loss_is_seeded_and_checkpoints(tok, tmp_path):
    ds = BlockDataset(tok, TEXTS, 16, max_blocks=16)
    assert len(ds) == 16
    runs = []
    for _ in range(2):
        model = make_small_lm(CFG, tokenizer=tok, random_state=0)
        res = train_causal_lm(model, ds, eval_dataset=ds, max_steps=12, batch_size=8, lr=3e-3, eval_every=6,
                              checkpoint_dir=str(tmp_path), checkpoint_every=6, random_state=1,
                              pad_token_id=tok.pad_token_id)
        runs.append((model, res))
    (m1, r1), (m2, r2) = runs
    assert r1.steps == 12 and len(r1.history) == 12 and [e["step"] for e in r1.eval_history] == [6, 12]
    assert r1.history[-1]["loss"] < r1.history[0]["loss"] - 0.3
    assert [h["loss"] for h in r1.history] == [h["loss"] for h in r2.history]
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert (tmp_path / "step-6" / "config.json").is_file() and (tmp_path / "step-12").is_dir()
    assert r1.n_tokens == 12 * 8 * 16 and r1.tokens_per_s > 0


def test_gradient_accumulation_matches_big_batch(tok):
    ds = BlockDataset(tok, TEXTS, 16)
    a = make_small_lm(CFG, tokenizer=tok, random_state=0)
    b = make_small_lm(CFG, tokenizer=tok, random_state=0)
    kw = dict(lr=1e-2, warmup=0, schedule="constant", grad_clip=None, random_state=5)
    train_causal_lm(a, ds, max_steps=1, batch_size=8, **kw)
    train_causal_lm(b, ds, max_steps=1, batch_size=4, grad_accum=2, **kw)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, atol=1e-4, rtol=0)  # steps are ~lr = 1e-2


def test_bad_train_config():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0).validate()
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear").validate()


def test_pretrained_cache_trains_once(tmp_path):
    m1, tok1, info1 = pretrained_small_lm("tiny", cache=tmp_path)
    m2, tok2, info2 = pretrained_small_lm("tiny", cache=tmp_path)
    assert info1["path"] == info2["path"] and info1["pretrain_s"] == info2["pretrain_s"]
    assert len(list((tmp_path / "lm").iterdir())) == 1
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    ev = info1["train"]["eval_history"]
    assert ev and ev[-1]["val_loss"] < math.log(len(tok1))  # learned something beyond uniform
    with pytest.raises(ValueError, match="preset"):
        pretrained_small_lm("huge", cache=tmp_path)


def test_token_accuracy_matches_hand_count(tok):
    from frugalml.lm import evaluate_token_accuracy

    model = make_small_lm(CFG, tokenizer=tok, random_state=2)
    ds = PromptResponseDataset(tok, ["Q: 1?\nA: ", "Q: two?\nA: "], ["one", "22 two"], max_length=64)
    hits = total = 0
    with torch.no_grad():
        for i in range(len(ds)):
            ids, labels = ds[i]["input_ids"], ds[i]["labels"]
            pred = model(ids[None]).logits[0, :-1].argmax(-1)
            keep = labels[1:] != -100
            hits += int((pred[keep] == labels[1:][keep]).sum())
            total += int(keep.sum())
    assert evaluate_token_accuracy(model, ds, batch_size=2, pad_token_id=tok.pad_token_id) == hits / total


def test_corpus_validation_blocks_come_from_held_out_files(tmp_path):
    from frugalml.lm import PRESETS, corpus_validation_blocks

    preset = PRESETS["tiny"]
    corpus = preset.load_corpus()
    assert not set(corpus.train_ids) & set(corpus.validation_ids)
    _, tok_, _ = pretrained_small_lm("tiny", cache=tmp_path)
    blocks = corpus_validation_blocks("tiny", tok_, max_blocks=4)
    assert len(blocks) == 4 and blocks[0]["input_ids"].shape == (preset.block_size,)
    first = tok_(corpus.validation[0], add_special_tokens=False)["input_ids"][: preset.block_size]
    assert blocks[0]["input_ids"].tolist()[: len(first)] == first
