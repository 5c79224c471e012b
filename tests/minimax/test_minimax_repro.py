"""The minimax reproduction: smoke run, and every gating check fails on a broken variant."""

import copy
import json

import numpy as np
import pytest

from frugalml.minimax import cubic_bilinear
from frugalml.repro import EXPERIMENTS, load_experiment

mod = load_experiment("minimax")


@pytest.fixture(scope="module")
def smoke():
    return json.loads(json.dumps(mod.run(scale="smoke", seed=0)))  # plain JSON, as the harness saves it


def _claim(check, text):
    found = [c for c in check["claims"] if text in c["claim"]]
    assert found, [c["claim"] for c in check["claims"]]
    return found


def test_minimax_repro_smoke(smoke, tmp_path):
    assert "minimax" in EXPERIMENTS
    assert mod.NAME == "minimax" and mod.PAPER and mod.CLAIM
    check = mod.check(smoke)
    assert set(check) >= {"reproduced", "claims", "table", "note"}
    assert isinstance(check["reproduced"], bool) and len(check["claims"]) >= 6
    for c in check["claims"]:
        assert set(c) >= {"claim", "held", "measured", "paper", "tests", "margin"} and c["paper"]
    files = mod.plot(smoke, tmp_path)
    assert len(files) == 5 and all(f.exists() and f.stat().st_size > 1000 for f in files)
    assert not any("one linear system" in c["claim"] for c in check["claims"])  # a regression test, not evidence
    # the large runs: the well-posed cell is timed over seeds and interleaved repeats, the ill-posed one once
    cells = {(r["d"], r["L2"]): r for r in smoke["large"].values()}
    well = next(r for (d, L2), r in cells.items() if L2 == 1e-3)
    ill = next(r for (d, L2), r in cells.items() if L2 == 1e4)
    assert well["well_posed"] and not ill["well_posed"]
    assert well["repeats"] == mod.SETTINGS["smoke"]["repeats"] > 1 and ill["repeats"] == 1
    for runs in well["methods"].values():
        for r in runs:
            assert len(r["cpu_s_runs"]) == len(r["wall_s_runs"]) == well["repeats"] and r["counts_agree"]
            assert r["cpu_s"] == pytest.approx(np.median(r["cpu_s_runs"])) and r["cpu_s"] > 0
    assert all(r["success"] for r in well["methods"]["Adaptive SOM II"])
    assert "ill posed" in check["note"]
    assert "lam_over_L2" in well["methods"]["Adaptive SOM II"][0]


def _well_posed_cell(result):
    return next(r for r in result["large"].values() if r["well_posed"])


def _slow_down(M, rival, ours, factor):
    """Make ``rival``'s CPU times ``factor`` x ours in every round of every seed (+- a little)."""
    for i, run in enumerate(M[ours]):
        r = M[rival][i]
        r["cpu_s_runs"] = [c * factor * (1 + 0.01 * ((i + j) % 3)) for j, c in enumerate(run["cpu_s_runs"])]
        r["cpu_s"] = float(np.median(r["cpu_s_runs"]))


def test_timing_check_fails_for_hipnex_passed_off_as_the_adaptive_method(smoke):
    broken = copy.deepcopy(smoke)
    M = _well_posed_cell(broken)["methods"]
    M["Adaptive SOM II"] = copy.deepcopy(M["HIPNEX"])
    assert not any(c["held"] for c in _claim(mod.check(broken), "Adaptive SOM II reaches"))
    # a variant clearly faster than both rivals on every seed passes ...
    fast = copy.deepcopy(smoke)
    M = _well_posed_cell(fast)["methods"]
    for rival in ("HIPNEX", "Optimal SOM (line search)"):
        _slow_down(M, rival, "Adaptive SOM II", 2.0)
    assert all(c["held"] for c in _claim(mod.check(fast), "Adaptive SOM II reaches"))
    # ... one whose rivals are slower only by less than the loaded-machine margin does not
    close = copy.deepcopy(fast)
    _slow_down(_well_posed_cell(close)["methods"], "HIPNEX", "Adaptive SOM II", 1.0 + mod.TIME_MARGIN / 2)
    assert not any(c["held"] for c in _claim(mod.check(close), "Adaptive SOM II reaches"))
    # an adaptive run that never reached the tolerance cannot win, however fast it stopped
    _well_posed_cell(fast)["methods"]["Adaptive SOM II"][0]["success"] = False
    assert not any(c["held"] for c in _claim(mod.check(fast), "Adaptive SOM II reaches"))


def test_timing_check_fails_end_to_end_when_option_ii_is_the_line_search(monkeypatch):
    """The pipeline run with 'Adaptive SOM II' secretly doing a line search: its timing claim must fail."""
    monkeypatch.setitem(mod.METHODS, "Adaptive SOM II", {"method": "linesearch"})
    cfg = dict(mod.SETTINGS["smoke"], repeats=3)
    cell = mod._large_setting(20000, 1e-3, 3, cfg, 0)
    t = mod.paired_speedup(cell["methods"]["Adaptive SOM II"], cell["methods"]["Optimal SOM (line search)"])
    assert not t["held"] and t["margin_ratio"] == 1.0 + mod.TIME_MARGIN
    # the genuine Option I in the same cell is faster than HIPNEX (21 vs 7 solves) by more than the margin
    assert mod.paired_speedup(cell["methods"]["Adaptive SOM I"], cell["methods"]["HIPNEX"])["held"]


def _runs(cpu_rounds, success=True):
    return [{"cpu_s": float(np.median(c)), "cpu_s_runs": list(c), "time_s": float(np.median(c)), "nlinsolve": 1,
             "success": success} for c in cpu_rounds]


def test_paired_speedup_is_a_superiority_test_on_log_cpu_ratios_with_the_load_margin():
    ours = _runs([[1.0, 1.0, 1.0]] * 4)
    clear = _runs([[1.5, 1.6, 1.5], [1.6, 1.5, 1.55], [1.45, 1.5, 1.5], [1.5, 1.5, 1.6]])
    t = mod.paired_speedup(ours, clear)
    assert t["held"] and t["test"] == "superiority" and t["threshold"] == pytest.approx(np.log1p(mod.TIME_MARGIN))
    assert t["slack_se"] > 0 and t["cpu_ratio"] == pytest.approx(1.5, rel=0.05)
    # consistently slower, but by less than the margin: not a claim a loaded machine could not fake
    within = _runs([[1.1, 1.1, 1.1]] * 4)
    assert not mod.paired_speedup(ours, within)["held"]
    # noisy seeds: mean ratio above the line but not beyond the seeds' noise
    noisy = _runs([[0.6] * 3, [3.0] * 3, [0.7] * 3, [3.2] * 3])
    assert not mod.paired_speedup(ours, noisy)["held"]
    assert not mod.paired_speedup(ours[:1], clear[:1])["held"]  # one seed: no test
    # the per-seed effect pairs the arms within a round: one disturbed round does not move the median
    one_bad = _runs([[1.0, 9.0, 1.0]])
    assert mod._seed_log_ratio(one_bad[0], _runs([[1.5, 1.5, 1.5]])[0]) == pytest.approx(np.log(1.5))
    assert not mod.paired_speedup(_runs([[1.0] * 3] * 4, success=False), clear)["held"]


def test_small_instance_checks_fail_on_broken_variants(smoke):
    assert all(c["held"] for c in _claim(mod.check(smoke), "on every small instance"))
    b = copy.deepcopy(smoke)
    b["generator2"][next(iter(b["generator2"]))]["methods"]["Adaptive SOM I"]["success"] = False
    assert not _claim(mod.check(b), "on every small instance")[0]["held"]

    b = copy.deepcopy(smoke)
    for r in b["generator1"].values():  # extragradient as fast as the second-order method
        r["methods"]["Extragradient"]["nit"] = r["methods"]["Adaptive SOM II"]["nit"] * 5
    assert not _claim(mod.check(b), "fewer iterations than extragradient")[0]["held"]

    b = copy.deepcopy(smoke)
    r = b["generator1"][next(iter(b["generator1"]))]["methods"]
    r["Adaptive SOM II"]["nlinsolve"] = r["Optimal SOM (line search)"]["nlinsolve"]  # backtracking-level cost
    assert not _claim(mod.check(b), "fewer linear solves")[0]["held"]

    b = copy.deepcopy(smoke)
    b["lambda0_sweep"]["generator1"]["runs"][-1]["success"] = False
    assert not _claim(mod.check(b), "converges for every lambda0")[0]["held"]


def test_instance_geometry_flags_the_ill_posed_instances():
    good = mod.instance_geometry(cubic_bilinear(500, generator="fast_orthogonal", L2=1e-3, random_state=0))
    bad = mod.instance_geometry(cubic_bilinear(500, generator="fast_orthogonal", L2=1e4, random_state=0))
    assert good["well_posed"] and not bad["well_posed"]
    assert good["cond_A"] == pytest.approx(20.0) and good["residual_at_z_star"] < 1e-10
    # y* = -(L2/2)||x*|| A^{-T} x* scales with L2 at a fixed x* = A^{-1} b
    assert bad["y_star_norm"] / good["y_star_norm"] == pytest.approx(1e7, rel=1e-6)
    assert np.isclose(bad["x_star_norm"], good["x_star_norm"])


def test_timing_spread_measures_identical_arms():
    out = mod.timing_spread(4000, 2, repeats=2)
    assert len(out["identical_cpu_ratio"]) == len(out["identical_wall_ratio"]) == 2
    assert all(r > 0 for r in out["identical_cpu_ratio"]) and out["single_run_cpu_max_over_min"] >= 1
    assert set(out["rival_cpu_ratio"]) == {f"{m} vs {o}" for m in ("Adaptive SOM I", "Adaptive SOM II")
                                           for o in ("Optimal SOM (line search)", "HIPNEX")}
    assert "Adaptive SOM I (identical copy)" not in mod.METHODS  # the twin is removed again
