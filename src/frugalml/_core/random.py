"""Explicit random state: never global seeding."""

from __future__ import annotations

import numbers

import numpy as np


def check_random_state(random_state=None) -> np.random.Generator:
    """Turn ``None``, an int, a ``SeedSequence`` or a ``Generator`` into a ``Generator``.

    ``None`` gives fresh OS entropy; a ``Generator`` is returned unchanged so that a
    caller can thread one stream through several functions.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise ValueError(
        f"random_state must be None, an int or a numpy Generator; got {type(random_state).__name__}"
    )


def torch_generator(random_state=None, device="cpu"):
    """A ``torch.Generator`` seeded from ``random_state`` (int, None or numpy Generator)."""
    import torch

    if isinstance(random_state, torch.Generator):
        return random_state
    seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
