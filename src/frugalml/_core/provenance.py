"""Where and with what a result was computed: times, code version, library versions, machine load.

:func:`provenance` is called at the start of a run and again at its end
(:func:`finish_provenance`); the harness stores the merged dict in every ``result.json`` and
the report compares :func:`code_version` across results, so a report that mixes a fresh run
of one experiment with an old run of another says so.

Nothing here imports torch: its version comes from the installed distribution's metadata,
its thread count only when the caller has already imported it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import socket
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]   # .../frugalml


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version(dist: str):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _load() -> list | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # not on this platform
        return None


def _threads() -> dict:
    out = {"cpu_count": os.cpu_count(),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        out["torch_threads"] = int(torch.get_num_threads())
    return out


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 (first 16 hex digits) of the package's Python sources: the code that actually ran.

    Unlike a git commit it also tells two dirty working trees apart, and it exists for an
    installed wheel with no git at all.
    """
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(_PACKAGE_DIR).as_posix()
        try:
            data = path.read_bytes()
        except OSError:
            continue
        h.update(rel.encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _git() -> dict:
    """Commit and dirty flag of the checkout holding the package, when it is one (else empty)."""
    root = _PACKAGE_DIR.parents[1]  # src/frugalml -> repository root
    if not (root / ".git").exists():
        return {}
    try:
        run = lambda *args: subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                           timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no", "--", "src"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": dirty}


def code_version(prov) -> str | None:
    """A short label of the code a result came from: version, commit (+dirty) and source hash.

    ``None`` when ``prov`` is not a provenance dict (e.g. a result written before provenance existed).
    """
    if not isinstance(prov, dict) or not prov.get("source_hash"):
        return None
    parts = [f"frugalml {prov.get('frugalml_version') or '?'}"]
    if prov.get("git_commit"):
        parts.append(f"commit {str(prov['git_commit'])[:10]}{' (dirty)' if prov.get('git_dirty') else ''}")
    parts.append(f"source {prov['source_hash']}")
    return ", ".join(str(p) for p in parts)


def provenance() -> dict:
    """The start-of-run record: time, versions, code identity, threads, load average."""
    return {
        "started": _now(),
        "started_unix": round(time.time(), 3),
        "frugalml_version": _version("frugalml"),
        **_git(),
        "source_hash": source_hash(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **_threads(),
        "load_avg_start": _load(),
    }


def finish_provenance(prov: dict) -> dict:
    """``prov`` with the end time, the load average at the end and the threads then in use."""
    return {**prov, "ended": _now(), "ended_unix": round(time.time(), 3), "load_avg_end": _load(), **_threads()}


__all__ = ["code_version", "finish_provenance", "provenance", "source_hash"]
