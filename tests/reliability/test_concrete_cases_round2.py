"""Issue 24 (reliability, second round): each case below failed (silently or unclearly) before its fix."""

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from frugalml import cli

# ------------------------------------------------------------------------------------ CLI


def _select(tmp_path, *extra):
    return cli.main(["select", "--embeddings", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"),
                     "--fraction", "0.2", *extra])


@pytest.mark.parametrize("out", ["X.npy", "y.npy", "./X.npy", "sub/../X.npy", "link.npy", "hard.npy"])
def test_select_never_overwrites_its_inputs(tmp_path, capsys, out):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.normal(size=(40, 3)))
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.npy").symlink_to(tmp_path / "X.npy")
    os.link(tmp_path / "X.npy", tmp_path / "hard.npy")
    before = {f: (tmp_path / f).read_bytes() for f in ("X.npy", "y.npy")}
    assert _select(tmp_path, "--out", str(tmp_path / out)) == 2
    err = capsys.readouterr().err
    assert "--out" in err and ("--embeddings file" in err or "--labels file" in err)
    assert {f: (tmp_path / f).read_bytes() for f in before} == before


def test_select_output_is_written_whole(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.random.default_rng(0).normal(size=(40, 3)))
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    assert _select(tmp_path, "--out", str(tmp_path / "idx.npy")) == 0
    assert np.load(tmp_path / "idx.npy").size == 8
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_reproduce_out_that_cannot_be_created_is_a_clear_error(tmp_path, capsys, where):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub" if where == "under_a_file" else "/proc/frugalml-run"
    assert cli.main(["reproduce", "gm_matching", "--scale", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "out: cannot create the folder" in err and "Traceback" not in err


def test_reproduce_out_read_only_is_a_clear_error(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes everywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    assert cli.main(["reproduce", "gm_matching", "--scale", "smoke", "--out", str(ro)]) == 2
    assert "out: cannot write in" in capsys.readouterr().err


# ------------------------------------------------------------------------------ retrieval


@pytest.mark.parametrize("method", ["ivf", "hnsw"])
def test_vector_index_never_returns_missing_ids(method):
    from frugalml.retrieval import VectorIndex, recall_against_exact

    X = np.random.default_rng(0).normal(size=(1000, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    kw = {"ef_search": 16} if method == "hnsw" else {}
    scores, ids = VectorIndex(method, **kw).fit(X).search(X[:40], k=100)  # default IVF: ~8 vectors per cell
    assert ids.min() >= 0 and ids.max() < 1000
    assert all(len(set(row)) == 100 for row in ids)
    assert np.all(np.diff(scores, axis=1) <= 1e-5) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, np.take_along_axis(X[:40] @ X.T, ids, 1), atol=1e-5)
    if method == "ivf":  # probing every cell is exhaustive: the exact answer
        _, full = VectorIndex("ivf", n_lists=8, n_probe=8).fit(X).search(X[:40], k=100)
        _, exact = VectorIndex("exact").fit(X).search(X[:40], k=100)
        assert recall_against_exact(full, exact) == 1.0


def test_ndcg_with_huge_grades_is_finite_and_right():
    from frugalml.retrieval import ndcg_at_k
    from frugalml.retrieval.metrics import dcg

    qrels = {"q": {"a": 1100, "b": 3}}
    assert ndcg_at_k(qrels, {"q": {"a": 2.0, "b": 1.0}}, 10)["q"] == pytest.approx(1.0)
    worse = ndcg_at_k(qrels, {"q": {"b": 2.0, "a": 1.0}}, 10)["q"]
    assert worse == pytest.approx(1 / math.log2(3))  # the grade-3 document is negligible next to 2**1100
    with pytest.raises(ValueError, match="gains='linear'"):
        dcg([1100])


@pytest.mark.parametrize("run, match", [
    ({"q1": {1: 0.5}}, "document ids are int but qrels' are str"),
    ({1: {"d1": 0.5}}, "query ids are int but qrels' are str"),
    ({"q1": {"d1": float("nan")}}, r"run\['q1'\]\['d1'\] must be a finite number"),
])
def test_metrics_refuse_ids_of_another_type_and_nan_scores(run, match):
    from frugalml.retrieval import score_run

    with pytest.raises(ValueError, match=match):
        score_run({"q1": {"d1": 1}}, run, (1, 10))


@pytest.mark.parametrize("qrels", [{}, {"q1": {"d1": 0}}])
def test_metrics_refuse_qrels_that_judge_nothing(qrels):
    from frugalml.retrieval import score_run

    with pytest.raises(ValueError, match="judges no query with a relevant document"):
        score_run(qrels, {"q1": {"d1": 1.0}}, (1,))


@pytest.mark.parametrize("ids, rows, match", [
    (["a", "b", "c"], 2, "3 ids but 2 embedding rows"),
    (["a", "b"], 2, "covers 2 of the 3 corpus documents"),
    (["a", "b", "z"], 3, "not in corpus"),
    (["a", "a", "b"], 3, "duplicates"),
])
def test_evaluate_retrieval_checks_corpus_embeddings(ids, rows, match):
    from frugalml.retrieval import evaluate_retrieval

    corpus = {d: {"title": "", "text": d} for d in "abc"}
    with pytest.raises(ValueError, match=match):
        evaluate_retrieval(None, corpus, {"q": "x"}, {"q": {"a": 1}}, corpus_embeddings=(ids, np.zeros((rows, 4))))


def _beir(tmp_path):
    from frugalml.retrieval import save_beir

    folder = tmp_path / "beir"
    save_beir(folder, {"d1": {"text": "a"}, "d2": {"text": "b"}}, {"q1": "x"}, {"q1": {"d1": 1}})
    return folder


@pytest.mark.parametrize("corpus, queries, match", [
    ({"d\t1": {"text": "a"}}, {}, "without tabs or line breaks"),
    ({"d1": {"text": "a"}}, {"q\n1": "x"}, "without tabs or line breaks"),
    ({1: {"text": "a"}}, {}, "must be a str id"),
    ({"d1": {"text": "a", "title": 5}}, {}, r"\['title'\] must be a str"),
])
def test_save_beir_refuses_ids_it_could_not_read_back(tmp_path, corpus, queries, match):
    from frugalml.retrieval import save_beir

    folder = _beir(tmp_path)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=match):
        save_beir(folder, corpus, queries, {})
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_save_beir_appending_to_a_malformed_queries_file_changes_nothing(tmp_path):
    from frugalml.retrieval import save_beir

    folder = _beir(tmp_path)
    with open(folder / "queries.jsonl", "a") as fh:
        fh.write("{bad json\n")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=r"queries.jsonl, line 2: not valid JSON"):
        save_beir(folder, {"d9": {"text": "z"}}, {"q2": "y"}, {"q2": {"d9": 1}}, "dev", append_queries=True)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # no dev.tsv, corpus kept


@pytest.mark.parametrize("line, match", [
    (b'{"_id": null, "text": "x"}', "'_id' must be a string"),
    (b'{"_id": "q1", "text": null}', "'text' must be a string"),
    (b'{"_id": "q1", "text": 5}', "'text' must be a string"),
    (b'{"_id": ["q1"], "text": "x"}', "'_id' must be a string"),
    (b'{"_id": "q1", "text": "\xff"}', "not valid UTF-8"),
])
def test_load_beir_names_file_and_line_of_bad_entries(tmp_path, line, match):
    from frugalml.retrieval import load_beir

    folder = _beir(tmp_path)
    (folder / "queries.jsonl").write_bytes(b'{"_id": "q0", "text": "fine"}\n' + line + b"\n")
    with pytest.raises(ValueError, match=match) as info:
        load_beir(folder)
    assert "queries.jsonl, line 2" in str(info.value)


def test_load_beir_reads_integer_ids_as_strings_and_refuses_duplicate_judgements(tmp_path):
    from frugalml.retrieval import load_beir

    folder = _beir(tmp_path)
    (folder / "queries.jsonl").write_text('{"_id": 7, "text": "x"}\n{"_id": "q1", "text": "y"}\n')
    assert set(load_beir(folder).queries) == {"q1"} and "7" in {str(7)}
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t2\n")
    with pytest.raises(ValueError, match=r"test.tsv, line 3: query 'q1' judges document 'd1' twice"):
        load_beir(folder)


# ------------------------------------------------------------------------------------ SVFT


def _svft_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))


def _adapted(base):
    from frugalml.finetune.svft import SVFTConfig, apply_svft
    from frugalml.finetune.svft.model import svft_layers

    model = apply_svft(copy.deepcopy(base), SVFTConfig(target_modules=["0", "2"], pattern="banded", off_diag=1))
    with torch.no_grad():
        for layer in svft_layers(model).values():
            layer.svft_m.normal_()
    return model


def test_svft_disable_after_merge_gives_the_base_model():
    from frugalml.finetune.svft import disable_adapters, enable_adapters, merge

    base, x = _svft_model(), torch.randn(3, 6)
    model = _adapted(base)
    adapted = model(x).detach()
    merge(model)
    disable_adapters(model)
    torch.testing.assert_close(model(x), base(x))
    enable_adapters(model)
    torch.testing.assert_close(model(x), adapted, atol=1e-5, rtol=1e-5)
    disable_adapters(model)
    with pytest.raises(ValueError, match="adapters are disabled"):
        merge(model)


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, [p.requires_grad for p in model.parameters()],
            [type(m).__name__ for m in model.modules()])


def test_load_svft_mismatch_leaves_the_model_unchanged(tmp_path):
    from frugalml.finetune.svft import load_svft, save_svft

    save_svft(_adapted(_svft_model()), tmp_path / "ad")
    torch.manual_seed(1)
    other = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 4))
    before = _state(other)
    with pytest.raises(ValueError, match="module 0 is 5 x 7; the adapter .* was saved for 5 x 6"):
        load_svft(other, tmp_path / "ad")
    after = _state(other)
    assert before[1:] == after[1:] and all(torch.equal(before[0][k], after[0][k]) for k in before[0])


@pytest.mark.parametrize("damage, match", [
    (("adapter_model.safetensors", b"garbage"), "adapter_model.safetensors: not a readable safetensors file"),
    (("adapter_config.json", b"{bad"), "adapter_config.json: not a readable SVFT adapter config"),
    (("adapter_config.json", b"[]"), "adapter_config.json is not an SVFT adapter"),
])
def test_load_svft_damaged_files_are_named_and_change_nothing(tmp_path, damage, match):
    from frugalml.finetune.svft import load_svft, save_svft

    base = _svft_model()
    save_svft(_adapted(base), tmp_path / "ad")
    (tmp_path / "ad" / damage[0]).write_bytes(damage[1])
    target = copy.deepcopy(base)
    before = _state(target)
    with pytest.raises(ValueError, match=match):
        load_svft(target, tmp_path / "ad")
    assert _state(target)[1:] == before[1:]


def test_load_svft_bad_config_values_are_named(tmp_path):
    from frugalml.finetune.svft import load_svft, save_svft

    base = _svft_model()
    save_svft(_adapted(base), tmp_path / "ad")
    meta = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    meta["config"]["pattern"] = "nope"
    (tmp_path / "ad" / "adapter_config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="adapter_config.json: invalid SVFT config .*pattern"):
        load_svft(copy.deepcopy(base), tmp_path / "ad")


# ------------------------------------------------------------------------------------- ICL


@pytest.mark.parametrize("cls", ["SoftmaxAttentionRegressor", "LinearAttentionRegressor"])
@pytest.mark.parametrize("arg", ["x", "y", "x_query"])
def test_attention_refuses_nan_inputs(cls, arg):
    from frugalml import icl

    batch = icl.AffineTasks(3).sample(2, 5, random_state=0)
    kw = {"x": batch.x.clone(), "y": batch.y.clone(), "x_query": batch.x_query.clone()}
    kw[arg][0] = float("nan")
    with pytest.raises(ValueError, match=f"{arg} contains NaN"):
        getattr(icl, cls)(3)(**kw)


def test_nadaraya_watson_refuses_nan_and_softmax_overflow_is_named():
    from frugalml import icl

    with pytest.raises(ValueError, match="x contains"):
        icl.nadaraya_watson(np.full((3, 2), np.nan), np.zeros(3), np.zeros(2), 1.0)
    x = torch.full((1, 3, 2), 1e20)
    with pytest.raises(FloatingPointError, match="rescale x"):
        icl.SoftmaxAttentionRegressor(2)(x, torch.zeros(1, 3), torch.full((1, 2), 1e20))


def test_task_sampler_refuses_labels_that_overflow():
    from frugalml import icl

    with pytest.raises(ValueError, match="lipschitz=1e\\+300"):
        icl.AffineTasks(3, lipschitz=1e300).sample(2, 5, random_state=0)
    batch = icl.AffineTasks(3, lipschitz=1e300).sample(2, 5, random_state=0, dtype=torch.float64)
    assert torch.isfinite(batch.y).all()


# ------------------------------------------------------------------------ FLOW and minimax


def test_flow_weights_underflow():
    from frugalml.finetune import flow_weights

    np.testing.assert_allclose(flow_weights([1000, 2000], tau=1.0, normalize=True), [2.0, 0.0])
    with pytest.raises(ValueError, match="tau"):
        flow_weights([1000, 2000], tau=1.0, normalize=False)


def test_solve_minimax_accepts_numpy_scalars():
    from frugalml.minimax import solve_minimax
    from frugalml.minimax.problems import cubic_bilinear

    p = cubic_bilinear(6, generator="bidiagonal", random_state=0)
    kw = dict(jac=p.jac, method="adaptive", option=1)
    ref = solve_minimax(p.F, p.z0, L2=p.L2, alpha=0.5, **kw)
    got = solve_minimax(p.F, p.z0, L2=np.float64(p.L2), alpha=np.float32(0.5), **kw)  # refused before
    assert got.nit == ref.nit
    np.testing.assert_array_equal(got.x, ref.x)
    with pytest.raises(ValueError, match="alpha must be in"):
        solve_minimax(p.F, p.z0, L2=p.L2, alpha=np.float32(1.0), **kw)


# ------------------------------------------------------------- found by probing (issue 24)


def test_ivf_default_cells_on_a_tiny_corpus():
    from frugalml.retrieval import VectorIndex

    X = np.random.default_rng(0).normal(size=(3, 4))
    _, ids = VectorIndex("ivf").fit(X).search(X, 3)  # "n_lists must be in [1, 3]; got 7" before
    assert sorted(ids[0]) == [0, 1, 2]
    with pytest.raises(ValueError, match="n_lists must be in"):
        VectorIndex("ivf", n_lists=10).fit(X)  # a value the user gave is still checked


def test_apply_svft_on_nan_weights_is_named_and_changes_nothing():
    from frugalml.finetune.svft import SVFTConfig, apply_svft

    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="target module 0 has NaN or infinite weights"):
        apply_svft(model, SVFTConfig(target_modules=["0"]))
    assert type(model[0]) is nn.Linear and all(p.requires_grad for p in model.parameters())


def test_fifo_and_folder_in_place_of_files_are_named(tmp_path):
    from frugalml._core.validation import load_npy
    from frugalml.retrieval import load_beir, ndcg_at_k

    os.mkfifo(tmp_path / "X.npy")
    with pytest.raises(ValueError, match="--embeddings must be a file; .* is not a regular file"):
        load_npy(tmp_path / "X.npy", "--embeddings")  # said "is a directory"
    (tmp_path / "beir" / "corpus.jsonl").mkdir(parents=True)
    with pytest.raises(ValueError, match="corpus file .* is not a regular file"):
        load_beir(tmp_path / "beir")  # said "not found"
    with pytest.raises(ValueError, match=r"qrels\['q'\] must be a dict"):
        ndcg_at_k({"q": [1]}, {"q": {"a": 1.0}}, 3)  # said "judges no query"


@pytest.mark.parametrize("arg", ["lipschitz", "noise"])
def test_affine_window_scales_that_overflow_the_risk_are_named(arg):
    from frugalml import icl

    kw = dict(d=2, context_size=5, lipschitz=1.0, noise=0.1, n_contexts=50, random_state=0)
    with pytest.raises(ValueError, match=f"{arg} must be in"):  # OverflowError (34, ...) before
        icl.optimal_affine_window(**{**kw, arg: 1e200})
    with pytest.raises(ValueError, match=f"{arg} must be in"):
        icl.affine_window_risk(1.0, **{**kw, arg: 1e200})


@pytest.mark.parametrize("grades", [[np.nan, 1], [-1], [np.inf]])
def test_dcg_refuses_nan_negative_and_infinite_grades(grades):
    from frugalml.retrieval.metrics import dcg

    with pytest.raises(ValueError, match="grades"):
        dcg(grades, "linear")


@pytest.mark.parametrize("model, kw, match", [
    ("base", dict(target_modules=5), "target_modules must be a non-empty list"),  # 'int' object is not iterable
    ("base", dict(target_modules=["0"], modules_to_save=7), "modules_to_save must be None"),
    ("base", dict(target_modules=["0"], modules_to_save="("), "modules_to_save .* is not a valid regex"),
    (None, dict(target_modules=["0"]), "model must be a torch.nn.Module"),  # AttributeError before
])
def test_apply_svft_bad_arguments_are_named(model, kw, match):
    from frugalml.finetune.svft import SVFTConfig, apply_svft

    base = nn.Sequential(nn.Linear(6, 5))
    with pytest.raises(ValueError, match=match):
        apply_svft(base if model == "base" else model, SVFTConfig(**kw))
    assert type(base[0]) is nn.Linear and all(p.requires_grad for p in base.parameters())


def test_report_of_an_empty_path_is_refused_not_taken_as_cwd(capsys):
    assert cli.main(["report", ""]) == 2
    assert "DIR must be a non-empty path" in capsys.readouterr().err
