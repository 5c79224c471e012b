"""Retrieval tasks built offline from shipped text, with known relevance, in BEIR shape.

Each builder returns a :class:`RetrievalTask`: one corpus, a ``train`` split of queries (the
example pool, and training data for the tasks a retriever is trained on) and a disjoint
``test`` split. The tasks, by the source they come from:

- :func:`wordnet_definitions` -- reverse dictionary on WordNet nouns (Debian ``wordnet-base``):
  query = a gloss with the word removed, document = the word's entry (its lemmas and
  hypernym).
- :func:`wordnet_usage` -- WordNet verbs: query = a usage example with the verb blanked out,
  document = the verb's entry (lemmas and gloss).
- :func:`code_search` -- CPython standard library: query = a docstring's first line,
  document = the function's code without its docstring.
- :func:`gsm_solutions` -- GSM8K-style problems from ``reasoning-gym``'s ``gsm_symbolic``
  templates: query = a problem, document = its worked solution (siblings from the same
  template, other numbers, are the distractors).
- :func:`coded_attributes` -- synthetic: query = two attribute values written in a
  task-specific code (random pseudo-words), document = an entity card in plain words. Without
  examples the code is unreadable; an example whose query shares a code word carries the
  plain word in its document. Any gain here is large *by construction*.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path


from frugalml._core import check_positive, check_random_state
from frugalml.data import DataNotFoundError
from frugalml.retrieval.beir import document_text, load_beir, save_beir

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_HINT = "install it with `sudo apt-get install wordnet-base` (or pass root=... to a WordNet 3.0 dict folder)"


@dataclass
class RetrievalTask:
    """One retrieval task: a corpus and two disjoint query splits.

    Attributes
    ----------
    name, instruction : str
        The task's name and the instruction written before its queries.
    corpus : dict
        ``{docid: {"title": str, "text": str}}`` shared by both splits.
    queries, qrels : dict
        ``{"train": {qid: text}, "test": {...}}`` and ``{"train": {qid: {docid: grade}}, ...}``.
    """

    name: str
    instruction: str
    corpus: dict
    queries: dict
    qrels: dict
    meta: dict = field(default_factory=dict)

    def pool(self, split: str = "train"):
        """The example pool of a split: ``(qids, queries, documents)``, each query with its
        top-graded positive document (``title + " " + text``)."""
        qids, qs, ds = [], [], []
        for qid, text in self.queries[split].items():
            rels = self.qrels[split].get(qid, {})
            if not rels:
                continue
            best = max(rels.items(), key=lambda kv: (kv[1], kv[0]))[0]
            qids.append(qid)
            qs.append(text)
            ds.append(document_text(self.corpus[best]))
        return qids, qs, ds

    def pool_share(self, split: str = "train") -> float:
        """Share of the corpus that is the example pool's documents (in BEIR a small share)."""
        qids = self.pool(split)[0]
        docs = {max(self.qrels[split][q].items(), key=lambda kv: (kv[1], kv[0]))[0] for q in qids}
        return len(docs) / max(len(self.corpus), 1)

    def save(self, folder) -> Path:
        """Write the task as a BEIR folder (``qrels/train.tsv`` and ``qrels/test.tsv``)."""
        folder = Path(folder)
        save_beir(folder, self.corpus, self.queries["train"], self.qrels["train"], "train")
        save_beir(folder, self.corpus, self.queries["test"], self.qrels["test"], "test", append_queries=True)
        (folder / "instruction.txt").write_text(self.instruction + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder, name: str | None = None, instruction: str | None = None) -> "RetrievalTask":
        """Read a task written by :meth:`save` (or any BEIR folder with train and test qrels)."""
        folder = Path(folder)
        tr, te = load_beir(folder, "train"), load_beir(folder, "test")
        if instruction is None:
            f = folder / "instruction.txt"
            instruction = f.read_text(encoding="utf-8").strip() if f.is_file() else ""
        return cls(name or folder.name, instruction, tr.corpus, {"train": tr.queries, "test": te.queries},
                   {"train": tr.qrels, "test": te.qrels})


def _distractors(docs, n, rng, what):
    """``n`` documents drawn from ``docs`` (the unused rest of a source), in random order."""
    n = check_positive(n, "n_distractors", strict=False, integer=True)
    if n > len(docs):
        raise ValueError(f"{what}: only {len(docs)} unused documents for n_distractors = {n}")
    return [docs[i] for i in rng.permutation(len(docs))[:n]]


def _split(items, n_train, n_test, rng, what):
    check_positive(n_train, "n_train", integer=True)
    check_positive(n_test, "n_test", integer=True)
    if len(items) < n_train + n_test:
        raise ValueError(f"{what}: only {len(items)} usable items for n_train + n_test = {n_train + n_test}")
    idx = rng.permutation(len(items))
    return [items[i] for i in idx[:n_train]], [items[i] for i in idx[n_train:n_train + n_test]]


def _task(name, instruction, train, test, extra_docs=(), meta=None):
    """``train``/``test``: lists of (query, doc dict); queries are unique, each doc relevant to its query."""
    corpus, queries, qrels = {}, {"train": {}, "test": {}}, {"train": {}, "test": {}}
    for split, items in (("train", train), ("test", test)):
        for i, (q, doc) in enumerate(items):
            did = f"{split[:2]}-d{i}"
            corpus[did] = doc
            queries[split][f"{split[:2]}-q{i}"] = q
            qrels[split][f"{split[:2]}-q{i}"] = {did: 1}
    judged = {document_text(d) for d in corpus.values()}
    n = 0
    for doc in extra_docs:  # unjudged distractors; one identical to a judged document would be a hidden positive
        text = document_text(doc)
        if text not in judged:
            judged.add(text)
            corpus[f"x-d{n}"] = doc
            n += 1
    return RetrievalTask(name, instruction, corpus, queries, qrels, meta or {})


# ----------------------------------------------------------------------------- WordNet
def _wordnet_synsets(pos: str, root=None):
    """Parse ``data.<pos>``: (lemmas, hypernym offsets, definition, examples, offset) per synset."""
    path = Path(root or WORDNET_DIR) / f"data.{pos}"
    if not path.is_file():
        raise DataNotFoundError(f"WordNet file {path} not found; {WORDNET_HINT}")
    out = {}
    with open(path, encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("  "):
                continue  # licence header
            head, _, gloss = line.partition(" | ")
            f = head.split()
            n_words = int(f[3], 16)
            lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            lemmas = [re.sub(r"\([a-z]+\)$", "", w) for w in lemmas]  # adjective markers like (a)
            p = 4 + 2 * n_words
            n_ptr = int(f[p])
            hyper = [f[p + 1 + 4 * i + 1] for i in range(n_ptr) if f[p + 1 + 4 * i] in ("@", "@i")]
            parts = [s.strip() for s in gloss.strip().split(";")]
            examples = [s.strip('"').strip() for s in parts if s.startswith('"')]
            definition = "; ".join(s for s in parts if not s.startswith('"')).strip()
            out[f[0]] = (lemmas, hyper, definition, examples)
    return out


def _strip_words(text, words):
    for w in sorted(words, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(w)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip(" ,;")


def wordnet_definitions(n_train: int = 400, n_test: int = 100, *, random_state=0, root=None,
                        n_distractors: int = 0) -> RetrievalTask:
    """Reverse dictionary on WordNet 3.0 nouns: gloss (word removed) -> the word's entry.

    Only synsets whose first lemma is one lower-case word, with a hypernym and a gloss of at
    least four words, are drawn. Document: ``title`` = the synset's lemmas, ``text`` =
    ``"a kind of <hypernym lemmas>"``. ``n_distractors`` more noun entries (unjudged, never a
    query's) join the corpus.
    """
    rng = check_random_state(random_state)
    syn = _wordnet_synsets("noun", root)
    cands = sorted(off for off, (lemmas, hyper, definition, _) in syn.items()
                   if re.fullmatch(r"[a-z]+", lemmas[0]) and hyper and hyper[0] in syn and len(definition.split()) >= 4)
    items, used = {}, set()
    order = rng.permutation(len(cands))
    for i in order:  # build only as many as needed (the regexes are slow)
        lemmas, hyper, definition, _ = syn[cands[i]]
        q = _strip_words(definition, lemmas)
        if len(q.split()) >= 4 and q not in items:
            items[q] = (q, {"title": ", ".join(lemmas), "text": "a kind of " + ", ".join(syn[hyper[0]][0][:3])})
            used.add(cands[i])
        if len(items) == n_train + n_test:
            break
    train, test = _split(list(items.values()), n_train, n_test, rng, "wordnet_definitions")
    rest = [{"title": ", ".join(syn[o][0]), "text": "a kind of " + ", ".join(syn[syn[o][1][0]][0][:3])}
            for o in cands if o not in used]
    return _task("wordnet_definitions", "Given a dictionary definition, retrieve the word it defines", train, test,
                 _distractors(rest, n_distractors, rng, "wordnet_definitions"),
                 meta={"source": str(Path(root or WORDNET_DIR) / "data.noun")})


def wordnet_usage(n_train: int = 400, n_test: int = 100, *, random_state=0, root=None,
                  n_distractors: int = 0) -> RetrievalTask:
    """WordNet 3.0 verbs: a usage example with the verb blanked (``___``) -> the verb's entry.

    Only examples that contain one of the synset's one-word lemmas (bare or with -s, -es,
    -ed, -d, -ing) are used, one example per synset. Document: ``title`` = the lemmas,
    ``text`` = the gloss's definition. ``n_distractors`` entries of other verbs (unjudged)
    join the corpus.
    """
    rng = check_random_state(random_state)
    syn = _wordnet_synsets("verb", root)
    items = []
    for lemmas, _, definition, examples in syn.values():
        words = [w for w in lemmas if re.fullmatch(r"[a-z]+", w)]
        if not words or not examples or len(definition.split()) < 2:
            continue
        for ex in examples:
            pat = r"\b(" + "|".join(re.escape(w) for w in words) + r")(s|es|ed|d|ing)?\b"
            if re.search(pat, ex, flags=re.IGNORECASE) and len(ex.split()) >= 4:
                q = re.sub(pat, "___", ex, count=1, flags=re.IGNORECASE)
                items.append((q, {"title": ", ".join(lemmas), "text": definition}))
                break
    items = list({q: (q, d) for q, d in items}.values())
    train, test = _split(items, n_train, n_test, rng, "wordnet_usage")
    used = {document_text(d) for _, d in train + test}
    rest = [d for d in ({"title": ", ".join(v[0]), "text": v[2]} for v in syn.values() if len(v[2].split()) >= 2)
            if document_text(d) not in used]
    return _task("wordnet_usage", "Given a sentence with a verb blanked out, retrieve the verb's dictionary entry",
                 train, test, _distractors(rest, n_distractors, rng, "wordnet_usage"),
                 meta={"source": str(Path(root or WORDNET_DIR) / "data.verb")})


# ----------------------------------------------------------------------------- code search
def _functions(path: Path, max_words: int):
    try:
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    lines, out = src.splitlines(), []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc or len(node.body) < 2:
            continue
        first = doc.strip().splitlines()[0].strip()
        if len(first.split()) < 4:
            continue
        body = lines[node.body[1].lineno - 1: node.end_lineno]  # the docstring is body[0]
        code = " ".join(" ".join(body).split()[:max_words])
        args = ", ".join(a.arg for a in node.args.args)
        out.append((first, {"title": f"def {node.name}({args}):", "text": code}))
    return out


def _stdlib_functions(root, pattern, max_code_words):
    """(docstring first line, code document) of every function with a unique first line."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in root.glob(pattern)
                   if not {"test", "tests", "site-packages", "idle_test"} & set(f.relative_to(root).parts[:-1]))
    if not files:
        raise DataNotFoundError(f"no .py files matching {pattern} under {root}; pass root=... (a folder of "
                                "Python sources)")
    items, seen = [], {}
    for f in files:
        for q, d in _functions(f, max_code_words):
            seen[q] = seen.get(q, 0) + 1
            items.append((q, d))
    return root, [(q, d) for q, d in items if seen[q] == 1]


def code_search(n_train: int = 400, n_test: int = 100, *, random_state=0, root=None,
                max_code_words: int = 60, n_distractors: int = 0) -> RetrievalTask:
    """Code search on the CPython standard library's top-level modules.

    Query = the first line of a function's docstring (at least four words; duplicated lines
    dropped), document = ``def name(args):`` and the body without the docstring, whitespace
    collapsed, first ``max_code_words`` words. ``n_distractors`` other functions of the same
    modules (unjudged) join the corpus.
    """
    rng = check_random_state(random_state)
    root, items = _stdlib_functions(root, "*.py", max_code_words)
    train, test = _split(items, n_train, n_test, rng, "code_search")
    used = {q for q, _ in train + test}
    rest = [d for q, d in items if q not in used]
    return _task("code_search", "Given a one-line summary, retrieve the Python function it describes", train, test,
                 _distractors(rest, n_distractors, rng, "code_search"), meta={"source": str(root)})


def code_summaries(n_train: int = 400, n_test: int = 100, *, random_state=0, root=None,
                   max_code_words: int = 30, n_distractors: int = 0) -> RetrievalTask:
    """The reverse of :func:`code_search`, on other files: a function's code -> its summary line.

    Built from the CPython standard library's *packages* (``email/``, ``json/``, ``asyncio/``,
    ...; test folders left out), so no function is shared with :func:`code_search`, which
    reads the top-level modules. Query = ``def name(args):`` and the body (first
    ``max_code_words`` words, docstring removed), document = the first line of its docstring.
    ``n_distractors`` summary lines of other functions (unjudged) join the corpus.
    """
    rng = check_random_state(random_state)
    root, items = _stdlib_functions(root, "*/*.py", max_code_words)
    pairs = {}
    for summary, code in items:
        q = f"{code['title']} {code['text']}"
        pairs.setdefault(q, (q, {"title": "", "text": summary}))
    pairs = list(pairs.values())
    train, test = _split(pairs, n_train, n_test, rng, "code_summaries")
    used = {q for q, _ in train + test}
    rest = [d for q, d in pairs if q not in used]
    return _task("code_summaries", "Given a Python function, retrieve the one-line summary of what it does", train,
                 test, _distractors(rest, n_distractors, rng, "code_summaries"), meta={"source": str(root)})


# ----------------------------------------------------------------------------- GSM
_GSM_SUFFIX = re.compile(r"\s*Give the result as your final answer\..*$", re.S)


def gsm_solutions(n_train: int = 400, n_test: int = 100, *, random_state=0, n_distractors: int = 0) -> RetrievalTask:
    """GSM8K-style problems (``reasoning-gym`` ``gsm_symbolic``): problem -> its worked solution.

    Many problems share a template (same story, other numbers), so the solutions of sibling
    problems are close distractors; only the numbers tell them apart. Lexical overlap (the
    numbers) puts BM25 and MiniLM near ceiling here (nDCG@10 ~0.95), so examples cannot help.
    ``n_distractors`` solutions of further problems (unjudged) join the corpus.
    """
    import reasoning_gym

    rng = check_random_state(random_state)
    seed = int(rng.integers(0, 2**31 - 1))
    n_distractors = check_positive(n_distractors, "n_distractors", strict=False, integer=True)
    ds = reasoning_gym.create_dataset("gsm_symbolic", size=n_train + n_test + n_distractors + 50, seed=seed)
    items = {}
    for e in ds:
        q = _GSM_SUFFIX.sub("", e["question"]).strip()
        items.setdefault(q, (q, {"title": "", "text": e["metadata"]["answer_cot"].replace("\n", " ")}))
    train, test = _split(list(items.values()), n_train, n_test, rng, "gsm_solutions")
    used = {q for q, _ in train + test}
    rest = [d for q, d in items.values() if q not in used]
    return _task("gsm_solutions", "Given a math word problem, retrieve its worked solution", train, test,
                 _distractors(rest, min(n_distractors, len(rest)), rng, "gsm_solutions"),
                 meta={"source": "reasoning_gym gsm_symbolic"})


# ----------------------------------------------------------------------------- synthetic
ATTRIBUTE_SETS = {
    "people": {
        "occupation": ["baker", "pilot", "nurse", "farmer", "lawyer", "painter", "miner", "tailor", "chef",
                       "teacher", "sailor", "plumber"],
        "city": ["Lisbon", "Oslo", "Cairo", "Lima", "Dublin", "Hanoi", "Quito", "Nairobi", "Riga", "Perth",
                 "Boston", "Madrid"],
        "pet": ["parrot", "hamster", "goldfish", "tortoise", "rabbit", "ferret", "lizard", "pony", "spider",
                "canary", "beagle", "kitten"],
        "hobby": ["chess", "fishing", "rowing", "archery", "juggling", "pottery", "cycling", "karate", "knitting",
                  "surfing", "golf", "yoga"],
    },
    "products": {
        "material": ["wood", "steel", "glass", "leather", "cotton", "marble", "bamboo", "copper", "wool",
                     "ceramic", "rubber", "silver"],
        "color": ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "pink", "brown", "grey",
                  "teal"],
        "item": ["lamp", "chair", "kettle", "wallet", "vase", "clock", "bowl", "mirror", "basket", "bench", "bottle",
                 "jacket"],
        "shape": ["round", "square", "oval", "tall", "flat", "curved", "narrow", "wide", "tiny", "huge", "hexagonal",
                  "conical"],
    },
}


def _pseudo_word(rng, syllables=(2, 3)):
    cons, vow = "bdfgklmnprstvz", "aeiou"
    n = int(rng.integers(syllables[0], syllables[1] + 1))
    return "".join(cons[rng.integers(len(cons))] + vow[rng.integers(len(vow))] for _ in range(n))


def coded_attributes(n_train: int = 400, n_test: int = 100, *, kind: str = "people", n_entities: int = 400,
                     random_state=0, n_distractors: int = 0) -> RetrievalTask:
    """Synthetic: entities with three attributes; queries name two values in a secret code.

    Every attribute value has a task-specific pseudo-word (``"baker" -> "zoka"``); a query
    is ``"<code> <code>"``, relevant = every entity card (``"Name. occupation: baker. city:
    Lisbon. pet: parrot."``) with both values (grade 1). The code is never written in a
    document, so a retriever without examples is at chance level while an example query
    that shares a code word brings a document that spells the value out: the benefit of
    examples is large here **by construction**. ``n_distractors`` adds that many entities (every
    entity is judged against every query, so these are judged too).
    """
    if kind not in ATTRIBUTE_SETS:
        raise ValueError(f"kind must be one of {sorted(ATTRIBUTE_SETS)}; got {kind!r}")
    n_entities = check_positive(n_entities, "n_entities", integer=True) + \
        check_positive(n_distractors, "n_distractors", strict=False, integer=True)
    rng = check_random_state(random_state)
    attrs = ATTRIBUTE_SETS[kind]
    names = list(attrs)
    code, used = {}, set()
    for a in names:
        for v in attrs[a]:
            w = _pseudo_word(rng)
            while w in used:
                w = _pseudo_word(rng)
            used.add(w)
            code[(a, v)] = w
    entities = []
    for _ in range(n_entities):
        vals = {a: attrs[a][rng.integers(len(attrs[a]))] for a in names}
        title = (_pseudo_word(rng, (2, 2)) + " " + _pseudo_word(rng, (2, 3))).title()
        entities.append((title, vals))
    corpus = {f"e{i}": {"title": t, "text": " ".join(f"{a}: {v}." for a, v in vals.items())}
              for i, (t, vals) in enumerate(entities)}
    # all (attribute pair, value pair) combinations that some entity has, in random order
    combos = sorted({(a, b, vals[a], vals[b]) for _, vals in entities for ai, a in enumerate(names)
                     for b in names[ai + 1:]})
    combos = [combos[i] for i in rng.permutation(len(combos))]
    if len(combos) < n_train + n_test:
        raise ValueError(f"coded_attributes: only {len(combos)} distinct queries for n_train + n_test = "
                         f"{n_train + n_test}; raise n_entities")
    queries, qrels = {"train": {}, "test": {}}, {"train": {}, "test": {}}
    for split, chunk in (("train", combos[:n_train]), ("test", combos[n_train:n_train + n_test])):
        for j, (a, b, va, vb) in enumerate(chunk):
            qid = f"{split[:2]}-q{j}"
            queries[split][qid] = f"{code[(a, va)]} {code[(b, vb)]}"
            qrels[split][qid] = {f"e{i}": 1 for i, (_, vals) in enumerate(entities) if vals[a] == va and vals[b] == vb}
    return RetrievalTask(f"coded_{kind}", f"Given two coded attribute values, retrieve the matching {kind[:-1] if kind.endswith('s') else kind}",
                         corpus, queries, qrels, {"code": {f"{a}={v}": w for (a, v), w in code.items()}})


BUILDERS = {
    "wordnet_definitions": wordnet_definitions,
    "wordnet_usage": wordnet_usage,
    "code_search": code_search,
    "code_summaries": code_summaries,
    "gsm_solutions": gsm_solutions,
    "coded_people": lambda n_train=400, n_test=100, **kw: coded_attributes(n_train, n_test, kind="people", **kw),
    "coded_products": lambda n_train=400, n_test=100, **kw: coded_attributes(n_train, n_test, kind="products", **kw),
}


def build_task(name: str, n_train: int = 400, n_test: int = 100, *, random_state=0,
               n_distractors: int = 0, **options) -> RetrievalTask:
    """Build one of :data:`BUILDERS` by name, with ``n_distractors`` unjudged documents added to its corpus.

    ``options`` go to the builder (e.g. ``max_code_words=30`` for the code tasks).
    """
    if name not in BUILDERS:
        raise ValueError(f"name must be one of {sorted(BUILDERS)}; got {name!r}")
    return BUILDERS[name](n_train, n_test, random_state=random_state, n_distractors=n_distractors, **options)


def distractors_for_share(n_train: int, n_test: int, share: float) -> int:
    """Distractors that bring the example pool (``n_train`` documents) to at most ``share`` of a corpus."""
    import math

    return max(0, math.ceil(n_train / share) - n_train - n_test)
