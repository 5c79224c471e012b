"""FLOW's vision recipe: per-sample losses, weighted SGD fine-tuning, linear probe."""

import copy

import numpy as np
import pytest
import torch

from frugalml.finetune.vision import accuracy, classification_losses, finetune_classifier, linear_probe


def _mlp(seed=0, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.ReLU(), torch.nn.Linear(8, k))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net


def _data(n=40, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, k, n)


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_classification_losses_by_hand_and_accuracy():
    net, (X, y) = _mlp(), _data()
    got = classification_losses(net, X, y, batch_size=7)
    logp = torch.log_softmax(net(torch.from_numpy(X)), 1).detach().numpy()
    np.testing.assert_allclose(got, -logp[np.arange(len(y)), y], rtol=1e-5)
    assert accuracy(net, X, y) == pytest.approx(np.mean(logp.argmax(1) == y))
    with pytest.raises(ValueError, match="outside"):
        classification_losses(net, X, np.full(len(y), 5))
    with pytest.raises(ValueError, match="y must be"):
        classification_losses(net, X, y[:-1])


def test_one_sgd_step_is_the_weighted_mean_gradient():
    net, (X, y) = _mlp(), _data()
    w = np.random.default_rng(2).uniform(0, 1, len(y))
    ref = copy.deepcopy(net)
    finetune_classifier(net, X, y, sample_weights=w, lr=0.1, momentum=0.0, weight_decay=0.0, epochs=1,
                        batch_size=len(y), schedule="constant")
    losses = torch.nn.functional.cross_entropy(ref(torch.from_numpy(X)), torch.from_numpy(y), reduction="none")
    (torch.from_numpy(w).float() * losses).mean().backward()
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q - 0.1 * q.grad)


def test_unit_weights_are_standard_and_weights_matter():
    net, (X, y) = _mlp(), _data()
    kw = dict(lr=0.05, epochs=2, batch_size=8, random_state=3)
    a, b, c = copy.deepcopy(net), copy.deepcopy(net), copy.deepcopy(net)
    finetune_classifier(a, X, y, **kw)
    finetune_classifier(b, X, y, sample_weights=np.ones(len(y)), **kw)
    finetune_classifier(c, X, y, sample_weights=np.linspace(0.1, 1, len(y)), **kw)
    assert _same(a, b) and not _same(a, c) and not _same(a, net)


def test_unnormalised_weights_equal_a_smaller_step_under_sgd():
    """Without weight decay, SGD (momentum too) on c*w at lr is SGD on w at lr*c: the paper form's mean(w)."""
    net, (X, y) = _mlp(), _data()
    w = np.random.default_rng(4).uniform(0.1, 1, len(y))
    kw = dict(momentum=0.9, weight_decay=0.0, epochs=3, batch_size=8, random_state=5)
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    finetune_classifier(a, X, y, sample_weights=w, lr=0.05, **kw)
    finetune_classifier(b, X, y, sample_weights=w / w.mean(), lr=0.05 * w.mean(), **kw)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_finetune_classifier_bad_inputs():
    net, (X, y) = _mlp(), _data()
    for kw, match in ((dict(lr=0), "lr"), (dict(epochs=1.5), "epochs"), (dict(momentum=1.0), "momentum"),
                      (dict(schedule="step"), "schedule"), (dict(sample_weights=np.ones(3)), "sample_weights"),
                      (dict(sample_weights=-np.ones(len(y))), "sample_weights")):
        with pytest.raises(ValueError, match=match):
            finetune_classifier(net, X, y, **kw)
    with pytest.raises(ValueError, match="NaN"):
        finetune_classifier(net, np.full_like(X, np.nan), y)


@pytest.mark.parametrize("k", [2, 4])
def test_linear_probe_reproduces_logistic_regression(k):
    from sklearn.linear_model import LogisticRegression

    X, y = _data(n=120, k=k, seed=1)
    body = _mlp(d=6, k=5)[:2]  # Linear + ReLU: 8 features
    head = linear_probe(body, X, y, C=0.5)
    feats = body(torch.from_numpy(X)).detach().numpy().astype(np.float64)
    ref = LogisticRegression(C=0.5, max_iter=500).fit(feats, y)
    np.testing.assert_allclose(torch.softmax(head(body(torch.from_numpy(X))), 1).detach().numpy(),
                               ref.predict_proba(feats), atol=1e-5)
    with pytest.raises(ValueError, match="every class"):
        linear_probe(body, X, np.where(y == 0, k + 1, y))
