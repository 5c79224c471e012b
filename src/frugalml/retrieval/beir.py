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


def _read_jsonl(path: Path, kind: str) -> dict:
    if not path.is_file():
        raise DataNotFoundError(f"{kind} file not found: {path} (a BEIR folder holds corpus.jsonl, "
                                "queries.jsonl and qrels/<split>.tsv)")
    out = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or "_id" not in obj or "text" not in obj:
                raise ValueError(f"{path}, line {lineno}: a {kind} entry needs '_id' and 'text' fields")
            key = str(obj["_id"])
            if key in out:
                raise ValueError(f"{path}, line {lineno}: duplicate _id {key!r}")
            out[key] = {"title": obj.get("title", "") or "", "text": obj["text"]} if kind == "corpus" else obj["text"]
    return out


def _read_qrels(path: Path) -> dict:
    if not path.is_file():
        raise DataNotFoundError(f"qrels file not found: {path}")
    qrels: dict = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if lineno == 1 and parts[0] in ("query-id", "query_id", "qid"):
                continue  # header
            if not line.strip():
                continue
            if len(parts) != 3:
                raise ValueError(f"{path}, line {lineno}: expected 3 tab-separated fields "
                                 f"(query-id, corpus-id, score); got {len(parts)}")
            try:
                grade = int(parts[2])
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: score must be an integer; got {parts[2]!r}") from None
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


def _write_atomic(path: Path, lines) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
    os.replace(tmp, path)


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
        if not isinstance(v, dict) or not isinstance(v.get("text"), str):
            raise ValueError(f"corpus[{d!r}] must be a dict with a 'text' str (and optionally 'title'); got {v!r}"[:200])
    for q, t in queries.items():
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
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "corpus.jsonl",
                  (json.dumps({"_id": d, "title": v.get("title", ""), "text": v["text"]}, ensure_ascii=False)
                   for d, v in corpus.items()))
    all_queries = dict(queries)
    if append_queries and (folder / "queries.jsonl").is_file():
        all_queries = {**_read_jsonl(folder / "queries.jsonl", "queries"), **all_queries}
    _write_atomic(folder / "queries.jsonl",
                  (json.dumps({"_id": q, "text": t}, ensure_ascii=False) for q, t in all_queries.items()))
    _write_atomic(folder / "qrels" / f"{split}.tsv",
                  ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{int(g)}" for q, rels in qrels.items() for d, g in rels.items()])
    return folder
