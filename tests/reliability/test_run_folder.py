"""Run folders under concurrency and faults (issue 24): processes racing, a killed re-run, hostile files.

The end-to-end tests start real ``frugalml reproduce`` processes on a fake, fast experiment
(registered by a small launcher script: the harness has no plug-in hook, and none is added for
tests), two at once into one folder and one killed with SIGKILL mid-run.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from frugalml import cli
from frugalml._core.provenance import code_version, provenance
from frugalml._core.results import write_json_atomic
from frugalml.repro import EXPERIMENTS, harness
from frugalml.repro.report import build_report, code_versions_html

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

FAKE = '''
import os, time
PAPER, CLAIM = "a fake paper", "a fake claim"
def run(scale, seed):
    time.sleep(float(os.environ["FAKE_SLEEP"]))
    return {"tag": os.environ["FAKE_TAG"], "x": 1.0}
def check(result):
    return {"reproduced": True, "claims": [], "table": [{"tag": result["tag"]}], "note": ""}
def plot(result, outdir):
    path = os.path.join(str(outdir), "fig.png")
    with open(path, "wb") as fh:
        fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + b"\\x00" * 32)
    return [path]
'''

LAUNCHER = '''
import importlib, sys
sys.path.insert(0, sys.argv[1])
from frugalml.repro import EXPERIMENTS, harness
fake = importlib.import_module("fake_experiment")
for name in ("fake_a", "fake_b"):
    EXPERIMENTS[name] = "a fake experiment"
harness.load_experiment = lambda name: fake
from frugalml import cli
sys.exit(cli.main(["reproduce", "fake_a", "fake_b", "--scale", "smoke", "--out", sys.argv[2], "--quiet"]))
'''


@pytest.fixture()
def launcher(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "fake_experiment.py").write_text(FAKE)
    (code / "launch.py").write_text(LAUNCHER)

    def start(out, tag, sleep):
        env = {**os.environ, "FAKE_TAG": str(tag), "FAKE_SLEEP": str(sleep), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return subprocess.Popen([sys.executable, str(code / "launch.py"), str(code), str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    return start


def _tag(out, name):
    return json.loads((out / name / "result.json").read_text())["result"]["tag"]


def _leftovers(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name.endswith(".tmp") or ".plot-" in p.name)


def test_two_processes_into_one_folder_and_one_killed_mid_run(tmp_path, launcher):
    out = tmp_path / "run"
    first = launcher(out, "first", 0.0)
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert _tag(out, "fake_a") == "first"

    # two processes race into the same folder: both succeed, every file is whole, nothing is left over
    a, b = launcher(out, "A", 0.3), launcher(out, "B", 0.3)
    for p in (a, b):
        assert p.wait(timeout=60) == 0, p.stderr.read()
        assert "Traceback" not in p.stderr.read()
    for name in ("fake_a", "fake_b"):
        record = json.loads((out / name / "result.json").read_text())
        assert record["status"] == "reproduced" and record["result"]["tag"] in ("A", "B")
        assert (out / name / "fig.png").read_bytes() == PNG
        assert not list((out / name).glob(".running-*"))
    assert _leftovers(out) == []
    assert "fake claim" in (out / "report.html").read_text()
    kept = (out / "fake_a" / "result.json").read_bytes()
    kept_tag = _tag(out, "fake_a")

    # a re-run killed mid-experiment: the last complete result stays, marked as the earlier run
    c = launcher(out, "killed", 60)
    deadline = time.time() + 120  # generous: process start-up on a loaded machine
    while not list((out / "fake_a").glob(".running-*.json")) and time.time() < deadline:
        time.sleep(0.05)
    assert list((out / "fake_a").glob(".running-*.json")), "the re-run never started fake_a"
    time.sleep(0.2)
    c.send_signal(signal.SIGKILL)
    c.wait(timeout=30)
    assert (out / "fake_a" / "result.json").read_bytes() == kept
    assert cli.main(["report", str(out)]) == 0
    section = (out / "report.html").read_text().split('id="fake_a"')[1].split("<h2")[0]
    assert "was interrupted before it finished" in section and "results below are from the earlier run" in section
    assert f"<td>{kept_tag}</td>" in section  # the earlier numbers are shown

    # the next complete run replaces it and clears the dead marker
    d = launcher(out, "after", 0.0)
    assert d.wait(timeout=60) == 0, d.stderr.read()
    assert _tag(out, "fake_a") == "after"
    assert not list((out / "fake_a").glob(".running-*"))
    assert "interrupted" not in (out / "report.html").read_text()


def _fake(monkeypatch, names, run=None):
    fake = type("Fake", (), {
        "PAPER": "P", "CLAIM": "the fake claim",
        "run": staticmethod(run or (lambda scale, seed: {"x": 1.0})),
        "check": staticmethod(lambda r: {"reproduced": True, "claims": [], "table": [], "note": ""}),
        "plot": staticmethod(lambda r, outdir: [])})

    for name in names:
        monkeypatch.setitem(EXPERIMENTS, name, name)
    monkeypatch.setattr(harness, "load_experiment", lambda n: fake)


def test_a_deeply_nested_result_of_another_experiment_stops_nothing(tmp_path, monkeypatch):
    _fake(monkeypatch, ["one", "two"])
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "result.json").write_text("[" * 200_000 + "]" * 200_000)  # RecursionError in json
    records = harness.reproduce(["one", "two"], scale="smoke", out=tmp_path, log=lambda *a: None)
    assert [r["status"] for r in records] == ["reproduced", "reproduced"]
    section = (tmp_path / "report.html").read_text().split('id="deep"')[1]
    assert "nested too deeply" in section and str(tmp_path / "deep" / "result.json") in section


def test_a_failing_report_never_stops_an_experiment(tmp_path, monkeypatch):
    _fake(monkeypatch, ["one", "two"])

    def broken(out):
        raise RuntimeError("the report broke")

    monkeypatch.setattr(harness, "build_report", broken)
    lines = []
    records = harness.reproduce(["one", "two"], scale="smoke", out=tmp_path, log=lines.append)
    assert [r["status"] for r in records] == ["reproduced", "reproduced"]
    assert any("report not rebuilt: RuntimeError: the report broke" in line for line in lines)


def test_every_result_carries_its_provenance(tmp_path, monkeypatch):
    _fake(monkeypatch, ["one"], run=lambda scale, seed: (time.sleep(0.05), {"x": 1.0})[1])
    harness.reproduce(["one"], scale="smoke", out=tmp_path, log=lambda *a: None)
    prov = json.loads((tmp_path / "one" / "result.json").read_text())["provenance"]
    for key in ("started", "ended", "frugalml_version", "source_hash", "python", "numpy", "torch", "cpu_count",
                "load_avg_start", "load_avg_end", "host", "pid"):
        assert key in prov, key
    assert prov["ended_unix"] >= prov["started_unix"] + 0.04
    if (ROOT / ".git").exists():
        assert len(prov["git_commit"]) == 40 and isinstance(prov["git_dirty"], bool)
    page = (tmp_path / "report.html").read_text()
    assert f"source {prov['source_hash']}" in page and prov["started"] in page and "load average" in page


def test_the_report_flags_results_of_different_code_versions(tmp_path):
    now = provenance()
    old = {**now, "source_hash": "0123456789abcdef", "git_commit": "f" * 40}
    for name, prov in (("gm_matching", now), ("retraining", now), ("moe_em", old), ("icl", None)):
        record = {"name": name, "status": "reproduced", "figures": []}
        if prov is not None:
            record["provenance"] = prov
        write_json_atomic(tmp_path / name / "result.json", record)
    page = build_report(tmp_path).read_text()
    assert "These results come from 3 different code versions" in page
    assert code_version(old) in page and "unknown (no provenance recorded)" in page
    # one version: no warning
    same = [{"name": n, "status": "reproduced", "provenance": now} for n in ("a", "b")]
    assert code_versions_html(same) == ""


def test_symlinks_out_of_the_run_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write_json_atomic(outside / "result.json", {"name": "x", "status": "reproduced", "claim": "SECRET CLAIM"})
    run = tmp_path / "run"
    write_json_atomic(run / "gm_matching" / "result.json", {"name": "gm_matching", "status": "reproduced",
                                                              "claim": "inside claim"})
    (run / "retraining").symlink_to(outside)                          # a symlinked experiment folder
    (run / "moe_em").mkdir()
    (run / "moe_em" / "result.json").symlink_to(outside / "result.json")  # a symlinked result file
    (run / "icl").mkdir()
    (run / "icl" / "real.json").write_text(json.dumps({"name": "icl", "status": "reproduced", "claim": "linked inside"}))
    (run / "icl" / "result.json").symlink_to(run / "icl" / "real.json")  # inside the folder: fine
    page = build_report(run).read_text()
    assert "SECRET CLAIM" not in page and "inside claim" in page and "linked inside" in page
    assert page.count("refused: ") >= 2 and "symbolic link out of the" in page


def test_a_fifo_or_a_huge_result_does_not_hang_or_load(tmp_path, monkeypatch):
    from frugalml._core import results

    write_json_atomic(tmp_path / "gm_matching" / "result.json", {"name": "gm_matching", "status": "reproduced"})
    (tmp_path / "retraining").mkdir()
    os.mkfifo(tmp_path / "retraining" / "result.json")
    write_json_atomic(tmp_path / "moe_em" / "result.json", {"name": "moe_em", "pad": "x" * 5000})
    monkeypatch.setattr(results, "MAX_RESULT_BYTES", 1000)
    monkeypatch.setattr(results.read_json_safe, "__kwdefaults__", {"max_bytes": 1000})
    done = threading.Event()
    threading.Thread(target=lambda: (build_report(tmp_path), done.set()), daemon=True).start()
    assert done.wait(20), "build_report blocked on a FIFO"
    page = (tmp_path / "report.html").read_text()
    assert "is not a regular file" in page and "over the 1,000-byte limit" in page


def test_concurrent_report_rebuilds_never_collide(tmp_path):
    write_json_atomic(tmp_path / "gm_matching" / "result.json", {"name": "gm_matching", "status": "reproduced"})
    script = textwrap.dedent(f"""
        from frugalml.repro.report import build_report
        for _ in range(25):
            build_report({str(tmp_path)!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    assert "gm_matching" in (tmp_path / "report.html").read_text()
    assert _leftovers(tmp_path) == []


def test_an_unusable_experiment_folder_fails_that_experiment_only(tmp_path, monkeypatch):
    _fake(monkeypatch, ["one", "two"])
    (tmp_path / "one").write_text("a file where the experiment's folder should be")
    records = harness.reproduce(["one", "two"], scale="smoke", out=tmp_path, log=lambda *a: None)
    assert records[0]["status"] == "crashed" and "cannot use the folder" in records[0]["error"]
    assert records[1]["status"] == "reproduced"


def test_unreadable_run_markers_alone_are_named(tmp_path):
    write_json_atomic(tmp_path / "gm_matching" / "result.json", {"name": "gm_matching", "status": "reproduced"})
    (tmp_path / "retraining").mkdir()
    (tmp_path / "retraining" / ".running-x.json").write_text("{not json")
    section = build_report(tmp_path).read_text().split('id="retraining"')[1]
    assert "run markers beside it cannot be read" in section
