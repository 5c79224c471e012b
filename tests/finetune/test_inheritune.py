"""Inheritune library: inherit, random_student, energy_rank, attention_rank_profile, inheritune."""

import math

import numpy as np
import pytest
import torch

from frugalml.finetune import (
    attention_rank_profile,
    energy_rank,
    inherit,
    inheritune,
    random_student,
)
from frugalml.finetune.inheritune import LAZY_RANK, AttentionRankProfile, _extend, block_path, column_mass
from frugalml.lm import SmallLMConfig, count_parameters, make_small_lm

VOCAB = 64


def llama(n_layer=4, tie=True, seed=0):
    cfg = SmallLMConfig(vocab_size=VOCAB, n_layer=n_layer, d_model=32, n_head=2, max_position=64, tie_embeddings=tie)
    return make_small_lm(cfg, random_state=seed).eval()


def gpt2(n_layer=3):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=n_layer, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=64,
                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)   # GPT-2 has no seeded constructor here; fine inside a test
    return GPT2LMHeadModel(cfg).eval()


def block_params(block):
    return dict(block.named_parameters())


def assert_same_block(a, b):
    pa, pb = block_params(a), block_params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k


def tokens(b=2, t=12, seed=0):
    return torch.randint(0, VOCAB, (b, t), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- inherit

def test_inherit_first_copies_blocks_embeddings_norm_head_bit_identically():
    ref = llama()
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    student = inherit(ref, 2)
    assert type(student) is type(ref)
    assert student.config.num_hidden_layers == 2 and len(student.model.layers) == 2
    assert ref.config.num_hidden_layers == 4                      # reference untouched
    for k, v in ref.state_dict().items():
        assert torch.equal(v, before[k])
    for i in range(2):
        assert_same_block(student.model.layers[i], ref.model.layers[i])
    assert torch.equal(student.model.embed_tokens.weight, ref.model.embed_tokens.weight)
    assert torch.equal(student.model.norm.weight, ref.model.norm.weight)
    assert student.lm_head.weight is student.model.embed_tokens.weight          # tied stays tied
    per_block = sum(p.numel() for p in ref.model.layers[0].parameters())
    assert count_parameters(student) == count_parameters(ref) - 2 * per_block


def test_inherit_all_layers_reproduces_reference_outputs_exactly():
    ref = llama()
    x = tokens()
    with torch.no_grad():
        assert torch.equal(inherit(ref, 4)(x).logits, ref(x).logits)


def test_inherit_last_and_index_list_pick_the_right_blocks_in_order():
    ref = llama()
    last = inherit(ref, 2, which="last")
    assert_same_block(last.model.layers[0], ref.model.layers[2])
    assert_same_block(last.model.layers[1], ref.model.layers[3])
    picked = inherit(ref, which=[3, 0, 2])
    assert picked.config.num_hidden_layers == 3
    for i, j in enumerate([3, 0, 2]):
        assert_same_block(picked.model.layers[i], ref.model.layers[j])
    # attention modules are renumbered for the KV cache
    assert [blk.self_attn.layer_idx for blk in picked.model.layers] == [0, 1, 2]
    with torch.no_grad():
        picked.generate(tokens(1, 4), max_new_tokens=3, do_sample=False)


def test_untied_head_is_copied_and_stays_separate():
    ref = llama(tie=False)
    student = inherit(ref, 1)
    assert student.lm_head.weight is not student.model.embed_tokens.weight
    assert torch.equal(student.lm_head.weight, ref.lm_head.weight)
    no_emb = inherit(ref, 1, copy_embeddings=False)
    assert torch.equal(no_emb.lm_head.weight, ref.lm_head.weight)       # official lit-gpt variant: head kept
    assert not torch.equal(no_emb.model.embed_tokens.weight, ref.model.embed_tokens.weight)


def test_without_embeddings_blocks_and_norm_are_inherited_embeddings_fresh_and_seeded():
    ref = llama()
    a = inherit(ref, 2, copy_embeddings=False, random_state=1)
    b = inherit(ref, 2, copy_embeddings=False, random_state=1)
    assert not torch.equal(a.model.embed_tokens.weight, ref.model.embed_tokens.weight)
    assert torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)
    assert a.lm_head.weight is a.model.embed_tokens.weight
    assert torch.equal(a.model.norm.weight, ref.model.norm.weight)
    assert_same_block(a.model.layers[1], ref.model.layers[1])


def test_random_student_same_shape_nothing_copied():
    ref = llama()
    rnd = random_student(ref, 2, random_state=3)
    stu = inherit(ref, 2)
    assert {k: v.shape for k, v in rnd.state_dict().items()} == {k: v.shape for k, v in stu.state_dict().items()}
    assert not torch.equal(rnd.model.layers[0].self_attn.q_proj.weight, ref.model.layers[0].self_attn.q_proj.weight)
    assert not torch.equal(rnd.model.embed_tokens.weight, ref.model.embed_tokens.weight)
    again = random_student(ref, 2, random_state=3)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in rnd.state_dict().items())


def test_save_pretrained_round_trip(tmp_path):
    from transformers import AutoModelForCausalLM

    student = inherit(llama(), 3, which="last")
    student.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.num_hidden_layers == 3
    x = tokens()
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, student(x).logits)


def test_gpt2_layout_with_position_embeddings():
    ref = gpt2(3)
    assert block_path(ref) == "transformer.h"
    student = inherit(ref, 2, which="last")
    assert student.config.n_layer == 2 and len(student.transformer.h) == 2
    assert_same_block(student.transformer.h[0], ref.transformer.h[1])
    assert torch.equal(student.transformer.wpe.weight, ref.transformer.wpe.weight)
    assert torch.equal(student.transformer.ln_f.weight, ref.transformer.ln_f.weight)
    assert student.lm_head.weight is student.transformer.wte.weight
    x = tokens()
    with torch.no_grad():
        assert torch.equal(inherit(ref, 3)(x).logits, ref(x).logits)
    fresh = inherit(ref, 2, copy_embeddings=False)
    assert not torch.equal(fresh.transformer.wpe.weight, ref.transformer.wpe.weight)   # position table too
    assert not torch.equal(fresh.transformer.wte.weight, ref.transformer.wte.weight)


def test_unknown_layout_names_the_class():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stack = torch.nn.ModuleList([torch.nn.Linear(2, 2)])

    with pytest.raises(ValueError, match="Odd"):
        inherit(Odd(), 1)


@pytest.mark.parametrize("n_layers, which, match", [
    (0, "first", "n_layers"), (5, "first", "n_layers"), (-1, "last", "n_layers"), (True, "first", "n_layers"),
    (2, "middle", "which"), (None, [0, 0], "distinct"), (None, [4], "distinct"), (None, [], "empty"),
    (3, [0, 1], "len"), (None, "x1", "which"),
])
def test_bad_arguments_raise_clear_errors(n_layers, which, match):
    with pytest.raises(ValueError, match=match):
        inherit(llama(), n_layers, which=which)


# ---------------------------------------------------------------------------- attention rank

def test_energy_rank_on_hand_made_matrices():
    T = 10
    assert int(energy_rank(torch.full((T, T), 1.0 / T))) == 1                # uniform: rank one
    assert int(energy_rank(torch.eye(T), 1.0)) == T                           # identity: full rank
    assert int(energy_rank(torch.eye(T), 0.9)) == math.ceil(0.9 * T)          # flat spectrum: 90% of T
    assert int(energy_rank(torch.zeros(T, T))) == 0
    first_column = torch.zeros(T, T)
    first_column[:, 0] = 1.0                                                  # collapsed "lazy" attention
    assert int(energy_rank(first_column)) == 1
    with pytest.raises(ValueError, match="energy"):
        energy_rank(torch.eye(3), 0.0)
    with pytest.raises(ValueError, match="energy"):
        energy_rank(torch.eye(3), 1.5)


def test_energy_rank_matches_numpy_brute_force():
    rng = np.random.default_rng(0)
    A = rng.dirichlet(np.ones(9) * 0.3, size=(5, 9))                          # [5, 9, 9] row-stochastic
    for tau in (0.5, 0.9, 0.99):
        got = energy_rank(torch.from_numpy(A), tau).numpy()
        for i in range(5):
            s2 = np.linalg.svd(A[i], compute_uv=False) ** 2
            want = next(k for k in range(1, 10) if s2[:k].sum() >= tau * s2.sum() - 1e-12)
            assert got[i] == want


def test_attention_rank_profile_matches_manual_svd_and_restores_attention_impl():
    model = llama(n_layer=3)
    x = tokens(3, 16, seed=1)
    impl = model.config._attn_implementation
    prof = attention_rank_profile(model, [x[:2], {"input_ids": x[2:]}])
    assert model.config._attn_implementation == impl and not model.training
    assert prof.ranks.shape == (3, 2) and prof.n_sequences == 3 and prof.seq_len == 16
    model.set_attn_implementation("eager")
    with torch.no_grad():
        att = model(input_ids=x, output_attentions=True).attentions           # L x [B, H, T, T]
    want = np.zeros((3, 2))
    for layer in range(3):
        for h in range(2):
            for b in range(3):
                s2 = np.linalg.svd(att[layer][b, h].double().numpy(), compute_uv=False) ** 2
                want[layer, h] += next(k for k in range(1, 17) if s2[:k].sum() >= 0.9 * s2.sum() - 1e-12) / 3
    np.testing.assert_allclose(prof.ranks, want)
    np.testing.assert_allclose(prof.max_rank, want.max(1))


def test_column_mass_on_hand_made_matrices():
    T = 8
    first_column = torch.zeros(T, T)
    first_column[:, 0] = 1.0                                                  # every query on one key
    assert float(column_mass(first_column)) == pytest.approx(1.0)
    assert float(column_mass(torch.eye(T))) == pytest.approx(1 / T)           # each query on itself
    causal_uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    harmonic = sum(1 / i for i in range(1, T + 1))                            # column 0 gets sum_i 1/i
    assert float(column_mass(causal_uniform)) == pytest.approx(harmonic / T)
    assert float(column_mass(torch.zeros(T, T))) == 0.0
    assert column_mass(torch.stack([first_column, torch.eye(T)])).shape == (2,)


def test_lazy_share_counts_heads_at_or_below_the_threshold():
    ranks = np.array([[1.0, 1.5, 3.0], [2.0, 4.0, 1.6]])
    prof = AttentionRankProfile(ranks=ranks, max_rank=ranks.max(1), seq_len=8.0, n_sequences=1, energy=0.9)
    assert LAZY_RANK == 1.5
    np.testing.assert_allclose(prof.lazy_share(), [2 / 3, 0.0])
    np.testing.assert_allclose(prof.lazy_share(2.0), [2 / 3, 2 / 3])
    d = prof.to_dict()
    assert d["lazy_share"] == pytest.approx([2 / 3, 0.0]) and d["column_mass"] is None


def test_attention_rank_profile_column_mass_matches_manual():
    model = llama(n_layer=2)
    x = tokens(2, 12, seed=3)
    prof = attention_rank_profile(model, [x])
    model.set_attn_implementation("eager")
    with torch.no_grad():
        att = model(input_ids=x, output_attentions=True).attentions           # L x [B, H, T, T]
    want = np.zeros((2, 2))
    for layer in range(2):
        for h in range(2):
            for b in range(2):
                a = att[layer][b, h].double().numpy()
                want[layer, h] += a.sum(0).max() / a.sum() / 2
    np.testing.assert_allclose(prof.column_mass, want, rtol=1e-6)


def test_attention_rank_profile_on_hand_made_uniform_causal_attention():
    # q_proj = 0 makes every score 0: each head attends uniformly over the prefix, rows 1/(i+1).
    model = llama(n_layer=2)
    for blk in model.model.layers:
        torch.nn.init.zeros_(blk.self_attn.q_proj.weight)
    T = 12
    causal_uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    prof = attention_rank_profile(model, [tokens(2, T)])
    assert np.all(prof.ranks == int(energy_rank(causal_uniform)))


def test_attention_rank_profile_ignores_padding():
    model = llama(n_layer=2)
    x = tokens(1, 10, seed=2)
    padded = {"input_ids": torch.cat([x, torch.zeros(1, 6, dtype=torch.long)], 1),
              "attention_mask": torch.cat([torch.ones(1, 10), torch.zeros(1, 6)], 1).long()}
    np.testing.assert_allclose(attention_rank_profile(model, [padded]).ranks, attention_rank_profile(model, [x]).ranks)
    assert attention_rank_profile(model, [padded]).seq_len == 10
    with pytest.raises(ValueError, match="no sequence"):
        attention_rank_profile(model, [])


# ---------------------------------------------------------------------------- growth loop

class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, n, t=16, seed=0):
        self.x = tokens(n, t, seed)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.x[i].clone()}


def test_inheritune_stops_when_matched_and_grows_otherwise():
    ref = llama()
    train, val = RandomTokens(16), RandomTokens(8, seed=1)
    kw = dict(start_layers=1, step=1, max_rounds=3, steps_per_round=2, batch_size=8, lr=1e-3)
    done = inheritune(ref, train, val, reference_loss=float("inf"), **kw)
    assert [h["n_layers"] for h in done.history] == [1] and done.matched and done.n_layers == 1
    grown = inheritune(ref, train, val, reference_loss=-1.0, **kw)
    assert [h["n_layers"] for h in grown.history] == [1, 2, 3] and not grown.matched
    assert grown.model.config.num_hidden_layers == 3 and all(h["steps"] == 2 for h in grown.history)
    capped = inheritune(ref, train, val, reference_loss=-1.0, **{**kw, "start_layers": 3, "step": 2})
    assert [h["n_layers"] for h in capped.history] == [3]                       # cannot grow past L = 4
    default = inheritune(ref, train, val, max_rounds=1, steps_per_round=1, batch_size=8)
    assert default.history[0]["n_layers"] == 2                                  # L / 2
    assert default.reference_loss == pytest.approx(
        __import__("frugalml.lm", fromlist=["evaluate_loss"]).evaluate_loss(ref, val))


def test_extend_keeps_trained_blocks_and_appends_reference_blocks():
    ref = llama()
    student = inherit(ref, 2)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.5)                                                          # "trained"
    grown = _extend(student, ref, 4, True, 0)
    assert_same_block(grown.model.layers[1], student.model.layers[1])
    assert_same_block(grown.model.layers[2], ref.model.layers[2])
    assert torch.equal(grown.model.embed_tokens.weight, student.model.embed_tokens.weight)
    out = inheritune(ref, RandomTokens(16), RandomTokens(8, seed=1), start_layers=2, max_rounds=2,
                     steps_per_round=1, regrow="extend", reference_loss=-1.0, batch_size=8)
    assert [h["n_layers"] for h in out.history] == [2, 4]


def test_inheritune_bad_arguments():
    ref, data = llama(), RandomTokens(8)
    with pytest.raises(ValueError, match="regrow"):
        inheritune(ref, data, data, max_rounds=1, steps_per_round=1, regrow="grow")
    with pytest.raises(ValueError, match="start_layers"):
        inheritune(ref, data, data, start_layers=5, max_rounds=1, steps_per_round=1)
    with pytest.raises(ValueError, match="max_layers"):
        inheritune(ref, data, data, max_layers=9, max_rounds=1, steps_per_round=1)
    with pytest.raises(ValueError, match="steps_per_round"):
        inheritune(ref, data, data, max_rounds=1, steps_per_round=0)
