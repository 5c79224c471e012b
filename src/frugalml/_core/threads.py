"""A fixed intra-op thread count for the experiments, so a verdict does not depend on the machine.

Torch's CPU kernels (and multi-threaded BLAS) split reductions by the number of threads, so the
same seed trains a slightly different model with 1 thread than with 2; a claim that sits within
noise of its line can then flip with ``OMP_NUM_THREADS`` or the core count (issue 25 saw GM
Matching's asymmetric-noise claim held by 0.1 SE with 1 thread and missed by 0.5 SE with 2). The
reproduction harness therefore runs every experiment with torch and BLAS at a fixed count,
``FRUGALML_THREADS`` (default 2, the small machines' cores), whatever the environment says; on a
machine with fewer cores the threads share them (slower, same numbers). ``FRUGALML_THREADS=0``
leaves the environment's settings alone (the default at ``--scale paper``, on a GPU machine).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

ENV = "FRUGALML_THREADS"
DEFAULT = 2


def experiment_threads(scale: str) -> int | None:
    """The thread count the harness fixes for ``scale`` (None: leave the environment's)."""
    raw = os.environ.get(ENV)
    if raw is None:
        return None if scale == "paper" else DEFAULT
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{ENV} must be a whole number of threads (0: the environment's); got {raw!r}") from None
    if n < 0:
        raise ValueError(f"{ENV} must be >= 0; got {n}")
    return n or None


@contextmanager
def fixed_threads(n: int | None):
    """Run the block with torch's intra-op threads and every BLAS pool at ``n`` (None: unchanged)."""
    if n is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        torch.set_num_threads(before)
