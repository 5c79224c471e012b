"""Results as JSON, written atomically so a crash never leaves half a file; run markers.

A *run marker* (``.running-*.json`` in an experiment's folder) says that a process is computing
a new result there. The previous ``result.json`` stays in place until the new one is complete;
a marker left behind by a killed process tells the report that a later run was interrupted.
"""

from __future__ import annotations

import json
import math
import os
import socket
import stat
import tempfile
import time
from pathlib import Path

import numpy as np


def to_jsonable(obj):
    """Recursively convert numpy scalars/arrays, paths and tuples to plain JSON types.

    Non-finite floats become ``None`` (JSON has no NaN), so a file always parses.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:  # torch scalar
        return to_jsonable(obj.item())
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_atomic(path, write, *, mode: str = "w") -> Path:
    """Write ``path`` whole or not at all: ``write(fh)`` fills a unique temporary file beside it
    (opened with ``mode``), which then replaces ``path`` with ``os.replace``. A failure removes the
    temporary file and leaves ``path`` as it was; concurrent writers never share a temporary name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # unique per writer
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give files the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path, obj, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(fh):
        json.dump(to_jsonable(obj), fh, indent=indent)
        fh.write("\n")

    return replace_atomic(path, write)


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


MAX_RESULT_BYTES = 256 * 2**20


class UnsafeFileError(ValueError):
    """A file the report refuses to read (a symlink, a FIFO or device, too large)."""


def read_json_safe(path, *, max_bytes: int = MAX_RESULT_BYTES):
    """Read a JSON file written by someone else without following a symlink or blocking.

    Refused (:class:`UnsafeFileError`): a symlink as the last component, anything but a regular
    file (a FIFO would block forever), a file over ``max_bytes``. Other failures raise
    ``OSError``, ``UnicodeDecodeError`` or ``ValueError`` (bad JSON, or nesting too deep to
    parse: Python's ``RecursionError`` is turned into a ``ValueError``).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeFileError("is a symbolic link; not followed") from None
        raise exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError("is not a regular file")
        if st.st_size > max_bytes:
            raise UnsafeFileError(f"is {st.st_size:,d} bytes, over the {max_bytes:,d}-byte limit")
        data = fh.read(max_bytes + 1)
    text = data.decode("utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


# ----------------------------------------------------------------------------- run markers

MARKER_PREFIX = ".running-"


def start_marker(folder, info: dict) -> Path:
    """Create a unique run marker in ``folder`` holding ``info`` plus this process's host and pid."""
    folder = Path(folder)
    fd, tmp = tempfile.mkstemp(prefix=MARKER_PREFIX, suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as fh:
        json.dump(to_jsonable({**info, "pid": os.getpid(), "host": socket.gethostname(),
                               "started_unix": info.get("started_unix", time.time())}), fh)
    return Path(tmp)


def mark_interrupted(marker, reason: str) -> None:
    """Record in ``marker`` that its run stopped (an interrupt) before finishing; never raises."""
    try:
        info = read_json_safe(marker, max_bytes=2**20)
        write_json_atomic(marker, {**info, "interrupted": True, "reason": reason})
    except (OSError, ValueError):
        pass


def _alive(info: dict) -> bool:
    """Whether the marker's process still runs (only knowable on the same host)."""
    if info.get("interrupted") or info.get("host") != socket.gethostname():
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def read_markers(folder) -> list[dict]:
    """The run markers of ``folder``, each with ``"path"`` and ``"alive"``; unreadable ones are skipped."""
    out = []
    for path in sorted(Path(folder).glob(MARKER_PREFIX + "*.json")):
        try:
            info = read_json_safe(path, max_bytes=2**20)
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict):
            continue
        started = info.get("started_unix")
        if not isinstance(started, (int, float)) or isinstance(started, bool):
            continue
        out.append({**info, "path": path, "alive": _alive(info)})
    return out


def clear_markers(folder, own: Path | None, before: float) -> None:
    """Remove ``own`` and the markers of dead runs that started before ``before``; never raises."""
    for info in read_markers(folder):
        if info["path"] == own or (not info["alive"] and info["started_unix"] < before):
            try:
                info["path"].unlink()
            except OSError:
                pass
    if own is not None:
        try:
            Path(own).unlink()
        except OSError:
            pass
