"""SVFT adapters: the paper's lemma, exact identities, PEFT-shaped round trips, parameter counts."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from frugalml.finetune import finetune
from frugalml.finetune.svft import (
    SVFTConfig,
    SVFTLayer,
    apply_svft,
    banded_count,
    disable_adapters,
    enable_adapters,
    load_svft,
    merge,
    merge_and_unload,
    print_trainable_parameters,
    save_svft,
    svft_layers,
    thin_svd,
    trainable_parameters,
    unmerge,
)
from frugalml.lm import PromptResponseDataset, SmallLMConfig, make_small_lm, synthetic_arithmetic_task, train_tokenizer


class Net(nn.Module):
    """One linear layer of a given shape (d_in -> d_out), to test a single SVFT layer."""

    def __init__(self, d_in, d_out, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = nn.Linear(d_in, d_out)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(d_out, d_in, generator=g))
            self.proj.bias.copy_(torch.randn(d_out, generator=g))

    def forward(self, x):
        return self.proj(x)


def _layer(model) -> SVFTLayer:
    (layer,) = svft_layers(model).values()
    return layer


def _set_m(layer, values):
    with torch.no_grad():
        layer.svft_m.copy_(torch.as_tensor(values, dtype=torch.float32))


@pytest.fixture(scope="module")
def llama():
    return make_small_lm(SmallLMConfig(vocab_size=97, n_layer=2, d_model=32, n_head=2), random_state=0)


@pytest.fixture(scope="module")
def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=97, n_positions=32, n_embd=24, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    with torch.random.fork_rng(devices=[]):   # the GPT-2 constructor draws from the global generator
        torch.manual_seed(0)
        return GPT2LMHeadModel(cfg).eval()


TOKENS = torch.randint(0, 97, (3, 11), generator=torch.Generator().manual_seed(1))


def _perturb(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in svft_layers(model).values():
            layer.svft_m.copy_(0.3 * torch.randn(layer.k, generator=g))


# ---- the SVD and the paper's lemma ---------------------------------------------------------

def test_thin_svd_reconstructs_and_is_reproducible():
    W = torch.randn(9, 5, generator=torch.Generator().manual_seed(0))
    U, S, V = thin_svd(W)
    torch.testing.assert_close(U @ torch.diag(S) @ V.T, W, atol=1e-5, rtol=0)
    torch.testing.assert_close(U.T @ U, torch.eye(5), atol=1e-5, rtol=0)
    # fixed sign convention: the largest-|.| entry of each u_i is positive, also for -W's flipped SVD
    assert (U.gather(0, U.abs().argmax(0, keepdim=True)) > 0).all()
    U2, _, V2 = thin_svd(W.clone())
    assert torch.equal(U, U2) and torch.equal(V, V2)


def test_lemma_a_diagonal_m_keeps_the_singular_vectors():
    model = apply_svft(Net(8, 6), SVFTConfig(target_modules=["proj"], pattern="plain"))
    layer = _layer(model)
    _set_m(layer, [0.5, -0.2, 1.0, 0.3, -0.1, 0.7])
    W = layer.base_layer.weight.detach() + layer.get_delta_weight().detach()
    core = layer.svft_U.T @ W @ layer.svft_V                          # [r, r]: must be diagonal
    torch.testing.assert_close(core - torch.diag(torch.diagonal(core)), torch.zeros(6, 6), atol=1e-5, rtol=0)
    # W's own singular vectors are U's columns up to sign and order (distinct singular values)
    _, S0, _ = thin_svd(layer.base_layer.weight.detach())
    np.testing.assert_allclose(np.sort(np.abs(torch.diagonal(core).numpy())),
                               np.sort(np.abs((S0 + layer.svft_m.detach()).numpy())), atol=1e-5)


def test_lemma_b_a_full_m_reaches_any_target_weight():
    d = 6
    model = apply_svft(Net(d, d), SVFTConfig(target_modules=["proj"], pattern="banded", off_diag=d - 1))
    layer = _layer(model)
    assert layer.k == d * d
    P = torch.randn(d, d, generator=torch.Generator().manual_seed(3))
    M = layer.svft_U.T @ (P - layer.base_layer.weight.detach()) @ layer.svft_V      # M = U^T (P - W0) V
    _set_m(layer, M[layer.svft_rows, layer.svft_cols])
    merge(model)
    torch.testing.assert_close(layer.base_layer.weight.detach(), P, atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_lemma_c_rank_of_the_update_is_at_most_the_number_of_entries(k):
    model = apply_svft(Net(10, 7), SVFTConfig(target_modules=["proj"], pattern="random", n_random=k, seed=k))
    layer = _layer(model)
    _set_m(layer, torch.randn(k, generator=torch.Generator().manual_seed(k)) + 2.0)
    rank = int(torch.linalg.matrix_rank(layer.get_delta_weight().detach(), rtol=1e-5))   # float32 noise floor
    assert rank <= min(k, 7)
    assert rank >= 1


# ---- exact identities ----------------------------------------------------------------------

@pytest.mark.parametrize("forward", ["factored", "dense"])
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_zero_init_outputs_equal_the_base_model(arch, forward, request):
    base = request.getfixturevalue(arch)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] if arch == "llama" \
        else ["c_attn", "c_proj", "c_fc"]
    model = apply_svft(copy.deepcopy(base), SVFTConfig(target_modules=targets, pattern="banded", off_diag=1,
                                                       forward=forward))
    assert len(svft_layers(model)) == (14 if arch == "llama" else 8)
    with torch.no_grad():
        ref, out = base(TOKENS).logits, model(TOKENS).logits
    if forward == "factored" or arch == "llama":
        assert torch.equal(out, ref)        # base output + exactly zero / the same F.linear
    else:
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)   # Conv1D's addmm vs F.linear


@pytest.mark.parametrize("pattern,kw", [("plain", {}), ("banded", {"off_diag": 2}), ("random", {"n_random": 40}),
                                        ("topk", {"top_k": 30})])
def test_factored_and_dense_forward_agree_in_value_and_gradient(llama, pattern, kw):
    targets = ["q_proj", "o_proj"] if pattern == "topk" else ["q_proj", "up_proj", "down_proj"]
    grads = {}
    for forward in ("factored", "dense"):
        model = apply_svft(copy.deepcopy(llama), SVFTConfig(target_modules=targets, pattern=pattern,
                                                            init="kaiming_gated", forward=forward, **kw))
        out = model(TOKENS).logits
        out.pow(2).mean().backward()
        grads[forward] = (out.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad])
    torch.testing.assert_close(grads["factored"][0], grads["dense"][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(grads["factored"][1], grads["dense"][1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_merge_unmerge_disable_and_unload(arch, request):
    base = request.getfixturevalue(arch)
    targets = "model\\.layers\\.\\d+\\.(self_attn|mlp)\\.\\w+_proj" if arch == "llama" else ["c_attn", "c_fc"]
    model = apply_svft(copy.deepcopy(base), SVFTConfig(target_modules=targets, pattern="random", off_diag=1,
                                                       init="kaiming_gated", seed=4))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    with torch.no_grad():
        adapted = model(TOKENS).logits
        ref = base(TOKENS).logits
        assert not torch.allclose(adapted, ref)             # kaiming init + gate 0.5: Delta W != 0
        disable_adapters(model)
        assert torch.equal(model(TOKENS).logits, ref)
        enable_adapters(model)
        merge(model)
        torch.testing.assert_close(model(TOKENS).logits, adapted, atol=1e-5, rtol=1e-5)
        unmerge(model)
        for name, layer in svft_layers(model).items():
            key = f"{name}.weight"
            torch.testing.assert_close(layer.base_layer.weight, before[key], atol=1e-6, rtol=0)
        torch.testing.assert_close(model(TOKENS).logits, adapted, atol=1e-6, rtol=0)
        plain = merge_and_unload(model)
        assert type(plain) is type(base) and not svft_layers(plain)
        assert plain.state_dict().keys() == base.state_dict().keys()
        torch.testing.assert_close(plain(TOKENS).logits, adapted, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_save_load_round_trip_on_a_fresh_copy(arch, request, tmp_path):
    base = request.getfixturevalue(arch)
    targets = ["q_proj", "v_proj", "down_proj"] if arch == "llama" else ["c_attn", "c_proj"]
    cfg = SVFTConfig(target_modules=targets, pattern="random", n_random=50, init="kaiming_gated", seed=7,
                     basis="random" if arch == "gpt2" else "svd", modules_to_save=["norm"] if arch == "llama" else None)
    model = apply_svft(copy.deepcopy(base), cfg)
    _perturb(model, 1)
    if arch == "llama":
        with torch.no_grad():
            model.model.norm.weight.add_(0.25)
    with torch.no_grad():
        expected = model(TOKENS).logits
    path = save_svft(model, tmp_path / "adapter")
    assert {p.name for p in path.iterdir()} == {"adapter_model.safetensors", "adapter_config.json"}
    # adapter only: far smaller than the model
    assert (path / "adapter_model.safetensors").stat().st_size < 0.2 * sum(p.numel() * 4 for p in base.parameters())
    loaded = load_svft(copy.deepcopy(base), path)
    with torch.no_grad():
        assert torch.equal(loaded(TOKENS).logits, expected)
    for name, layer in svft_layers(loaded).items():
        assert torch.equal(layer.svft_rows, svft_layers(model)[name].svft_rows)


def test_training_moves_only_m_and_modules_to_save(llama):
    model = apply_svft(copy.deepcopy(llama), SVFTConfig(target_modules=["q_proj", "v_proj"], pattern="banded",
                                                        off_diag=1, modules_to_save=["lm_head"]))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(n.endswith("svft_m") or "lm_head" in n or "embed_tokens" in n for n in trainable)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(TOKENS, labels=TOKENS).loss
    loss.backward()
    opt.step()
    layer = svft_layers(model)["model.layers.0.self_attn.q_proj"]
    assert layer.svft_m.abs().sum() > 0
    assert torch.equal(layer.base_layer.weight, llama.model.layers[0].self_attn.q_proj.weight)


# ---- parameter counts ------------------------------------------------------------------------

def _gemma_2b_on_meta():
    from transformers import GemmaConfig, GemmaForCausalLM

    cfg = GemmaConfig(vocab_size=256000, hidden_size=2048, intermediate_size=16384, num_hidden_layers=18,
                      num_attention_heads=8, num_key_value_heads=1, head_dim=256)
    with torch.device("meta"):
        return GemmaForCausalLM(cfg)


@pytest.mark.parametrize("pattern,kw,expected", [
    ("plain", {}, 193_536),                          # paper, Table 2: SVFT^P on Gemma-2B, 0.19M
    ("random", {"off_diag": 16}, 6_352_416),         # paper, Table 2: SVFT^R d=16, 6.35M
])
def test_gemma_2b_counts_match_the_paper(pattern, kw, expected):
    model = apply_svft(_gemma_2b_on_meta(), SVFTConfig(pattern=pattern, **kw))
    assert len(svft_layers(model)) == 18 * 7
    assert trainable_parameters(model) == expected


@pytest.mark.parametrize("pattern,kw,expected", [
    ("plain", {}, 7), ("banded", {"off_diag": 2}, banded_count(7, 2)), ("banded", {"off_diag": 6}, 49),
    ("random", {"n_random": 20}, 20), ("random", {"off_diag": 1}, 3 * 7 - 2),
])
def test_counts_are_exact_for_non_square_layers(pattern, kw, expected):
    for d_in, d_out in ((12, 7), (7, 12)):
        model = apply_svft(Net(d_in, d_out), SVFTConfig(target_modules=["proj"], pattern=pattern, **kw))
        assert trainable_parameters(model) == expected
        layer = _layer(model)
        pairs = set(zip(layer.svft_rows.tolist(), layer.svft_cols.tolist()))
        assert len(pairs) == expected and all(0 <= i < 7 and 0 <= j < 7 for i, j in pairs)


def test_banded_support_is_the_band_and_counts_follow_the_formula():
    model = apply_svft(Net(9, 9), SVFTConfig(target_modules=["proj"], pattern="banded", off_diag=2))
    layer = _layer(model)
    brute = {(i, j) for i in range(9) for j in range(9) if abs(i - j) <= 2}
    assert set(zip(layer.svft_rows.tolist(), layer.svft_cols.tolist())) == brute
    assert len(brute) == banded_count(9, 2) == 9 * 5 - 6


def test_topk_picks_the_largest_alignments_by_brute_force():
    model = apply_svft(Net(9, 9), SVFTConfig(target_modules=["proj"], pattern="topk", top_k=10))
    layer = _layer(model)
    A = (layer.svft_U.T @ layer.svft_V).abs().numpy()          # alignment |u_i^T v_j|
    order = np.argsort(-A.reshape(-1))[:10]
    assert set(zip(layer.svft_rows.tolist(), layer.svft_cols.tolist())) == {divmod(int(f), 9) for f in order}


def test_random_support_is_seeded_and_distinct():
    sup = []
    for seed in (0, 0, 1):
        layer = _layer(apply_svft(Net(30, 20), SVFTConfig(target_modules=["proj"], pattern="random", n_random=150,
                                                          seed=seed)))
        sup.append(list(zip(layer.svft_rows.tolist(), layer.svft_cols.tolist())))
    assert sup[0] == sup[1] != sup[2]
    assert len(set(sup[0])) == 150


def test_kaiming_gated_adds_one_gate_per_layer(llama):
    plain = apply_svft(copy.deepcopy(llama), SVFTConfig(pattern="plain"))
    gated = apply_svft(copy.deepcopy(llama), SVFTConfig(pattern="plain", init="kaiming_gated"))
    assert trainable_parameters(gated) == trainable_parameters(plain) + 14
    line = print_trainable_parameters(plain)
    assert line.startswith(f"trainable params: {trainable_parameters(plain):,d} ||")


# ---- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg,match", [
    (dict(pattern="diagonal"), "pattern"),
    (dict(target_modules=["nope"]), "target_modules"),
    (dict(target_modules="(unclosed"), "target_modules"),
    (dict(pattern="random", n_random=7 * 7 + 1), "n_random=50 exceeds"),
    (dict(pattern="banded", off_diag=7), "off_diag=7"),
    (dict(pattern="topk", top_k=3), "square"),
    (dict(init="normal"), "init"),
    (dict(n_random=0, pattern="random"), "n_random"),
])
def test_bad_configs_raise_value_errors_naming_the_argument(cfg, match):
    with pytest.raises(ValueError, match=match):
        apply_svft(Net(12, 7), SVFTConfig(**{"target_modules": ["proj"], **cfg}))


def test_non_linear_targets_and_double_application_raise(llama):
    with pytest.raises(ValueError, match="embed_tokens is a Embedding"):
        apply_svft(copy.deepcopy(llama), SVFTConfig(target_modules=["embed_tokens"]))
    model = apply_svft(copy.deepcopy(llama), SVFTConfig())
    with pytest.raises(ValueError, match="already has SVFT"):
        apply_svft(model, SVFTConfig())
    with pytest.raises(ValueError, match="no SVFT layers"):
        merge(copy.deepcopy(llama))


# ---- the shared fine-tuning loop -------------------------------------------------------------

def test_finetune_method_svft_trains_and_returns_a_plain_model():
    task = synthetic_arithmetic_task(24, 8, random_state=0)
    tok = train_tokenizer([p + r for p, r in zip(task.train_prompts, task.train_responses)] * 3, vocab_size=300)
    ds = PromptResponseDataset(tok, task.train_prompts, task.train_responses, max_length=48)
    base = make_small_lm(SmallLMConfig(n_layer=2, d_model=32, n_head=2), tokenizer=tok, random_state=0)
    cfg = SVFTConfig(pattern="banded", off_diag=1)
    out = finetune(copy.deepcopy(base), ds, method="svft", svft_config=cfg, lr=1e-2, epochs=3, batch_size=8,
                   pad_token_id=tok.pad_token_id)
    assert out.n_trainable == 14 * banded_count(32, 1)
    assert type(out.model) is type(base) and not svft_layers(out.model)
    losses = [h["loss"] for h in out.train.history]
    assert losses[-1] < losses[0]
    changed = [k for k, v in out.model.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed and all(k.endswith("_proj.weight") for k in changed)
