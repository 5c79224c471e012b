import pytest

from frugalml.data import DataNotFoundError
from frugalml.lm import load_corpus, load_gsm_task, load_text_files, synthetic_arithmetic_task, train_tokenizer
from frugalml.lm.corpora import python_stdlib_files


def test_tokenizer_round_trips_any_text_and_saves(tmp_path):
    from transformers import AutoTokenizer

    tok = train_tokenizer(["the quick brown fox jumps over the lazy dog. " * 30], vocab_size=300)
    assert len(tok) <= 300
    text = "Ünïcode ✓ text never seen: 12 + 30 = 42\n\tdef f(): pass"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text  # byte-level BPE: no unknown token
    assert len(tok("the quick brown fox")["input_ids"]) < len("the quick brown fox")  # merges learned
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(text, add_special_tokens=False)["input_ids"] == ids


@pytest.mark.parametrize("bad", [100, 257, "big"])
def test_tokenizer_bad_vocab(bad):
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["abc"], vocab_size=bad)


def test_stdlib_corpus_splits_by_file_without_overlap():
    c = load_corpus("python_stdlib", max_train_chars=50_000, max_validation_chars=20_000, random_state=1)
    assert sum(map(len, c.train)) == 50_000 and sum(map(len, c.validation)) == 20_000
    assert not set(c.train_ids) & set(c.validation_ids)
    # the split is a property of the file, not of the seed or the budget
    d = load_corpus("python_stdlib", max_train_chars=80_000, max_validation_chars=30_000, random_state=7)
    assert not set(c.train_ids) & set(d.validation_ids) and not set(d.train_ids) & set(c.validation_ids)
    root, files = python_stdlib_files()
    rel = {str(f.relative_to(root)) for f in files}
    assert not any(r.startswith(("test/", "site-packages/")) for r in rel)


def test_text_files_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        load_text_files([tmp_path / "missing.txt"])
    with pytest.raises(ValueError, match="name must be"):
        load_corpus("wikipedia")


def test_gsm_task_is_gsm8k_format_and_disjoint():
    task = load_gsm_task(20, 10, random_state=0)
    assert len(task.train_prompts) == 20 and len(task.validation_prompts) == 10
    assert not set(task.train_prompts) & set(task.validation_prompts)
    assert all(p.startswith("Question: ") and p.endswith("Answer: ") for p in task.train_prompts)
    assert all("\n#### " in r for r in task.train_responses)


def test_synthetic_arithmetic_is_correct():
    task = synthetic_arithmetic_task(30, 10, random_state=0)
    for p, r in zip(task.train_prompts, task.train_responses):
        a, b = (int(x) for x in p.split("What is ")[1].split("?")[0].split(" + "))
        assert r.endswith(f"#### {a + b}")
    assert not set(task.train_prompts) & set(task.validation_prompts)


def test_synthetic_arithmetic_python_style():
    task = synthetic_arithmetic_task(5, 2, random_state=1, style="python")
    for p, r in zip(task.train_prompts, task.train_responses):
        a, b = (int(x) for x in p.split("What is ")[1].split("?")[0].split(" + "))
        scope = {}
        exec(r.replace("print(result)", "pass"), scope)  # the response is a runnable program
        assert scope["result"] == a + b and r.rstrip().endswith(f"# {a + b}")
    with pytest.raises(ValueError, match="style"):
        synthetic_arithmetic_task(2, 1, style="latex")
