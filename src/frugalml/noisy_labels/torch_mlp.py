"""A small torch MLP classifier with early stopping, in the scikit-learn interface.

Retraining only helps when the first model does *not* memorise its noisy labels (Das et al.
2025, Section 5: the in-sample predictions must disagree with the wrong labels). Early
stopping on a held-out split of the (noisy) training labels is the usual guard; this class
ships it so that :class:`~frugalml.noisy_labels.RetrainingClassifier` can wrap a neural
network on images as easily as a scikit-learn model.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from frugalml._core import check_random_state, progress, torch_generator
from frugalml._core.validation import check_bool, check_positive, check_scalar

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None


def _validate(est, X, y="no_validation", *, reset):
    kwargs = dict(dtype=np.float32, reset=reset)
    if _sk_validate_data is not None:
        return _sk_validate_data(est, X, y, **kwargs)
    return est._validate_data(X, y, **kwargs)  # pragma: no cover


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron (ReLU) trained with Adam and cross-entropy, early-stopped.

    Parameters
    ----------
    hidden_sizes : tuple of int     widths of the hidden layers
    dropout : float in [0, 1)       dropout after each hidden layer
    lr : float                      Adam learning rate
    weight_decay : float            L2 penalty (AdamW-style decoupled decay)
    batch_size : int
    max_epochs : int
    validation_fraction : float in [0, 1)   held-out share of the *given* labels used to stop
        early and to restore the best weights; 0 trains all ``max_epochs`` epochs
    patience : int                  epochs without a lower validation loss before stopping
    warm_start : bool               refit from the current weights instead of re-initialising
        (the classes must be a subset of the first fit's)
    random_state : None, int or numpy Generator
    device : str                    torch device for training and inference ("cpu", "cuda", ...)
    verbose : bool                  progress bar over epochs

    Attributes
    ----------
    classes_, n_features_in_, module_ (``torch.nn.Sequential``), n_epochs_ (epochs run in the
    last fit), best_epoch_, history_ (list of dicts: epoch, train_loss, val_loss, val_acc)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = TorchMLPClassifier(hidden_sizes=(64,), max_epochs=20, random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.9
    True
    """

    def __init__(self, hidden_sizes=(256,), *, dropout=0.0, lr=1e-3, weight_decay=1e-4, batch_size=128,
                 max_epochs=30, validation_fraction=0.1, patience=3, warm_start=False, random_state=None,
                 device="cpu", verbose=False):
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        try:
            hs = tuple(check_scalar(h, "hidden_sizes", integer=True, low=1) for h in self.hidden_sizes)
        except TypeError:
            raise ValueError(f"hidden_sizes must be a tuple of positive integers; got {self.hidden_sizes!r}") from None
        check_scalar(self.dropout, "dropout", low=0, high=1, high_inclusive=False)
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", strict=False)
        for name in ("batch_size", "max_epochs", "patience"):
            check_scalar(getattr(self, name), name, integer=True, low=1)
        check_scalar(self.validation_fraction, "validation_fraction", low=0, high=1, high_inclusive=False)
        check_bool(self.warm_start, "warm_start")
        check_bool(self.verbose, "verbose")
        return hs

    def _build(self, n_in: int, n_out: int, hs, gen):
        import torch
        from torch import nn

        layers, width = [], n_in
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from the global generator
            for h in hs:
                layers += [nn.Linear(width, h), nn.ReLU()]
                if self.dropout > 0:
                    layers.append(nn.Dropout(self.dropout))
                width = h
            layers.append(nn.Linear(width, n_out))
        module = nn.Sequential(*layers)
        with torch.no_grad():  # seeded init from our generator, never the global one
            for m in module:
                if isinstance(m, nn.Linear):
                    bound = 1.0 / np.sqrt(m.in_features)
                    m.weight.uniform_(-bound, bound, generator=gen)
                    m.bias.uniform_(-bound, bound, generator=gen)
        return module

    # ------------------------------------------------------------------ API
    def fit(self, X, y):
        """Train on ``(X, y)``; returns ``self``."""
        import torch
        import torch.nn.functional as F

        hs = self._check_params()
        if y is None:
            raise ValueError("TorchMLPClassifier requires y to be passed, but the target y is None")
        warm = bool(self.warm_start) and hasattr(self, "module_")
        X, y = _validate(self, X, y, reset=not warm)
        check_classification_targets(y)
        rng = check_random_state(self.random_state)
        gen = torch_generator(rng)
        if warm:
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            if unknown.size:
                raise ValueError(f"warm_start: y has labels {unknown.tolist()} unseen in the first fit")
        else:
            self.classes_ = np.unique(y)
            if self.classes_.size < 2:
                raise ValueError(f"y must contain at least 2 classes; got 1 class: {self.classes_.tolist()}")
            self.module_ = self._build(X.shape[1], self.classes_.size, hs, gen)
        device = torch.device(self.device)
        self.module_.to(device)
        t = np.searchsorted(self.classes_, y)

        n = X.shape[0]
        n_val = int(round(self.validation_fraction * n))
        perm = rng.permutation(n)
        if self.validation_fraction > 0 and (n_val < 1 or n - n_val < 1):
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves an empty split of {n} samples")
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        Xt, tt = torch.from_numpy(np.ascontiguousarray(X)).to(device), torch.from_numpy(t).to(device)
        Xtr, ttr, Xva, tva = Xt[tr_idx], tt[tr_idx], Xt[val_idx], tt[val_idx]

        module = self.module_
        # nn.Dropout draws from torch's global generator: fork it (restored on exit) and seed the
        # fork from our generator, so dropout masks follow random_state and nothing global changes
        rng_scope = contextlib.ExitStack()
        if self.dropout > 0:
            rng_scope.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        opt = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best_loss, best_state, best_epoch, bad = np.inf, None, 0, 0
        self.history_ = []
        epochs = progress(range(1, self.max_epochs + 1), desc="mlp epochs", total=self.max_epochs) \
            if self.verbose else range(1, self.max_epochs + 1)
        for epoch in epochs:
            module.train()
            order = torch.randperm(Xtr.shape[0], generator=gen).to(device)
            total = 0.0
            for start in range(0, Xtr.shape[0], self.batch_size):
                b = order[start:start + self.batch_size]
                loss = F.cross_entropy(module(Xtr[b]), ttr[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * b.shape[0]
            rec = {"epoch": epoch, "train_loss": total / max(Xtr.shape[0], 1)}
            if not np.isfinite(rec["train_loss"]):
                rng_scope.close()  # restore torch's global generator before leaving
                raise FloatingPointError(f"training diverged in epoch {epoch} (loss={rec['train_loss']}); lower lr "
                                         f"(lr={self.lr}) or weight_decay, or standardise X")
            if n_val:
                module.eval()
                with torch.no_grad():
                    logits = module(Xva)
                    rec["val_loss"] = float(F.cross_entropy(logits, tva))
                    rec["val_acc"] = float((logits.argmax(1) == tva).float().mean())
                if rec["val_loss"] < best_loss - 1e-6:
                    best_loss, best_epoch, bad = rec["val_loss"], epoch, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    bad += 1
            self.history_.append(rec)
            if n_val and bad >= self.patience:
                break
        rng_scope.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        self.n_epochs_ = len(self.history_)
        self.best_epoch_ = best_epoch if n_val else self.n_epochs_
        module.eval()
        return self

    def _logits(self, X):
        import torch

        check_is_fitted(self, "module_")
        X = _validate(self, X, reset=False)
        self.module_.eval()
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 4096):
                out.append(self.module_(torch.from_numpy(np.ascontiguousarray(X[start:start + 4096])).to(self.device)).cpu())
        return torch.cat(out)

    def embed(self, X):
        """Activations of the last hidden layer (after ReLU), shape ``(n, hidden_sizes[-1])``.

        The proxy-model embedding used for subset selection: train on the (noisy) data,
        then select in this space (as GM Matching's official code does with a pretrained encoder).
        """
        import torch

        check_is_fitted(self, "module_")
        X = _validate(self, X, reset=False)
        body = self.module_[:-1]
        body.eval()
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 4096):
                xb = torch.from_numpy(np.ascontiguousarray(X[start:start + 4096])).to(self.device)
                out.append(body(xb).cpu())
        return torch.cat(out).numpy().astype(np.float64)

    def predict_proba(self, X):
        """Softmax class probabilities, columns ordered as ``classes_``."""
        import torch

        return torch.softmax(self._logits(X), dim=1).numpy().astype(np.float64)

    def predict(self, X):
        """The most probable class for each row."""
        idx = self._logits(X).argmax(1).numpy()
        return self.classes_[idx]
