import json

import numpy as np
import pytest

from frugalml import cli
from frugalml.repro import EXPERIMENTS, load_experiment
from frugalml.repro import harness


def test_list_shows_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)


def test_every_experiment_declares_the_contract():
    for name in EXPERIMENTS:
        mod = load_experiment(name)
        for attr in ("PAPER", "CLAIM", "run", "check", "plot"):
            assert hasattr(mod, attr), f"{name} lacks {attr}"


def test_reproduce_writes_results_report_and_survives_a_crash(tmp_path, monkeypatch, capsys):
    real = load_experiment("gm_matching")

    class Broken:
        PAPER, CLAIM = "nobody", "nothing"

        @staticmethod
        def run(scale, seed):
            raise RuntimeError("boom")

    monkeypatch.setitem(EXPERIMENTS, "broken", "a crashing experiment")
    monkeypatch.setattr(harness, "load_experiment", lambda n: Broken if n == "broken" else real)
    code = cli.main(["reproduce", "broken", "gm_matching", "--scale", "smoke", "--out", str(tmp_path), "--quiet"])
    assert code == 1  # one crashed
    ok = json.loads((tmp_path / "gm_matching" / "result.json").read_text())
    assert ok["status"] in ("reproduced", "not reproduced") and ok["check"]["claims"]
    assert all((tmp_path / "gm_matching" / f).exists() for f in ok["figures"]) and len(ok["figures"]) == 3
    bad = json.loads((tmp_path / "broken" / "result.json").read_text())
    assert bad["status"] == "crashed" and "boom" in bad["error"]
    page = (tmp_path / "report.html").read_text()
    assert "crashed" in page and "data:image/png;base64" in page and real.CLAIM[:40] in page
    (tmp_path / "report.html").unlink()
    assert cli.main(["report", str(tmp_path)]) == 0 and (tmp_path / "report.html").exists()


def test_unknown_experiment_and_empty_report(tmp_path, capsys):
    assert cli.main(["reproduce", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path)]) == 2


def test_select_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.normal(size=(100, 4)))
    np.save(tmp_path / "y.npy", rng.integers(0, 2, size=100))
    out = tmp_path / "idx.npy"
    assert cli.main(["select", "--embeddings", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"),
                     "--fraction", "0.2", "--out", str(out)]) == 0
    idx = np.load(out)
    assert idx.size == 20 and np.unique(idx).size == 20
    np.save(tmp_path / "y_bad.npy", np.zeros(7, int))
    assert cli.main(["select", "--embeddings", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y_bad.npy"),
                     "--fraction", "0.2", "--out", str(out)]) == 2
    assert "y has 7 entries" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["select", "--embeddings", "X.npy", "--method", "magic", "--fraction", "0.1", "--out", "o.npy"])


def test_held_finds_claims_by_text_and_refuses_a_missing_one():
    from frugalml.repro.verdict import claim, held, verdict

    checked = verdict([claim("A beats B", True, "1 > 0"), claim("A beats C", False, "0 < 1")])
    assert held(checked, "A beats") == [True, False]
    assert held(checked, "beats C") == [False]
    with pytest.raises(KeyError, match="beats D"):
        held(checked, "beats D")
