"""TorchMLPClassifier: the proxy embedding, and dropout that follows random_state only."""

import numpy as np
import torch

from frugalml.noisy_labels import TorchMLPClassifier


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def test_embed_is_the_last_hidden_layer():
    X, y = _data()
    clf = TorchMLPClassifier(hidden_sizes=(16, 8), max_epochs=3, validation_fraction=0, random_state=0).fit(X, y)
    Z = clf.embed(X)
    assert Z.shape == (120, 8) and (Z >= 0).all()  # after ReLU
    W, b = clf.module_[-1].weight.detach().numpy(), clf.module_[-1].bias.detach().numpy()
    logits = torch.log(torch.from_numpy(clf.predict_proba(X)))
    np.testing.assert_allclose(torch.log_softmax(torch.from_numpy(Z @ W.T + b), 1).numpy(), logits.numpy(),
                               atol=1e-5)


def test_dropout_follows_random_state_and_leaves_the_global_generator_alone():
    X, y = _data()
    fit = lambda seed: TorchMLPClassifier(hidden_sizes=(32,), dropout=0.5, max_epochs=3,  # noqa: E731
                                          validation_fraction=0, random_state=seed).fit(X, y)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = fit(0), fit(0), fit(1)
    assert torch.equal(torch.get_rng_state(), before)
    wa, wb, wc = (m.module_[0].weight.detach() for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    # the masks differ from a fresh global draw: same weights whatever the global state was
    torch.manual_seed(999)
    assert torch.equal(fit(0).module_[0].weight.detach(), wa)
