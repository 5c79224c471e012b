"""Reproduction harness: one module per paper, each with ``run``/``check``/``plot``.

An experiment module declares

``NAME``, ``PAPER`` (citation), ``CLAIM`` (one sentence),
``run(scale, seed) -> dict`` of plain numbers,
``check(result) -> dict`` built with :func:`frugalml.repro.verdict.verdict`,
``plot(result, outdir) -> list[path]``, figures rebuilt from the saved result.

Experiments are imported lazily so that ``frugalml list`` stays fast and one
experiment's missing optional dependency never breaks another.
"""

from __future__ import annotations

import importlib

# name -> one-line description (the paper). Order is the order of the report.
EXPERIMENTS = {
    "gm_matching": "GM Matching: robust k-subset selection via the geometric median (Acharya et al., 2025)",
    "retraining": "Consensus-based retraining with predicted hard labels under label DP (Das et al., ICML 2025)",
    "moe_em": "Mixtures of experts fitted by EM (mirror descent) vs gradient descent (Fruytier et al., ICML 2025)",
    "contrastive": "InfoNCE on Gaussian mixtures recovers the Fisher subspace; CLIP keeps the shared part (Bansal et al., 2025)",
    "icl": "Softmax attention learns an in-context window that adapts to task Lipschitzness (Collins et al., NeurIPS 2024)",
    "minimax": "Adaptive, line-search-free second-order optimistic methods for convex-concave min-max (Jiang et al., NeurIPS 2024)",
    "flow": "FLOW: upweighting easy samples in fine-tuning mitigates forgetting (Sanyal et al., ICML 2025)",
    "svft": "SVFT: parameter-efficient fine-tuning on the singular vectors of the weights (Lingam et al., NeurIPS 2024)",
    "inheritune": "Inheritune: a small base LM from the first layers of a larger one (Sanyal, Sanghavi, Dimakis, 2024)",
    "rare": "RARe: retrievers fine-tuned to use in-context examples (Tejaswi et al., COLM 2025)",
}

SCALES = ("smoke", "default", "paper")


def load_experiment(name: str):
    """Import ``frugalml.repro.<name>``; unknown names raise ``ValueError`` listing the known ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"frugalml.repro.{name}")


__all__ = ["EXPERIMENTS", "SCALES", "load_experiment"]
