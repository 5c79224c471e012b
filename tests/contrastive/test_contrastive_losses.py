"""InfoNCE / CLIP losses: a naive loop reference, closed forms and gradient checks."""

import math

import numpy as np
import pytest
import torch

from frugalml.contrastive import clip_loss, info_nce_loss


def _naive_info_nce(z, zp, tau, sim):
    def s(a, b):
        if sim == "cosine":
            return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
        return sum(x * y for x, y in zip(a, b))

    n = len(z)
    total = 0.0
    for i in range(n):
        logits = [s(z[i], zp[j]) / tau for j in range(n)]
        total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    return total / n


@pytest.mark.parametrize("sim", ["dot", "cosine"])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_info_nce_matches_naive_loop(sim, tau):
    rng = np.random.default_rng(0)
    z, zp = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    got = info_nce_loss(torch.tensor(z), torch.tensor(zp), tau, sim).item()
    assert got == pytest.approx(_naive_info_nce(z.tolist(), zp.tolist(), tau, sim), rel=1e-10)


def test_closed_forms():
    n = 8
    # all-zero embeddings: every candidate equally likely -> log n
    assert info_nce_loss(torch.zeros(n, 2), torch.zeros(n, 2)).item() == pytest.approx(math.log(n))
    # orthogonal, aligned positives with a tiny temperature: loss -> 0
    e = torch.eye(n, dtype=torch.float64)
    assert info_nce_loss(e, e, temperature=0.01).item() < 1e-30


def test_clip_is_the_mean_of_both_directions_and_symmetric():
    rng = np.random.default_rng(1)
    zx, zy = torch.tensor(rng.standard_normal((5, 3))), torch.tensor(rng.standard_normal((5, 3)))
    ref = 0.5 * (_naive_info_nce(zx.tolist(), zy.tolist(), 0.5, "dot") + _naive_info_nce(zy.tolist(), zx.tolist(), 0.5, "dot"))
    assert clip_loss(zx, zy, 0.5).item() == pytest.approx(ref, rel=1e-10)
    assert clip_loss(zy, zx, 0.5).item() == pytest.approx(ref, rel=1e-10)


def _loss_of_A(A, X, Xp, tau, sim):
    return info_nce_loss(X @ A.T, Xp @ A.T, tau, sim)


def test_gradient_closed_form_dot():
    """dL/dA = G^T X + G'^T X_pos with dL/dS = (softmax(S) - I)/n, S = Z Zp^T / tau."""
    rng = np.random.default_rng(2)
    n, d, r, tau = 7, 5, 2, 0.7
    X, Xp, A = rng.standard_normal((n, d)), rng.standard_normal((n, d)), rng.standard_normal((r, d))
    Z, Zp = X @ A.T, Xp @ A.T
    S = Z @ Zp.T / tau
    P = np.exp(S - S.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    dS = (P - np.eye(n)) / n
    dZ, dZp = dS @ Zp / tau, dS.T @ Z / tau
    closed = dZ.T @ X + dZp.T @ Xp
    At = torch.tensor(A, requires_grad=True)
    _loss_of_A(At, torch.tensor(X), torch.tensor(Xp), tau, "dot").backward()
    np.testing.assert_allclose(At.grad.numpy(), closed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sim", ["dot", "cosine"])
def test_gradient_matches_finite_differences(sim):
    rng = np.random.default_rng(3)
    n, d, r, tau, h = 6, 4, 2, 0.5, 1e-6
    X, Xp = torch.tensor(rng.standard_normal((n, d))), torch.tensor(rng.standard_normal((n, d)))
    A = torch.tensor(rng.standard_normal((r, d)), requires_grad=True)
    _loss_of_A(A, X, Xp, tau, sim).backward()
    fd = np.zeros((r, d))
    with torch.no_grad():
        for i in range(r):
            for j in range(d):
                E = torch.zeros(r, d, dtype=torch.float64)
                E[i, j] = h
                fd[i, j] = (_loss_of_A(A + E, X, Xp, tau, sim) - _loss_of_A(A - E, X, Xp, tau, sim)).item() / (2 * h)
    np.testing.assert_allclose(A.grad.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        info_nce_loss(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="similarity"):
        info_nce_loss(torch.zeros(3, 2), torch.zeros(3, 2), similarity="l2")
    with pytest.raises(ValueError, match="same shape"):
        clip_loss(torch.zeros(3, 2), torch.zeros(3, 5))
