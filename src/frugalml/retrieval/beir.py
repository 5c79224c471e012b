"""BEIR-format retrieval data: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

The layout of Thakur et al. (BEIR, NeurIPS 2021 datasets track): one JSON object per line
with ``_id``, ``title`` and ``text`` for documents, ``_id`` and ``text`` for queries, and a
tab-separated ``query-id  corpus-id  score`` file with a header line per split. A real BEIR
download (e.g. ``scifact/``) loads as is.
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from frugalml._core.validation import ArgumentTypeError, check_bool, check_path
from frugalml.data import DataNotFoundError


class SplitNotFoundError(DataNotFoundError, ValueError):
    """The folder has no qrels file for the requested ``split`` (a bad argument value and a missing file)."""


def _check_split(split) -> str:
    """``split`` names a file ``qrels/<split>.tsv``: a non-empty name, no path separators."""
    if not isinstance(split, str):
        raise ArgumentTypeError(f"split must be a str (a qrels file name such as 'test'); got {split!r}")
    if not split.strip() or any(c in split for c in "/\\\x00") or split in (".", ".."):
        raise ValueError(f"split must be a file name such as 'test' or 'dev' (no path separators); got {split!r}")
    return split


def _check_dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise ArgumentTypeError(f"{name} must be a dict; got {type(value).__name__}")
    return value


@dataclass
class BeirData:
    """One split of a BEIR dataset.

    Attributes
    ----------
    corpus : dict
        ``{docid: {"title": str, "text": str}}``.
    queries : dict
        ``{qid: text}`` restricted to the queries judged in this split's qrels.
    qrels : dict
        ``{qid: {docid: grade}}`` with integer grades.
    """

    corpus: dict
    queries: dict
    qrels: dict
    split: str = "test"
    extra: dict = field(default_factory=dict)


def document_text(doc: dict) -> str:
    """The text a retriever encodes for a BEIR document: ``title + " " + text`` (BEIR's habit)."""
    title, text = doc.get("title", "") or "", doc.get("text", "") or ""
    return f"{title} {text}".strip() if title else text


def _lines(path: Path):
    """``(lineno, text)`` of a UTF-8 file (a leading BOM dropped); bad bytes name the file and line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}, line {lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                                 "BEIR files are UTF-8") from None
            yield lineno, line


def _read_id(value, where: str) -> str:
    """A BEIR ``_id``: a non-empty string (integers are taken as their decimal string)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{where}: '_id' must be a string; got {value!r}"[:200])
    key = str(value)
    if not key or any(c in key for c in "\t\n\r"):
        raise ValueError(f"{where}: '_id' must be non-empty, without tabs or line breaks; got {key!r}"[:200])
    return key


def _read_jsonl(path: Path, kind: str) -> dict:
    if path.exists() and not path.is_file():
        raise ValueError(f"{kind} file {path} is not a regular file (a BEIR folder holds corpus.jsonl, "
                         "queries.jsonl and qrels/<split>.tsv)")
    if not path.is_file():
        raise DataNotFoundError(f"{kind} file not found: {path} (a BEIR folder holds corpus.jsonl, "
                                "queries.jsonl and qrels/<split>.tsv)")
    out = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise ValueError(f"{where}: JSON nested too deeply") from None
        if not isinstance(obj, dict) or "_id" not in obj or "text" not in obj:
            raise ValueError(f"{where}: a {kind} entry needs '_id' and 'text' fields")
        key = _read_id(obj["_id"], where)
        if not isinstance(obj["text"], str):
            raise ValueError(f"{where}: 'text' must be a string; got {obj['text']!r}"[:200])
        title = obj.get("title", "")
        if title is not None and not isinstance(title, str):
            raise ValueError(f"{where}: 'title' must be a string; got {title!r}"[:200])
        if key in out:
            raise ValueError(f"{where}: duplicate _id {key!r}")
        out[key] = {"title": title or "", "text": obj["text"]} if kind == "corpus" else obj["text"]
    return out


def _read_qrels(path: Path) -> dict:
    if not path.is_file():
        raise DataNotFoundError(f"qrels file not found: {path}")
    qrels: dict = {}
    for lineno, line in _lines(path):
        parts = line.rstrip("\r\n").split("\t")
        if lineno == 1 and parts[0] in ("query-id", "query_id", "qid"):
            continue  # header
        if not line.strip():
            continue
        if len(parts) != 3:
            raise ValueError(f"{path}, line {lineno}: expected 3 tab-separated fields "
                             f"(query-id, corpus-id, score); got {len(parts)}")
        if not parts[0] or not parts[1]:
            raise ValueError(f"{path}, line {lineno}: empty query-id or corpus-id")
        try:
            grade = int(parts[2])
        except ValueError:
            raise ValueError(f"{path}, line {lineno}: score must be an integer; got {parts[2]!r}") from None
        if grade < 0:
            raise ValueError(f"{path}, line {lineno}: score must be a non-negative grade; got {grade}")
        if parts[1] in qrels.get(parts[0], {}):
            raise ValueError(f"{path}, line {lineno}: query {parts[0]!r} judges document {parts[1]!r} twice")
        qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels


def load_beir(folder, split: str = "test") -> BeirData:
    """Load one split of a BEIR folder.

    Parameters
    ----------
    folder : path
        Holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.
    split : str
        The qrels file to read; only the queries it judges are returned.

    Raises
    ------
    DataNotFoundError
        A file is missing (the message names it).
    ValueError
        A malformed line (the message names the file and line), or qrels that name a query
        or document the other files lack.
    """
    split = _check_split(split)
    folder = check_path(folder, "folder", must_exist=False, kind="dir")
    corpus = _read_jsonl(folder / "corpus.jsonl", "corpus")
    all_queries = _read_jsonl(folder / "queries.jsonl", "queries")
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        have = sorted(f.stem for f in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise SplitNotFoundError(f"split={split!r}: qrels file not found: {qrels_file} (splits in this folder: "
                                 f"{', '.join(have) or 'none'})")
    qrels = _read_qrels(qrels_file)
    missing_q = sorted(set(qrels) - set(all_queries))
    if missing_q:
        raise ValueError(f"{folder / 'qrels' / f'{split}.tsv'} names {len(missing_q)} query id(s) absent from "
                         f"queries.jsonl, e.g. {missing_q[0]!r}")
    missing_d = sorted({d for rels in qrels.values() for d in rels} - set(corpus))
    if missing_d:
        raise ValueError(f"{folder / 'qrels' / f'{split}.tsv'} names {len(missing_d)} document id(s) absent from "
                         f"corpus.jsonl, e.g. {missing_d[0]!r}")
    return BeirData(corpus, {q: all_queries[q] for q in qrels}, qrels, split)


def _write_tmp(path: Path, lines) -> str:
    """Write ``lines`` to a unique temporary file next to ``path``; returns its name (not yet in place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _check_id(value, where: str) -> None:
    """Ids are written to JSON and to a tab-separated file: strings without tabs or line breaks."""
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a str id; got {value!r} ({type(value).__name__}): load_beir reads ids "
                         "back as strings"[:300])
    if not value or any(c in value for c in "\t\n\r"):
        raise ValueError(f"{where} must be a non-empty id without tabs or line breaks (qrels are tab-separated "
                         f"lines); got {value!r}"[:300])


def save_beir(folder, corpus: dict, queries: dict, qrels: dict, split: str = "test", *,
              append_queries: bool = False) -> Path:
    """Write ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` under ``folder``.

    With ``append_queries=True`` the queries are merged into an existing ``queries.jsonl``
    (to write several splits of one dataset). Returns the folder.
    """
    split = _check_split(split)
    append_queries = check_bool(append_queries, "append_queries")
    folder = check_path(folder, "folder", must_exist=False, kind="dir")
    for name, value in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        _check_dict(value, name)
    for d, v in corpus.items():
        _check_id(d, f"corpus id {d!r}")
        if not isinstance(v, dict) or not isinstance(v.get("text"), str):
            raise ValueError(f"corpus[{d!r}] must be a dict with a 'text' str (and optionally 'title'); got {v!r}"[:200])
        if v.get("title") is not None and not isinstance(v.get("title"), str):
            raise ValueError(f"corpus[{d!r}]['title'] must be a str; got {v.get('title')!r}"[:200])
    for q, t in queries.items():
        _check_id(q, f"query id {q!r}")
        if not isinstance(t, str):
            raise ValueError(f"queries[{q!r}] must be a str; got {type(t).__name__}")
    for qid, rels in qrels.items():
        if qid not in queries:
            raise ValueError(f"qrels names query {qid!r} that is not in queries")
        _check_dict(rels, f"qrels[{qid!r}]")
        for d, g in rels.items():
            if d not in corpus:
                raise ValueError(f"qrels[{qid!r}] names document {d!r} that is not in corpus")
            if not isinstance(g, numbers.Integral) or isinstance(g, bool):  # int and numpy integers
                raise ValueError(f"qrels[{qid!r}][{d!r}] must be an integer grade; got {g!r}")
    # everything that can fail (reading the queries to append to) happens before the first write,
    # and the three files are written to temporary names first: a failure leaves the folder as it was
    all_queries = dict(queries)
    if append_queries and (folder / "queries.jsonl").is_file():
        all_queries = {**_read_jsonl(folder / "queries.jsonl", "queries"), **all_queries}
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    targets = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    contents = [
        (json.dumps({"_id": d, "title": v.get("title") or "", "text": v["text"]}, ensure_ascii=False)
         for d, v in corpus.items()),
        (json.dumps({"_id": q, "text": t}, ensure_ascii=False) for q, t in all_queries.items()),
        ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{int(g)}" for q, rels in qrels.items() for d, g in rels.items()],
    ]
    temps = []
    try:
        for target, lines in zip(targets, contents):
            temps.append(_write_tmp(target, lines))
    except BaseException:
        for tmp in temps:
            os.unlink(tmp)
        raise
    for tmp, target in zip(temps, targets):
        os.replace(tmp, target)
    return folder
