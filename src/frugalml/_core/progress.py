"""Progress bars that stay quiet off a terminal or when asked to."""

from __future__ import annotations

import contextlib
import sys

_QUIET = False


def set_quiet(quiet: bool = True) -> None:
    """Silence (or re-enable) every progress bar of the library."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET or not sys.stderr.isatty()


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, leave: bool = False,
             enabled: bool = True, **kwargs):
    """A ``tqdm`` bar, disabled when stderr is not a terminal, after ``set_quiet()`` or with
    ``enabled=False`` (e.g. on every process but the main one of a distributed run)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=is_quiet() or not enabled, **kwargs)


@contextlib.contextmanager
def hf_quiet():
    """Silence transformers' own progress bars while frugalml's bars are quiet (off a terminal)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if is_quiet() and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if is_quiet() and was_enabled:
            hf_logging.enable_progress_bar()
