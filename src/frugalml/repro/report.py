"""One self-contained HTML page from the saved ``<out>/<name>/result.json`` files."""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path

from frugalml._core.provenance import code_version
from frugalml._core.results import MARKER_PREFIX, UnsafeFileError, _umask, read_json_safe, read_markers

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ddd}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-size:.85em}
.reproduced{background:#2e7d32} .not{background:#c77700} .crashed{background:#b71c1c}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px;font-size:.9em;vertical-align:top}
th{background:#f4f4f4} img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.warning{background:#fff4e5;border:1px solid #c77700;padding:.4em .8em;margin:.6em 0}
.meta{color:#666;font-size:.85em} .fragile{background:#f3e0b5} pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}
"""

_BADGE = {"reproduced": ("reproduced", "reproduced"),
          "not reproduced": ("not", "not reproduced at this scale"),
          "crashed": ("crashed", "crashed"),
          "unreadable": ("crashed", "result file unreadable"),
          "interrupted": ("crashed", "interrupted before it finished"),
          "running": ("not", "still running")}


def _e(x) -> str:
    return html.escape(str(x))


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_e(path.name)}" src="data:image/png;base64,{data}">'


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure(fig, folder: Path) -> str:
    """Embed one figure named by a result, only if it is a PNG file inside the experiment's folder.

    A result could name any path (``../../etc/passwd``, an absolute path, a symlink out of the
    folder): such a figure is refused with a note, never read or embedded.
    """
    if not isinstance(fig, str) or not fig:
        return f'<p class="meta">figure entry {_e(repr(fig))} refused: not a file name</p>'
    root = folder.resolve()
    path = (folder / fig).resolve()
    if Path(fig).is_absolute() or not path.is_relative_to(root):
        return f'<p class="meta">figure {_e(fig)} refused: it lies outside {_e(folder.name)}/</p>'
    if not path.is_file():
        return f'<p class="meta">figure {_e(fig)} is missing</p>'
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != _PNG_MAGIC:
                return f'<p class="meta">figure {_e(fig)} refused: not a PNG file</p>'
        return _image(path)
    except OSError as exc:
        return f'<p class="meta">figure {_e(fig)} unreadable: {_e(exc)}</p>'


def _number(x, fmt: str = ".1f", unit: str = " s") -> str:
    """Format a number from a result; anything else (missing, string, NaN as null) is shown as '?'."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{x:{fmt}}{unit}"
    return "?"


def _unreadable(path: Path, folder: Path, why: str) -> dict:
    """The record shown for a result file that cannot be read or has the wrong shape."""
    return {"name": folder.name, "status": "unreadable", "error": f"{path}: {why}", "figures": []}


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _result_files(out: Path) -> list[Path]:
    """``<exp>/result.json`` of every experiment folder holding a result or a run marker.

    Hidden folders (``.rank-N`` of other processes, temporary folders) are skipped; a folder
    that is a symlink is listed (and refused by :func:`_load_record` if it leads out of ``out``).
    """
    files = []
    for folder in out.iterdir():
        try:
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            result = folder / "result.json"
            if result.exists() or result.is_symlink() or any(folder.glob(MARKER_PREFIX + "*.json")):
                files.append(result)
        except OSError:  # an unreadable folder: listed, and shown as unreadable
            files.append(folder / "result.json")
    return files


def _with_run_state(record: dict, folder: Path) -> dict:
    """Merge the run markers: a newer run still running or interrupted is noted on the older result.

    With no complete result the record becomes "running" or "interrupted"; with one, its status
    is kept (those numbers are the earlier run's) and ``record["run_state"]`` describes the newer run.
    """
    try:
        markers = read_markers(folder)
    except OSError:
        return record
    prov = record.get("provenance") if isinstance(record.get("provenance"), dict) else {}
    done = prov.get("started_unix")
    newer = [m for m in markers if not isinstance(done, (int, float)) or m["started_unix"] > done]
    if not newer:
        return record
    latest = max(newer, key=lambda m: m["started_unix"])
    state = "running" if latest["alive"] else "interrupted"
    run_state = {"state": state, "started": latest.get("started"), "pid": latest.get("pid"),
                 "host": latest.get("host"), "reason": latest.get("reason")}
    if record.get("status") == "missing":  # no complete result yet
        why = ("a run of this experiment is still in progress" if state == "running" else
               "the run stopped (killed or interrupted) before this experiment finished; no earlier result")
        return {**record, "status": state, "error": why, "run_state": run_state}
    return {**record, "run_state": run_state}


def _load_record(path: Path) -> dict:
    """One experiment's record, never raising: unreadable, unsafe or malformed files become a note.

    Symlinks leading out of the run folder (the experiment folder or its ``result.json``) are
    refused unread; a FIFO, a device, a file over the size limit, invalid UTF-8 or JSON nested
    too deeply to parse are reported as unreadable with the reason.
    """
    folder = path.parent
    if folder.is_symlink() and not _inside(folder, folder.parent):
        return _unreadable(path, folder, "refused: the experiment folder is a symbolic link out of the run folder")
    if path.is_symlink() and not _inside(path, folder):
        return _unreadable(path, folder, "refused: result.json is a symbolic link out of the experiment folder")
    if not path.exists() and not path.is_symlink():
        record = _with_run_state({"name": folder.name, "status": "missing", "figures": []}, folder)
        if record["status"] == "missing":  # only unreadable run markers
            return _unreadable(path, folder, "no result yet, and the run markers beside it cannot be read")
        return record
    try:
        record = read_json_safe(path.resolve() if path.is_symlink() else path)
    except UnsafeFileError as exc:
        return _unreadable(path, folder, f"refused: it {exc}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return _unreadable(path, folder, f"cannot be read as JSON ({type(exc).__name__}: {exc})")
    if not isinstance(record, dict):
        return _unreadable(path, folder, f"holds a JSON {type(record).__name__}, not an object")
    if record.get("name") != folder.name:
        record = {**record, "name": folder.name}  # the folder, not the file's claim, names the experiment
    return _with_run_state(record, folder)


def run_notes_html(record: dict) -> str:
    """One experiment's provenance line and, when a newer run is running or was interrupted, a note
    that the numbers shown are the earlier run's."""
    parts = []
    prov = record.get("provenance")
    prov = prov if isinstance(prov, dict) else None
    if prov:
        load = lambda v: "/".join(_e(x) for x in v) if isinstance(v, list) else "?"
        threads = prov.get("torch_threads", prov.get("OMP_NUM_THREADS"))
        parts.append(f'<p class="meta">run {_e(prov.get("started", "?"))} → {_e(prov.get("ended", "?"))} on '
                     f'{_e(prov.get("host", "?"))} · {_e(code_version(prov) or "code version unknown")} · '
                     f'Python {_e(prov.get("python", "?"))}, torch {_e(prov.get("torch", "?"))}, numpy '
                     f'{_e(prov.get("numpy", "?"))} · threads {_e(threads if threads is not None else "?")} of '
                     f'{_e(prov.get("cpu_count", "?"))} CPUs · load average {load(prov.get("load_avg_start"))} '
                     f'at start, {load(prov.get("load_avg_end"))} at end</p>')
    state = record.get("run_state")
    if isinstance(state, dict) and record.get("status") not in ("running", "interrupted"):
        what = "is still running" if state.get("state") == "running" else "was interrupted before it finished"
        ended = f" that ended {_e(prov['ended'])}" if prov and prov.get("ended") else ""
        parts.append(f'<p class="warning"><b>Earlier run.</b> A newer run started {_e(state.get("started", "?"))} '
                     f'(pid {_e(state.get("pid", "?"))} on {_e(state.get("host", "?"))}) {what}; the results '
                     f'below are from the earlier run{ended}.</p>')
    return "\n".join(parts)


def code_versions_html(records) -> str:
    """A warning naming which experiments ran on which code version, when the results mix versions.

    ``records``: the loaded result dicts. A result without provenance (written by an older
    frugalml) counts as an unknown version. ``""`` when every result comes from one version.
    """
    groups: dict = {}
    for r in records:
        if r.get("status") in ("unreadable", "running", "interrupted", "missing"):
            continue
        label = code_version(r.get("provenance")) or "unknown (no provenance recorded)"
        groups.setdefault(label, []).append(str(r.get("name")))
    if len(groups) <= 1:
        return ""
    items = "".join(f"<li>{_e(label)}: {_e(', '.join(names))}</li>" for label, names in sorted(groups.items()))
    return (f'<div class="warning"><b>These results come from {len(groups)} different code versions</b>; '
            f"compare them with care, or re-run the older ones:<ul>{items}</ul></div>")


def _margin_cell(c: dict) -> str:
    """How far a sub-claim sits from its line ('held by 3.1 SE'), fragile ones marked."""
    text = c.get("margin")
    if not isinstance(text, str):
        return '<span class="meta">no test record</span>'
    return f'<span class="fragile">{_e(text)}</span>' if c.get("fragile") else _e(text)


def _claims(record: dict) -> list:
    check = record.get("check")
    claims = check.get("claims") if isinstance(check, dict) else None
    return [c for c in claims if isinstance(c, dict)] if isinstance(claims, list) else []


def _summary_table(records) -> str:
    """The first screen: per experiment its verdict, the held count, the fragile count, scale and time."""
    rows = []
    for r, _ in records:
        status = r.get("status", "crashed")
        status = status if isinstance(status, str) else "unreadable"
        cls, label = _BADGE.get(status, ("crashed", status))
        claims = _claims(r) if status in ("reproduced", "not reproduced") else []
        n_held = sum(c.get("held") is True for c in claims)
        n_fragile = sum(bool(c.get("fragile")) for c in claims)
        count = f"{n_held} of {len(claims)}" if claims else "-"
        rows.append(f'<tr><td><a href="#{_e(r["name"])}">{_e(r["name"])}</a></td>'
                    f'<td><span class="badge {cls}">{_e(label)}</span></td><td>{count}</td>'
                    f'<td>{n_fragile or ""}</td><td>{_e(r.get("scale"))}</td>'
                    f'<td>{_number(r.get("runtime_s"))}</td></tr>')
    return ("<table><tr><th>experiment</th><th>verdict</th><th>sub-claims held</th><th>fragile</th>"
            "<th>scale</th><th>time</th></tr>" + "".join(rows) + "</table>")


_FOREST_CLIP = 6.0


def forest_points(records) -> list[dict]:
    """Every sub-claim with a standard error, as (experiment, claim, slack in SE, held, fragile)."""
    points = []
    for r, _ in records:
        for i, c in enumerate(_claims(r)):
            s = c.get("slack_se")
            if isinstance(s, (int, float)) and not isinstance(s, bool) and s == s:
                points.append({"experiment": r["name"], "index": i + 1, "slack_se": float(s),
                               "held": c.get("held") is True, "fragile": bool(c.get("fragile"))})
    return points


def _forest_html(records) -> str:
    """One forest plot of every sub-claim's distance from its line, embedded as a PNG."""
    points = forest_points(records)
    n_total = sum(len(_claims(r)) for r, _ in records)
    if not points:
        return ""
    import io

    from frugalml._core.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(points) + 1.2))
    y = list(range(len(points)))[::-1]
    x = [max(-_FOREST_CLIP, min(_FOREST_CLIP, p["slack_se"])) for p in points]
    colours = ["#c77700" if p["fragile"] else "#2e7d32" if p["held"] else "#b71c1c" for p in points]
    ax.axvspan(-1, 1, color="#f3e0b5", alpha=0.6, lw=0, label="fragile (within 1 SE)")
    ax.axvline(0, color="#333", lw=1)
    ax.scatter(x, y, c=colours, s=22, zorder=3)
    ax.set_yticks(y, [f"{p['experiment']} #{p['index']}" for p in points], fontsize=7)
    ax.set_xlim(-_FOREST_CLIP - 0.5, _FOREST_CLIP + 0.5)
    ax.set_xlabel(f"distance from the pass line, in standard errors (clipped at ±{_FOREST_CLIP:g}; > 0 held)")
    ax.legend(loc="lower right")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return (f'<p class="meta">Every sub-claim tested against a standard error ({len(points)} of {n_total}; the '
            f'others are plain comparisons, see each section): green held, red missed, amber fragile.</p>'
            f'<img alt="forest plot of sub-claim margins" src="data:image/png;base64,{data}">')


def _section(record: dict, folder: Path) -> str:
    status = record.get("status", "crashed")
    cls, label = _BADGE.get(status, ("crashed", status))
    parts = [f'<h2 id="{_e(record["name"])}">{_e(record["name"])} <span class="badge {cls}">{_e(label)}</span></h2>']
    if record.get("paper"):
        parts.append(f"<p><b>Paper.</b> {_e(record['paper'])}</p>")
    if record.get("claim"):
        parts.append(f"<p><b>Claim.</b> {_e(record['claim'])}</p>")
    parts.append(f'<p class="meta">scale={_e(record.get("scale"))} · seed={_e(record.get("seed"))}'
                 f' · run time={_number(record.get("runtime_s"))}</p>')
    parts.append(run_notes_html(record))
    check = record.get("check") or {}
    if check.get("claims"):
        rows = "".join(
            f"<tr><td>{_e(c['claim'])}</td><td>{_e(c.get('paper', ''))}</td><td>{_e(c['measured'])}</td>"
            f"<td>{'held' if c['held'] is True else 'did not hold'}</td><td>{_margin_cell(c)}</td></tr>"
            for c in check["claims"])
        parts.append("<table><tr><th>sub-claim</th><th>paper</th><th>ours</th><th>verdict</th>"
                     "<th>margin</th></tr>" + rows + "</table>")
    if check.get("table"):
        keys = list(dict.fromkeys(k for row in check["table"] for k in row))
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{_e(row.get(k, ''))}</td>" for k in keys) + "</tr>"
                       for row in check["table"])
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    if check.get("note"):
        parts.append(f"<p><i>{_e(check['note'])}</i></p>")
    for fig in record.get("figures") or []:
        parts.append(_figure(fig, folder))
    if status in ("crashed", "unreadable", "interrupted"):
        parts.append(f"<pre>{_e(record.get('traceback') or record.get('error', 'unknown error'))}</pre>")
    return "\n".join(parts)


def _safe_section(record: dict, folder: Path) -> str:
    """One experiment's section; a result of the wrong shape is shown as unreadable, naming its file."""
    try:
        return _section(record, folder)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        path = folder / "result.json"
        return _section(_unreadable(path, folder, f"malformed result ({type(exc).__name__}: {exc})"), folder)


def build_report(out) -> Path:
    """Write ``out/report.html`` from every ``out/*/result.json``; returns its path."""
    from frugalml.repro import EXPERIMENTS

    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"no results folder at {out}; run `frugalml reproduce --out {out}` first")
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    files = sorted(_result_files(out), key=lambda p: (order.get(p.parent.name, 99), p.parent.name))
    if not files:
        raise ValueError(f"no */result.json under {out}; run `frugalml reproduce --out {out}` first")
    records = [(_load_record(f), f.parent) for f in files]
    summary = _summary_table(records)
    body = "\n".join(_safe_section(r, folder) for r, folder in records)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>frugalml report</title>"
            f"<style>{_CSS}</style></head><body><h1>frugalml — reproduction report</h1>"
            f"{summary}{code_versions_html([r for r, _ in records])}{_forest_html(records)}"
            f"{body}</body></html>")
    path = out / "report.html"
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".html.tmp", dir=out)  # unique: concurrent rebuilds
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
