"""Run experiments, check their claims, save results and figures, build the report.

A run folder is safe to share: each experiment's ``result.json`` is replaced atomically (a
unique temporary name per writer) and only once the new result is complete; while it runs, a
unique marker ``<name>/.running-*.json`` says so, and a marker left by a killed or
interrupted run makes the report show the earlier result *as the earlier run's*. Figures are
drawn into a private folder and moved into place. A failure to read or render another
experiment's result never stops this one. Every result carries its provenance
(:mod:`frugalml._core.provenance`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from frugalml._core.provenance import finish_provenance, provenance
from frugalml._core.threads import experiment_threads, fixed_threads
from frugalml._core.results import clear_markers, mark_interrupted, start_marker, write_json_atomic
from frugalml._core.validation import check_option, check_path, check_scalar
from frugalml.repro import EXPERIMENTS, SCALES, load_experiment
from frugalml.repro.report import build_report


def _write_record(path: Path, record: dict) -> None:
    """Write ``record``; a result JSON cannot hold (too deeply nested, say) becomes a recorded crash."""
    try:
        write_json_atomic(path, record)
    except (RecursionError, TypeError, ValueError) as exc:
        slim = {k: v for k, v in record.items() if k not in ("result", "check")}
        slim.update(status="crashed", error=f"the result could not be saved as JSON ({type(exc).__name__}: {exc})")
        write_json_atomic(path, slim)


def _plot(module, result, outdir: Path) -> list[str]:
    """Draw the figures in a private folder, then move them into ``outdir`` (no half-written PNG is seen)."""
    scratch = Path(tempfile.mkdtemp(prefix=".plot-", dir=outdir))
    try:
        names = []
        for f in module.plot(result, scratch):
            rel = Path(f).resolve().relative_to(scratch.resolve())
            (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / rel, outdir / rel)
            names.append(rel.as_posix())
        return names
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


MAX_WARNINGS = 50


def _warning_lines(caught) -> list[str]:
    """Warnings raised while an experiment ran, one line each, de-duplicated: kept in its result,
    not printed (third-party deprecation notices would bury the verdicts in ``make run``'s output)."""
    lines = list(dict.fromkeys(f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
                               for w in caught))
    return lines[:MAX_WARNINGS] + ([f"... and {len(lines) - MAX_WARNINGS} more"] if len(lines) > MAX_WARNINGS else [])


def run_one(name: str, scale: str, seed: int, out: Path) -> dict:
    """Run one experiment end to end; never raises on an experiment's failure (it is recorded).

    The previous ``result.json`` is kept until this run has a complete result; a KeyboardInterrupt
    or a kill leaves it in place with this run's marker, which the report shows.
    """
    outdir = Path(out) / name
    record = {"name": name, "scale": scale, "seed": seed, "status": "crashed", "figures": []}
    prov = provenance()
    try:  # the experiment's folder (a file of that name, a full disk): this experiment fails, not the others
        outdir.mkdir(parents=True, exist_ok=True)
        marker = start_marker(outdir, {"name": name, "scale": scale, "seed": seed, "started": prov["started"],
                                       "started_unix": prov["started_unix"]})
    except OSError as exc:
        return {**record, "runtime_s": 0.0, "provenance": finish_provenance(prov),
                "error": f"cannot use the folder {str(outdir)!r}: {type(exc).__name__}: {exc}"}
    start = time.perf_counter()
    try:
        try:
            module = load_experiment(name)
            record.update(paper=module.PAPER, claim=module.CLAIM)
            threads = experiment_threads(scale)
            record["threads"] = threads
            with warnings.catch_warnings(record=True) as caught, fixed_threads(threads):
                warnings.simplefilter("default")   # each warning once per place, kept in the result
                result = module.run(scale=scale, seed=seed)
            record["warnings"] = _warning_lines(caught)
            record["result"] = result
            record["runtime_s"] = time.perf_counter() - start
            record["check"] = module.check(result)
            record["status"] = "reproduced" if record["check"]["reproduced"] else "not reproduced"
            record["provenance"] = finish_provenance(prov)
            _write_record(outdir / "result.json", record)  # numbers are safe before plotting
            record["figures"] = _plot(module, result, outdir)
        except Exception as exc:  # one crash must not lose the other experiments
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["traceback"] = traceback.format_exc()
            if record["status"] != "crashed":  # plotting failed after a valid check
                record["status"] = "crashed"
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: keep the last complete result
        mark_interrupted(marker, f"{type(exc).__name__} after {time.perf_counter() - start:.1f} s")
        raise
    record.setdefault("runtime_s", time.perf_counter() - start)
    record["provenance"] = finish_provenance(prov)
    _write_record(outdir / "result.json", record)
    clear_markers(outdir, marker, before=prov["started_unix"])
    return record


def _check_out(out) -> Path:
    """The run folder, created if needed and writable; every failure is a ValueError naming ``out``."""
    out = check_path(out, "out", must_exist=False, kind="dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out: cannot create the folder {str(out)!r} ({exc.strerror or exc})") from None
    if not out.is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is not")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"out: cannot write in {str(out)!r} ({exc.strerror or exc})") from None
    return out


def _rebuild(out: Path, log) -> None:
    """Rebuild the report; a failure is logged, never raised (it must not stop the experiments)."""
    try:
        build_report(out)
    except Exception as exc:
        log(f"report not rebuilt: {type(exc).__name__}: {exc}")


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
    out = _check_out(out)
    records = []
    try:
        for name in names:
            log(f"[{name}] running at scale={scale}, seed={seed} ...")
            record = run_one(name, scale, seed, out)
            n_warn = len(record.get("warnings") or [])
            log(f"[{name}] {record['status']} in {record['runtime_s']:.1f} s"
                + (f" ({n_warn} warnings kept in {name}/result.json)" if n_warn else ""))
            if record["status"] == "crashed":
                log(f"[{name}] {record.get('error')}")
            records.append(record)
            _rebuild(out, log)  # after each experiment: an interrupted run still leaves a current report
    finally:
        if out.is_dir() and (any(out.glob("*/result.json")) or any(out.glob("*/.running-*.json"))):
            _rebuild(out, log)
    return records
