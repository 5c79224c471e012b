"""frugalml: ten learning-with-less methods as tested library code.

Each method lives in its own subpackage (``frugalml.selection``, ...); the
reproduction harness (``frugalml.repro`` and the ``frugalml`` command) runs each
paper's headline experiment, checks its claim and draws its figure.
"""

__version__ = "0.1.0"
