"""Property-based checks of the command line: bad arguments give exit status 2 and a message
naming the option, never a traceback; a good call still works."""

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from frugalml import cli

CLI_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))

numberish = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e30", "2", "1.5", "abc", "", "0x10",
                                       "1e-400", "True", "--", "-0"]),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10**30, 10**30).map(str))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    np.save(folder / "X.npy", rng.normal(size=(40, 3)))
    np.save(folder / "y.npy", np.repeat(np.arange(2), 20))
    return folder


def _run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured


@pytest.mark.parametrize("option", ["--fraction", "--n-select", "--seed"])
def test_select_numbers(data, capsys, option):
    @CLI_SETTINGS
    @given(value=numberish)
    def check(value):
        budget = [] if option in ("--fraction", "--n-select") else ["--fraction", "0.25"]
        argv = ["select", "--embeddings", str(data / "X.npy"), "--labels", str(data / "y.npy"), *budget,
                f"{option}={value}", "--out", str(data / "idx.npy")]
        code, captured = _run(argv, capsys)
        if code == 0:
            idx = np.load(data / "idx.npy")
            assert idx.ndim == 1 and np.unique(idx).size == idx.size and 0 < idx.size <= 40
            assert np.all((0 <= idx) & (idx < 40))
        else:
            assert code == 2 and option.lstrip("-").replace("-", "_") in captured.err.replace("-", "_"), \
                captured.err

    check()


def test_select_paths(data, capsys, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "text.npy").write_text("hello")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    np.save(tmp_path / "complex.npy", np.ones((4, 2), complex))
    np.save(tmp_path / "three_d.npy", np.ones((4, 2, 2)))
    for emb in ["missing.npy", "dir", "text.npy", "strings.npy", "complex.npy", "three_d.npy"]:
        code, captured = _run(["select", "--embeddings", str(tmp_path / emb), "--fraction", "0.5",
                               "--out", str(tmp_path / "o.npy")], capsys)
        assert code == 2 and ("--embeddings" in captured.err or " X " in captured.err or "X must" in captured.err
                              or "X has" in captured.err or "Complex" in captured.err), (emb, captured.err)
    for out in [tmp_path / "dir", tmp_path / "nofolder" / "o.npy"]:
        code, captured = _run(["select", "--embeddings", str(data / "X.npy"), "--fraction", "0.5",
                               "--out", str(out)], capsys)
        assert code == 2 and "--out" in captured.err


@CLI_SETTINGS
@given(name=st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("-")))
def test_reproduce_unknown_names_are_refused(name):
    from frugalml.repro import EXPERIMENTS

    if name in EXPERIMENTS:
        return
    code = cli.main(["reproduce", name, "--out", "/nonexistent/never-written", "--quiet"])
    assert code == 2


@pytest.mark.parametrize("argv", [["reproduce", "--scale", "huge"], ["reproduce", "--seed", "x"],
                                  ["reproduce", "--seed", "-1", "gm_matching"], ["report"], ["frobnicate"],
                                  ["select", "--fraction", "0.1"]])
def test_bad_command_lines_exit_2_without_traceback(argv, capsys, tmp_path):
    code, captured = _run([*argv, "--out", str(tmp_path / "o")] if argv[0] == "reproduce" else argv, capsys)
    assert code == 2 and captured.err
