"""``train_causal_lm`` under torchrun with 2 CPU processes (gloo) equals the one-process run.

With ``batch_size`` the global batch (accelerate's ``split_batches``), both runs see the same
examples in each optimiser step and DDP averages the two halves' gradients, which is the
gradient of the full batch (every block has the same token count). The curves then agree up
to float32 reduction order: we allow 1e-4 relative on each step's loss.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import ddp_worker  # noqa: E402


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    single = ddp_worker.run()
    out = tmp_path / "ddp.json"
    with socket.socket() as s:                     # a free loopback port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(HERE / "ddp_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads(out.read_text())
    assert len(ddp["loss"]) == len(single["loss"]) == 12
    assert ddp["n_tokens"] == single["n_tokens"]
    for step, (a, b) in enumerate(zip(single["loss"], ddp["loss"])):
        assert abs(a - b) <= 1e-4 * abs(a), (step, a, b)
    assert abs(ddp["weight_sum"] - single["weight_sum"]) <= 1e-4 * single["weight_sum"]
    # the loss did move: the comparison is not between two untrained models
    assert single["loss"][-1] < single["loss"][0] - 0.3


def test_only_rank_zero_writes_the_report(tmp_path, monkeypatch):
    from frugalml.repro import harness

    calls = []
    monkeypatch.setattr(harness, "run_one", lambda name, scale, seed, out: calls.append(out) or
                        {"status": "reproduced", "runtime_s": 0.0})
    monkeypatch.setattr(harness, "build_report", lambda out: None)
    monkeypatch.setenv("RANK", "1")
    logged = []
    harness.reproduce(["flow"], scale="smoke", out=tmp_path / "runs", log=logged.append)
    assert calls == [tmp_path / "runs" / ".rank-1"] and logged == []
    monkeypatch.setenv("RANK", "0")
    harness.reproduce(["flow"], scale="smoke", out=tmp_path / "runs", log=logged.append)
    assert calls[-1] == tmp_path / "runs" and logged
