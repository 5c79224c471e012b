"""Hugging Face causal LMs: small configs trained here, real checkpoints loaded (GGUF too),
byte-level BPE tokenizers, offline corpora and the ``accelerate`` training loop."""

from frugalml.lm.corpora import (
    PromptResponseTask,
    TextCorpus,
    load_corpus,
    load_gsm_task,
    load_text_files,
    synthetic_arithmetic_task,
)
from frugalml.lm.data import (
    IGNORE_INDEX,
    BlockDataset,
    PromptResponseDataset,
    TokenWeightedDataset,
    WeightedDataset,
    collate,
)
from frugalml.lm.losses import causal_lm_loss, per_sample_loss, token_losses
from frugalml.lm.models import (
    ModelNotFoundError,
    SmallLMConfig,
    count_parameters,
    load_pretrained,
    load_smollm2,
    make_small_lm,
    smollm2_gguf_path,
)
from frugalml.lm.pretrain import PRESETS, PretrainPreset, corpus_validation_blocks, pretrain, pretrained_small_lm
from frugalml.lm.tokenizer import train_tokenizer
from frugalml.lm.train import (
    TrainConfig,
    TrainResult,
    evaluate_loss,
    evaluate_losses,
    evaluate_token_accuracy,
    train_causal_lm,
)

__all__ = [
    "IGNORE_INDEX", "PRESETS", "BlockDataset", "ModelNotFoundError", "PretrainPreset", "PromptResponseDataset",
    "PromptResponseTask", "SmallLMConfig", "TextCorpus", "TokenWeightedDataset", "TrainConfig", "TrainResult", "WeightedDataset",
    "causal_lm_loss", "collate", "corpus_validation_blocks", "count_parameters", "evaluate_loss",
    "evaluate_losses", "evaluate_token_accuracy", "load_corpus", "load_gsm_task", "load_pretrained", "load_smollm2", "load_text_files",
    "make_small_lm", "per_sample_loss", "pretrain", "pretrained_small_lm", "smollm2_gguf_path",
    "synthetic_arithmetic_task", "token_losses", "train_causal_lm", "train_tokenizer",
]
