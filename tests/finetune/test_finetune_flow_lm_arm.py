"""FLOW's LM arm end to end on a tiny model (the SmolLM2 / GPU runs use the same code)."""

import numpy as np
import pytest

from frugalml.lm import BlockDataset, SmallLMConfig, make_small_lm, synthetic_arithmetic_task, train_tokenizer
from frugalml.repro import _flow_lm


@pytest.fixture(scope="module")
def tiny():
    task = synthetic_arithmetic_task(24, 8, random_state=0)
    tok = train_tokenizer([p + r for p, r in zip(task.train_prompts, task.train_responses)] * 3, vocab_size=300)
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2), tokenizer=tok, random_state=0)
    p_val = BlockDataset(tok, ["def f(x):\n    return x + 1\n" * 20], 32, max_blocks=4)
    return model, tok, p_val


def test_freeze_all_but_top(tiny):
    import copy

    model = _flow_lm.freeze_all_but_top(copy.deepcopy(tiny[0]), 1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.layers.1.", "model.norm")) for n in trainable)
    assert any(n.startswith("model.layers.1.") for n in trainable)
    with pytest.raises(ValueError, match="train_top_layers"):
        _flow_lm.freeze_all_but_top(copy.deepcopy(tiny[0]), 3)


@pytest.mark.slow
def test_lm_arm_runs_end_to_end_with_top_layers_only(tiny):
    model, tok, p_val = tiny
    cfg = dict(n_train=6, n_validation=2, max_prompt=400, max_length=480, epochs=1, batch_size=3, lr=3e-3,
               train_top_layers=1, arms=_flow_lm.LM_ARMS)
    before = [p.detach().clone() for p in model.parameters()]
    out = _flow_lm._run_seed(model, tok, p_val, cfg, 0)
    assert all((a == b).all() for a, b in zip(before, model.parameters()))  # the pre-trained model is untouched
    assert set(out["arms"]) == {"pretrained", *_flow_lm.LM_ARMS}
    w = np.array(out["weights"])
    np.testing.assert_allclose(w, np.exp(-np.array(out["losses"]) / np.median(out["losses"])))
    n_top = sum(p.numel() for p in _flow_lm.freeze_all_but_top(__import__("copy").deepcopy(model), 1).parameters()
                if p.requires_grad)
    assert all(out["arms"][a]["n_trainable"] == n_top for a in _flow_lm.LM_ARMS)
    for arm in _flow_lm.LM_ARMS:
        assert np.isfinite(out["arms"][arm]["p_loss"]) and out["arms"][arm]["p_loss"] != out["arms"]["pretrained"]["p_loss"]


def test_run_lm_rejects_unknown_setting():
    with pytest.raises(ValueError, match="LM setting"):
        _flow_lm.run_lm("huge")
