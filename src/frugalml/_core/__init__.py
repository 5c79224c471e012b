"""The small shared kernel: seeding, validation, results I/O, plotting, progress.

Nothing here knows about any method.
"""

from frugalml._core.progress import progress, set_quiet
from frugalml._core.random import check_random_state, torch_generator
from frugalml._core.results import read_json, write_json_atomic
from frugalml._core.validation import (
    check_array,
    check_budget,
    check_labels,
    check_option,
    check_positive,
)

__all__ = [
    "check_array",
    "check_budget",
    "check_labels",
    "check_option",
    "check_positive",
    "check_random_state",
    "progress",
    "read_json",
    "set_quiet",
    "torch_generator",
    "write_json_atomic",
]
