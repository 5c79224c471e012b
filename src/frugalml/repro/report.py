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
          "crashed": ("crashed", "crashed")}


def _e(x) -> str:
    return html.escape(str(x))


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_e(path.name)}" src="data:image/png;base64,{data}">'


def _section(record: dict, folder: Path) -> str:
    status = record.get("status", "crashed")
    cls, label = _BADGE.get(status, ("crashed", status))
    parts = [f'<h2 id="{_e(record["name"])}">{_e(record["name"])} <span class="badge {cls}">{_e(label)}</span></h2>']
    if record.get("paper"):
        parts.append(f"<p><b>Paper.</b> {_e(record['paper'])}</p>")
    if record.get("claim"):
        parts.append(f"<p><b>Claim.</b> {_e(record['claim'])}</p>")
    runtime = record.get("runtime_s")
    parts.append(f'<p class="meta">scale={_e(record.get("scale"))} · seed={_e(record.get("seed"))}'
                 f' · run time={runtime:.1f} s</p>' if runtime is not None else "")
    check = record.get("check") or {}
    if check.get("claims"):
        rows = "".join(
            f"<tr><td>{_e(c['claim'])}</td><td>{_e(c.get('paper', ''))}</td><td>{_e(c['measured'])}</td>"
            f"<td>{'held' if c['held'] else 'did not hold'}</td></tr>" for c in check["claims"])
        parts.append("<table><tr><th>sub-claim</th><th>paper</th><th>ours</th><th>verdict</th></tr>" + rows + "</table>")
    if check.get("table"):
        keys = list(dict.fromkeys(k for row in check["table"] for k in row))
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{_e(row.get(k, ''))}</td>" for k in keys) + "</tr>"
                       for row in check["table"])
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    if check.get("note"):
        parts.append(f"<p><i>{_e(check['note'])}</i></p>")
    for fig in record.get("figures", []):
        path = folder / fig
        if path.exists():
            parts.append(_image(path))
    if status == "crashed":
        parts.append(f"<pre>{_e(record.get('traceback') or record.get('error', 'unknown error'))}</pre>")
    return "\n".join(parts)


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
    records = [(read_json(f), f.parent) for f in files]
    summary = "".join(
        f'<tr><td><a href="#{_e(r["name"])}">{_e(r["name"])}</a></td><td>{_e(r.get("status"))}</td>'
        f'<td>{_e(r.get("scale"))}</td><td>{r.get("runtime_s", 0):.1f} s</td></tr>' for r, _ in records)
    body = "\n".join(_section(r, folder) for r, folder in records)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>frugalml report</title>"
            f"<style>{_CSS}</style></head><body><h1>frugalml — reproduction report</h1>"
            f"<table><tr><th>experiment</th><th>verdict</th><th>scale</th><th>time</th></tr>{summary}</table>"
            f"{body}</body></html>")
    path = out / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path
