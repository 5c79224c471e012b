"""Tokenised data for causal LMs: packed blocks for pre-training, masked prompt/response pairs.

Both kinds are sequences of dicts ``{"input_ids": LongTensor[T], "labels": LongTensor[T]}``
(``labels == -100`` where no loss is taken), batched by :func:`collate`.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


class BlockDataset(torch.utils.data.Dataset):
    """Documents tokenised, joined with ``eos`` and cut into blocks of ``block_size`` tokens.

    Every token is a target (``labels == input_ids``); the model shifts them itself.
    """

    def __init__(self, tokenizer, texts, block_size: int = 128, *, max_blocks: int | None = None):
        if not isinstance(block_size, int) or block_size < 2:
            raise ValueError(f"block_size must be an int >= 2; got {block_size!r}")
        ids: list[int] = []
        eos = tokenizer.eos_token_id
        for text in texts:
            ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
            ids.append(eos)
            if max_blocks is not None and len(ids) >= (max_blocks + 1) * block_size:
                break
        n = len(ids) // block_size
        if max_blocks is not None:
            n = min(n, max_blocks)
        if n == 0:
            raise ValueError(f"texts hold {len(ids)} tokens: fewer than one block of {block_size}")
        self.blocks = torch.tensor(ids[: n * block_size], dtype=torch.long).view(n, block_size)  # [n, T]
        self.block_size = block_size

    def __len__(self) -> int:
        return self.blocks.shape[0]

    def __getitem__(self, i):
        x = self.blocks[i]
        return {"input_ids": x, "labels": x.clone(), "index": int(i)}

    @property
    def n_tokens(self) -> int:
        return self.blocks.numel()


class PromptResponseDataset(torch.utils.data.Dataset):
    """Prompt + response (+ eos) token sequences with the prompt positions masked out of the loss.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    prompts, responses : list of str
        Same length; the loss is taken on the response tokens (and the final eos) only
        when ``response_only`` is true, on every token after the first otherwise.
    max_length : int
        Sequences are truncated on the right to this many tokens; a sequence whose
        response would vanish entirely raises ``ValueError``.
    """

    def __init__(self, tokenizer, prompts, responses, *, max_length: int = 256, response_only: bool = True):
        if len(prompts) != len(responses):
            raise ValueError(f"prompts and responses must have the same length; got {len(prompts)} and {len(responses)}")
        if not prompts:
            raise ValueError("prompts must not be empty")
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2; got {max_length!r}")
        self.items = []
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        for i, (p, r) in enumerate(zip(prompts, responses)):
            p_ids = ([bos] if bos is not None else []) + tokenizer(p, add_special_tokens=False)["input_ids"]
            r_ids = tokenizer(r, add_special_tokens=False)["input_ids"] + [eos]
            ids = (p_ids + r_ids)[:max_length]
            labels = list(ids)
            if response_only:
                labels[: len(p_ids)] = [IGNORE_INDEX] * min(len(p_ids), len(ids))
            if all(t == IGNORE_INDEX for t in labels[1:]):
                raise ValueError(f"sample {i}: the prompt fills max_length={max_length}; no response token is left")
            self.items.append({"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "index": i,
                               "prompt_length": len(p_ids)})
        self.prompts, self.responses = list(prompts), list(responses)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    @property
    def n_tokens(self) -> int:
        return sum(len(x["input_ids"]) for x in self.items)


def collate(batch, pad_token_id: int = 0):
    """Right-pad a list of examples into ``input_ids``, ``attention_mask``, ``labels`` (+ ``index``, ``weight``)."""
    T = max(len(x["input_ids"]) for x in batch)
    B = len(batch)
    input_ids = torch.full((B, T), pad_token_id, dtype=torch.long)     # [B, T]
    labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)        # [B, T]
    attention = torch.zeros((B, T), dtype=torch.long)                  # [B, T]
    for b, x in enumerate(batch):
        n = len(x["input_ids"])
        input_ids[b, :n] = x["input_ids"]
        labels[b, :n] = x["labels"]
        attention[b, :n] = 1
    out = {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
           "index": torch.tensor([x.get("index", -1) for x in batch])}
    if "weight" in batch[0]:
        out["weight"] = torch.tensor([float(x["weight"]) for x in batch], dtype=torch.float32)
    if "token_weight" in batch[0]:
        tw = torch.zeros((B, T), dtype=torch.float32)                  # [B, T], aligned with labels
        for b, x in enumerate(batch):
            tw[b, : len(x["token_weight"])] = x["token_weight"]
        out["token_weight"] = tw
    return out


class WeightedDataset(torch.utils.data.Dataset):
    """Attach one weight per example (``item["weight"]``) to a dataset, e.g. FLOW weights."""

    def __init__(self, dataset, weights):
        weights = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
        if len(weights) != len(dataset):
            raise ValueError(f"sample_weights must have one entry per example ({len(dataset)}); got {len(weights)}")
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("sample_weights must be finite and non-negative")
        self.dataset, self.weights = dataset, weights

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return {**self.dataset[i], "weight": float(self.weights[i])}


class TokenWeightedDataset(torch.utils.data.Dataset):
    """Attach per-token weights (FLOW's token-level variant) to a dataset.

    ``token_weights[i]`` holds one weight per *labelled* position of example ``i`` in order
    (the output of ``flow_token_weights(sample_losses(..., token_level=True))``); it is
    scattered into ``item["token_weight"]``, aligned with ``labels`` (0 at masked positions).
    """

    def __init__(self, dataset, token_weights):
        if len(token_weights) != len(dataset):
            raise ValueError(f"token_weights must have one array per example ({len(dataset)}); got {len(token_weights)}")
        self.dataset, self.token_weights = dataset, []
        for i, w in enumerate(token_weights):
            w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
            labels = dataset[i]["labels"]
            positions = torch.nonzero(labels[1:] != IGNORE_INDEX).reshape(-1) + 1   # predicted tokens
            if len(w) != len(positions):
                raise ValueError(f"token_weights[{i}] has {len(w)} entries; example {i} has {len(positions)} labelled tokens")
            if not torch.isfinite(w).all() or (w < 0).any():
                raise ValueError(f"token_weights[{i}] must be finite and non-negative")
            full = torch.zeros(len(labels), dtype=torch.float32)
            full[positions] = w
            self.token_weights.append(full)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return {**self.dataset[i], "token_weight": self.token_weights[i]}
