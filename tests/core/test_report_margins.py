"""The report's first screen: held counts, fragile counts, every sub-claim's margin and a forest plot."""

import json

from frugalml.repro.report import build_report, forest_points
from frugalml.repro.stats import superiority
from frugalml.repro.verdict import claim, verdict


def _write(out, name, claims):
    folder = out / name
    folder.mkdir(parents=True)
    check = verdict(claims)
    record = {"name": name, "status": "reproduced" if check["reproduced"] else "not reproduced",
              "scale": "smoke", "seed": 0, "runtime_s": 1.0, "check": check, "figures": []}
    (folder / "result.json").write_text(json.dumps(record))


def test_report_shows_counts_margins_and_forest(tmp_path):
    strong = superiority([1.0, 1.2, 0.9, 1.1])
    weak = superiority([0.2, 0.5, 0.0, 0.4])   # held, within 1 SE of its line
    missed = superiority([-1.0, -0.8, -1.2, -0.9])
    _write(tmp_path, "moe_em", [claim("a", strong["held"], "m", test=strong),
                                claim("b", weak["held"], "m", test=weak)])
    _write(tmp_path, "icl", [claim("c", missed["held"], "m", test=missed), claim("d", True, "m")])
    page = build_report(tmp_path).read_text()
    assert "sub-claims held" in page
    assert strong["held"] and weak["held"] and not missed["held"]
    assert "<td>2 of 2</td>" in page and "<td>1 of 2</td>" in page   # moe_em, icl
    assert "held by" in page and "missed by" in page and "(fragile)" in page
    assert "no test record" in page  # claim d carries no test
    assert "forest plot" in page
    pts = forest_points([(json.loads((tmp_path / n / "result.json").read_text()), None) for n in ("moe_em", "icl")])
    assert [p["experiment"] for p in pts] == ["moe_em", "moe_em", "icl"]
    assert pts[1]["fragile"] and not pts[0]["fragile"] and not pts[2]["held"]


def test_warnings_during_a_run_are_kept_in_the_result_not_printed(tmp_path, monkeypatch, capsys):
    import types
    import warnings

    from frugalml.repro import harness

    def run(scale, seed):
        for _ in range(3):
            warnings.warn("old API", FutureWarning, stacklevel=1)
        return {"x": 1}

    fake = types.SimpleNamespace(PAPER="p", CLAIM="c", run=run, check=lambda r: verdict([claim("a", True, "m")]),
                                 plot=lambda r, out: [])
    monkeypatch.setattr(harness, "load_experiment", lambda name: fake)
    record = harness.run_one("moe_em", "smoke", 0, tmp_path)
    assert record["status"] == "reproduced"
    assert len(record["warnings"]) == 1 and record["warnings"][0].startswith("FutureWarning: old API")
    assert "old API" not in capsys.readouterr().err
    saved = json.loads((tmp_path / "moe_em" / "result.json").read_text())
    assert saved["warnings"] == record["warnings"]
