"""RARe: retrievers fine-tuned to use in-context examples (Tejaswi et al., COLM 2025).

Claim -> data -> fit -> figure:

1. Tasks built offline with known relevance (:mod:`frugalml.retrieval.tasks`): *training
   tasks* (their train split trains the retriever; their test split is the in-domain test)
   and *held-out tasks* (never trained on; their train split is only the example pool).
   Real tasks: WordNet reverse dictionary and WordNet verb usage (Debian ``wordnet-base``),
   CPython code search, GSM problem -> solution (``reasoning-gym``). Synthetic: coded
   attributes, where the query words are a task-specific code that only examples decode --
   the gain there is large **by construction** and is reported apart from the real tasks.
2. Base retriever: the shipped all-MiniLM-L6-v2, its queries mean-pooled over the target
   query's tokens only (:mod:`frugalml.retrieval.pooling`; ``pooling="mean"`` pools every
   token): the paper's retrievers (E5-Mistral's last token, LLM2Vec without the instruction)
   let examples in only through attention. To fit the CPU budget only its top
   ``train_layers`` transformer layers are trained, for ``steps`` steps, with short queries
   (example documents cut to ``max_example_words`` words, ``max_seq_length`` tokens).
3. Arms (nDCG@10 on each task's test split): BM25; base (instruction-only query); base with
   k BM25-retrieved examples at inference only; instruction-only fine-tune; RARe (70% of
   training queries with k examples); RARe with random examples (trained and evaluated);
   RARe evaluated without examples; plus query latency with and without examples.
4. Seeds: the tasks are fixed by ``seed``; each training seed redraws the examples' 70/30
   split, batch order and hard-negative ties. Comparisons use per-query paired differences
   (averaged over seeds) with a two-standard-error margin.
"""

from __future__ import annotations

import copy
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
REAL_HELDOUT = ["wordnet_usage", "gsm_solutions"]
SCALES = {
    "smoke": dict(train=["coded_people"], heldout=["coded_products"], synthetic=[], n_train=48, n_test=12,
                  k=2, steps=3, batch_size=8, lr=1e-4, train_layers=1, max_seq_length=64, max_example_words=12,
                  seeds=1, pooling="query"),
    "default": dict(train=REAL_TRAIN + ["coded_people"], heldout=REAL_HELDOUT + ["coded_products"],
                    synthetic=["coded_people", "coded_products"], n_train=200, n_test=50, k=3, steps=40,
                    batch_size=16, lr=1e-4, train_layers=2, max_seq_length=128, max_example_words=20, seeds=2,
                    pooling="query"),
    "paper": dict(train=REAL_TRAIN + ["coded_people"], heldout=REAL_HELDOUT + ["coded_products"],
                  synthetic=["coded_people", "coded_products"], n_train=1000, n_test=200, k=5, steps=600,
                  batch_size=64, lr=2e-5, train_layers=None, max_seq_length=512, max_example_words=None, seeds=3,
                  pooling="query"),
}
MARGIN_SE = 2.0
ARMS = ["bm25", "base_plain", "base", "base_examples", "instruct_ft", "instruct_ft_examples", "rare",
        "rare_no_examples", "rare_random"]
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
            "query_ms": ev["query_ms"], "example_ms": ev["example_ms"], "query_tokens": ev["query_tokens"],
            "per_query_ndcg@10": [ev.per_query["ndcg@10"][q] for q in qids]}


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


def run(scale: str = "default", seed: int = 0) -> dict:
    from frugalml._core import progress
    from frugalml.retrieval import bm25_search, build_task, load_base_model, score_run, train_rare

    _check_scale(scale)
    cfg = SCALES[scale]
    t_start = time.perf_counter()
    names = cfg["train"] + [n for n in cfg["heldout"] if n not in cfg["train"]]
    tasks = {n: build_task(n, cfg["n_train"], cfg["n_test"], random_state=seed * 1000 + i)
             for i, n in enumerate(names)}
    base = load_base_model(max_seq_length=cfg["max_seq_length"])
    if cfg.get("pooling", "mean") == "query":  # every arm: queries pooled over their target query's tokens
        from frugalml.retrieval.pooling import use_query_pooling

        use_query_pooling(base)
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
    for s in progress(range(cfg["seeds"]), desc="rare seeds"):
        tseed = seed * 100 + s
        common = dict(k=cfg["k"], max_steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                      train_layers=cfg["train_layers"], max_example_words=cfg["max_example_words"])
        models, embs, info = {}, {}, {}
        for arm, kw in (("instruct_ft", dict(example_fraction=0.0)), ("rare", dict(example_fraction=0.7)),
                        ("rare_random", dict(example_fraction=0.7, method="random"))):
            m = copy.deepcopy(base)
            res = train_rare(m, train_tasks, random_state=tseed, **common, **kw)
            embs[arm] = _encode_corpora(m, tasks)
            models[arm] = m
            info[arm] = {"steps": res.steps, "seconds": res.seconds, "loss_first": res.loss_history[0],
                         "loss_last": float(np.mean(res.loss_history[-3:])), "n_trainable": res.n_trainable,
                         "with_examples_fraction": res.with_examples_fraction}
        rand_ex = _retrievers(tasks, cfg["k"], "random", np.random.default_rng(tseed))
        for n, t in tasks.items():
            got = dict(once[n])
            got["instruct_ft"] = _evaluate(models["instruct_ft"], t, cfg, None, embs["instruct_ft"])
            got["instruct_ft_examples"] = _evaluate(models["instruct_ft"], t, cfg, bm25_ex[n], embs["instruct_ft"])
            got["rare"] = _evaluate(models["rare"], t, cfg, bm25_ex[n], embs["rare"])
            got["rare_no_examples"] = _evaluate(models["rare"], t, cfg, None, embs["rare"])
            got["rare_random"] = _evaluate(models["rare_random"], t, cfg, rand_ex[n], embs["rare_random"])
            for arm in ARMS:
                per_task[n][arm].append(got[arm])
        runs.append({"seed": tseed, "training": info})
    return {"config": {**cfg, "scale": scale, "seed": seed}, "n_params": n_params, "tasks": names,
            "task_sizes": {n: {"corpus": len(t.corpus), "train": len(t.queries["train"]),
                               "test": len(t.queries["test"])} for n, t in tasks.items()},
            "instructions": {n: t.instruction for n, t in tasks.items()},
            "results": per_task, "runs": runs, "seconds": time.perf_counter() - t_start}


# ----------------------------------------------------------------------------- statistics
def _per_query(result, task, arm):
    """(n_queries,) nDCG@10 averaged over seeds."""
    return np.mean([np.asarray(r["per_query_ndcg@10"]) for r in result["results"][task][arm]], axis=0)


def _groups(result):
    cfg = result["config"]
    syn = set(cfg.get("synthetic", []))
    train = [n for n in cfg["train"] if n not in syn]
    held = [n for n in cfg["heldout"] if n not in syn]
    if not held:  # smoke: synthetic tasks only
        train, held = list(cfg["train"]), list(cfg["heldout"])
    return train, held, [n for n in result["tasks"] if n in syn]


def paired(result, tasks, a, b):
    """Mean of arm ``a`` minus arm ``b`` over the queries of ``tasks`` (seed-averaged) and its SE."""
    d = np.concatenate([_per_query(result, t, a) - _per_query(result, t, b) for t in tasks])
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("inf")
    return float(d.mean()), se


def average(result, tasks, arm, metric="ndcg@10"):
    """Macro average over tasks and seeds."""
    return float(np.mean([np.mean([r[metric] for r in result["results"][t][arm]]) for t in tasks]))


def seed_gaps(result, tasks, a, b):
    n = len(result["runs"])
    return [float(np.mean([result["results"][t][a][s]["ndcg@10"] - result["results"][t][b][s]["ndcg@10"]
                           for t in tasks])) for s in range(n)]


def latency(result, arm):
    return float(np.mean([r["query_ms"] for t in result["tasks"] for r in result["results"][t][arm]]))


def tokens(result, arm):
    return float(np.mean([r["query_tokens"] for t in result["tasks"] for r in result["results"][t][arm]]))


def check(result: dict) -> dict:
    from frugalml.repro.verdict import claim, verdict

    train, held, syn = _groups(result)

    def gap(tasks, a, b):
        m, se = paired(result, tasks, a, b)
        return m, se, f"{m:+.3f} ± {se:.3f} (SE over {len(tasks)} task(s)' queries; per seed " + \
            ", ".join(f"{g:+.3f}" for g in seed_gaps(result, tasks, a, b)) + ")"

    both = train + held
    ex_m, ex_se, ex_s = gap(both, "base_examples", "base")
    ri_m, ri_se, ri_s = gap(held, "rare", "instruct_ft")
    rb_m, rb_se, rb_s = gap(held, "rare", "base_examples")
    rr_m, rr_se, rr_s = gap(held, "rare", "rare_random")
    in_m, in_se, in_s = gap(train, "rare", "instruct_ft")
    ood_se = float(np.hypot(ri_se, in_se))
    lat_ex, lat_no = latency(result, "rare"), latency(result, "rare_no_examples")
    tok_ex, tok_no = tokens(result, "rare"), tokens(result, "rare_no_examples")
    claims = [
        claim("Examples at inference only do not help the off-the-shelf retriever (base + examples not above base "
              f"by 2 SE; tasks {', '.join(both)})", ex_m <= MARGIN_SE * ex_se,
              f"nDCG@10 base + examples - base: {ex_s}", paper="usually hurts (Table 3)"),
        claim(f"RARe beats the instruction-only fine-tune on held-out tasks ({', '.join(held)}) by > 2 SE",
              ri_m > MARGIN_SE * ri_se, f"nDCG@10 RARe - instruct FT: {ri_s}",
              paper="+1.3 (BEIR), +1.7 (RAR-b) nDCG@10"),
        claim("RARe beats examples-at-inference-only on held-out tasks by > 2 SE", rb_m > MARGIN_SE * rb_se,
              f"nDCG@10 RARe - (base + examples): {rb_s}", paper="RARe > base with examples"),
        claim("Retrieved examples beat random ones (RARe vs RARe trained and evaluated with random examples, "
              "held-out tasks, > 2 SE)", rr_m > MARGIN_SE * rr_se, f"nDCG@10 RARe - RARe random: {rr_s}",
              paper="retrieved > random (Table 5)"),
        claim("The gain over instruction-only fine-tuning is positive on held-out tasks and larger there than "
              "in-domain (both > 2 SE)",
              ri_m > MARGIN_SE * ri_se and ri_m - in_m > MARGIN_SE * ood_se,
              f"held-out gain {ri_m:+.3f}, in-domain gain {in_m:+.3f} ({in_s}); difference {ri_m - in_m:+.3f} ± "
              f"{ood_se:.3f}", paper="stronger out-of-domain gains"),
        claim("Examples cost query latency (RARe query encoding slower with examples than without)",
              lat_ex > lat_no, f"{lat_ex:.2f} vs {lat_no:.2f} ms per query (x{lat_ex / max(lat_no, 1e-9):.1f}); "
                               f"{tok_ex:.0f} vs {tok_no:.0f} tokens", paper="up to 40x (E5-Mistral, k=5)"),
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
    for t in result["tasks"]:
        table.append({"setting": f"task {t}: nDCG@10 " + " / ".join(ARMS), "paper": "",
                      "ours": " / ".join(f"{average(result, [t], a):.3f}" for a in ARMS)})
    if syn:
        sm, sse = paired(result, syn, "rare", "instruct_ft")
        table.append({"setting": "synthetic: RARe - instruct FT (large by construction, beyond the paper)",
                      "paper": "", "ours": f"{sm:+.3f} ± {sse:.3f}"})
    nm, nse = paired(result, held, "rare_no_examples", "instruct_ft")
    table.append({"setting": "held-out: RARe without examples - instruct FT (no collapse)", "paper": "about 0",
                  "ours": f"{nm:+.3f} ± {nse:.3f}"})
    tr = result["runs"][0]["training"]
    table.append({"setting": "query latency, RARe with / without examples (ms per query, batched)",
                  "paper": "up to 40x", "ours": f"{lat_ex:.2f} / {lat_no:.2f} (x{lat_ex / max(lat_no, 1e-9):.1f})"})
    table.append({"setting": "mechanism: training queries with examples (RARe / instruct FT)", "paper": "70% / 0%",
                  "ours": f"{tr['rare']['with_examples_fraction']:.0%} / {tr['instruct_ft']['with_examples_fraction']:.0%}"})
    cfg = result["config"]
    pooled = "the target query's tokens only" if cfg.get("pooling", "mean") == "query" else "all tokens"
    note = (f"CPU scale: all-MiniLM-L6-v2 ({result['n_params'] / 1e6:.1f}M parameters; paper: E5-Mistral-7B), only "
            f"the top {cfg['train_layers']} of 6 layers trained for {cfg['steps']} steps of {cfg['batch_size']} "
            f"(lr {cfg['lr']}, InfoNCE scale 20, one BM25 hard negative), queries pooled over {pooled}, "
            f"k={cfg['k']} examples with documents cut "
            f"to {cfg['max_example_words']} words, queries cut at {cfg['max_seq_length']} tokens; "
            f"{len(result['runs'])} training seed(s); {cfg['n_train']} pool/training and {cfg['n_test']} test "
            "queries per task built offline (WordNet, CPython, reasoning-gym, synthetic). The verdict gates on the "
            "real tasks; the synthetic coded tasks (decodable only through examples) are reported apart.")
    return verdict(claims, table, note)


# ----------------------------------------------------------------------------- figure
def plot(result: dict, outdir) -> list:
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    outdir = Path(outdir)
    train, held, syn = _groups(result)
    groups = [("in-domain", train), ("held-out", held)] + ([("synthetic (by construction)", syn)] if syn else [])
    arms = [a for a in ARMS if a != "instruct_ft_examples"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 1.2]})
    ax = axes[0]
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [average(result, tasks, arm) for _, tasks in groups]
        errs = [np.std([np.mean([result["results"][t][arm][s]["ndcg@10"] for t in tasks])
                        for s in range(len(result["runs"]))]) for _, tasks in groups]
        ax.bar(np.arange(len(groups)) + (i - len(arms) / 2 + 0.5) * width, vals, width, yerr=errs, capsize=2,
               label=ARM_LABELS[arm], color=f"C{i}")
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([f"{g}\n({', '.join(t)})" for g, t in groups], fontsize=7)
    ax.set_ylabel("nDCG@10 (mean over tasks; bar: std over seeds)")
    ax.set_title("RARe at CPU scale: retrieval quality per arm")
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    lat_arms = ["base", "base_examples", "rare_no_examples", "rare"]
    ax.bar(range(len(lat_arms)), [latency(result, a) for a in lat_arms], color=["C2", "C3", "C7", "C6"])
    ax.set_xticks(range(len(lat_arms)))
    ax.set_xticklabels(["base", "base+ex", "RARe\nno ex", "RARe"], fontsize=7)
    ax.set_ylabel("query encoding time (ms / query, batched)")
    ax.set_title("the cost: query latency")
    fig.tight_layout()
    return [save_figure(fig, outdir / "rare_ndcg.png")]
