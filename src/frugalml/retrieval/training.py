"""RARe training: contrastive fine-tuning on queries that carry in-context examples.

Tejaswi et al. (2025), Sec. 3.2: each training query is written with ``k`` retrieved
(query, positive document) examples from the same task's pool (its own entry excluded)
with probability ``example_fraction`` (0.7 in the paper; the rest stay instruction-only so
that the model still works without examples), documents are encoded alone, and the loss
is InfoNCE over in-batch negatives plus one hard negative per query
(sentence-transformers' ``MultipleNegativesRankingLoss``, eq. 1 of the paper), with every
batch drawn from one task. Each training query is fitted to ``model.max_seq_length`` by
:func:`~frugalml.retrieval.examples.fit_query` (least similar examples give way; the target
query, last in the template, is never cut), and hard negatives are never test positives.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from frugalml._core import check_option, check_positive, check_random_state
from frugalml._core.progress import is_quiet
from frugalml.retrieval.beir import document_text
from frugalml.retrieval.examples import METHODS, ExampleRetriever, fit_query, format_query


@dataclass
class RareTrainResult:
    """What :func:`train_rare` did.

    Attributes
    ----------
    model : SentenceTransformer
        The fine-tuned model (the one passed in, trained in place).
    steps : int
        Optimiser steps taken.
    loss_history : list of float
        Training loss at each logging step.
    n_trainable : int
        Parameters that were trained.
    with_examples_fraction : float
        Fraction of training queries that carried examples (mechanism check: ~example_fraction).
    n_train_queries : dict
        Training queries per task.
    seconds : float
        Wall time of the training loop.
    token_stats : dict
        Over the training queries that carried examples: mean tokens before fitting
        (``tokens_full``) and as encoded (``tokens``), examples offered and kept per query;
        ``target_truncated``: fraction of all training queries whose target query was cut
        (0 unless an instruction + query alone exceed ``model.max_seq_length``).
    """

    model: object
    steps: int
    loss_history: list = field(default_factory=list)
    n_trainable: int = 0
    with_examples_fraction: float = 0.0
    n_train_queries: dict = field(default_factory=dict)
    seconds: float = 0.0
    token_stats: dict = field(default_factory=dict)


def _hard_negatives(corpus: dict, queries: dict, qrels: dict, rng, banned=()) -> dict:
    """One BM25-mined hard negative per query: the best-ranked document that is not relevant.

    ``banned`` documents (the test positives of the task) are never negatives: training must
    not push the model away from the documents it is evaluated on.
    """
    from frugalml.retrieval.evaluation import bm25_search

    banned = set(banned)
    ids = list(corpus)
    run = bm25_search(corpus, queries, k=min(20 + len(banned), len(ids)))
    out = {}
    for q in queries:
        rel = {d for d, g in qrels.get(q, {}).items() if g > 0} | banned
        ranked = [d for d, s in sorted(run[q].items(), key=lambda kv: -kv[1]) if d not in rel and s > 0]
        if ranked:
            out[q] = ranked[0]
        else:  # no lexical overlap: a random non-relevant document
            cand = [d for d in ids if d not in rel]
            if not cand:
                raise ValueError(f"no hard negative for query {q!r}: every document is relevant or a test positive")
            out[q] = cand[int(rng.integers(len(cand)))]
    return out


def test_positives(task) -> set:
    """Documents judged relevant to any query of the task's splits other than ``train``."""
    return {d for split, qr in task.qrels.items() if split != "train" for rels in qr.values()
            for d, g in rels.items() if g > 0}


def build_training_rows(task, *, k: int = 3, example_fraction: float = 0.7, method: str = "bm25",
                        hard_negatives: bool = True, max_example_words: int | None = None, model=None,
                        tokenizer=None, max_length: int | None = None, random_state=None, stats=None) -> tuple:
    """Training rows of one task: ``{"anchor": [...], "positive": [...], ("negative": [...])}``.

    ``task`` is a :class:`~frugalml.retrieval.tasks.RetrievalTask`; its ``train`` split is both
    the training queries and the example pool (each query's own entry excluded). With
    ``tokenizer`` and ``max_length`` the anchors are fitted to the limit (:func:`fit_query`:
    least similar examples give way, the target query is never cut) and, when ``stats`` is a
    dict, the token counts are added to it. Hard negatives are never test positives.
    Returns ``(rows, fraction of queries with examples)``.
    """
    rng = check_random_state(random_state)
    qids, pool_q, pool_d = task.pool("train")
    n = len(qids)
    with_ex = rng.random(n) < example_fraction
    examples = [()] * n
    if k > 0 and with_ex.any():
        retr = ExampleRetriever(pool_q, pool_d, k=k, method=method, model=model, random_state=rng)
        idx = np.flatnonzero(with_ex)
        got = retr.retrieve_many([pool_q[i] for i in idx], exclude=list(idx))
        for i, ex in zip(idx, got):
            examples[i] = ex
    if tokenizer is not None and max_length is not None:
        fitted = [fit_query(q, ex, task.instruction, tokenizer=tokenizer, max_length=max_length,
                            max_example_words=max_example_words) for q, ex in zip(pool_q, examples)]
        anchors = [f.text for f in fitted]
        if stats is not None:
            for key, attr in (("tokens_full", "n_tokens_full"), ("tokens", "n_tokens"),
                              ("examples_given", "n_examples_given"), ("examples_kept", "n_examples")):
                stats.setdefault(key, []).extend(int(getattr(f, attr)) for f, w in zip(fitted, with_ex) if w and k)
            stats.setdefault("target_truncated", []).extend(int(not f.target_intact) for f in fitted)
    else:
        anchors = [format_query(q, ex, task.instruction, max_example_words=max_example_words)
                   for q, ex in zip(pool_q, examples)]
    rows = {"anchor": anchors, "positive": list(pool_d)}
    if hard_negatives:
        neg = _hard_negatives(task.corpus, {q: task.queries["train"][q] for q in qids}, task.qrels["train"], rng,
                              banned=test_positives(task))
        rows["negative"] = [document_text(task.corpus[neg[q]]) for q in qids]
    return rows, float(np.mean(with_ex & (k > 0)))


def _imports():
    try:  # sentence-transformers >= 6
        from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # 5.x
        from sentence_transformers.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    return (BatchSamplers, MultiDatasetBatchSamplers, MultipleNegativesRankingLoss, SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments)


def length_buckets(lengths, max_buckets: int = 3) -> list:
    """Split rows into at most ``max_buckets`` groups of similar length, padding least.

    ``lengths`` are the rows' token counts. Rows are sorted by length and cut into contiguous
    runs so that the padded size, the sum over groups of (rows x longest row), is smallest
    (an exact dynamic programme; a batch has a few dozen rows); of equally small splits the one
    with fewest groups wins. Returns a list of index arrays into ``lengths``, shortest first.
    """
    check_positive(max_buckets, "max_buckets", integer=True)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    order = np.argsort(lengths, kind="stable")
    sl = lengths[order]
    # cost[b, j]: least padded size of the j shortest rows in b groups; a group (i, j] costs (j - i) * sl[j - 1]
    inf = np.iinfo(np.int64).max // 4
    cost = np.full((max_buckets + 1, n + 1), inf, dtype=np.int64)
    cut = np.zeros((max_buckets + 1, n + 1), dtype=np.int64)
    cost[0, 0] = 0
    for b in range(1, max_buckets + 1):
        for j in range(1, n + 1):
            for i in range(j):
                c = cost[b - 1, i] + (j - i) * sl[j - 1]
                if cost[b - 1, i] < inf and c < cost[b, j]:
                    cost[b, j], cut[b, j] = c, i
    b = 1 + int(np.argmin(cost[1:, n]))  # argmin takes the first, i.e. the fewest groups
    groups, j = [], n
    while b > 0:
        i = int(cut[b, j])
        groups.append(order[i:j])
        j, b = i, b - 1
    return groups[::-1]


def embed_by_length(model, features: dict, max_buckets: int = 3):
    """``model(features)["sentence_embedding"]``, computed on groups of rows of similar length.

    A collated batch pads every row to its longest; a RARe batch mixes queries with examples
    (~180 tokens) and without (~40), so much of the compute would go to padding. Each group
    (:func:`length_buckets`) runs with its own padding only (the columns none of its rows use
    are dropped) and the embeddings come back in row order. Under an attention mask padding
    never reaches a real token, so these are the padded batch's embeddings up to float
    rounding; in training, dropout draws its masks per group (another, equally random draw).
    """
    import torch

    mask = features["attention_mask"]
    n, width = mask.shape
    groups = length_buckets(mask.sum(1).tolist(), max_buckets)
    if len(groups) <= 1:
        return model(features)["sentence_embedding"]
    parts, rows = [], []
    for g in groups:
        idx = torch.as_tensor(g, dtype=torch.long, device=mask.device)
        cols = torch.nonzero(mask.index_select(0, idx).any(0)).squeeze(1)
        sub = {}
        for key, val in features.items():
            if torch.is_tensor(val) and val.dim() >= 1 and val.shape[0] == n:
                val = val.index_select(0, idx)
                if val.dim() >= 2 and val.shape[1] == width:
                    val = val.index_select(1, cols)
            sub[key] = val
        parts.append(model(sub)["sentence_embedding"])
        rows.append(idx)
    return torch.cat(parts).index_select(0, torch.argsort(torch.cat(rows)))


def embed_columns_by_length(model, features_list: list, max_buckets: int = 4) -> list:
    """One embedding tensor per column (anchors, positives, negatives) from length-grouped forwards.

    The columns are stacked into one batch (sentence-transformers' ``merge_feature_batches``,
    where available) and run through :func:`embed_by_length`, so short queries and short
    documents share a forward and long queries with examples get their own.
    """
    try:  # sentence-transformers >= 6
        from sentence_transformers.base.losses.merged_forward import merge_feature_batches
    except ImportError:
        merge_feature_batches = None
    features_list = list(features_list)
    merged = merge_feature_batches(features_list) if merge_feature_batches and len(features_list) > 1 else None
    if merged is None:
        return [embed_by_length(model, f, max_buckets) for f in features_list]
    emb = embed_by_length(model, merged, max_buckets)
    return list(emb.reshape(len(features_list), -1, *emb.shape[1:]).unbind(0))


def _length_bucketed_loss(MNRL, **kwargs):
    """``MultipleNegativesRankingLoss`` whose columns are embedded by :func:`embed_columns_by_length`."""

    class LengthBucketedMNRL(MNRL):
        def forward(self, sentence_features, labels):
            return self.compute_loss_from_embeddings(embed_columns_by_length(self.model, sentence_features), labels)

    return LengthBucketedMNRL(**kwargs)


def freeze_lower_layers(model, train_layers: int) -> int:
    """Train only the top ``train_layers`` transformer layers (embeddings frozen); returns trainable count."""
    auto = model[0].auto_model
    layers = auto.encoder.layer if hasattr(auto, "encoder") else None
    if layers is None:
        raise ValueError("train_layers needs a BERT-like model with encoder.layer; pass train_layers=None")
    if not 0 < train_layers <= len(layers):
        raise ValueError(f"train_layers must be in 1..{len(layers)}; got {train_layers}")
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in layers[len(layers) - train_layers:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _set_widget_examples(model, sets) -> None:
    """Give the model card its widget examples from our first training row.

    Otherwise sentence-transformers' trainer samples them itself, behind a "Computing widget
    examples" progress bar that ignores ``--quiet``.
    """
    card = getattr(model, "model_card_data", None)
    if card is None or card.widget:
        return
    row = next(iter(sets.values()))[0]
    card.widget = [{"source_sentence": row["anchor"],
                    "sentences": [row["positive"]] + ([row["negative"]] if "negative" in row else [])}]


def train_rare(model, train_tasks, *, k: int = 3, example_fraction: float = 0.7, epochs: float = 1.0,
               batch_size: int = 16, lr: float = 2e-5, max_steps: int = -1, method: str = "bm25",
               hard_negatives: bool = True, scale: float = 20.0, train_layers: int | None = None,
               max_example_words: int | None = None, warmup_ratio: float = 0.1, output_dir=None,
               random_state=0) -> RareTrainResult:
    """Fine-tune a sentence-transformers retriever with in-context examples (RARe).

    Parameters
    ----------
    model : SentenceTransformer
        Trained in place (e.g. the shipped all-MiniLM-L6-v2).
    train_tasks : list of RetrievalTask
        Each task's ``train`` split is its training queries and example pool.
    k : int
        Examples per query (the paper's default 5; k = 0 gives the instruction-only
        fine-tune, as does ``example_fraction=0``).
    example_fraction : float
        Probability that a training query carries examples (paper: 0.7).
    epochs, batch_size, lr, max_steps, warmup_ratio
        Passed to ``SentenceTransformerTrainingArguments`` (linear decay after warm-up).
    method : {"bm25", "embedding", "random"}
        How examples are chosen (:class:`ExampleRetriever`); ``"random"`` is the paper's
        random-example ablation.
    hard_negatives : bool
        Add one BM25-mined hard negative per query.
    scale : float
        Inverse temperature of the InfoNCE loss (paper: 50, i.e. 0.02; sentence-transformers'
        default 20, which MiniLM was trained with).
    train_layers : int, optional
        Train only the top layers (CPU budget); None trains everything.
    random_state : int
        Seeds example selection, the 70/30 draw, and the trainer's ``seed`` (the Hugging Face
        trainer seeds torch's global generator from it; nothing else of ours does).
    """
    import datasets

    check_positive(k, "k", strict=False, integer=True)
    if not 0.0 <= example_fraction <= 1.0:
        raise ValueError(f"example_fraction must be in [0, 1]; got {example_fraction!r}")
    check_option(method, METHODS, "method")
    check_positive(batch_size, "batch_size", integer=True)
    check_positive(lr, "lr")
    if not train_tasks:
        raise ValueError("train_tasks is empty")
    (BatchSamplers, MultiDatasetBatchSamplers, MNRL, Trainer, Args) = _imports()
    rng = check_random_state(random_state)
    seed = int(rng.integers(0, 2**31 - 1))
    sets, fracs, sizes, tstats = {}, [], {}, {}
    for task in train_tasks:
        rows, frac = build_training_rows(task, k=k, example_fraction=example_fraction, method=method,
                                         hard_negatives=hard_negatives, max_example_words=max_example_words,
                                         model=model if method == "embedding" else None,
                                         tokenizer=getattr(model, "tokenizer", None),
                                         max_length=getattr(model, "max_seq_length", None), random_state=rng,
                                         stats=tstats)
        sets[task.name] = datasets.Dataset.from_dict(rows)
        sizes[task.name] = len(rows["anchor"])
        fracs.append(frac * sizes[task.name])
    n_trainable = (freeze_lower_layers(model, train_layers) if train_layers is not None
                   else sum(p.numel() for p in model.parameters() if p.requires_grad))
    tmp = tempfile.TemporaryDirectory() if output_dir is None else None
    import transformers
    from transformers.trainer_callback import PrinterCallback

    # transformers >= 5 takes the warm-up fraction as a float warmup_steps
    warm = ({"warmup_steps": float(warmup_ratio)} if int(transformers.__version__.split(".")[0]) >= 5
            else {"warmup_ratio": warmup_ratio})
    args = Args(output_dir=output_dir or tmp.name, num_train_epochs=epochs, max_steps=max_steps,
                per_device_train_batch_size=batch_size, learning_rate=lr, **warm,
                lr_scheduler_type="linear", seed=seed, data_seed=seed, save_strategy="no", report_to="none",
                logging_steps=1, disable_tqdm=is_quiet(), use_cpu=True, dataloader_drop_last=True,
                batch_sampler=BatchSamplers.NO_DUPLICATES,
                multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL)
    _set_widget_examples(model, sets)
    loss = _length_bucketed_loss(MNRL, model=model, scale=scale)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.DatasetDict(sets), loss=loss)
    trainer.remove_callback(PrinterCallback)  # the loss goes to loss_history, not stdout
    t0 = time.perf_counter()
    sampler_log = logging.getLogger("sentence_transformers.base.sampler")
    level = sampler_log.level
    if is_quiet():  # its one-line notice about resampled duplicate batches would break --quiet's output
        sampler_log.setLevel(logging.ERROR)
    try:
        out = trainer.train()
    finally:
        sampler_log.setLevel(level)
    seconds = time.perf_counter() - t0
    history = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    if tmp is not None:
        tmp.cleanup()
    if train_layers is not None:
        for p in model.parameters():
            p.requires_grad_(True)
    token_stats = {key: float(np.mean(v)) if v else 0.0 for key, v in tstats.items()}
    return RareTrainResult(model, int(out.global_step), history, int(n_trainable),
                           float(sum(fracs) / sum(sizes.values())), sizes, seconds, token_stats)
