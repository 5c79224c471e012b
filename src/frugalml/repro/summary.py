"""The verdicts of a recorded run, kept in ``docs/verdicts.json`` so the README cannot drift from it.

``python -m frugalml.repro.summary RUN_DIR [--into docs/verdicts.json]`` reads every
``RUN_DIR/<name>/result.json`` and writes, per experiment, its status, the held / tested counts, which
sub-claims held, the scale, seed, run time and the run's provenance when the result carries it.
With ``--into`` an existing file is updated experiment by experiment (each entry keeps its own
provenance, so a table assembled from several runs says so). ``tests/core/test_readme_verdicts.py``
checks that the README's verdict table starts every row with what this file records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from frugalml._core.results import read_json, write_json_atomic


def verdict_line(entry: dict) -> str:
    """``reproduced (5 of 5)`` / ``not reproduced (2 of 6)`` / ``crashed``: how a README row begins."""
    if entry["status"] not in ("reproduced", "not reproduced"):
        return entry["status"]
    return f"{entry['status']} ({entry['n_held']} of {entry['n_claims']})"


def summarize_record(record: dict) -> dict:
    """One experiment's entry from its saved result record."""
    check = record.get("check") or {}
    claims = check.get("claims") or []
    entry = {"status": record.get("status"), "n_held": sum(c.get("held") is True for c in claims),
             "n_claims": len(claims), "held": [c.get("held") is True for c in claims],
             "claims": [c.get("claim", "")[:160] for c in claims],
             "n_fragile": sum(bool(c.get("fragile")) for c in claims),
             "scale": record.get("scale"), "seed": record.get("seed"), "runtime_s": record.get("runtime_s")}
    if isinstance(record.get("provenance"), dict):
        entry["provenance"] = record["provenance"]
    return entry


def verdict_summary(run_dir) -> dict:
    """``{name: entry}`` for every ``run_dir/<name>/result.json`` of a known experiment."""
    from frugalml.repro import EXPERIMENTS

    run_dir = Path(run_dir)
    out = {}
    for name in EXPERIMENTS:
        path = run_dir / name / "result.json"
        if path.is_file():
            out[name] = {**summarize_record(read_json(path)), "run": str(run_dir)}
    if not out:
        raise ValueError(f"no <experiment>/result.json under {run_dir}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frugalml.repro.summary", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--into", help="update this JSON file experiment by experiment (else print)")
    args = parser.parse_args(argv)
    summary = verdict_summary(args.run_dir)
    if args.into:
        path = Path(args.into)
        merged = read_json(path) if path.is_file() else {}
        merged.update(summary)
        write_json_atomic(path, merged)
        for name, entry in summary.items():
            print(f"{name}: {verdict_line(entry)}")
    else:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
