"""The statistics behind every verdict: paired differences over seeds, one-sided tests, margins.

Every experiment's claim check uses this one module, so a reader learns one rule:

* Arms are compared **paired by seed** (the same seed draws the same data for both arms), so the
  unit of evidence is the per-seed difference ``d_s``; its mean ``d̄`` and standard error
  ``se = std(d, ddof=1) / sqrt(n)``.
* **Superiority** ("A beats B"): a one-sided paired t-test at level ``alpha`` (0.05 by default)
  against a margin ``m`` (0 unless the paper states one): held iff ``d̄ - m > t_{1-alpha, n-1} se``.
* **Non-inferiority** ("A is as good as B", the form of "as good with fewer parameters"):
  held iff ``d̄ + m > t_{1-alpha, n-1} se``: the one-sided confidence bound on the gain lies
  above ``-m``. The margin must be stated and justified by the caller (the paper's own spread,
  the reference's seed noise), never fitted to our runs.
* **Threshold** (a number against a line: a ratio, a slope): held iff the value is on the right
  side; with a standard error, iff it is beyond the line by ``t se``.

Each test returns a plain-dict **record** (``effect``, ``se``, ``n``, ``threshold``, ``t_crit``,
``slack_se``, ``held``) that :func:`frugalml.repro.verdict.claim` stores beside the sub-claim.
``slack_se = (effect - threshold) / se - t_crit`` is how far the claim sits from its pass line in
standard errors: positive when held, negative when missed; ``|slack_se| < 1`` marks it *fragile*
(one more seed could flip it). Effects are signed so that positive is good for the claim.

:func:`select_robust` picks a hyperparameter on tuning draws with a tie-robust rule, so that a
choice decided by float noise cannot decide a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ALPHA = 0.05
FRAGILE_SE = 1.0


def _values(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise ValueError(f"{name} is empty; a test needs at least one value per seed")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} holds non-finite values ({v.tolist()}); a diverged run must be handled "
                         "by the experiment (e.g. counted at its cap), not passed to a test")
    return v


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1) / sqrt(n)`` of ``values``; the SE is NaN for ``n < 2``."""
    v = _values(values, "values")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), se


def paired(a, b) -> dict:
    """Per-seed differences ``a - b`` (sequences aligned by seed): mean, standard error, n, diffs."""
    va, vb = _values(a, "a"), _values(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"paired arms need one value per seed each; got {va.size} and {vb.size}")
    d = va - vb
    mean, se = mean_se(d)
    return {"mean": mean, "se": se, "n": int(d.size), "diffs": d.tolist()}


def t_quantile(n: int, alpha: float = ALPHA) -> float:
    """One-sided critical value ``t_{1-alpha, n-1}`` of Student's t (``inf`` for ``n < 2``)."""
    if n < 2:
        return float("inf")
    from scipy.stats import t

    return float(t.ppf(1.0 - alpha, n - 1))


def _record(test: str, label: str, effect: float, se: float, n: int, threshold: float, alpha: float,
            t_crit: float, **extra) -> dict:
    """A test's record; ``held`` iff ``effect - threshold > t_crit * se`` (``se`` 0 or absent: ``>``)."""
    gap = effect - threshold
    if se is None or math.isnan(se) or n < 2:  # no spread to test against: the plain comparison
        held, slack = gap > 0, None
    elif se == 0:
        held = gap > 0
        slack = math.copysign(float("inf"), gap) if gap else -float("inf")
    else:
        slack = gap / se - t_crit
        held = slack > 0
    return {"test": test, "label": label, "effect": float(effect), "se": None if se is None else float(se),
            "n": int(n), "threshold": float(threshold), "t_crit": None if t_crit is None else float(t_crit),
            "alpha": alpha, "slack_se": None if slack is None else float(slack), "held": bool(held), **extra}


def _differences(a, b, higher_is_better: bool) -> dict:
    p = paired(a, b) if b is not None else {**dict(zip(("mean", "se"), mean_se(a))), "n": int(np.size(a)),
                                             "diffs": _values(a, "a").tolist()}
    if not higher_is_better:  # the effect is signed so that positive is good for the claim
        p = {**p, "mean": -p["mean"], "diffs": [-d for d in p["diffs"]]}
    return p


def superiority(a, b=None, *, margin: float = 0.0, higher_is_better: bool = True, alpha: float = ALPHA,
                label: str = "") -> dict:
    """One-sided paired test that arm ``a`` beats arm ``b`` by more than ``margin``.

    Parameters
    ----------
    a, b : sequences of per-seed values, aligned by seed; or ``a`` alone, the per-seed differences.
    margin : the gain the claim needs (0: any gain beyond noise), in the metric's units.
    higher_is_better : False for losses and times (then the effect is ``b - a``).
    """
    p = _differences(a, b, higher_is_better)
    return _record("superiority", label, p["mean"], p["se"], p["n"], margin, alpha, t_quantile(p["n"], alpha),
                   diffs=p["diffs"])


def non_inferiority(a, b=None, *, margin: float, higher_is_better: bool = True, alpha: float = ALPHA,
                    label: str = "") -> dict:
    """One-sided paired test that ``a`` is not worse than ``b`` by ``margin`` or more (``margin >= 0``)."""
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 (how much worse still counts as 'as good'); got {margin!r}")
    p = _differences(a, b, higher_is_better)
    return _record("non-inferiority", label, p["mean"], p["se"], p["n"], -margin, alpha,
                   t_quantile(p["n"], alpha), diffs=p["diffs"])


def threshold_test(value, threshold, *, higher_is_better: bool = True, se=None, n: int | None = None,
                   alpha: float = ALPHA, label: str = "") -> dict:
    """A number against a line (a ratio, a slope, an accuracy): on the right side, beyond ``t se``.

    Without ``se`` the test is the plain comparison and the record carries the ratio to the line.
    With ``se`` (and ``n``, the number of seeds behind it) it is a one-sided t-test; with ``se`` and
    no ``n`` the normal quantile is used.
    """
    value, threshold = float(value), float(threshold)
    sign = 1.0 if higher_is_better else -1.0
    ratio = value / threshold if threshold else None
    units = {"value": value, "line": threshold, "higher_is_better": higher_is_better}  # as the caller gave them
    if se is None:
        return _record("threshold", label, sign * value, None, n or 1, sign * threshold, alpha, None, ratio=ratio,
                       **units)
    if n is None:
        from scipy.stats import norm

        crit = float(norm.ppf(1 - alpha))
    else:
        crit = t_quantile(n, alpha)
    return _record("threshold", label, sign * value, float(se), n or 0, sign * threshold, alpha, crit, ratio=ratio,
                   **units)


def all_held(records: Sequence[dict]) -> bool:
    """Whether every record held (an empty list holds nothing)."""
    return bool(records) and all(r["held"] for r in records)


def weakest(records: Sequence[dict]) -> dict | None:
    """The record closest to (or furthest below) its line: the smallest ``slack_se`` (or ratio margin)."""
    def key(r):
        if r.get("slack_se") is not None:
            return r["slack_se"]
        return (r["effect"] - r["threshold"]) / abs(r["threshold"]) if r["threshold"] else r["effect"]
    return min(records, key=key) if records else None


def fragile(record: dict, within: float = FRAGILE_SE) -> bool:
    """A record within ``within`` standard errors of its pass line (either side)."""
    s = record.get("slack_se")
    return s is not None and abs(s) < within


def describe(record: dict) -> str:
    """'held by 3.1 SE' / 'missed by 0.4 SE' / 'held: 1.97 vs line 2' for the report."""
    word = "held" if record["held"] else "missed"
    s = record.get("slack_se")
    if s is not None and math.isfinite(s):
        return f"{word} by {abs(s):.1f} SE" + (" (fragile)" if fragile(record) else "")
    if s is not None:
        return f"{word} (no spread: every seed on one side)"
    if record["test"] != "threshold":
        return f"{word}: effect {record['effect']:.3g} vs line {record['threshold']:.3g} (n={record['n']}, no SE)"
    value, line = record.get("value", record["effect"]), record.get("line", record["threshold"])  # caller's units
    side = "" if record.get("higher_is_better", True) else " (lower is better)"
    if record.get("ratio") is not None:
        return f"{word}: {value:.3g} vs line {line:.3g}{side} (ratio {record['ratio']:.2f})"
    return f"{word}: {value:.3g} vs line {line:.3g}{side}"


def select_robust(grid: Sequence, scores, *, higher_is_better: bool = True, prefer: str = "largest") -> dict:
    """Pick a hyperparameter with the one-standard-error rule, on tuning draws.

    ``scores[i]`` holds the per-draw scores of ``grid[i]`` (draws that are *not* the evaluation
    seeds). The best value by mean sets the bar ``best - se_best`` (``+`` for losses); every grid
    value whose mean clears it is a *candidate*, equivalent to the best within noise; the rule
    returns the ``prefer`` end of the candidates (``"largest"`` or ``"smallest"`` grid value). A
    verdict that holds for every candidate cannot hinge on the choice: the record lists them so the
    experiment can check that. ``at_edge`` is True when the best sits at an end of the grid (extend
    the grid). With one draw per value (no SE) the candidates are the best alone. ``prefer="best"``
    returns the best mean itself (the candidates are still recorded).
    """
    grid = list(grid)
    if len(grid) != len(scores) or not grid:
        raise ValueError(f"grid and scores need one entry per value; got {len(grid)} and {len(scores)}")
    if prefer not in ("largest", "smallest", "best"):
        raise ValueError(f"prefer must be 'largest', 'smallest' or 'best'; got {prefer!r}")
    stats = [mean_se(s) for s in scores]
    means = np.array([m for m, _ in stats])
    ses = np.array([0.0 if math.isnan(se) else se for _, se in stats])
    sign = 1.0 if higher_is_better else -1.0
    ibest = int(np.argmax(sign * means))
    bar = sign * means[ibest] - ses[ibest]
    cand = [i for i in range(len(grid)) if sign * means[i] >= bar]
    order = sorted(cand, key=lambda i: grid[i])
    chosen = {"largest": order[-1], "smallest": order[0], "best": ibest}[prefer]
    rule = "best mean (candidates: within one SE)" if prefer == "best" else f"one-SE rule, {prefer}"
    return {"grid": grid, "mean": means.tolist(), "se": ses.tolist(), "best": grid[ibest],
            "chosen": grid[chosen], "candidates": [grid[i] for i in order], "rule": rule,
            "at_edge": ibest in (0, len(grid) - 1) and len(grid) > 1}


def select_growing(grid: Sequence, score, select, *, factor: float = 2.0, max_extend: int = 2):
    """:func:`select_robust` on a grid that grows while its best value sits at an end.

    ``select(grid)`` returns a :func:`select_robust` record for the sorted grid, whose values the
    caller has scored; while the best sits at an end (and fewer than ``max_extend`` values were
    added), ``score(value)`` is called for one more value beyond that end (``factor`` times the
    largest or the smallest divided by it). Returns ``(record, grown grid, values added)``.
    """
    grid, extended = sorted(grid), 0
    while True:
        sel = select(grid)
        if not sel["at_edge"] or extended >= max_extend:
            return sel, grid, extended
        new = grid[0] / factor if sel["best"] == grid[0] else grid[-1] * factor
        score(new)
        grid, extended = sorted(grid + [new]), extended + 1


__all__ = ["ALPHA", "FRAGILE_SE", "all_held", "describe", "fragile", "mean_se", "non_inferiority", "paired",
           "select_growing", "select_robust", "superiority", "t_quantile", "threshold_test", "weakest"]
