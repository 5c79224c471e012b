import copy

import numpy as np
import pytest
import torch

from frugalml.finetune import (
    finetune,
    flow_token_weights,
    flow_weights,
    hardest_fraction,
    l2_to_init,
    sample_losses,
    wise_ft,
)
from frugalml.lm import PromptResponseDataset, SmallLMConfig, make_small_lm, synthetic_arithmetic_task, train_tokenizer


@pytest.fixture(scope="module")
def setup():
    task = synthetic_arithmetic_task(24, 8, random_state=0)
    tok = train_tokenizer([p + r for p, r in zip(task.train_prompts, task.train_responses)] * 3, vocab_size=300)
    ds = PromptResponseDataset(tok, task.train_prompts, task.train_responses, max_length=48)
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2), tokenizer=tok, random_state=0)
    return tok, ds, model


# ---- flow_weights ---------------------------------------------------------------------------

def test_flow_weights_closed_form_and_median_gets_exp_minus_one():
    losses = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    w = flow_weights(losses)
    np.testing.assert_allclose(w, np.exp(-losses / 2.0))
    assert w[2] == pytest.approx(np.exp(-1))
    assert np.all(np.diff(w) < 0)  # easier (lower loss) -> larger weight
    wn = flow_weights(losses, normalize=True)
    np.testing.assert_allclose(wn, w / w.mean())
    assert wn.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(flow_weights(losses, tau=1.0), np.exp(-losses))


@pytest.mark.parametrize("bad,match", [([1.0, np.nan], "NaN"), ([1.0, np.inf], "NaN/inf"), ([-1.0, 2.0], "non-negative"),
                                       ([], "non-empty"), ([[1.0]], "1-D")])
def test_flow_weights_reject_bad_losses(bad, match):
    with pytest.raises(ValueError, match=match):
        flow_weights(np.array(bad))


@pytest.mark.parametrize("tau", ["mean", 0.0, -1.0, float("nan")])
def test_flow_weights_reject_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        flow_weights([1.0, 2.0], tau=tau)


def test_token_weights_use_median_over_all_tokens():
    tl = [np.array([1.0, 3.0]), np.array([2.0])]
    w = flow_token_weights(tl)
    np.testing.assert_allclose(w[0], np.exp(-np.array([1.0, 3.0]) / 2.0))
    np.testing.assert_allclose(w[1], [np.exp(-1)])


def test_hardest_fraction():
    losses = np.arange(20.0)[::-1]
    np.testing.assert_array_equal(hardest_fraction(losses, 0.1), [0, 1])
    with pytest.raises(ValueError, match="fraction"):
        hardest_fraction(losses, 0.0)


# ---- sample_losses: prompt masking checked by hand ---------------------------------------------

def test_sample_losses_equal_hand_computed_response_cross_entropy(setup):
    tok, ds, model = setup
    got = sample_losses(model, ds, batch_size=5, pad_token_id=tok.pad_token_id)
    got_all = sample_losses(model, ds, response_only=False, batch_size=7, pad_token_id=tok.pad_token_id)
    got_tok = sample_losses(model, ds, token_level=True, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        for i in range(len(ds)):
            ids = ds[i]["input_ids"]
            n_prompt = ds[i]["prompt_length"]
            logp = torch.log_softmax(model(ids[None]).logits[0], dim=-1)      # unpadded, alone
            nll = -logp[torch.arange(len(ids) - 1), ids[1:]]                  # nll[t] for token t+1
            response = nll[n_prompt - 1:]                                      # tokens n_prompt..end
            assert got[i] == pytest.approx(float(response.mean()), rel=1e-5)
            assert got_all[i] == pytest.approx(float(nll.mean()), rel=1e-5)
            np.testing.assert_allclose(got_tok[i], response.numpy(), rtol=1e-5)
    assert not np.allclose(got, got_all)


def test_sample_losses_restore_training_mode(setup):
    tok, ds, model = setup
    model.train()
    sample_losses(model, ds, pad_token_id=tok.pad_token_id)
    assert model.training
    model.eval()


# ---- weighted fine-tuning and baselines --------------------------------------------------------

def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_unit_weights_equal_standard_finetuning(setup):
    tok, ds, model = setup
    kw = dict(lr=3e-3, epochs=1, batch_size=8, random_state=1, pad_token_id=tok.pad_token_id)
    a = finetune(copy.deepcopy(model), ds, **kw).model
    b = finetune(copy.deepcopy(model), ds, sample_weights=np.ones(len(ds)), **kw).model
    c = finetune(copy.deepcopy(model), ds, sample_weights=np.linspace(0.1, 1, len(ds)), **kw).model
    assert _same(a, b) and not _same(a, c) and not _same(a, model)


def test_finetune_bad_inputs(setup):
    tok, ds, model = setup
    with pytest.raises(ValueError, match="method"):
        finetune(model, ds, method="adapter")
    with pytest.raises(ValueError, match="sample_weights"):
        finetune(model, ds, sample_weights=np.ones(3))
    with pytest.raises(ValueError, match="sample_weights"):
        finetune(model, ds, sample_weights=np.full(len(ds), np.nan))


def test_l2_to_init_value_and_pull(setup):
    tok, ds, model = setup
    m = copy.deepcopy(model)
    reg = l2_to_init(m, 0.5, per_parameter=False)
    reg_official = l2_to_init(m, 0.5)  # default: divided by the number of trainable parameters
    assert float(reg(m).detach()) == 0.0
    with torch.no_grad():
        m.model.norm.weight.add_(0.1)
    assert float(reg(m).detach()) == pytest.approx(0.5 * 0.01 * m.model.norm.weight.numel(), rel=1e-4)
    n_params = sum(p.numel() for p in m.parameters())
    assert float(reg_official(m).detach()) == pytest.approx(float(reg(m).detach()) / n_params, rel=1e-5)
    kw = dict(lr=3e-3, epochs=2, batch_size=8, random_state=1, pad_token_id=tok.pad_token_id)
    free = finetune(copy.deepcopy(model), ds, **kw).model
    pulled = finetune(copy.deepcopy(model), ds, l2_to_init_strength=10.0, l2_per_parameter=False, **kw).model

    def dist(x):
        return sum(float(((p - q) ** 2).sum()) for p, q in zip(x.parameters(), model.parameters()))

    assert dist(pulled) < dist(free)


def test_wise_ft_interpolates(setup):
    tok, ds, model = setup
    ft = finetune(copy.deepcopy(model), ds, lr=3e-3, batch_size=8, pad_token_id=tok.pad_token_id).model
    assert _same(wise_ft(model, ft, 0.0), model) and _same(wise_ft(model, ft, 1.0), ft)
    mid = wise_ft(model, ft, 0.5)
    for p0, p1, pm in zip(model.parameters(), ft.parameters(), mid.parameters()):
        torch.testing.assert_close(pm, 0.5 * (p0 + p1))
    with pytest.raises(ValueError, match="alpha"):
        wise_ft(model, ft, 1.5)


def test_lora_trains_adapters_only_and_merges_to_plain_llama(setup):
    tok, ds, model = setup
    out = finetune(copy.deepcopy(model), ds, method="lora", lora_r=2, lora_alpha=4, lr=1e-2, batch_size=8,
                   lora_target_modules=["q_proj", "v_proj"], pad_token_id=tok.pad_token_id)
    d, L = 32, 2
    assert out.n_trainable == L * 2 * (2 * d + 2 * d)  # r * (in + out) for q and v in each layer
    merged = out.model
    assert type(merged).__name__ == "LlamaForCausalLM"
    sd0, sd1 = model.state_dict(), merged.state_dict()
    assert sd0.keys() == sd1.keys()
    changed = {k for k in sd0 if not torch.equal(sd0[k], sd1[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)


def test_token_level_weights_unit_equals_standard_and_loss_by_hand(setup):
    from frugalml.lm import TokenWeightedDataset, causal_lm_loss, collate

    tok, ds, model = setup
    tl = sample_losses(model, ds, token_level=True, pad_token_id=tok.pad_token_id)
    ones = [np.ones_like(t) for t in tl]
    kw = dict(lr=3e-3, epochs=1, batch_size=8, random_state=1, pad_token_id=tok.pad_token_id)
    a = finetune(copy.deepcopy(model), ds, **kw).model
    b = finetune(copy.deepcopy(model), ds, token_weights=ones, **kw).model
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))
    # objective: mean over samples of mean_t w_it l_it, with the weights on the right tokens
    tw = flow_token_weights(tl)
    batch = collate([TokenWeightedDataset(ds, tw)[i] for i in range(3)], pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        got = causal_lm_loss(logits, batch["labels"], token_weights=batch["token_weight"])
    expected = np.mean([np.mean(tw[i] * tl[i]) for i in range(3)])
    assert float(got) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="labelled tokens"):
        TokenWeightedDataset(ds, [t[:-1] for t in tl])


def test_lora_is_seeded(setup):
    tok, ds, model = setup
    kw = dict(method="lora", lora_r=2, lr=1e-2, batch_size=8, pad_token_id=tok.pad_token_id)
    a = finetune(copy.deepcopy(model), ds, random_state=3, **kw).model
    b = finetune(copy.deepcopy(model), ds, random_state=3, **kw).model
    c = finetune(copy.deepcopy(model), ds, random_state=4, **kw).model
    assert _same(a, b) and not _same(a, c)


# ---- the official trainer's loss: summed token losses over the batch's token count ------------

def test_token_reduction_by_hand_and_equal_to_sample_mean_on_equal_lengths(setup):
    from frugalml.lm import causal_lm_loss, collate, token_losses

    tok, ds, model = setup
    batch = collate([ds[i] for i in range(6)], pad_token_id=tok.pad_token_id)
    w = torch.linspace(0.2, 1.0, 6)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        losses, mask = token_losses(logits, batch["labels"])
        got = causal_lm_loss(logits, batch["labels"], w, reduction="token")
        by_hand = (w * losses.sum(1)).sum() / mask.sum()
        sample = causal_lm_loss(logits, batch["labels"], w, reduction="sample")
        assert float(got) == pytest.approx(float(by_hand), rel=1e-5)
        assert len(set(mask.sum(1).tolist())) > 1 and float(got) != pytest.approx(float(sample), rel=1e-3)
        full = batch["input_ids"].clone()                                  # every position labelled
        eq_t = causal_lm_loss(logits, full, w, reduction="token")
        eq_s = causal_lm_loss(logits, full, w, reduction="sample")
        assert float(eq_t) == pytest.approx(float(eq_s), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        causal_lm_loss(logits, batch["labels"], reduction="mean")


def test_finetune_loss_reduction_option(setup):
    tok, ds, model = setup
    kw = dict(lr=3e-3, epochs=1, batch_size=8, random_state=1, pad_token_id=tok.pad_token_id)
    a = finetune(copy.deepcopy(model), ds, **kw).model                         # default: "token"
    b = finetune(copy.deepcopy(model), ds, loss_reduction="token", **kw).model
    c = finetune(copy.deepcopy(model), ds, loss_reduction="sample", **kw).model
    assert _same(a, b) and not _same(a, c)
    with pytest.raises(ValueError, match="loss_reduction"):
        finetune(copy.deepcopy(model), ds, loss_reduction="mean", **kw)
