import numpy as np
import pytest
import torch

from frugalml.lm import (
    ModelNotFoundError,
    SmallLMConfig,
    count_parameters,
    load_pretrained,
    make_small_lm,
    train_tokenizer,
)

TEXTS = ["def add(a, b):\n    return a + b\n", "Question: What is 2 + 3?\nAnswer: 5\n"] * 20


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, vocab_size=300)


def llama_param_count(V, d, L, ff):
    # tied embedding V*d; per block q,k,v,o (4 d^2) + SwiGLU (3 d ff) + 2 RMSNorm (2d); final norm d
    return V * d + L * (4 * d * d + 3 * d * ff + 2 * d) + d


def test_small_lm_is_llama_with_closed_form_parameter_count(tok):
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2, d_ff=64), tokenizer=tok)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.vocab_size == len(tok)
    assert count_parameters(model) == llama_param_count(len(tok), 32, 2, 64)
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id


def test_default_ff_follows_llama_rule():
    cfg = SmallLMConfig(d_model=128).to_hf()
    assert cfg.intermediate_size == 352  # ceil(8/3 * 128 = 341.3) rounded up to a multiple of 32


def test_init_is_seeded_and_leaves_global_rng_alone(tok):
    cfg = SmallLMConfig(n_layer=2, d_model=32, n_head=2)
    state = torch.random.get_rng_state()
    a = make_small_lm(cfg, tokenizer=tok, random_state=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = make_small_lm(cfg, tokenizer=tok, random_state=3)
    c = make_small_lm(cfg, tokenizer=tok, random_state=4)
    pa, pb, pc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize("bad", [dict(d_model=30, n_head=4), dict(n_layer=0), dict(vocab_size=-1), dict(d_ff=0)])
def test_bad_config_names_the_argument(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "n_head" not in bad else "divisible"):
        SmallLMConfig(**bad).to_hf()


def test_save_load_round_trip(tmp_path, tok):
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2), tokenizer=tok)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = load_pretrained(tmp_path)
    ids = torch.tensor([tok("def add(a, b):")["input_ids"]])
    assert tok2("def add(a, b):")["input_ids"] == ids[0].tolist()
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(ids).logits.numpy(), loaded(ids).logits.numpy(), atol=1e-6)


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a directory"):
        load_pretrained(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        load_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError, match="gguf_file"):
        load_pretrained(tmp_path, gguf_file="missing.gguf")
