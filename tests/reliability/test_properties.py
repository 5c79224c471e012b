"""Property-based checks over the public API (hypothesis).

For every public entry point in ``specs.py`` and every argument of it, a generated bad
value (NaN, infinities, huge or negative numbers, bools, strings, None, complex, lists;
arrays with NaN, complex or object entries, the wrong number of dimensions, no rows, or
a magnitude of 1e30) must give one of

* a ``ValueError`` / ``TypeError`` whose message names the argument,
* a ``FloatingPointError`` naming the argument to change (divergence detected while
  running, e.g. a learning rate of 1e30),
* or a result that is finite all the way down;

and never run past a time limit. A numpy scalar in place of a Python number must give
the same result as the Python number. Flags refuse strings; options refuse unknown values.

Scikit-learn estimators validate ``X`` / ``y`` with scikit-learn's own messages (which
``check_estimator`` requires), so for those arrays any ``ValueError`` / ``TypeError`` counts.
"""

from __future__ import annotations

import signal
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from finite import is_finite_result
from specs import all_specs

SPECS = all_specs()
TIME_LIMIT_S = 10  # per call; a valid call takes well under a second on an idle core
EXAMPLES = 8

# Derandomized (the same examples on every run, as CI needs) and no shrinking: a failing
# example is reported as drawn, instead of re-running slow calls to minimise it.
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))

SPECIAL_NUMBERS = [float("nan"), float("inf"), -float("inf"), True, False, "abc", "1", None, 1 + 1j, [1.0],
                   0, -1, 1e30, -1e30, 10**30]
bad_numbers = st.one_of(st.sampled_from(SPECIAL_NUMBERS),
                        st.floats(min_value=-1e30, max_value=1e30, allow_nan=False),
                        st.integers(min_value=-10**6, max_value=10**6))
# Work sizes (iterations, epochs, samples) only get values that are wrong in kind or sign:
# a huge iteration count is a valid request for a long run, not bad input.
SIZES = {"max_iter", "n_steps", "epochs", "max_epochs", "n_samples", "n_contexts", "n_init", "inner_steps",
         "patience", "n_batches", "max_time", "context_size", "n_features", "d", "n", "batch_size", "n_classes",
         "n_experts", "n_components", "k", "factor", "n_layer", "vocab_size", "d_model", "n_head", "max_position",
         "n_train", "n_validation", "max_operand", "min_frequency", "rank",
         # retrieval / Inheritune work sizes: graph degree, candidate lists, cells, blocks, rounds
         "m", "ef_construction", "ef_search", "n_lists", "n_probe", "block_rows", "max_sequences", "max_rounds",
         "steps_per_round", "inner_max_iter"}
SPECIAL_SIZES = [float("nan"), float("inf"), -float("inf"), True, "abc", "1", None, 1 + 1j, [1], 0, -1, -10**9, 2.5,
                 -1e30]
bad_sizes = st.one_of(st.sampled_from(SPECIAL_SIZES), st.integers(min_value=-10**6, max_value=0))
bad_flags = st.sampled_from(["no", "yes", "False", None, 2, 0.5, [True]])
bad_options = st.one_of(st.text(max_size=8), st.sampled_from([None, 3, True, 1.5, ("a",)]))

ARRAY_DAMAGE = ["nan", "inf", "complex", "object", "strings", "ndim+1", "ndim-1", "empty", "huge", "None",
                "scalar-string"]


def _damage(valid, how: str):
    v = np.asarray(valid)
    if how == "nan":
        out = v.astype(float).copy()
        out.flat[0] = np.nan
        return out
    if how == "inf":
        out = v.astype(float).copy()
        out.flat[-1] = -np.inf
        return out
    if how == "complex":
        return v.astype(complex) + 1j
    if how == "object":
        return np.array([None] + [1.0] * (v.size - 1), dtype=object).reshape(v.shape)
    if how == "strings":
        return np.full(v.shape, "a")
    if how == "ndim+1":
        return v[None]
    if how == "ndim-1":
        return v[0] if v.ndim else v
    if how == "empty":
        return v[:0] if v.ndim else v.reshape(1)[:0]
    if how == "huge":
        return v.astype(float) * 1e30 + 1e30
    if how == "None":
        return None
    return "abc"


class CallTimedOut(Exception):
    pass


def _alarm(signum, frame):
    raise CallTimedOut


def _outcome(spec, arg, value):
    """Run one call; return ("ok", result) or ("error", exc). Fails the test on a hang."""
    limit = int(spec.time_limit_s or TIME_LIMIT_S)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", spec.call(**{arg: value})
    except CallTimedOut:
        pytest.fail(f"{spec.name}({arg}={value!r}) ran past {limit} s")
    except Exception as exc:  # judged by the caller
        return "error", exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _sklearn_array(spec, arg) -> bool:
    return arg in ("X", "y") and spec.name.split(".")[0].split("[")[0] in ("TorchMLPClassifier", "RetrainingClassifier",
                                                               "MixtureOfExperts")


def _assert_clear(spec, arg, value, kind, out, how=None):
    shown = f"{spec.name}({arg}={value!r})"
    if kind == "ok":
        if how in ("nan", "inf") and arg in spec.nonfinite_ok:
            return  # NaN/inf in, NaN/inf out, by the function's contract (see the spec)
        assert is_finite_result(out), f"{shown} returned a non-finite result: {out!r}"[:400]
        return
    exc = out
    message = str(exc)
    if isinstance(exc, (ValueError, TypeError)):
        if _sklearn_array(spec, arg):
            return
        assert arg in message or arg.replace("_", " ") in message, \
            f"{shown} raised {type(exc).__name__} without naming {arg!r}: {message[:300]}"
        return
    if isinstance(exc, FloatingPointError):
        assert arg in message, f"{shown} diverged without naming {arg!r}: {message[:300]}"
        return
    raise AssertionError(f"{shown} raised {type(exc).__name__}: {message[:300]}") from exc


NUMBER_CASES = [pytest.param(s, a, id=f"{s.name}-{a}") for s in SPECS for a in s.numbers]
FLAG_CASES = [pytest.param(s, a, id=f"{s.name}-{a}") for s in SPECS for a in s.flags]
OPTION_CASES = [pytest.param(s, a, id=f"{s.name}-{a}") for s in SPECS for a in s.options]
ARRAY_CASES = [pytest.param(s, a, id=f"{s.name}-{a}") for s in SPECS for a in s.arrays]


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in SPECS])
def test_valid_call_is_finite(spec):
    out = spec.call()
    assert is_finite_result(out)


def _for_all(spec, strategy, check):
    """Run ``check(value)`` for values drawn from ``strategy`` (the spec's own example budget)."""

    @settings(SETTINGS, max_examples=spec.examples or EXAMPLES)
    @given(value=strategy)
    def run(value):
        check(value)

    run()


@pytest.mark.parametrize("spec,arg", NUMBER_CASES)
def test_bad_number_is_refused_by_name_or_gives_a_finite_result(spec, arg):
    def check(value):
        kind, out = _outcome(spec, arg, value)
        _assert_clear(spec, arg, value, kind, out)

    _for_all(spec, bad_sizes if arg in SIZES else bad_numbers, check)


@pytest.mark.parametrize("spec,arg", NUMBER_CASES)
def test_numpy_scalars_are_numbers(spec, arg):
    valid = spec.numbers[arg]
    if isinstance(valid, (int, np.integer)):
        candidates = [np.int64(valid), np.int32(valid)] if abs(int(valid)) < 2**31 else [np.int64(valid)]
    else:  # np.float64 is a float subclass: np.float32 is the numpy scalar that bypasses isinstance(x, float)
        candidates = [np.float64(valid)] + ([np.float32(valid)] if float(np.float32(valid)) == valid else [])
    _, ref = _outcome(spec, arg, valid)
    for as_numpy in candidates:
        _check_same_result(spec, arg, as_numpy, ref)


def _check_same_result(spec, arg, as_numpy, ref):
    kind, out = _outcome(spec, arg, as_numpy)
    assert kind == "ok", f"{spec.name}({arg}={as_numpy!r}) raised {out!r}"
    if isinstance(ref, str):
        assert out == ref, f"{spec.name}({arg}={as_numpy!r}) gave {out!r}, not {ref!r}"
        return
    np.testing.assert_allclose(np.asarray(_numeric(out), float), np.asarray(_numeric(ref), float))


def _numeric(out):
    if hasattr(out, "detach"):
        return out.detach().cpu().double().numpy()
    if isinstance(out, tuple):
        return np.concatenate([np.ravel(_numeric(o)) for o in out])
    if isinstance(out, np.ndarray) or np.isscalar(out):
        return out
    return 0.0  # result objects: equality is checked through the arrays they hold elsewhere


def _refused_by_name(spec, arg):
    def check(value):
        kind, out = _outcome(spec, arg, value)
        assert kind == "error" and isinstance(out, (ValueError, TypeError)) and arg in str(out), \
            f"{spec.name}({arg}={value!r}) gave {out!r}"[:300]

    return check


@pytest.mark.parametrize("spec,arg", FLAG_CASES)
def test_flags_refuse_non_bools(spec, arg):
    _for_all(spec, bad_flags, _refused_by_name(spec, arg))


@pytest.mark.parametrize("spec,arg", OPTION_CASES)
def test_options_refuse_unknown_values(spec, arg):
    _for_all(spec, bad_options, _refused_by_name(spec, arg))


@pytest.mark.parametrize("spec,arg", ARRAY_CASES)
@pytest.mark.parametrize("how", ARRAY_DAMAGE)
def test_damaged_array_is_refused_by_name_or_gives_a_finite_result(spec, arg, how):
    value = _damage(spec.arrays[arg], how)
    kind, out = _outcome(spec, arg, value)
    _assert_clear(spec, arg, f"<{how}>", kind, out, how)


# ------------------------------------------------------------------ the checks can fail
def test_the_checks_fail_for_broken_functions():
    """Each property rejects the failure it is meant to catch (a suite that cannot fail proves nothing)."""
    import time

    from specs import Spec

    def nan_for_big(tau=1.0):
        return float("nan") if abs(tau) > 10 else tau

    def unnamed_error(tau=1.0):
        raise ValueError("something went wrong")

    def wrong_error(tau=1.0):
        raise ZeroDivisionError("tau")

    def flag_as_truthy(flag=True):
        return 1.0 if flag else 0.0

    def hangs(tau=1.0):
        time.sleep(5)

    for fn, value in ((nan_for_big, 1e30), (unnamed_error, "x"), (wrong_error, 0.0)):
        spec = Spec(fn.__name__, fn, numbers={"tau": 1.0})
        kind, out = _outcome(spec, "tau", value)
        with pytest.raises(AssertionError):
            _assert_clear(spec, "tau", value, kind, out)
    with pytest.raises(AssertionError):
        _refused_by_name(Spec("flag", flag_as_truthy, flags=("flag",)), "flag")("no")
    with pytest.raises(pytest.fail.Exception, match="ran past 1 s"):
        _outcome(Spec("hangs", hangs, time_limit_s=1), "tau", 1.0)
    bad = Spec("numpy_rejected", lambda tau=1.0: check_float_only(tau), numbers={"tau": 1.0})
    with pytest.raises(AssertionError):
        test_numpy_scalars_are_numbers(bad, "tau")


def check_float_only(tau):
    if type(tau) is not float:
        raise ValueError(f"tau must be a float; got {type(tau).__name__}")
    return tau
