"""Run experiments, check their claims, save results and figures, build the report."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from frugalml._core.results import write_json_atomic
from frugalml._core.validation import check_option, check_path, check_scalar
from frugalml.repro import EXPERIMENTS, SCALES, load_experiment
from frugalml.repro.report import build_report


def run_one(name: str, scale: str, seed: int, out: Path) -> dict:
    """Run one experiment end to end; never raises: a crash is recorded in the result."""
    outdir = Path(out) / name
    outdir.mkdir(parents=True, exist_ok=True)
    # A placeholder first: if the process is killed mid-run, the report shows this experiment as
    # interrupted instead of silently showing a stale result from an earlier run.
    write_json_atomic(outdir / "result.json", {
        "name": name, "scale": scale, "seed": seed, "status": "interrupted", "figures": [],
        "error": "the run stopped (killed or interrupted) before this experiment finished"})
    record = {"name": name, "scale": scale, "seed": seed, "status": "crashed", "figures": []}
    start = time.perf_counter()
    try:
        module = load_experiment(name)
        record.update(paper=module.PAPER, claim=module.CLAIM)
        result = module.run(scale=scale, seed=seed)
        record["result"] = result
        record["runtime_s"] = time.perf_counter() - start
        record["check"] = module.check(result)
        record["status"] = "reproduced" if record["check"]["reproduced"] else "not reproduced"
        write_json_atomic(outdir / "result.json", record)  # numbers are safe before plotting
        figures = module.plot(result, outdir)
        record["figures"] = [str(Path(f).relative_to(outdir)) for f in figures]
    except Exception as exc:  # one crash must not lose the other experiments
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        if record["status"] != "crashed":  # plotting failed after a valid check
            record["status"] = "crashed"
    record.setdefault("runtime_s", time.perf_counter() - start)
    write_json_atomic(outdir / "result.json", record)
    return record


def reproduce(names=None, *, scale: str = "default", seed: int = 0, out="runs/latest", log=print) -> list[dict]:
    """Run the named experiments (all when ``names`` is empty) and write ``out/report.html``.

    Under ``torchrun`` / ``accelerate launch`` every process runs the experiments (their LM
    training is data-parallel) and only the main process writes to ``out``; the others write
    to ``out/.rank-N/``, which the report ignores.
    """
    check_option(scale, SCALES, "scale")
    seed = check_scalar(seed, "seed", integer=True, low=0, high=2**32 - 1)
    names = list(names) if names else list(EXPERIMENTS)
    for name in names:
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    out = check_path(out, "out", must_exist=False, kind="dir")
    rank = int(os.environ.get("RANK", "0") or 0)   # set by torchrun / accelerate launch
    if rank:  # every process runs the experiments (DDP steps in lockstep); only rank 0 writes the report
        out, log = out / f".rank-{rank}", (lambda *args, **kwargs: None)
    records = []
    try:
        for name in names:
            log(f"[{name}] running at scale={scale}, seed={seed} ...")
            record = run_one(name, scale, seed, out)
            log(f"[{name}] {record['status']} in {record['runtime_s']:.1f} s")
            if record["status"] == "crashed":
                log(f"[{name}] {record.get('error')}")
            records.append(record)
            build_report(out)  # after each experiment: an interrupted run still leaves a current report
    finally:
        if out.is_dir() and any(out.glob("*/result.json")):
            build_report(out)
    return records
