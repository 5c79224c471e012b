"""RARe: retrievers fine-tuned to use in-context examples (Tejaswi et al., COLM 2025).

Claim -> data -> fit -> figure:

1. Tasks built offline with known relevance (:mod:`frugalml.retrieval.tasks`): *training
   tasks* (their train split trains the retriever; their test split is the in-domain test)
   and *held-out tasks* (never trained on; their train split is only the example pool).
   Real tasks: WordNet reverse dictionary and CPython code search (training); WordNet verb
   usage and code -> summary on other CPython files (held-out). Every corpus gets unjudged
   distractor documents from the same source, so that the example pool's documents are a
   small share of it (``pool_share``), as in BEIR. Synthetic coded tasks (query words that only
   examples decode; large **by construction**) run in ``smoke`` and ``large``, reported apart.
2. Base retriever: the shipped all-MiniLM-L6-v2, its queries pooled over the target query's
   tokens (:mod:`frugalml.retrieval.pooling`; ``pooling="mean"`` pools every token). Every
   query with examples is fitted to ``max_seq_length`` tokens (:func:`~frugalml.retrieval.fit_query`:
   least similar examples give way) so that the target query, which comes last, is never cut
   -- in training and at evaluation; the token counts before and after fitting and the examples
   kept are recorded per arm. Only the top ``train_layers`` layers are trained, for ``steps``
   steps; hard negatives are never test positives.
3. Arms (nDCG@10 on each task's test split): BM25; base (instruction-only query); base with
   k BM25-retrieved examples at inference only; instruction-only fine-tune (also given the
   examples at inference); RARe (70% of training queries with k examples); RARe with random
   examples (trained and evaluated); RARe evaluated without examples; query latency.
4. Seeds: the tasks are fixed by ``seed``; each training seed redraws the 70/30 split, batch
   order and hard-negative ties. Comparisons: per-query paired differences (nDCG@10 averaged
   over seeds per query), one-sided paired t-tests at alpha = 0.05 (:mod:`frugalml.repro.stats`).
5. ``broken=`` runs the pipeline with the method broken inside it (for the tests):
   ``"shuffled_examples"`` gives RARe other queries' examples at evaluation,
   ``"no_example_training"`` trains RARe with ``example_fraction=0``.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np

NAME = "rare"
PAPER = ("A. Tejaswi, Y. Lee, S. Sanghavi, E. Choi. RARe: Retrieval Augmented Retrieval with In-Context "
         "Examples. COLM 2025 (arXiv:2410.20088)")
CLAIM = ("Examples (query, relevant document) prepended to the query do not help an off-the-shelf retriever, "
         "but a retriever fine-tuned with retrieved examples (RARe) beats the same fine-tune without them, most on "
         "held-out tasks; retrieved examples beat random ones; the price is query latency.")

REAL_TRAIN = ["wordnet_definitions", "code_search"]
REAL_HELDOUT = ["wordnet_usage", "code_summaries"]
CODE_30 = {"code_search": {"max_code_words": 30}}  # code documents cut to 30 words (encoding cost)
SCALES = {
    # smoke: one synthetic task, tested on its own test split (a pipeline check, not evidence): the gated
    # comparisons need an effect that a few steps can produce, which the coded task has by construction
    "smoke": dict(train=["coded_people"], heldout=["coded_people"], synthetic=[], n_train=64, n_test=40,
                  pool_share=0.2, k=2, steps=30, batch_size=8, lr=3e-4, train_layers=2, max_seq_length=96,
                  max_example_words=12, seeds=1, pooling="query"),
    "default": dict(train=REAL_TRAIN, heldout=REAL_HELDOUT, synthetic=[], n_train=100, n_test=50, pool_share=0.18,
                    k=3, steps=40, batch_size=16, train_layers=4, max_seq_length=256,
                    lr={"instruct_ft": 1.25e-5, "rare": 2e-4, "rare_random": 2.5e-5},  # tune("default"): TUNING_FILE
                    max_example_words=20, seeds=3, pooling="query", task_options=CODE_30),
    "large": dict(train=REAL_TRAIN + ["coded_people"], heldout=REAL_HELDOUT + ["gsm_solutions", "coded_products"],
                  synthetic=["coded_people", "coded_products"], reported=["gsm_solutions"], n_train=200, n_test=100,
                  pool_share=0.15, k=3, steps=150, batch_size=16, lr=1e-4, train_layers=None, max_seq_length=256,
                  max_example_words=30, seeds=3, pooling="query"),
    "paper": dict(train=REAL_TRAIN + ["coded_people"], heldout=REAL_HELDOUT + ["gsm_solutions", "coded_products"],
                  synthetic=["coded_people", "coded_products"], reported=["gsm_solutions"], n_train=1000, n_test=200,
                  pool_share=0.1, k=5, steps=600, batch_size=64, lr=2e-5, train_layers=None, max_seq_length=512,
                  max_example_words=None, seeds=3, pooling="query"),
}
BROKEN = (None, "shuffled_examples", "no_example_training")
ALPHA = 0.05
CEILING = 0.85  # a held-out task whose base nDCG@10 is above this leaves examples nothing to add (issue 22)
ARMS = ["bm25", "base_plain", "base", "base_examples", "instruct_ft", "instruct_ft_examples", "rare",
        "rare_no_examples", "rare_random"]
TRAINED = ["instruct_ft", "rare", "rare_random"]
ARM_TRAINING = {"instruct_ft": dict(example_fraction=0.0), "rare": dict(example_fraction=0.7),
                "rare_random": dict(example_fraction=0.7, method="random")}  # train_rare's arguments per arm
# Per-arm learning-rate tuning (``tune``): a task draw and training seed that no evaluation uses, a
# log grid (factor 2) around the former shared rate, grown while the best sits at an end.
LR_GRID = (2.5e-5, 5e-5, 1e-4, 2e-4, 4e-4)
TUNE_OFFSET = 10_000
TUNING_FILE = Path(__file__).with_name("rare_tuning.json")  # written by ``tune`` (see docs/rare.md)
ARM_LABELS = {
    "bm25": "BM25", "base_plain": "base, raw query (beyond the paper)", "base": "base (instruction only)",
    "base_examples": "base + examples at inference only", "instruct_ft": "instruction-only fine-tune",
    "instruct_ft_examples": "instruction-only FT + examples at inference (beyond the paper)",
    "rare": "RARe (retrieved examples)", "rare_no_examples": "RARe evaluated without examples",
    "rare_random": "RARe with random examples",
}
PAPER_ROWS = {  # E5-Mistral, BEIR average nDCG@10 (paper Table 1) and RAR-b where given
    "base": "56.87 (BEIR), 22.17 (RAR-b)", "instruct_ft": "56.96 / 24.12", "rare": "58.28 / 25.79",
    "base_examples": "below base (Table 3: examples hurt off-the-shelf models)",
    "rare_random": "below RARe (Table 5)", "rare_no_examples": "close to instruct FT (Sec. 5)",
}
TOKEN_KEYS = ("query_tokens_full", "query_tokens_full_max", "query_tokens", "query_tokens_max", "examples_given",
              "examples_kept", "examples_trimmed", "target_truncated")


def _check_scale(scale):
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    if scale == "paper":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("--scale paper trains the full all-MiniLM-L6-v2 for 600 steps x 3 models x 3 seeds "
                               "with k=5 and 512-token queries: it needs a CUDA GPU (none found). The paper itself "
                               "fine-tunes E5-Mistral-7B on BEIR/RAR-b, which does not ship offline.")


def _evaluate(model, task, cfg, examples, corpus_emb, instruction=True):
    from frugalml.retrieval import evaluate_retrieval

    ev = evaluate_retrieval(model, task.corpus, task.queries["test"], task.qrels["test"],
                            instruction=task.instruction if instruction else None, examples=examples,
                            k_values=(1, 10), max_example_words=cfg["max_example_words"],
                            corpus_embeddings=corpus_emb[task.name])
    qids = sorted(ev.per_query["ndcg@10"])
    return {"ndcg@10": ev["ndcg@10"], "recall@10": ev["recall@10"], "mrr@10": ev["mrr@10"],
            "query_ms": ev["query_ms"], "example_ms": ev["example_ms"],
            **{k: ev[k] for k in TOKEN_KEYS}, "per_query_ndcg@10": [ev.per_query["ndcg@10"][q] for q in qids]}


def _encode_corpora(model, tasks):
    from frugalml.retrieval import encode_corpus

    return {name: encode_corpus(model, t.corpus) for name, t in tasks.items()}


def _retrievers(tasks, k, method, rng):
    from frugalml.retrieval import ExampleRetriever

    out = {}
    for name, t in tasks.items():
        _, pq, pd = t.pool("train")
        out[name] = ExampleRetriever(pq, pd, k=k, method=method, random_state=rng)
    return out


def _shuffled(retriever, task, rng):
    """Each test query gets another test query's retrieved examples (a derangement): the broken variant."""
    qids = list(task.queries["test"])
    got = retriever.retrieve_many([task.queries["test"][q] for q in qids])
    shift = int(rng.integers(1, len(qids)))
    return {q: got[(i + shift) % len(qids)] for i, q in enumerate(qids)}


def _base_model(cfg):
    """The shipped MiniLM at the scale's query length, queries pooled as the scale says."""
    from frugalml.retrieval import load_base_model

    base = load_base_model(max_seq_length=cfg["max_seq_length"])
    if cfg.get("pooling", "mean") == "query":  # every arm: queries pooled over their target query's tokens
        from frugalml.retrieval.pooling import use_query_pooling

        use_query_pooling(base)
    return base


def _build_tasks(cfg, names, first_state: int) -> dict:
    """The scale's tasks ``names`` (task ``i`` from random state ``first_state + i``), padded with
    distractors to the scale's pool share."""
    from frugalml.retrieval import build_task
    from frugalml.retrieval.tasks import distractors_for_share

    n_distractors = distractors_for_share(cfg["n_train"], cfg["n_test"], cfg["pool_share"])
    opts = cfg.get("task_options", {})
    return {n: build_task(n, cfg["n_train"], cfg["n_test"], random_state=first_state + i,
                          n_distractors=n_distractors, **opts.get(n, {})) for i, n in enumerate(names)}


def _common(cfg) -> dict:
    """``train_rare`` arguments every trained arm shares at a scale (the rate is per arm)."""
    return dict(k=cfg["k"], max_steps=cfg["steps"], batch_size=cfg["batch_size"], train_layers=cfg["train_layers"],
                max_example_words=cfg["max_example_words"])


def arm_lr(cfg, arm: str) -> float:
    """The learning rate of a trained arm: ``cfg["lr"]`` is one rate for all or ``{arm: rate}`` (tuned)."""
    lr = cfg["lr"]
    return float(lr[arm] if isinstance(lr, dict) else lr)


def stored_tuning(scale: str):
    """The recorded ``tune`` result behind a scale's per-arm rates (``TUNING_FILE``), or ``None``."""
    if not TUNING_FILE.is_file():
        return None
    import json

    return json.loads(TUNING_FILE.read_text()).get(scale)


def tune(scale: str = "default", seed: int = 0, *, grid=LR_GRID, arms=TRAINED, max_extend: int = 2) -> dict:
    """Each trained arm's learning rate, on a tuning draw that no evaluation uses.

    The tuning draw rebuilds the *training* tasks with other random states (``seed * 1000 +
    TUNE_OFFSET``) and trains on their train split with that training seed; each arm is scored
    as it is evaluated (instruction-only fine-tune without examples, RARe with BM25 examples,
    RARe random with random examples) on their test split: in-domain validation, so the held-out
    tasks never inform the choice. Every other setting is the scale's. Selection:
    :func:`frugalml.repro.stats.select_robust` on per-query nDCG@10, the rate with the best mean;
    while it sits at an end of the grid, the grid grows by a factor 2 beyond it (at most
    ``max_extend`` times), so the choice lies strictly inside. The record also lists the rates
    within one (unpaired, per-query) standard error of the best. Not the one-SE rule's smallest
    candidate: that SE is mostly the spread of query difficulty, so at default scale the candidates
    spanned a factor 16 and the smallest sat at the grown grid's end (an arm that barely trains).
    The chosen rates are a committed record (``TUNING_FILE``), so no run's verdict depends on
    how noise decided this selection at run time. Returns ``{"arms": {arm: record}, ...}``, each
    record ``select_robust``'s plus the number of grid extensions.
    """
    from frugalml._core import progress
    from frugalml.repro.stats import select_growing, select_robust
    from frugalml.retrieval import train_rare

    _check_scale(scale)
    unknown = [a for a in arms if a not in TRAINED]
    if unknown or not arms:
        raise ValueError(f"arms must be a non-empty subset of {TRAINED}; got {list(arms)}")
    if len(grid) < 2 or any(not lr > 0 for lr in grid):
        raise ValueError(f"grid needs at least two positive rates; got {list(grid)}")
    cfg = SCALES[scale]
    t_start = time.perf_counter()
    draw = seed * 1000 + TUNE_OFFSET
    tasks = _build_tasks(cfg, cfg["train"], draw)
    base = _base_model(cfg)
    examples = {"bm25": _retrievers(tasks, cfg["k"], "bm25", np.random.default_rng(draw)),
                "random": _retrievers(tasks, cfg["k"], "random", np.random.default_rng(draw))}
    given = {"instruct_ft": None, "rare": "bm25", "rare_random": "random"}
    out = {}
    for arm in arms:
        scores = {}

        def score(lr, arm=arm, scores=scores):
            m = copy.deepcopy(base)
            train_rare(m, list(tasks.values()), random_state=draw, lr=lr, **_common(cfg), **ARM_TRAINING[arm])
            emb = _encode_corpora(m, tasks)
            scores[lr] = np.concatenate([_evaluate(m, t, cfg, examples[given[arm]][n] if given[arm] else None, emb)
                                         ["per_query_ndcg@10"] for n, t in tasks.items()])

        for lr in progress(sorted(grid), desc=f"tune {arm}"):
            score(lr)
        sel, _, extended = select_growing(grid, score, lambda rates, scores=scores: select_robust(
            rates, [scores[lr] for lr in rates], prefer="best"), max_extend=max_extend)
        out[arm] = {**sel, "extended": extended}
    return {"scale": scale, "seed": seed, "draw": draw, "tasks": list(tasks), "steps": cfg["steps"],
            "metric": "in-domain validation nDCG@10 (test split of the training tasks, tuning draw), per query",
            "arms": out, "seconds": time.perf_counter() - t_start}


def _threads():
    import torch

    return int(torch.get_num_threads())


def merge(parts: list) -> dict:
    """Join results of ``run(..., seed_indices=...)`` run in separate processes (same scale and seed).

    The seed-independent arms are identical in every part (checked); trained arms and runs are
    concatenated in seed order. ``seconds`` is the longest part's wall time, ``cpu_seconds`` the sum.
    """
    parts = sorted(parts, key=lambda r: r["runs"][0]["seed"])
    first = parts[0]
    out = copy.deepcopy(first)
    for r in parts[1:]:
        if r["config"] != first["config"] or r["tasks"] != first["tasks"]:
            raise ValueError("merge: the parts were run with different configurations")
        for t in r["tasks"]:
            for arm in ARMS:
                if arm in ("bm25", "base_plain", "base", "base_examples"):
                    a = r["results"][t][arm][0]["per_query_ndcg@10"]
                    if not np.allclose(a, first["results"][t][arm][0]["per_query_ndcg@10"], atol=1e-6):
                        raise ValueError(f"merge: seed-independent arm {arm} differs between parts on {t}")
                out["results"][t][arm] += copy.deepcopy(r["results"][t][arm])
        out["runs"] += copy.deepcopy(r["runs"])
    out["seconds"] = max(r["seconds"] for r in parts)
    out["cpu_seconds"] = sum(r.get("cpu_seconds", 0.0) for r in parts)
    out["parts"] = [{"seeds": [x["seed"] for x in r["runs"]], "seconds": r["seconds"],
                     "cpu_seconds": r.get("cpu_seconds"), "load_avg": r.get("load_avg")} for r in parts]
    return out


def _flatness(history, frac=0.2):
    """Share of the training loss's whole decrease that comes in the last ``frac`` of steps.

    Windows of ``frac`` of the steps are averaged (a per-batch loss is noisy); the decrease from the
    first window to the last is the whole drop, that from the second-last window to the last the late
    drop. A curve that has flattened puts little of its drop at the end (an exponential decay run to
    convergence about 0; a straight line 25%); the report calls a share under 10% flat.
    """
    h = np.asarray(history, dtype=float)
    w = max(1, int(round(frac * h.size)))
    if h.size < 2 * w:
        return float("nan")
    first, prev, last = h[:w].mean(), h[-2 * w:-w].mean(), h[-w:].mean()
    return float((prev - last) / (first - last)) if first > last else float("nan")


def run(scale: str = "default", seed: int = 0, *, broken=None, seed_indices=None) -> dict:
    """The experiment; ``seed_indices`` runs only those training seeds (``merge`` joins such parts)."""
    from frugalml._core import progress
    from frugalml.retrieval import bm25_search, score_run, train_rare
    from frugalml.retrieval.tasks import distractors_for_share

    _check_scale(scale)
    if broken not in BROKEN:
        raise ValueError(f"broken must be one of {BROKEN}; got {broken!r}")
    cfg = SCALES[scale]
    t_start, cpu0 = time.perf_counter(), time.process_time()
    load_start = os.getloadavg()
    names = cfg["train"] + [n for n in cfg["heldout"] if n not in cfg["train"]]
    tasks = _build_tasks(cfg, names, seed * 1000)
    n_distractors = distractors_for_share(cfg["n_train"], cfg["n_test"], cfg["pool_share"])  # for the record
    base = _base_model(cfg)
    n_params = int(sum(p.numel() for p in base.parameters()))
    rng = np.random.default_rng(seed)
    bm25_ex = _retrievers(tasks, cfg["k"], "bm25", rng)

    per_task = {n: {arm: [] for arm in ARMS} for n in names}  # arm -> list over seeds
    # seed-independent arms, evaluated once and repeated for every seed
    emb = _encode_corpora(base, tasks)
    once = {}
    for n, t in tasks.items():
        bm = score_run(t.qrels["test"], bm25_search(t.corpus, t.queries["test"], k=10), (1, 10))
        qids = sorted(bm[1]["ndcg@10"])
        once[n] = {"bm25": {"ndcg@10": bm[0]["ndcg@10"], "recall@10": bm[0]["recall@10"], "mrr@10": bm[0]["mrr@10"],
                            "per_query_ndcg@10": [bm[1]["ndcg@10"][q] for q in qids]},
                   "base_plain": _evaluate(base, t, cfg, None, emb, instruction=False),
                   "base": _evaluate(base, t, cfg, None, emb),
                   "base_examples": _evaluate(base, t, cfg, bm25_ex[n], emb)}
    train_tasks = [tasks[n] for n in cfg["train"]]
    runs = []
    for s in progress(list(range(cfg["seeds"]) if seed_indices is None else seed_indices), desc="rare seeds"):
        tseed = seed * 100 + s
        models, embs, info = {}, {}, {}
        for arm in TRAINED:
            kw = dict(ARM_TRAINING[arm], example_fraction=0.0) if (
                arm == "rare" and broken == "no_example_training") else ARM_TRAINING[arm]
            m = copy.deepcopy(base)
            res = train_rare(m, train_tasks, random_state=tseed, lr=arm_lr(cfg, arm), **_common(cfg), **kw)
            embs[arm] = _encode_corpora(m, tasks)
            models[arm] = m
            info[arm] = {"steps": res.steps, "seconds": res.seconds, "loss_first": res.loss_history[0],
                         "loss_last": float(np.mean(res.loss_history[-max(1, res.steps // 5):])),
                         "loss_history": [float(x) for x in res.loss_history],
                         "loss_flatness": _flatness(res.loss_history), "n_trainable": res.n_trainable,
                         "with_examples_fraction": res.with_examples_fraction, "tokens": res.token_stats}
        rand_ex = _retrievers(tasks, cfg["k"], "random", np.random.default_rng(tseed))
        for n, t in tasks.items():
            got = dict(once[n])
            rare_ex = bm25_ex[n] if broken != "shuffled_examples" else _shuffled(bm25_ex[n], t,
                                                                                np.random.default_rng(tseed))
            got["instruct_ft"] = _evaluate(models["instruct_ft"], t, cfg, None, embs["instruct_ft"])
            got["instruct_ft_examples"] = _evaluate(models["instruct_ft"], t, cfg, bm25_ex[n], embs["instruct_ft"])
            got["rare"] = _evaluate(models["rare"], t, cfg, rare_ex, embs["rare"])
            got["rare_no_examples"] = _evaluate(models["rare"], t, cfg, None, embs["rare"])
            got["rare_random"] = _evaluate(models["rare_random"], t, cfg, rand_ex[n], embs["rare_random"])
            for arm in ARMS:
                per_task[n][arm].append(got[arm])
        runs.append({"seed": tseed, "training": info})
    return {"config": {**cfg, "scale": scale, "seed": seed, "broken": broken, "n_distractors": n_distractors},
            "n_params": n_params, "tasks": names,
            "task_sizes": {n: {"corpus": len(t.corpus), "train": len(t.queries["train"]),
                               "test": len(t.queries["test"]), "pool_share": t.pool_share()}
                           for n, t in tasks.items()},
            "instructions": {n: t.instruction for n, t in tasks.items()},
            "results": per_task, "runs": runs, "tuning": stored_tuning(scale),
            "seconds": time.perf_counter() - t_start,
            "cpu_seconds": time.process_time() - cpu0 + 0.0, "torch_threads": _threads(),
            "load_avg": {"start": list(load_start), "end": list(os.getloadavg())}}


# ----------------------------------------------------------------------------- statistics
def _per_query(result, task, arm):
    """(n_queries,) nDCG@10 averaged over seeds."""
    return np.mean([np.asarray(r["per_query_ndcg@10"]) for r in result["results"][task][arm]], axis=0)


def _groups(result):
    """(in-domain, held-out, synthetic) real task lists; tasks in ``reported`` (e.g. at ceiling) go to neither."""
    cfg = result["config"]
    syn = set(cfg.get("synthetic", []))
    apart = syn | set(cfg.get("reported", []))
    train = [n for n in cfg["train"] if n not in apart]
    held = [n for n in cfg["heldout"] if n not in apart]
    if not held:  # smoke: synthetic tasks only
        train, held = list(cfg["train"]), list(cfg["heldout"])
    return train, held, [n for n in result["tasks"] if n in syn]


def diffs(result, tasks, a, b):
    """Per-query differences of arm ``a`` minus arm ``b`` (seed-averaged nDCG@10) over ``tasks``."""
    return np.concatenate([_per_query(result, t, a) - _per_query(result, t, b) for t in tasks])


def paired(result, tasks, a, b):
    """Mean of arm ``a`` minus arm ``b`` over the queries of ``tasks`` (seed-averaged) and its SE."""
    from frugalml.repro.stats import mean_se

    m, se = mean_se(diffs(result, tasks, a, b))
    return m, (se if np.isfinite(se) else float("inf"))


def average(result, tasks, arm, metric="ndcg@10"):
    """Macro average over tasks and seeds."""
    return float(np.mean([np.mean([r[metric] for r in result["results"][t][arm]]) for t in tasks]))


def seed_gaps(result, tasks, a, b):
    n = len(result["runs"])
    return [float(np.mean([result["results"][t][a][s]["ndcg@10"] - result["results"][t][b][s]["ndcg@10"]
                           for t in tasks])) for s in range(n)]


def latency(result, arm):
    return float(np.mean([r["query_ms"] for t in result["tasks"] for r in result["results"][t][arm]]))


def tokens(result, arm, key="query_tokens", tasks=None):
    return float(np.mean([r.get(key, np.nan) for t in (tasks or result["tasks"]) for r in result["results"][t][arm]]))


def loss_curves(result, arm):
    """(steps,) training loss of ``arm`` averaged over seeds."""
    hs = [r["training"][arm].get("loss_history", []) for r in result["runs"]]
    n = min((len(h) for h in hs), default=0)
    return np.mean([h[:n] for h in hs], axis=0) if n else np.array([])


def check(result: dict) -> dict:
    from frugalml.repro.stats import superiority, threshold_test
    from frugalml.repro.verdict import claim, verdict

    train, held, syn = _groups(result)

    def test(tasks, a, b, label):
        d = diffs(result, tasks, a, b)
        t = superiority(d, alpha=ALPHA, label=label)
        t.pop("diffs", None)
        txt = (f"{t['effect']:+.3f} ± {t['se']:.3f} (SE over {t['n']} queries of {len(tasks)} task(s), seed-averaged; "
               "per seed " + ", ".join(f"{g:+.3f}" for g in seed_gaps(result, tasks, a, b)) + ")")
        return t, txt

    both = train + held
    ex_t, ex_s = test(both, "base", "base_examples", "base - (base + examples)")
    ri_t, ri_s = test(held, "rare", "instruct_ft", "held-out: RARe - instruct FT")
    rb_t, rb_s = test(held, "rare", "base_examples", "held-out: RARe - (base + examples)")
    rr_t, rr_s = test(held, "rare", "rare_random", "held-out: RARe - RARe random")
    re_t, re_s = test(held, "rare", "instruct_ft_examples", "held-out: RARe - (instruct FT + examples)")
    in_m, in_se = paired(result, train, "rare", "instruct_ft")
    ood = ri_t["effect"] - in_m
    ood_se = float(np.hypot(ri_t["se"], in_se))
    ood_t = threshold_test(ood, 0.0, se=ood_se, alpha=ALPHA, label="held-out gain - in-domain gain")
    lat = [(r_ex["query_ms"], r_no["query_ms"]) for t in result["tasks"]
           for r_ex, r_no in zip(result["results"][t]["rare"], result["results"][t]["rare_no_examples"])]
    lat_t = superiority([a for a, _ in lat], [b for _, b in lat], alpha=ALPHA,
                        label="query ms: RARe with - without examples (per task and seed)")
    lat_t.pop("diffs", None)
    lat_ex, lat_no = latency(result, "rare"), latency(result, "rare_no_examples")
    tok_full, tok_ex, tok_no = (tokens(result, "rare", "query_tokens_full"), tokens(result, "rare"),
                                tokens(result, "rare_no_examples"))
    claims = [
        claim("Examples at inference only do not help the off-the-shelf retriever: they hurt it (base beats base + "
              f"examples, one-sided paired t-test, alpha {ALPHA}; tasks {', '.join(both)})", ex_t["held"],
              f"nDCG@10 base - (base + examples): {ex_s}", paper="usually hurts (Table 3)", test=ex_t),
        claim(f"RARe beats the instruction-only fine-tune on held-out tasks ({', '.join(held)})", ri_t["held"],
              f"nDCG@10 RARe - instruct FT: {ri_s}", paper="+1.3 (BEIR), +1.7 (RAR-b) nDCG@10", test=ri_t),
        claim("RARe beats examples-at-inference-only on held-out tasks", rb_t["held"],
              f"nDCG@10 RARe - (base + examples): {rb_s}", paper="RARe > base with examples", test=rb_t),
        claim("Fine-tuning with examples makes the retriever use them: RARe beats the instruction-only fine-tune "
              "given the same examples at inference (held-out tasks)", re_t["held"],
              f"nDCG@10 RARe - (instruct FT + examples): {re_s}",
              paper="examples help only after training with them (Sec. 5)", test=re_t),
        claim("Retrieved examples beat random ones (RARe vs RARe trained and evaluated with random examples, "
              "held-out tasks)", rr_t["held"], f"nDCG@10 RARe - RARe random: {rr_s}",
              paper="retrieved > random (Table 5)", test=rr_t),
        claim("The gain over instruction-only fine-tuning is positive on held-out tasks and larger there than "
              "in-domain", ri_t["held"] and ood_t["held"],
              f"held-out gain {ri_t['effect']:+.3f}, in-domain gain {in_m:+.3f} ± {in_se:.3f}; difference "
              f"{ood:+.3f} ± {ood_se:.3f}", paper="stronger out-of-domain gains", test=[ri_t, ood_t]),
        claim("Examples cost query latency (RARe query encoding slower with examples than without)", lat_t["held"],
              f"{lat_ex:.2f} vs {lat_no:.2f} ms per query (x{lat_ex / max(lat_no, 1e-9):.1f}); {tok_ex:.0f} vs "
              f"{tok_no:.0f} tokens encoded ({tok_full:.0f} before fitting)", paper="up to 40x (E5-Mistral, k=5)",
              test=lat_t),
    ]
    table = []
    for label, tasks in (("in-domain (test split of training tasks)", train), ("held-out tasks", held),
                         ("synthetic coded tasks (large by construction)", syn)):
        if not tasks:
            continue
        for arm in ARMS:
            table.append({"setting": f"{label}: {ARM_LABELS[arm]}, nDCG@10",
                          "paper": PAPER_ROWS.get(arm, "") if tasks is held else "",
                          "ours": f"{average(result, tasks, arm):.3f} (recall@10 "
                                  f"{average(result, tasks, arm, 'recall@10'):.3f})"})
    sizes = result.get("task_sizes", {})
    for t in result["tasks"]:
        ps = sizes.get(t, {}).get("pool_share")
        table.append({"setting": f"task {t}: nDCG@10 " + " / ".join(ARMS) +
                                 (f" (corpus {sizes[t]['corpus']} docs, example pool {ps:.0%} of it)" if ps else ""),
                      "paper": "", "ours": " / ".join(f"{average(result, [t], a):.3f}" for a in ARMS)})
    for arm in ("base_examples", "instruct_ft_examples", "rare", "rare_random", "base", "rare_no_examples"):
        table.append({"setting": f"query tokens, {ARM_LABELS[arm]}: before fitting (max) / encoded (max) / "
                                 "examples kept of given / target cut",
                      "paper": "target never cut (left truncation, 1,024 tokens)",
                      "ours": f"{tokens(result, arm, 'query_tokens_full'):.0f} "
                              f"({max(r.get('query_tokens_full_max', 0) for t in result['tasks'] for r in result['results'][t][arm])}) / "
                              f"{tokens(result, arm):.0f} "
                              f"({max(r.get('query_tokens_max', 0) for t in result['tasks'] for r in result['results'][t][arm])}) / "
                              f"{tokens(result, arm, 'examples_kept'):.2f} of {tokens(result, arm, 'examples_given'):.2f} / "
                              f"{tokens(result, arm, 'target_truncated'):.0%}"})
    tr = result["runs"][0]["training"]
    for arm in TRAINED:
        ts = tr[arm].get("tokens", {})
        fl = [r["training"][arm].get("loss_flatness", float("nan")) for r in result["runs"]]
        table.append({"setting": f"training, {ARM_LABELS[arm]}: loss first -> last (mean of last 20% of steps); "
                                 "share of the loss's decrease in the last 20% of steps (flat: under 10%); training "
                                 "query tokens before / after fitting, examples kept",
                      "paper": "",
                      "ours": f"{np.mean([r['training'][arm]['loss_first'] for r in result['runs']]):.2f} -> "
                              f"{np.mean([r['training'][arm]['loss_last'] for r in result['runs']]):.2f}; "
                              f"{np.nanmean(fl) if np.isfinite(fl).any() else float('nan'):.1%}; "
                              + (f"{ts.get('tokens_full', 0):.0f} / {ts.get('tokens', 0):.0f}, "
                                 f"{ts.get('examples_kept', 0):.2f} of {ts.get('examples_given', 0):.2f}"
                                 if ts.get("tokens_full") else "no examples")})
    if syn:
        sm, sse = paired(result, syn, "rare", "instruct_ft")
        table.append({"setting": "synthetic: RARe - instruct FT (large by construction, beyond the paper)",
                      "paper": "", "ours": f"{sm:+.3f} ± {sse:.3f}"})
    nm, nse = paired(result, held, "rare_no_examples", "instruct_ft")
    table.append({"setting": "held-out: RARe without examples - instruct FT (no collapse)", "paper": "about 0",
                  "ours": f"{nm:+.3f} ± {nse:.3f}"})
    ceil = {t: average(result, [t], "base") for t in held}
    table.append({"setting": f"held-out base nDCG@10 (below {CEILING} so examples can matter)", "paper": "",
                  "ours": ", ".join(f"{t} {v:.3f}" for t, v in ceil.items())})
    table.append({"setting": "query latency, RARe with / without examples (ms per query, batched)",
                  "paper": "up to 40x", "ours": f"{lat_ex:.2f} / {lat_no:.2f} (x{lat_ex / max(lat_no, 1e-9):.1f})"})
    table.append({"setting": "mechanism: training queries with examples (RARe / instruct FT)", "paper": "70% / 0%",
                  "ours": f"{tr['rare']['with_examples_fraction']:.0%} / {tr['instruct_ft']['with_examples_fraction']:.0%}"})
    tuning = result.get("tuning") or {}
    for arm, rec in (tuning.get("arms") or {}).items():
        table.append({"setting": f"learning rate, {ARM_LABELS[arm]}: grid -> in-domain validation nDCG@10 on the "
                                 f"tuning draw ({rec['rule']}; candidates within one SE)",
                      "paper": "2e-5 (E5-Mistral, LoRA)",
                      "ours": ", ".join(f"{lr:g}: {m:.3f}" for lr, m in zip(rec["grid"], rec["mean"]))
                              + f"; chosen {rec['chosen']:g} (best {rec['best']:g}; candidates "
                              + ", ".join(f"{c:g}" for c in rec["candidates"])
                              + ("; best at the grid's END" if rec.get("at_edge") else "") + ")"})
    cfg = result["config"]
    pooled = "the target query's tokens only" if cfg.get("pooling", "mean") == "query" else "all tokens"
    layers = "all 6" if cfg["train_layers"] is None else f"the top {cfg['train_layers']} of 6"
    shares = [v.get("pool_share") for v in sizes.values() if v.get("pool_share") is not None]
    note = (f"CPU scale: all-MiniLM-L6-v2 ({result['n_params'] / 1e6:.1f}M parameters; paper: E5-Mistral-7B), "
            f"{layers} layers trained for {cfg['steps']} steps of {cfg['batch_size']} "
            f"({_lr_text(cfg, tuning)}; InfoNCE scale 20, one BM25 hard negative that is never a test positive), "
            f"queries pooled over {pooled}, k={cfg['k']} examples (documents cut to {cfg['max_example_words']} "
            f"words), every query fitted to {cfg['max_seq_length']} tokens by dropping or trimming the least similar "
            "examples, so the target query is never cut; "
            f"{len(result['runs'])} training seed(s); {cfg['n_train']} pool/training and {cfg['n_test']} test "
            f"queries per task built offline (WordNet, CPython, synthetic), corpora padded with unjudged distractors "
            f"so the example pool is {min(shares or [0]):.0%}-{max(shares or [0]):.0%} of each corpus. Tests: "
            f"one-sided, alpha {ALPHA}, on per-query differences averaged over seeds. "
            + (f"BROKEN VARIANT: {cfg['broken']}. " if cfg.get("broken") else "")
            + "The verdict gates on the real tasks; synthetic and ceiling tasks are reported apart.")
    return verdict(claims, table, note)


def _lr_text(cfg, tuning) -> str:
    if not isinstance(cfg["lr"], dict):
        return f"lr {cfg['lr']:g} for every arm, not tuned"
    rates = ", ".join(f"{a} {arm_lr(cfg, a):g}" for a in TRAINED)
    src = (f"tuned per arm on tuning draw {tuning['draw']} ({tuning['metric']})" if tuning
           else "per-arm rates (no tuning record)")
    return f"lr {rates}, {src}"


# ----------------------------------------------------------------------------- figure
def plot(result: dict, outdir) -> list:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    train, held, syn = _groups(result)
    groups = [("in-domain", train), ("held-out", held)] + ([("synthetic (by construction)", syn)] if syn else [])
    arms = [a for a in ARMS if a != "base_plain"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [3, 1.4, 1.1]})
    ax = axes[0]
    color = {arm: f"C{i}" for i, arm in enumerate(arms)}  # one colour per arm in every panel
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [average(result, tasks, arm) for _, tasks in groups]
        errs = [np.std([np.mean([result["results"][t][arm][s]["ndcg@10"] for t in tasks])
                        for s in range(len(result["runs"]))]) for _, tasks in groups]
        ax.bar(np.arange(len(groups)) + (i - len(arms) / 2 + 0.5) * width, vals, width, yerr=errs, capsize=2,
               label=ARM_LABELS[arm], color=color[arm])
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([f"{g}\n({', '.join(t)})" for g, t in groups], fontsize=7)
    ax.set_ylabel("nDCG@10 (mean over tasks; bar: std over seeds)")
    ax.set_title("RARe at CPU scale: retrieval quality per arm")
    top = max(b.get_height() for b in ax.patches)
    ax.set_ylim(0, top * 1.35)  # headroom: the legend sits above the bars
    ax.legend(fontsize=6, ncol=3, loc="upper center")
    ax = axes[1]
    cfg = result["config"]
    for arm in TRAINED:
        for r in result["runs"]:
            h = r["training"][arm].get("loss_history", [])
            ax.plot(np.arange(1, len(h) + 1), h, color=color[arm], alpha=0.25, lw=0.8)
        c = loss_curves(result, arm)
        if c.size:
            w = max(1, c.size // 10)
            sm = np.convolve(c, np.ones(w) / w, mode="valid")
            ax.plot(np.arange(w, c.size + 1), sm, color=color[arm], lw=2,
                    label=f"{ARM_LABELS[arm]} (lr {arm_lr(cfg, arm):g})")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (InfoNCE; thin: seeds, thick: running mean)")
    ax.set_title("training loss")
    ax.legend(fontsize=6)
    ax = axes[2]
    lat_arms = ["base", "base_examples", "rare_no_examples", "rare"]
    ax.bar(range(len(lat_arms)), [latency(result, a) for a in lat_arms], color=[color[a] for a in lat_arms])
    for i, a in enumerate(lat_arms):
        ax.text(i, latency(result, a), f"{tokens(result, a):.0f} tok", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(lat_arms)))
    ax.set_xticklabels(["base", "base+ex", "RARe\nno ex", "RARe"], fontsize=7)
    ax.set_ylabel("query encoding time (ms / query, batched)")
    ax.set_title("the cost: query latency (tokens encoded)")
    fig.tight_layout()
    return [save_figure(fig, outdir / "rare_ndcg.png")]
