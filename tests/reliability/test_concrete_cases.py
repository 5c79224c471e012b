"""The concrete cases listed in issue 16, one test each (each failed before the fix)."""

import gzip

import numpy as np
import pytest

from frugalml._core.validation import ArgumentTypeError, check_bool, check_scalar
from frugalml.data import (asymmetric_label_noise, corrupt_features, gaussian_noise, load_digits,
                           load_fashion_mnist)


def test_numbers_accept_numpy_scalars_and_refuse_bools_and_strings():
    assert check_scalar(np.float32(0.5), "tau") == 0.5 and check_scalar(np.int64(4), "k", integer=True) == 4
    assert check_scalar(np.array(3.0), "tau") == 3.0
    for bad in (True, np.bool_(False), "1", None, [1.0], 1 + 1j):
        with pytest.raises(ArgumentTypeError, match="tau"):
            check_scalar(bad, "tau")
    with pytest.raises(ArgumentTypeError, match="k must be an integer"):
        check_scalar(4.0, "k", integer=True)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="tau must be a finite number"):
            check_scalar(bad, "tau")
    with pytest.raises(TypeError, match="exact_step must be True or False"):
        check_bool("no", "exact_step")
    assert isinstance(ArgumentTypeError("x"), ValueError)


def test_asymmetric_noise_on_a_single_class_is_refused():
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        asymmetric_label_noise(np.zeros(10, int), 0.3, random_state=0)
    y_noisy, idx = asymmetric_label_noise(np.zeros(10, int), 0.3, n_classes=2, random_state=0)
    assert idx.size == 3 and np.all(y_noisy[idx] == 1)  # every reported flip is a real change


def test_gaussian_noise_refuses_nan_std():
    with pytest.raises(ValueError, match="std must be a finite number"):
        gaussian_noise(np.zeros((2, 4, 4)), std=np.nan)


def test_corrupt_features_on_uint8_keeps_the_scale():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 16)).astype(np.uint8)
    out, idx = corrupt_features(X, (4, 4), 0.5, kind="gaussian_noise", random_state=0)
    assert out.dtype == np.uint8 and idx.size == 20
    clean = np.setdiff1d(np.arange(40), idx)
    np.testing.assert_array_equal(out[clean], X[clean])
    assert out[idx].max() > 200  # corrupted rows stay on 0..255, not clipped to [0, 1]
    with pytest.raises(ValueError, match=r"X must hold pixel values in \[0, 1\]"):
        corrupt_features(X.astype(float), (4, 4), 0.5)


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, dtype=">i4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_load_fashion_mnist_count_mismatch_and_no_silent_fallback(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
    with pytest.raises(ValueError, match="holds 5 images but .* 3 labels"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory"):
        load_fashion_mnist(tmp_path / "missing")  # not the Debian copy instead
    with pytest.raises(ValueError, match="n_train"):
        load_fashion_mnist(tmp_path, n_train=0)


@pytest.mark.parametrize("bad", [-0.2, 0.0, 1.0, 1.5, np.nan, "0.2", True])
def test_load_digits_bad_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)


# --------------------------------------------------------------------------------------------
# Found by the property suite once it covered retrieval, SVFT, Inheritune, the corpus loaders,
# the ICL window functions and TorchOperator; each case below behaved as noted before its fix.

def _retrieval_cases(tmp):
    from frugalml.retrieval import (ExampleRetriever, VectorIndex, format_query, load_beir, recall_against_exact,
                                    save_beir, score_run)
    from frugalml.retrieval.index import encode_texts

    corpus, queries, qrels = {"d1": {"title": "", "text": "x y"}, "d2": {"title": "", "text": "z"}}, {"q1": "x"}, \
        {"q1": {"d1": 1}}
    save_beir(tmp, corpus, queries, qrels)
    eye = np.eye(4)

    class Encoder:  # stands in for a sentence-transformers model
        def encode(self, texts, **kw):
            return np.ones((len(texts), 2))

    return [
        # a path, read outside the folder
        (lambda: load_beir(tmp, "../qrels/test"), ValueError, "split must be a file name"),
        # DataNotFoundError for qrels/None.tsv
        (lambda: load_beir(tmp, None), TypeError, "split must be a str"),
        # a FileNotFoundError only; now also a ValueError naming split and the splits present
        (lambda: load_beir(tmp, "dev"), ValueError, r"split='dev'.*splits in this folder: test"),
        # "no" taken as True
        (lambda: save_beir(tmp, corpus, queries, qrels, append_queries="no"), TypeError, "append_queries"),
        # AttributeError 'list' object has no attribute 'items'
        (lambda: save_beir(tmp, corpus, queries, [("q1", "d1")]), TypeError, "qrels must be a dict"),
        # block_rows=-1 returned uninitialised memory as scores; 0 a bare range() error
        (lambda: VectorIndex(block_rows=-1).fit(eye), ValueError, "block_rows must be >= 1"),
        (lambda: VectorIndex(block_rows=0).fit(eye), ValueError, "block_rows must be >= 1"),
        # inf scores (float32 overflow)
        (lambda: VectorIndex().fit(eye * 1e30), ValueError, "rescale embeddings"),
        (lambda: VectorIndex().fit(eye).search(eye * 1e30, 2), ValueError, "rescale queries"),
        # NaN; strings gave 0.5; 1-D an IndexError
        (lambda: recall_against_exact(np.zeros((0, 3), int), np.zeros((0, 3), int)), ValueError, "approx_ids"),
        (lambda: recall_against_exact(np.full((2, 2), "a"), np.full((2, 2), "a")), ValueError, "approx_ids"),
        (lambda: recall_against_exact(np.arange(3)[None], np.arange(3)), ValueError, "exact_ids must be a 2-D"),
        # empty dicts; an int: 'int' object is not iterable
        (lambda: score_run(qrels, {"q1": {"d1": 1.0}}, ()), ValueError, "k_values"),
        (lambda: score_run(qrels, {"q1": {"d1": 1.0}}, 5), ValueError, "k_values"),
        # AttributeError 'int' object has no attribute 'strip' / 'split'
        (lambda: ExampleRetriever([1, 2, 3], ["a", "b", "c"], k=1, method="random"), ValueError, "pool_queries"),
        (lambda: format_query("q", [("q", 3)], max_example_words=2), ValueError, "pair of str"),
        # "no" taken as True
        (lambda: encode_texts(Encoder(), ["a"], normalize="no"), TypeError, "normalize must be True or False"),
    ]


def test_retrieval_bad_inputs_are_refused_by_name(tmp_path):
    for call, exc, match in _retrieval_cases(tmp_path):
        with pytest.raises(exc, match=match):
            call()


def test_load_beir_missing_split_is_still_a_data_not_found_error(tmp_path):
    from frugalml.data import DataNotFoundError
    from frugalml.retrieval import load_beir, save_beir

    save_beir(tmp_path, {"d1": {"text": "x"}}, {"q1": "x"}, {"q1": {"d1": 1}})
    with pytest.raises(DataNotFoundError, match="dev.tsv"):  # callers catching the old type keep working
        load_beir(tmp_path, "dev")


def _net():
    import torch

    return torch.nn.Sequential(torch.nn.Linear(4, 4))


@pytest.mark.parametrize("field,value,exc,match", [
    ("seed", float("nan"), TypeError, "seed must be an integer"),      # "cannot convert float NaN to integer"
    ("seed", "abc", TypeError, "seed must be an integer"),             # "invalid literal for int()"
    ("seed", 1.5, TypeError, "seed must be an integer"),               # accepted, stored as 1.5
    ("seed", -1, ValueError, "seed must be"),
    ("off_diag", True, TypeError, "off_diag must be an integer, not a bool"),  # accepted as 1
    ("n_random", 2.0, TypeError, "n_random must be an integer"),
])
def test_svft_config_numbers_are_checked(field, value, exc, match):
    from frugalml.finetune.svft import SVFTConfig, apply_svft

    pattern = "random" if field == "n_random" else "banded"
    with pytest.raises(exc, match=match):
        apply_svft(_net(), SVFTConfig(target_modules=["0"], pattern=pattern, **{field: value}))


def test_svft_config_takes_numpy_integers_and_stays_json_serialisable(tmp_path):
    from frugalml.finetune.svft import SVFTConfig, apply_svft, save_svft

    # np.int64(1) was refused ("off_diag must be an int >= 0")
    model = apply_svft(_net(), SVFTConfig(target_modules=["0"], pattern="banded", off_diag=np.int64(1),
                                          seed=np.int64(3)))
    assert type(model.svft_config.off_diag) is int and type(model.svft_config.seed) is int
    save_svft(model, tmp_path)  # json.dumps of the config


def test_inheritune_bad_inputs_are_refused_by_name():
    from specs import _tiny_lm2

    from frugalml.finetune import attention_rank_profile, energy_rank, inherit, inheritune

    model, blocks = _tiny_lm2()
    ids = blocks[0]["input_ids"][None]
    with pytest.raises(TypeError, match="copy_embeddings"):        # "no" taken as True
        inherit(model, 1, copy_embeddings="no")
    with pytest.raises(ValueError, match="max_sequences must be >= 1"):  # -1: silently one sequence
        attention_rank_profile(model, [ids, ids], max_sequences=-1)
    with pytest.raises(TypeError, match="max_sequences"):          # "'>=' not supported ... 'str'"
        attention_rank_profile(model, [ids], max_sequences="abc")
    with pytest.raises(ValueError, match="attention contains"):    # a LinAlgError from inside the SVD
        energy_rank(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="attention"):             # torch: can't convert np.ndarray of type object
        energy_rank(np.array([["a", "b"], ["c", "d"]]))
    kw = dict(start_layers=1, max_rounds=1, steps_per_round=1, batch_size=4)
    with pytest.raises(ValueError, match="reference_loss must be a finite number"):  # NaN: never matched, silently
        inheritune(model, blocks, blocks, reference_loss=float("nan"), **kw)
    with pytest.raises(TypeError, match="tolerance"):              # "unsupported operand type(s) for +"
        inheritune(model, blocks, blocks, reference_loss=0.0, tolerance="abc", **kw)


def test_text_corpus_budgets_are_checked(tmp_path):
    from frugalml.lm import load_corpus, load_text_files

    files = []
    for i in range(4):
        files.append(tmp_path / f"t{i}.txt")
        files[-1].write_text("some text " * 20)
    with pytest.raises(ValueError, match="max_train_chars must be >= 1"):  # -5: an empty train split
        load_text_files(files, max_train_chars=-5)
    with pytest.raises(TypeError, match="max_train_chars must be an integer"):  # nan: no budget at all
        load_text_files(files, max_train_chars=float("nan"))
    with pytest.raises(ValueError, match="paths must be a list"):  # 'abc.txt' read as files 'a', 'b', 'c'
        load_text_files("abc.txt")
    with pytest.raises(ValueError, match="validation_fraction"):   # checked before listing the stdlib
        load_corpus("python_stdlib", validation_fraction=1.5)
    with pytest.raises(ValueError, match="name must be one of"):
        load_corpus("wiki")
    # np.float32(0.3) was refused
    assert load_text_files(files, validation_fraction=np.float32(0.3)).n_chars() == \
        load_text_files(files, validation_fraction=0.3).n_chars()


def test_icl_window_functions_refuse_bad_arrays_by_name():
    from frugalml import icl

    tasks = icl.CosineTasks(d=2)
    with pytest.raises(ValueError, match="M contains"):              # returned nan
        icl.subspace_concentration(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.eye(2))
    with pytest.raises(TypeError, match="M must hold numbers"):     # torch conversion error
        icl.subspace_concentration(np.full((2, 2), "a"), np.eye(2))
    with pytest.raises(TypeError, match="w must be a numeric array"):  # "could not convert string to float"
        icl.window_risk("abc", tasks, 5, n_contexts=10)
    with pytest.raises(TypeError, match="bounds"):                   # "'<' not supported ... 'complex'"
        icl.optimal_window(tasks, 5, n_contexts=10, bounds=(1 + 1j, 10))
    with pytest.raises(TypeError, match="bounds"):                   # "object of type 'NoneType' has no len()"
        icl.optimal_window(tasks, 5, n_contexts=10, bounds=None)


def test_torch_operator_refuses_bad_points_by_name():
    from frugalml.minimax import TorchOperator

    op = TorchOperator(lambda x, y: (x ** 2).sum() + x.sum() * y.sum() - (y ** 2).sum(), n_x=2)
    with pytest.raises(TypeError, match="z must be real-valued"):    # the imaginary part was dropped
        op.F(np.ones(4) + 1j)
    with pytest.raises(ValueError, match="z has 1 entries"):         # x silently truncated
        op.F(np.ones(1))
    with pytest.raises(ValueError, match="u has 3 entries; z has 4"):  # a RuntimeError from torch.func
        op.jvp(np.ones(4), np.ones(3))
    with pytest.raises(TypeError, match="z holds None"):              # None became NaN
        op.F(np.array([None, 1.0, 1.0, 1.0], dtype=object))
    assert np.isnan(op.F(np.array([np.nan, 1.0, 1.0, 1.0]))).any()   # NaN in, NaN out: the solvers' status 3
