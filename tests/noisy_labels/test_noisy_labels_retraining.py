"""RetrainingClassifier modes, the torch MLP, LP-2ST and the binary theory helpers."""

import warnings

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from frugalml.noisy_labels import (
    RetrainingClassifier,
    TorchMLPClassifier,
    class_probabilities,
    lp_2st,
    randomized_response,
    rr_prior_top_k,
)
from frugalml.noisy_labels.theory import population_accuracy, sample_separable, simulate_retraining


@pytest.fixture(scope="module")
def noisy_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    y_noisy = randomized_response(y, 2.0, 10, random_state=0)
    return X, y, y_noisy


def _lr():
    return LogisticRegression(C=0.05, max_iter=300)


def test_consensus_mask_is_predicted_equals_given(noisy_digits):
    X, _, yn = noisy_digits
    rt = RetrainingClassifier(_lr()).fit(X, yn)
    pred = rt.initial_estimator_.predict(X)
    assert np.array_equal(rt.predicted_labels_, pred)
    assert np.array_equal(rt.consensus_mask_, pred == yn)
    assert rt.n_consensus_ == rt.consensus_mask_.sum() and 0 < rt.consensus_fraction_ < 1


def test_modes_train_on_documented_data(noisy_digits):
    X, _, yn = noisy_digits
    none = RetrainingClassifier(_lr(), mode="none").fit(X, yn)
    assert none.estimator_ is none.initial_estimator_
    full = RetrainingClassifier(_lr(), mode="full").fit(X, yn)
    ref_full = _lr().fit(X, full.predicted_labels_)
    assert np.allclose(full.estimator_.coef_, ref_full.coef_)
    cons = RetrainingClassifier(_lr(), mode="consensus").fit(X, yn)
    m = cons.consensus_mask_
    ref_cons = _lr().fit(X[m], yn[m])
    assert np.allclose(cons.estimator_.coef_, ref_cons.coef_)
    assert np.array_equal(cons.predict(X), ref_cons.predict(X))
    # the three modes share the same first model
    assert np.allclose(none.initial_estimator_.coef_, cons.initial_estimator_.coef_)
    # full RT on self-labels: the retrained model agrees with its labels more than the first did
    assert np.mean(full.estimator_.predict(X) == full.predicted_labels_) > 0.9


def test_consensus_retraining_helps_under_heavy_rr_noise(noisy_digits):
    X, y, _ = noisy_digits
    yn = randomized_response(y, 1.0, 10, random_state=1)  # 23% correct labels
    rt = RetrainingClassifier(_lr()).fit(X, yn)
    m = rt.consensus_mask_
    assert np.mean(yn[m] == y[m]) > 2 * np.mean(yn == y)   # the consensus set is much cleaner
    assert rt.score(X, y) > rt.initial_estimator_.score(X, y)


def test_interpolating_model_gains_nothing(noisy_digits):
    X, _, yn = noisy_digits
    rt = RetrainingClassifier(KNeighborsClassifier(n_neighbors=1)).fit(X, yn)
    assert rt.consensus_mask_.all()
    assert np.array_equal(rt.predict(X), rt.initial_estimator_.predict(X))


def test_warm_start(noisy_digits):
    X, _, yn = noisy_digits
    rt = RetrainingClassifier(_lr(), mode="full", warm_start=True).fit(X, yn)
    assert rt.estimator_ is not rt.initial_estimator_ and rt.estimator_.warm_start
    assert rt.initial_estimator_.warm_start is False
    cold = RetrainingClassifier(_lr(), mode="full").fit(X, yn)
    assert np.mean(rt.predict(X) == cold.predict(X)) > 0.95  # same convex problem, other start
    with pytest.raises(ValueError, match="warm_start"):
        RetrainingClassifier(KNeighborsClassifier(), warm_start=True).fit(X, yn)


def test_missing_class_in_consensus_set_warns_and_probas_align():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-3, 1, (100, 2)), rng.normal(3, 1, (100, 2)), rng.normal(0, 1, (2, 2))])
    y = np.array([0] * 100 + [1] * 100 + [2] * 2)
    with pytest.warns(UserWarning, match=r"class\(es\) \[2\]"):
        rt = RetrainingClassifier(LogisticRegression(C=0.01)).fit(X, y)
    P = rt.predict_proba(X)
    assert P.shape == (202, 3) and np.allclose(P[:, 2], 0) and np.allclose(P.sum(1), 1)
    assert list(rt.classes_) == [0, 1, 2]


def test_string_labels_and_sklearn_clone():
    X, y = load_digits(n_class=3, return_X_y=True)
    names = np.array(["a", "b", "c"])[y]
    rt = RetrainingClassifier(_lr(), mode="full", random_state=0)
    assert clone(rt).get_params()["mode"] == "full"
    rt.fit(X / 16, names)
    assert set(rt.predict(X / 16)) <= {"a", "b", "c"}


@pytest.mark.parametrize("mode", ["consensus", "full"])
def test_passes_sklearn_estimator_checks(mode):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(RetrainingClassifier(LogisticRegression(max_iter=200), mode=mode), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed


@pytest.mark.slow
def test_torch_mlp_passes_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(TorchMLPClassifier((32,), max_epochs=30, random_state=0), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed


def test_bad_input_raises(noisy_digits):
    X, _, yn = noisy_digits
    with pytest.raises(ValueError, match="mode"):
        RetrainingClassifier(_lr(), mode="half").fit(X, yn)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RetrainingClassifier(_lr()).fit(X, yn[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RetrainingClassifier(_lr()).fit(Xn, yn)
    with pytest.raises(ValueError, match="2 classes"):
        RetrainingClassifier(_lr()).fit(X, np.zeros(len(X), dtype=int))
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        RetrainingClassifier(_lr()).predict(X)


def test_torch_mlp_learns_and_is_seeded(noisy_digits):
    X, y, _ = noisy_digits
    X, y = X[:600], y[:600]
    a = TorchMLPClassifier((32,), lr=3e-3, max_epochs=15, batch_size=32, random_state=0).fit(X, y)
    b = TorchMLPClassifier((32,), lr=3e-3, max_epochs=15, batch_size=32, random_state=0).fit(X, y)
    assert a.score(X, y) > 0.9
    assert np.array_equal(a.predict(X), b.predict(X))
    assert np.allclose(a.predict_proba(X).sum(1), 1)
    assert 1 <= a.best_epoch_ <= a.n_epochs_ <= 15 and len(a.history_) == a.n_epochs_
    # the restored weights are the best epoch's: validation loss there is the minimum
    losses = [h["val_loss"] for h in a.history_]
    assert a.best_epoch_ == int(np.argmin(losses)) + 1


def test_torch_mlp_early_stops_on_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 20)).astype(np.float32)
    y = rng.integers(0, 3, 600)  # pure noise: validation loss rises early
    clf = TorchMLPClassifier((64,), lr=1e-2, max_epochs=100, patience=2, random_state=0).fit(X, y)
    assert clf.n_epochs_ < 100 and clf.n_epochs_ - clf.best_epoch_ == 2


def test_torch_mlp_in_retraining_and_labels():
    X, y = load_digits(n_class=2, return_X_y=True)
    y = np.where(y == 0, 3, 7)
    rt = RetrainingClassifier(TorchMLPClassifier((16,), max_epochs=5, random_state=0), mode="full",
                              warm_start=True).fit(X / 16, y)
    assert set(np.unique(rt.predict(X / 16))) <= {3, 7}
    with pytest.raises(ValueError, match="hidden_sizes"):
        TorchMLPClassifier((0,)).fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction"):
        TorchMLPClassifier(validation_fraction=1.0).fit(X, y)


class _NoProba:
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_lp2st_second_stage_is_cleaner_and_inside_top_k(noisy_digits):
    X, y, _ = noisy_digits
    res = lp_2st(_lr(), X, y, epsilon=1.0, random_state=0)
    s1, s2 = res.stage == 1, res.stage == 2
    assert abs(s1.sum() - s2.sum()) <= 1
    assert np.all(res.top_k[s1] == 10)
    acc1, acc2 = np.mean(res.y_private[s1] == y[s1]), np.mean(res.y_private[s2] == y[s2])
    assert acc2 > acc1 + 0.1
    prior = class_probabilities(res.stage1_estimator, X[s2], 10)
    k = rr_prior_top_k(prior, 1.0)
    assert np.array_equal(k, res.top_k[s2])
    order = np.argsort(-prior, axis=1, kind="stable")
    rank = np.argmax(order == res.y_private[s2][:, None], axis=1)
    assert np.all(rank < k)
    with pytest.raises(ValueError, match="epsilon"):
        lp_2st(_lr(), X, y, epsilon=0.0)
    with pytest.raises(ValueError, match="predict_proba"):
        lp_2st(_NoProba(), X, y, epsilon=1.0)


def test_theory_closed_form_accuracy_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu = np.zeros(5)
    mu[0] = 0.7
    X, y = sample_separable(200_000, mu, u_max=1.0, random_state=1)
    for _ in range(3):
        theta = rng.normal(size=5)
        theta[0] = abs(theta[0])
        mc = np.mean(y * (X @ theta) > 0)
        assert population_accuracy(theta, mu, u_max=1.0) == pytest.approx(mc, abs=0.005)
    theta = np.array([0.3, 1.0, 0, 0, 0])
    assert population_accuracy(theta, mu, u_max=0.0) == pytest.approx(ndtr(0.3 * 0.7 / 1.0))
    assert population_accuracy(mu, mu) == 1.0  # separable: mu itself is perfect


def test_theory_retraining_gain_at_high_noise():
    r = [simulate_retraining(2000, 200, 0.45, random_state=s) for s in range(3)]
    assert np.mean([d["acc_full"] - d["acc_initial"] for d in r]) > 0.05
    with pytest.raises(ValueError, match="flip probability"):
        simulate_retraining(100, 5, 0.5)
