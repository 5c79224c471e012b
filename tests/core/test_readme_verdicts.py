"""The README's verdict table says what the recorded default run (docs/verdicts.json) produced."""

import json
import re
from pathlib import Path

import pytest

from frugalml.repro import EXPERIMENTS
from frugalml.repro.summary import summarize_record, verdict_line, verdict_summary

ROOT = Path(__file__).resolve().parents[2]


def _readme_rows() -> dict:
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"^\| `(\w+)` \|[^|]*\| (.*) \|$", line)
        if m and m.group(1) in EXPERIMENTS:
            rows[m.group(1)] = m.group(2)
    return rows


def test_readme_table_starts_each_row_with_the_recorded_verdict():
    recorded = json.loads((ROOT / "docs" / "verdicts.json").read_text())
    rows = _readme_rows()
    assert set(rows) == set(EXPERIMENTS), "the README's verdict table lists every experiment once"
    assert set(recorded) == set(EXPERIMENTS), "docs/verdicts.json records every experiment"
    for name, entry in recorded.items():
        assert entry["scale"] == "default", f"{name}: the table describes the default scale"
        assert rows[name].startswith(verdict_line(entry)), (
            f"README row for {name} says {rows[name][:60]!r}; the recorded run says {verdict_line(entry)!r}")


def test_summary_of_a_run_folder(tmp_path):
    claims = [{"claim": "a", "held": True, "fragile": True}, {"claim": "b", "held": False}]
    (tmp_path / "icl").mkdir()
    (tmp_path / "icl" / "result.json").write_text(json.dumps(
        {"name": "icl", "status": "not reproduced", "scale": "default", "seed": 0, "check": {"claims": claims}}))
    s = verdict_summary(tmp_path)
    assert list(s) == ["icl"]
    assert verdict_line(s["icl"]) == "not reproduced (1 of 2)"
    assert s["icl"]["held"] == [True, False] and s["icl"]["n_fragile"] == 1
    assert verdict_line(summarize_record({"status": "crashed"})) == "crashed"
    with pytest.raises(ValueError, match="no <experiment>"):
        verdict_summary(tmp_path / "icl")
