"""One self-contained HTML page from the saved ``<out>/<name>/result.json`` files."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from frugalml._core.results import read_json

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ddd}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-size:.85em}
.reproduced{background:#2e7d32} .not{background:#c77700} .crashed{background:#b71c1c}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px;font-size:.9em;vertical-align:top}
th{background:#f4f4f4} img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.meta{color:#666;font-size:.85em} pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}
"""

_BADGE = {"reproduced": ("reproduced", "reproduced"),
          "not reproduced": ("not", "not reproduced at this scale"),
          "crashed": ("crashed", "crashed"),
          "unreadable": ("crashed", "result file unreadable"),
          "interrupted": ("crashed", "interrupted before it finished")}


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


def _load_record(path: Path) -> dict:
    folder = path.parent
    try:
        record = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return _unreadable(path, folder, f"cannot be read as JSON ({type(exc).__name__}: {exc})")
    if not isinstance(record, dict):
        return _unreadable(path, folder, f"holds a JSON {type(record).__name__}, not an object")
    if record.get("name") != folder.name:
        record = {**record, "name": folder.name}  # the folder, not the file's claim, names the experiment
    return record


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
    check = record.get("check") or {}
    if check.get("claims"):
        rows = "".join(
            f"<tr><td>{_e(c['claim'])}</td><td>{_e(c.get('paper', ''))}</td><td>{_e(c['measured'])}</td>"
            f"<td>{'held' if c['held'] is True else 'did not hold'}</td></tr>" for c in check["claims"])
        parts.append("<table><tr><th>sub-claim</th><th>paper</th><th>ours</th><th>verdict</th></tr>" + rows + "</table>")
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
    files = sorted(out.glob("*/result.json"), key=lambda p: (order.get(p.parent.name, 99), p.parent.name))
    if not files:
        raise ValueError(f"no */result.json under {out}; run `frugalml reproduce --out {out}` first")
    records = [(_load_record(f), f.parent) for f in files]
    summary = "".join(
        f'<tr><td><a href="#{_e(r["name"])}">{_e(r["name"])}</a></td><td>{_e(r.get("status"))}</td>'
        f'<td>{_e(r.get("scale"))}</td><td>{_number(r.get("runtime_s"))}</td></tr>' for r, _ in records)
    body = "\n".join(_safe_section(r, folder) for r, folder in records)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>frugalml report</title>"
            f"<style>{_CSS}</style></head><body><h1>frugalml — reproduction report</h1>"
            f"<table><tr><th>experiment</th><th>verdict</th><th>scale</th><th>time</th></tr>{summary}</table>"
            f"{body}</body></html>")
    path = out / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
