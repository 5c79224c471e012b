"""The report survives damage: malformed results, hostile figure paths, interrupted runs."""

import json
import os
import stat

import numpy as np
import pytest

from frugalml import cli
from frugalml._core.results import write_json_atomic
from frugalml.repro import EXPERIMENTS, harness
from frugalml.repro.report import build_report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the magic number is all the report checks


def _good(out, name="gm_matching", figures=("fig.png",)):
    folder = out / name
    folder.mkdir(parents=True)
    for f in figures:
        (folder / f).write_bytes(PNG)
    write_json_atomic(folder / "result.json", {
        "name": name, "status": "reproduced", "scale": "smoke", "seed": 0, "runtime_s": 1.5,
        "paper": "P", "claim": f"claim of {name}", "figures": list(figures),
        "check": {"reproduced": True, "claims": [{"claim": "c", "held": True, "measured": "m", "paper": "p"}],
                  "table": [{"setting": "s", "paper": 1, "ours": 2}], "note": ""}})
    return folder


@pytest.mark.parametrize("damage", [
    b"{not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null",
    json.dumps({"status": ["x"], "check": {"claims": [{"nope": 1}]}}).encode(),
    json.dumps({"runtime_s": "fast", "figures": 7, "check": "yes"}).encode(),
])
def test_one_malformed_result_is_named_and_the_others_render(tmp_path, damage):
    _good(tmp_path)
    bad = tmp_path / "retraining"
    bad.mkdir()
    (bad / "result.json").write_bytes(damage)
    page = build_report(tmp_path).read_text()
    assert "claim of gm_matching" in page and "data:image/png;base64" in page
    assert 'id="retraining"' in page
    section = page.split('id="retraining"')[1]
    if damage in (b"{not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null"):
        assert str(bad / "result.json") in section and "unreadable" in section


def test_unreadable_file_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    _good(tmp_path)
    bad = _good(tmp_path, "retraining")
    os.chmod(bad / "result.json", 0)
    page = build_report(tmp_path).read_text()
    assert str(bad / "result.json") in page and "claim of gm_matching" in page


@pytest.mark.parametrize("figure", ["../secret.png", "/etc/hostname", "../../x.png", "link.png", "notpng.png",
                                    "missing.png"])
def test_figure_paths_outside_the_folder_are_refused(tmp_path, figure):
    (tmp_path / "secret.png").write_bytes(PNG)  # a real PNG outside the experiment folder
    folder = _good(tmp_path)
    (folder / "link.png").symlink_to(tmp_path / "secret.png")
    (folder / "notpng.png").write_bytes(b"<script>alert(1)</script>")
    record = json.loads((folder / "result.json").read_text())
    record["figures"] = [figure]
    write_json_atomic(folder / "result.json", record)
    page = build_report(tmp_path).read_text()
    assert "data:image/png;base64" not in page  # nothing was embedded
    assert "refused" in page or "missing" in page
    assert "<script>" not in page


def test_results_have_the_permissions_of_the_figures(tmp_path):
    folder = _good(tmp_path)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)
    assert mode(folder / "result.json") == mode(folder / "fig.png")


def test_report_is_rebuilt_after_an_interrupted_run(tmp_path, monkeypatch):
    class Fine:
        PAPER, CLAIM = "P", "the fine claim"
        run = staticmethod(lambda scale, seed: {"x": 1.0})
        check = staticmethod(lambda r: {"reproduced": True, "claims": [], "table": [], "note": ""})
        plot = staticmethod(lambda r, outdir: [])

    class Interrupted(Fine):
        @staticmethod
        def run(scale, seed):
            raise KeyboardInterrupt

    monkeypatch.setitem(EXPERIMENTS, "fine", "fine")
    monkeypatch.setitem(EXPERIMENTS, "stopped", "stopped")
    monkeypatch.setattr(harness, "load_experiment", lambda n: Fine if n == "fine" else Interrupted)
    # the earlier complete result is kept (its numbers are not lost) and shown as the earlier run's
    earlier = {"name": "stopped", "status": "reproduced", "claim": "the earlier claim",
               "provenance": {"started": "2020-01-01T00:00:00+00:00", "started_unix": 1577836800.0,
                              "ended": "2020-01-01T00:01:00+00:00", "source_hash": "0" * 16}}
    write_json_atomic(tmp_path / "stopped" / "result.json", earlier)
    with pytest.raises(KeyboardInterrupt):
        harness.reproduce(["fine", "stopped"], scale="smoke", out=tmp_path, log=lambda *a: None)
    page = (tmp_path / "report.html").read_text()
    assert "the fine claim" in page
    assert json.loads((tmp_path / "stopped" / "result.json").read_text()) == earlier
    section = page.split('id="stopped"')[1]
    assert "the earlier claim" in section and "was interrupted before it finished" in section
    assert "results below are from the earlier run that ended 2020-01-01T00:01:00" in section
    # with no earlier result the experiment is shown as interrupted
    monkeypatch.setitem(EXPERIMENTS, "fresh", "fresh")
    with pytest.raises(KeyboardInterrupt):
        harness.reproduce(["fresh"], scale="smoke", out=tmp_path, log=lambda *a: None)
    assert not (tmp_path / "fresh" / "result.json").exists()
    page = (tmp_path / "report.html").read_text()
    assert "interrupted before it finished" in page.split('id="fresh"')[1]


def test_harness_rejects_bad_arguments(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out must be a directory"):
        harness.reproduce(["gm_matching"], scale="smoke", out=tmp_path / "file")
    with pytest.raises(ValueError, match="seed"):
        harness.reproduce(["gm_matching"], scale="smoke", seed=-1, out=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        harness.reproduce(["gm_matching"], scale="smoke", seed=True, out=tmp_path)
    with pytest.raises(ValueError, match="scale must be one of"):
        harness.reproduce(["gm_matching"], scale="huge", out=tmp_path)


def _select(tmp_path, *extra):
    return cli.main(["select", "--embeddings", str(tmp_path / "X.npy"), "--fraction", "0.2", *extra])


def test_select_out_is_exactly_the_path_given(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.random.default_rng(0).normal(size=(50, 3)))
    (tmp_path / "existing").mkdir()
    assert _select(tmp_path, "--out", str(tmp_path / "existing")) == 2
    assert "--out must be a file" in capsys.readouterr().err
    assert not (tmp_path / "existing.npy").exists()
    assert _select(tmp_path, "--out", str(tmp_path / "nofolder" / "i.npy")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _select(tmp_path, "--out", str(tmp_path / "idx")) == 0  # no silent ".npy" suffix
    assert np.load(tmp_path / "idx").size == 10 and str(tmp_path / "idx") in capsys.readouterr().out


def test_select_never_unpickles_user_files(tmp_path, capsys):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    np.save(tmp_path / "X.npy", np.array([Boom(), Boom()], dtype=object), allow_pickle=True)
    assert _select(tmp_path, "--out", str(tmp_path / "i.npy")) == 2
    assert "never unpickles" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()
    assert cli.main(["select", "--embeddings", str(tmp_path / "missing.npy"), "--fraction", "0.2",
                     "--out", str(tmp_path / "i.npy")]) == 2
    assert "--embeddings" in capsys.readouterr().err
