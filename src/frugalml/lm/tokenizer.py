"""Byte-level BPE tokenizers trained here with the ``tokenizers`` library.

Byte-level BPE (GPT-2 / SmolLM2 style) never produces an unknown token, so a tokenizer
trained on the pre-training corpus also encodes any later fine-tuning text.
"""

from __future__ import annotations

from collections.abc import Iterable

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024, *, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer and wrap it as a ``transformers`` fast tokenizer.

    Parameters
    ----------
    texts : iterable of str
        Training text (documents).
    vocab_size : int
        Final vocabulary size including the 256 byte symbols and two specials
        (``<|endoftext|>`` used as bos/eos, ``<|pad|>``). Must be at least 258.
    min_frequency : int
        Minimum pair count for a merge.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Saves and loads with ``save_pretrained`` / ``AutoTokenizer.from_pretrained``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from frugalml._core.validation import check_scalar

    if isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and vocab_size < 258:
        raise ValueError(f"vocab_size must be an int >= 258 (256 bytes + 2 specials); got {vocab_size!r}")
    vocab_size = check_scalar(vocab_size, "vocab_size", integer=True, low=258, high=2**31)
    min_frequency = check_scalar(min_frequency, "min_frequency", integer=True, low=1)
    texts = list(texts)
    if not texts or not any(t.strip() for t in texts):
        raise ValueError("texts must contain at least one non-empty string")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD)
