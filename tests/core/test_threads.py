"""The harness runs every experiment at a fixed thread count, whatever OMP_NUM_THREADS says (issue 25)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from frugalml._core.threads import ENV, experiment_threads, fixed_threads
from frugalml.repro import EXPERIMENTS, harness


def test_thread_count_by_scale_and_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert experiment_threads("smoke") == experiment_threads("default") == 2
    assert experiment_threads("paper") is None                  # a GPU machine keeps its own settings
    monkeypatch.setenv(ENV, "3")
    assert experiment_threads("default") == experiment_threads("paper") == 3
    monkeypatch.setenv(ENV, "0")
    assert experiment_threads("default") is None
    for bad in ("two", "-1", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(ValueError, match=ENV):
            experiment_threads("default")


_PROBE = """
import json, torch
from threadpoolctl import threadpool_info
from frugalml._core.threads import fixed_threads
x = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
before = torch.get_num_threads()
with fixed_threads(2):
    inside = torch.get_num_threads()
    blas = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
    total = float((x @ x).sum(dim=0).cumsum(0)[-1])
after = torch.get_num_threads()
print(json.dumps({"before": before, "inside": inside, "blas": blas, "after": after, "total": total.hex()}))
"""


def _probe(omp: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": omp, "OPENBLAS_NUM_THREADS": omp, "MKL_NUM_THREADS": omp}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fixed_threads_overrides_the_environment_and_restores_it():
    one, two = _probe("1"), _probe("2")
    assert one["before"] == 1 and two["before"] == 2                       # the environment is seen ...
    assert one["inside"] == two["inside"] == 2 and one["blas"] in ([], [2])  # ... and overridden inside
    assert one["after"] == 1 and two["after"] == 2                          # ... and restored after
    assert one["total"] == two["total"]                                     # the same bits either way


def test_fixed_threads_none_changes_nothing():
    import torch

    before = torch.get_num_threads()
    with fixed_threads(None):
        assert torch.get_num_threads() == before


def test_harness_runs_an_experiment_at_the_fixed_count_and_records_it(tmp_path, monkeypatch):
    import torch

    seen = {}

    class Probe:
        PAPER, CLAIM = "nobody", "threads"

        @staticmethod
        def run(scale, seed):
            seen["threads"] = torch.get_num_threads()
            return {}

        @staticmethod
        def check(result):
            return {"reproduced": True, "claims": [], "table": [], "note": ""}

        @staticmethod
        def plot(result, outdir):
            return []

    monkeypatch.setitem(EXPERIMENTS, "probe", "a thread probe")
    monkeypatch.setattr(harness, "load_experiment", lambda n: Probe)
    monkeypatch.setenv(ENV, "3")
    before = torch.get_num_threads()
    record = harness.run_one("probe", "smoke", 0, tmp_path)
    assert seen["threads"] == 3 and record["threads"] == 3 and torch.get_num_threads() == before
    assert json.loads((tmp_path / "probe" / "result.json").read_text())["threads"] == 3
