"""Full and consensus-based retraining with the model's own predicted hard labels.

Das, Dhillon, Epasto, Javanmard, Mao, Mirrokni, Sanghavi, Zhong, "Retraining with Predicted
Hard Labels Provably Increases Model Accuracy", ICML 2025.

Given a training set with noisy labels ``{(x_j, yhat_j)}``:

1. train ``theta_0`` on ``(x_j, yhat_j)`` (the baseline);
2. predict hard labels on the *same* training set: ``ytilde_j = argmax_c f(x_j; theta_0)_c``;
3. retrain:

   * full RT (the paper's Section 3 analysis): train on ``(x_j, ytilde_j)`` for every ``j``;
   * consensus RT (the paper's Section 5, its main practical proposal): train only on the
     consensus set ``S = {j : ytilde_j == yhat_j}``.

Under label DP the noisy labels are the output of an eps-label-DP mechanism and steps 2-3
only post-process them, so the retrained model has the same privacy guarantee.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from frugalml._core import check_option

try:  # scikit-learn >= 1.6
    from sklearn.utils import get_tags
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    get_tags = None
    _sk_validate_data = None

MODES = ("consensus", "full", "none")


def _validate(est, X, y=None, *, reset):
    """scikit-learn's input validation (sets ``n_features_in_``); sparse input if the inner model takes it."""
    kwargs = dict(accept_sparse=["csr", "csc"], reset=reset)
    if y is None:
        return _sk_validate_data(est, X, **kwargs) if _sk_validate_data else est._validate_data(X, **kwargs)
    return _sk_validate_data(est, X, y, **kwargs) if _sk_validate_data else est._validate_data(X, y, **kwargs)


class RetrainingClassifier(ClassifierMixin, BaseEstimator):
    """Meta-estimator: fit, relabel the training set with the model's predictions, refit.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Cloned for each fit. Any classifier with ``fit`` / ``predict`` works (``predict_proba``
        for :meth:`predict_proba`), e.g. ``LogisticRegression`` or
        :class:`~frugalml.noisy_labels.TorchMLPClassifier`. It must *not* interpolate the noisy
        labels (regularise or early-stop it): a model that memorises them predicts
        ``ytilde == yhat`` everywhere and retraining changes nothing.
    mode : {"consensus", "full", "none"}
        ``"consensus"``: retrain on ``S = {j : ytilde_j == yhat_j}`` (Das et al. Sec. 5);
        ``"full"``: retrain on all samples with labels ``ytilde``; ``"none"``: keep the first
        model (the baseline), still recording ``predicted_labels_`` and ``consensus_mask_``.
    warm_start : bool
        Start the retraining from a copy of the first model's weights instead of from scratch
        (the paper does not say which it used). Needs an estimator with a ``warm_start``
        parameter (``LogisticRegression``, ``MLPClassifier``, ``SGDClassifier``,
        ``TorchMLPClassifier``, ...).
    random_state : None or int
        If given, set as ``random_state`` on the cloned estimators that have one.

    Attributes
    ----------
    classes_ : ndarray   labels seen in ``fit``
    initial_estimator_ : the model trained on the given (noisy) labels
    estimator_ : the final model (``initial_estimator_`` itself for ``mode="none"``)
    predicted_labels_ : ndarray (n,)   ``ytilde``, the first model's in-sample predictions
    consensus_mask_ : ndarray of bool (n,)   ``ytilde == yhat``
    n_consensus_ : int, consensus_fraction_ : float   size of the consensus set

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from frugalml.noisy_labels import randomized_response
    >>> X, y = load_digits(return_X_y=True)
    >>> y_dp = randomized_response(y, epsilon=2.0, n_classes=10, random_state=0)
    >>> rt = RetrainingClassifier(LogisticRegression(C=0.01, max_iter=500), mode="consensus").fit(X / 16, y_dp)
    >>> bool(rt.consensus_mask_.mean() < 1.0)
    True
    """

    def __init__(self, estimator, mode="consensus", warm_start=False, random_state=None):
        self.estimator = estimator
        self.mode = mode
        self.warm_start = warm_start
        self.random_state = random_state

    def _new_estimator(self):
        est = clone(self.estimator)
        if self.random_state is not None and "random_state" in est.get_params(deep=False):
            est.set_params(random_state=self.random_state)
        return est

    def fit(self, X, y):
        """Train on the noisy labels ``y``, relabel in-sample, retrain as ``mode`` says."""
        check_option(self.mode, MODES, "mode")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start must be True or False; got {self.warm_start!r}")
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator, "predict")):
            raise ValueError(f"estimator must have fit and predict methods; got {type(self.estimator).__name__}")
        if self.warm_start and "warm_start" not in self.estimator.get_params(deep=False):
            raise ValueError(
                f"warm_start=True needs an estimator with a warm_start parameter; "
                f"{type(self.estimator).__name__} has none (use warm_start=False)"
            )
        if y is None:
            raise ValueError("RetrainingClassifier requires y to be passed, but the target y is None")
        X, y = _validate(self, X, y, reset=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"y must contain at least 2 classes; got 1 class: {self.classes_.tolist()}")

        first = self._new_estimator().fit(X, y)
        self.initial_estimator_ = first
        y_tilde = np.asarray(first.predict(X))
        self.predicted_labels_ = y_tilde
        self.consensus_mask_ = y_tilde == y
        self.n_consensus_ = int(self.consensus_mask_.sum())
        self.consensus_fraction_ = float(self.consensus_mask_.mean())

        if self.mode == "none":
            self.estimator_ = first
            return self
        if self.mode == "full":
            X_rt, y_rt, where = X, y_tilde, "the predicted labels"
        else:
            X_rt, y_rt, where = X[self.consensus_mask_], y[self.consensus_mask_], "the consensus set"
        present = np.unique(y_rt)
        if present.size < 2:
            raise ValueError(
                f"{where} holds {y_rt.shape[0]} samples of {present.size} class(es); retraining needs at "
                f"least 2. The first model predicts almost one class: regularise it less or use mode='none'"
            )
        missing = np.setdiff1d(self.classes_, present)
        if missing.size:
            warnings.warn(
                f"{where} has no sample of class(es) {missing.tolist()}; the retrained model cannot predict them",
                UserWarning, stacklevel=2,
            )
        if self.warm_start:
            est = copy.deepcopy(first)
            est.set_params(warm_start=True)
        else:
            est = self._new_estimator()
        self.estimator_ = est.fit(X_rt, y_rt)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if get_tags is not None:
            tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def predict(self, X):
        """Predicted labels of the final model."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(_validate(self, X, reset=False))

    def predict_proba(self, X):
        """Class probabilities with columns ordered as ``classes_`` (0 for classes the final
        model never saw, which can happen after consensus retraining)."""
        check_is_fitted(self, "estimator_")
        if not hasattr(self.estimator_, "predict_proba"):
            raise AttributeError(f"{type(self.estimator_).__name__} has no predict_proba")
        P = np.asarray(self.estimator_.predict_proba(_validate(self, X, reset=False)))
        out = np.zeros((P.shape[0], self.classes_.size))
        cols = np.searchsorted(self.classes_, self.estimator_.classes_)
        out[:, cols] = P
        return out
