"""scikit-learn conformance: check_estimator where the contract applies, clone/get_params everywhere."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from frugalml.contrastive import CLIPProjection, InfoNCEProjection
from frugalml.moe import MixtureOfExperts
from frugalml.selection import SELECTORS, GMMatching


def _run_checks(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_estimator(est, on_fail=None)


def test_mixture_of_experts_passes_check_estimator():
    # linear experts (real y), the default
    results = _run_checks(MixtureOfExperts(2, max_iter=5, random_state=0))
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert len(results) >= 40 and failed == []


@pytest.mark.parametrize("expert", ["logistic", "softmax"])
def test_mixture_of_classification_experts_passes_check_estimator(expert):
    # classification experts are tagged as a classifier (logistic: binary only), so the checks
    # feed class labels and add the classifier checks (predict_proba, one label, regression target...)
    est = MixtureOfExperts(2, expert=expert, max_iter=5, random_state=0)
    results = _run_checks(est)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == [], failed
    names = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {"check_classifiers_train", "check_classifiers_regression_target", "check_classifiers_one_label",
            "check_supervised_y_2d", "check_estimators_unfitted", "check_fit2d_1sample"} <= names
    if expert == "logistic":
        assert "check_classifier_not_supporting_multiclass" in names
    assert len(results) >= 50


def test_mixture_of_experts_classifier_regressions():
    from sklearn.base import is_classifier
    from sklearn.exceptions import DataConversionWarning, NotFittedError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    # before: AttributeError 'classes_' (looked up before predict_proba checked fitting)
    with pytest.raises(NotFittedError):
        MixtureOfExperts(2, expert="softmax").predict(X)
    # before: continuous y silently became 40 classes
    with pytest.raises(ValueError, match="Unknown label type"):
        MixtureOfExperts(2, expert="softmax", max_iter=2).fit(X, rng.normal(size=40))
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        MixtureOfExperts(2, expert="logistic", max_iter=2).fit(X, np.arange(40) % 3)
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(DataConversionWarning):
        est = MixtureOfExperts(2, expert="logistic", max_iter=2, random_state=0).fit(X, y[:, None])
    assert est.predict(X).shape == (40,)
    assert is_classifier(MixtureOfExperts(expert="logistic")) and not is_classifier(MixtureOfExperts())


def test_mixture_of_experts_predict_proba_only_where_it_exists():
    assert not hasattr(MixtureOfExperts(expert="linear"), "predict_proba")
    assert hasattr(MixtureOfExperts(expert="softmax"), "predict_proba")


# The paired-view estimators learn from two views of the same samples: fit(X, X_pos) and
# fit(X, Y) take a 2-D second view, where scikit-learn's checks pass 1-D labels y. Every check
# that fits with such a y cannot apply; all the others must pass.
PAIRED_VIEW = {InfoNCEProjection: "X_pos", CLIPProjection: "Y"}


@pytest.mark.parametrize("cls", [InfoNCEProjection, CLIPProjection])
def test_paired_view_estimators_pass_the_checks_that_apply(cls):
    results = _run_checks(cls(1, n_steps=5, batch_size=8, random_state=0))
    second = PAIRED_VIEW[cls]
    passed = [r["check_name"] for r in results if r["status"] == "passed"]
    not_applicable = [r for r in results if r["status"] == "failed"
                      and (f"{second} must be a 2-D array" in str(r["exception"])
                           or "raised ValueError unexpectedly" in str(r["exception"]))]  # positive-only y-tag check
    other = [(r["check_name"], str(r["exception"])[:200]) for r in results
             if r["status"] == "failed" and r not in not_applicable]
    assert other == [], other
    # the deviation is exactly "the second argument is a 2-D view, not labels"
    assert {"check_no_attributes_set_in_init", "check_parameters_default_constructible",
            "check_get_params_invariance", "check_set_params"} <= set(passed)
    assert len(passed) >= 12


def test_paired_view_estimators_clone_and_work_on_pairs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    for cls in (InfoNCEProjection, CLIPProjection):
        est = cls(1, n_steps=5, batch_size=8, random_state=0)
        twin = clone(est)
        assert twin.get_params() == est.get_params() and twin is not est
        a = est.fit(X, X[::-1].copy())
        b = twin.fit(X, X[::-1].copy())
        t = "transform" if cls is InfoNCEProjection else "transform_x"
        np.testing.assert_allclose(getattr(a, t)(X), getattr(b, t)(X))


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_selectors_get_params_deep_and_clone(name):
    cls = SELECTORS[name]
    sel = cls(fraction=0.3, metric="cosine", random_state=3)
    assert sel.get_params(deep=True) == sel.get_params(deep=False) == sel.get_params()
    twin = clone(sel)
    assert type(twin) is cls and twin.get_params() == sel.get_params()
    twin.set_params(fraction=0.2)
    assert twin.fraction == 0.2 and sel.fraction == 0.3
    X = np.random.default_rng(0).normal(size=(30, 4))
    np.testing.assert_array_equal(clone(sel).select(X), sel.select(X))
    with pytest.raises(ValueError, match="Invalid parameter"):
        sel.set_params(budget=3)


def test_gm_matching_flags_refuse_strings():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(TypeError, match="exact_step must be True or False"):
        GMMatching(fraction=0.5, exact_step="no").select(X)
