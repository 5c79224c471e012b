"""Attention units against hand-computed Nadaraya-Watson and linear-attention formulas."""

import math

import numpy as np
import pytest
import torch

from frugalml.icl import (
    AffineTasks,
    LinearAttentionRegressor,
    SoftmaxAttentionRegressor,
    attention_window,
    nadaraya_watson,
    subspace_concentration,
)


def _sphere(rng, *shape):
    z = rng.standard_normal(shape)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def test_two_point_closed_form():
    # x1 = e1, x2 = e2, query e1: weights exp(w) : exp(0)
    w = 2.0
    model = SoftmaxAttentionRegressor(2, init_w=w, dtype=torch.float64)
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    y = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    xq = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    expected = (3.0 * math.exp(w) - 1.0) / (math.exp(w) + 1.0)
    assert float(model(x, y, xq).detach()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("w", [0.3, 4.0, 25.0])
def test_softmax_attention_equals_nadaraya_watson_on_the_sphere(w):
    rng = np.random.default_rng(0)
    x, xq, y = _sphere(rng, 12, 3), _sphere(rng, 5, 3), rng.standard_normal(12)
    model = SoftmaxAttentionRegressor(3, init_w=w, dtype=torch.float64)
    got = model(torch.tensor(x[None]), torch.tensor(y[None]), torch.tensor(xq[None]))[0].detach().numpy()
    ref = nadaraya_watson(x, y, xq, bandwidth=1 / math.sqrt(w))
    # brute force loop, independent of both
    brute = [sum(math.exp(w * x[i] @ q) * y[i] for i in range(12)) / sum(math.exp(w * x[i] @ q) for i in range(12))
             for q in xq]
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    np.testing.assert_allclose(got, brute, rtol=1e-10)


def test_full_identity_equals_scalar_and_single_query_shape():
    batch = AffineTasks(4).sample(6, 9, random_state=0, dtype=torch.float64)
    a = SoftmaxAttentionRegressor(4, "scalar", init_w=3.0, dtype=torch.float64)
    b = SoftmaxAttentionRegressor(4, "full", init_w=3.0, dtype=torch.float64)
    pa, pb = a.predict_batch(batch), b.predict_batch(batch)
    assert pa.shape == (6,)
    torch.testing.assert_close(pa, pb)
    assert a.w == pytest.approx(3.0) and b.w == pytest.approx(3.0)


def test_context_permutation_invariance_and_weights_sum_to_one():
    batch = AffineTasks(3).sample(4, 10, random_state=1, dtype=torch.float64)
    model = SoftmaxAttentionRegressor(3, "full", init_w=2.0, dtype=torch.float64)
    with torch.no_grad():
        model.M.add_(0.3 * torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    p1 = model(batch.x, batch.y, batch.x_query)
    p2 = model(batch.x[:, perm], batch.y[:, perm], batch.x_query)
    torch.testing.assert_close(p1, p2)
    a = model.attention(batch.x, batch.x_query)
    torch.testing.assert_close(a.sum(-1), torch.ones(4, dtype=torch.float64))
    # asymmetric M: the score is x_i^T M x_q, not x_q^T M x_i
    s = batch.x[0] @ model.M.detach() @ batch.x_query[0]
    torch.testing.assert_close(a[0], torch.softmax(s, 0))


def test_linear_attention_formula():
    rng = np.random.default_rng(2)
    x, xq, y = _sphere(rng, 1, 7, 3), _sphere(rng, 1, 3), rng.standard_normal((1, 7))
    M = rng.standard_normal((3, 3))
    model = LinearAttentionRegressor(3, dtype=torch.float64)
    with torch.no_grad():
        model.M.copy_(torch.tensor(M))
    got = float(model(torch.tensor(x), torch.tensor(y), torch.tensor(xq)).detach())
    brute = sum(y[0, i] * x[0, i] @ M @ xq[0] for i in range(7)) / 7
    assert got == pytest.approx(brute, rel=1e-12)


def test_multiple_queries_per_context():
    batch = AffineTasks(3).sample(2, 8, random_state=0, dtype=torch.float64)
    model = SoftmaxAttentionRegressor(3, init_w=5.0, dtype=torch.float64)
    xq = torch.stack([batch.x_query, -batch.x_query], dim=1)  # (2, 2, 3)
    out = model(batch.x, batch.y, xq)
    assert out.shape == (2, 2)
    torch.testing.assert_close(out[:, 0], model(batch.x, batch.y, batch.x_query))


def test_n_eff_limits():
    small = attention_window(SoftmaxAttentionRegressor(3, init_w=1e-6), context_size=20, n_contexts=100)
    big = attention_window(SoftmaxAttentionRegressor(3, init_w=500.0), context_size=20, n_contexts=100)
    assert small["n_eff"] == pytest.approx(20.0, rel=1e-3)  # uniform attention
    assert 1.0 <= big["n_eff"] < 2.0  # nearest neighbour
    assert small["w"] == pytest.approx(1e-6) and big["radius"] == pytest.approx(1 / math.sqrt(500))
    assert attention_window(SoftmaxAttentionRegressor(3))["n_eff"] is None


def test_subspace_concentration():
    P = np.diag([1.0, 1.0, 0.0, 0.0])
    assert subspace_concentration(3 * P, P) == pytest.approx(0.0)
    assert subspace_concentration(np.eye(4), P) == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ValueError, match="zero"):
        subspace_concentration(np.zeros((4, 4)), P)


def test_bad_inputs():
    model = SoftmaxAttentionRegressor(3)
    x, y, xq = torch.zeros(2, 4, 3), torch.zeros(2, 4), torch.zeros(2, 3)
    with pytest.raises(ValueError, match="x has d=2"):
        model(torch.zeros(2, 4, 2), y, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        model(x, torch.zeros(2, 5), xq)
    with pytest.raises(ValueError, match="x_query must have shape"):
        model(x, y, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="parametrization"):
        SoftmaxAttentionRegressor(3, parametrization="diag")
    with pytest.raises(ValueError, match="init_w"):
        SoftmaxAttentionRegressor(3, init_w=0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        nadaraya_watson(np.zeros((2, 2)), np.zeros(2), np.zeros(2), bandwidth=-1.0)
    with pytest.raises(ValueError, match="linear attention has no window"):
        attention_window(LinearAttentionRegressor(3))
