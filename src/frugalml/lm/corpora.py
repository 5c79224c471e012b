"""Text corpora that work offline, and GSM8K-style prompt/response tasks.

Sources
-------
``python_stdlib``
    The CPython standard-library sources of the running interpreter (always present).
    Split by file: a file's split is a hash of its relative path, so train and
    validation never share a file, whatever the seed or the size asked for.
``text_files``
    Any list of local text files (e.g. the King James Bible exported to plain text):
    split by file the same way.
GSM-style math problems
    ``reasoning-gym``'s ``gsm_symbolic`` generator (GSM8K templates with fresh numbers
    and a worked chain-of-thought answer ending in ``#### <number>``).
A synthetic arithmetic task with no dependency is offered for tests.

A missing source raises :class:`frugalml.data.DataNotFoundError` naming the install command.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from frugalml._core import check_random_state
from frugalml._core.validation import check_option, check_path, check_scalar
from frugalml.data import DataNotFoundError

_EXCLUDED_DIRS = {"site-packages", "dist-packages", "test", "tests", "__pycache__", "idle_test",
                  "lib2to3", "ensurepip", "config-3"}


@dataclass
class TextCorpus:
    """Documents of one text source, split into non-overlapping train and validation parts."""

    name: str
    train: list[str]
    validation: list[str]
    train_ids: list[str] = field(default_factory=list)        # document names (file paths)
    validation_ids: list[str] = field(default_factory=list)

    def n_chars(self) -> tuple[int, int]:
        return sum(map(len, self.train)), sum(map(len, self.validation))


@dataclass
class PromptResponseTask:
    """A fine-tuning task: prompts and responses, train and validation never sharing a prompt."""

    name: str
    train_prompts: list[str]
    train_responses: list[str]
    validation_prompts: list[str]
    validation_responses: list[str]


def _split_of(key: str, validation_fraction: float) -> str:
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if h < validation_fraction else "train"


def _check_fraction(value, name):
    return check_scalar(value, name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def _check_budgets(max_train_chars, max_validation_chars):
    return (check_scalar(max_train_chars, "max_train_chars", integer=True, low=1, allow_none=True),
            check_scalar(max_validation_chars, "max_validation_chars", integer=True, low=1, allow_none=True))


def _take(files, root, budget, rng):
    order = rng.permutation(len(files))
    texts, ids, total = [], [], 0
    for i in order:
        if budget is not None and total >= budget:
            break
        try:
            text = Path(files[i]).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip():
            continue
        if budget is not None and total + len(text) > budget:
            text = text[: budget - total]
        texts.append(text)
        ids.append(str(Path(files[i]).relative_to(root)) if root else str(files[i]))
        total += len(text)
    return texts, ids


def python_stdlib_files(root=None) -> tuple[Path, list[Path]]:
    """The ``.py`` files of the standard library (tests, site-packages and caches excluded)."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise DataNotFoundError(f"CPython standard library not found at {root}; pass root=... explicitly")
    files = sorted(p for p in root.rglob("*.py")
                   if not any(part in _EXCLUDED_DIRS or part.startswith("config-")
                              for part in p.relative_to(root).parts[:-1]))
    if not files:
        raise DataNotFoundError(f"no .py files found under {root}")
    return root, files


def load_text_files(paths, *, name="text_files", max_train_chars=None, max_validation_chars=None,
                    validation_fraction=0.1, random_state=0, root=None) -> TextCorpus:
    """Documents from local text files, split by file (hash of the path) into train/validation.

    Parameters
    ----------
    paths : list of path-like
        Text files (UTF-8). A missing file raises ``DataNotFoundError``.
    max_train_chars, max_validation_chars : int or None
        Character budgets; files are taken in a seeded random order until the budget is met
        (the last one truncated).
    validation_fraction : float in (0, 1)
        Expected share of files in the validation split.
    random_state : int or Generator
        Order in which files are taken (not the split, which is fixed by the path).
    """
    validation_fraction = _check_fraction(validation_fraction, "validation_fraction")
    max_train_chars, max_validation_chars = _check_budgets(max_train_chars, max_validation_chars)
    if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__"):
        raise ValueError(f"paths must be a list of text files; got {paths!r}"[:200])
    paths = [check_path(p, "paths[i]", must_exist=False) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"text files not found: {missing[:3]}")
    rel = (lambda p: str(p.relative_to(root))) if root else str
    train = [p for p in paths if _split_of(rel(p), validation_fraction) == "train"]
    val = [p for p in paths if _split_of(rel(p), validation_fraction) == "validation"]
    if not train or not val:
        # too few files for a hash split: fall back to splitting the single text by position
        texts = [p.read_text(encoding="utf-8") for p in paths]
        joined = "\n".join(texts)
        cut = int(len(joined) * (1 - validation_fraction))
        return TextCorpus(name, [joined[:cut][:max_train_chars]], [joined[cut:][:max_validation_chars]],
                          ["<head>"], ["<tail>"])
    rng = check_random_state(random_state)
    tr, tr_ids = _take(train, root, max_train_chars, rng)
    va, va_ids = _take(val, root, max_validation_chars, rng)
    return TextCorpus(name, tr, va, tr_ids, va_ids)


def load_corpus(name: str = "python_stdlib", *, max_train_chars: int | None = 2_000_000,
                max_validation_chars: int | None = 200_000, validation_fraction: float = 0.1,
                random_state=0, paths=None) -> TextCorpus:
    """Load a text corpus by name (``"python_stdlib"`` or ``"text_files"`` with ``paths``).

    See the module docstring for the sources. The split is by document and is fixed by the
    document's name, so it never overlaps.
    """
    # checked before the (slow) file listing
    _check_fraction(validation_fraction, "validation_fraction")
    _check_budgets(max_train_chars, max_validation_chars)
    if name == "python_stdlib":
        root, files = python_stdlib_files()
        return load_text_files(files, name=name, root=root, max_train_chars=max_train_chars,
                               max_validation_chars=max_validation_chars,
                               validation_fraction=validation_fraction, random_state=random_state)
    if name == "text_files":
        if not paths:
            raise ValueError("paths must list the text files when name='text_files'")
        return load_text_files(paths, max_train_chars=max_train_chars,
                               max_validation_chars=max_validation_chars,
                               validation_fraction=validation_fraction, random_state=random_state)
    check_option(name, ("python_stdlib", "text_files"), "name")


GSM_PROMPT = "Question: {question}\nAnswer: "


def short_prompt_gsm_task(tokenizer, n_train: int, n_validation: int, max_prompt: int, *, random_state=0,
                          oversample: int = 4) -> PromptResponseTask:
    """:func:`load_gsm_task` keeping only problems whose prompt is under ``max_prompt`` tokens.

    Draws ``oversample`` times the problems asked for and keeps the first that fit (short
    sequences keep CPU fine-tuning cheap); raises ``ValueError`` if too few fit.
    """
    task = load_gsm_task(oversample * n_train, oversample * n_validation, random_state=random_state)

    def keep(prompts, responses, n):
        pairs = [(p, r) for p, r in zip(prompts, responses) if len(tokenizer(p)["input_ids"]) < max_prompt][:n]
        if len(pairs) < n:
            raise ValueError(f"only {len(pairs)} generated problems have a prompt under {max_prompt} tokens")
        return [p for p, _ in pairs], [r for _, r in pairs]

    tp, tr = keep(task.train_prompts, task.train_responses, n_train)
    vp, vr = keep(task.validation_prompts, task.validation_responses, n_validation)
    return PromptResponseTask(task.name, tp, tr, vp, vr)


def load_gsm_task(n_train: int = 512, n_validation: int = 128, *, random_state=0,
                  prompt_template: str = GSM_PROMPT) -> PromptResponseTask:
    """GSM8K-style problems with worked answers from ``reasoning-gym`` (``gsm_symbolic``).

    The response is the generator's chain of thought ending in ``#### <answer>``, as in
    GSM8K. Validation problems whose question text appears in the training part are
    dropped and replaced, so the two parts never share a prompt.
    """
    for value, name in ((n_train, "n_train"), (n_validation, "n_validation")):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    try:
        import reasoning_gym
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise DataNotFoundError("GSM-style problems need reasoning-gym: `pip install reasoning-gym`") from exc
    seed = int(check_random_state(random_state).integers(0, 2**31 - 1))
    pool = reasoning_gym.create_dataset("gsm_symbolic", size=2 * (n_train + n_validation), seed=seed)
    seen, items = set(), []
    for x in pool:
        if x["question"] in seen:
            continue
        seen.add(x["question"])
        items.append((prompt_template.format(question=x["question"]), x["metadata"]["answer_cot"]))
        if len(items) == n_train + n_validation:
            break
    if len(items) < n_train + n_validation:  # pragma: no cover - the generator has many templates
        raise ValueError(f"could only generate {len(items)} distinct problems")
    tr, va = items[:n_train], items[n_train:]
    return PromptResponseTask("gsm_symbolic", [p for p, _ in tr], [r for _, r in tr],
                              [p for p, _ in va], [r for _, r in va])


def synthetic_arithmetic_task(n_train: int = 256, n_validation: int = 64, *, random_state=0,
                              max_operand: int = 99, style: str = "prose") -> PromptResponseTask:
    """Additions ``a + b`` as prompt/response pairs (no dependency; for tests and quick runs).

    ``style="prose"`` answers ``a + b = c\n#### c``; ``style="python"`` answers with a short
    Python program (``result = a + b`` / ``print(result)  # c``), the program-of-thought format.
    """
    if style not in ("prose", "python"):
        raise ValueError(f"style must be 'prose' or 'python'; got {style!r}")
    n_train = check_scalar(n_train, "n_train", integer=True, low=1)
    n_validation = check_scalar(n_validation, "n_validation", integer=True, low=0)
    max_operand = check_scalar(max_operand, "max_operand", integer=True, low=0)
    rng = check_random_state(random_state)
    seen, items = set(), []
    while len(items) < n_train + n_validation:
        a, b = (int(v) for v in rng.integers(0, max_operand + 1, size=2))
        if (a, b) in seen:
            if len(seen) >= (max_operand + 1) ** 2:
                raise ValueError(f"n_train + n_validation = {n_train + n_validation} exceeds the "
                                 f"{len(seen)} distinct problems with max_operand={max_operand}; raise max_operand")
            continue
        seen.add((a, b))
        if style == "prose":
            response = f"{a} + {b} = {a + b}\n#### {a + b}"
        else:
            response = f"result = {a} + {b}\nprint(result)  # {a + b}\n"
        items.append((f"Question: What is {a} + {b}?\nAnswer: ", response))
    tr, va = items[:n_train], items[n_train:]
    return PromptResponseTask("arithmetic", [p for p, _ in tr], [r for _, r in tr],
                              [p for p, _ in va], [r for _, r in va])
