"""Task samplers: shapes, the sphere, Lipschitz constants, common random numbers."""

import numpy as np
import pytest
import torch

from frugalml.icl import AffineTasks, CosineTasks, LowRankTasks, ReLUTasks, TaskSampler


@pytest.mark.parametrize("cls", [AffineTasks, ReLUTasks, CosineTasks])
def test_shapes_and_unit_sphere(cls):
    batch = cls(4, lipschitz=2.0, noise=0.3).sample(7, 11, random_state=0)
    assert batch.x.shape == (7, 11, 4) and batch.y.shape == (7, 11)
    assert batch.x_query.shape == (7, 4) and batch.y_query.shape == (7,)
    assert len(batch) == 7 and batch.context_size == 11
    norms = torch.cat([batch.x.norm(dim=-1).ravel(), batch.x_query.norm(dim=-1)])
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)


def test_same_seed_same_batch_and_dtype():
    a = AffineTasks(3).sample(5, 6, random_state=3, dtype=torch.float64)
    b = AffineTasks(3).sample(5, 6, random_state=3, dtype=torch.float64)
    assert a.x.dtype == torch.float64
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.y_query, b.y_query)


def test_affine_noiseless_contexts_are_exactly_affine_with_slope_norm_L():
    L = 2.5
    batch = AffineTasks(3, lipschitz=L, noise=0.0).sample(6, 20, random_state=1, dtype=torch.float64)
    for k in range(6):
        X = np.c_[batch.x[k].numpy(), np.ones(20)]
        coef, res, *_ = np.linalg.lstsq(X, batch.y[k].numpy(), rcond=None)
        assert np.allclose(X @ coef, batch.y[k].numpy(), atol=1e-10)
        assert np.linalg.norm(coef[:3]) == pytest.approx(L, rel=1e-8)
        # the query target is the same affine function, without noise
        assert float(np.r_[batch.x_query[k].numpy(), 1.0] @ coef) == pytest.approx(float(batch.y_query[k]), abs=1e-9)


def test_label_noise_has_the_requested_std():
    clean = AffineTasks(3, lipschitz=1.0, noise=0.0).sample(400, 50, random_state=2, dtype=torch.float64)
    noisy = AffineTasks(3, lipschitz=1.0, noise=0.7).sample(400, 50, random_state=2, dtype=torch.float64)
    assert torch.equal(clean.y_query, noisy.y_query)  # query targets carry no noise
    assert float((noisy.y - clean.y).std()) == pytest.approx(0.7, rel=0.03)


def test_common_random_numbers_scale_exactly():
    # y(L=4, s=2) - 2 y(L=2, s=1) = -b: constant along each context
    a = AffineTasks(3, lipschitz=2.0, noise=1.0).sample(10, 30, random_state=5, dtype=torch.float64)
    b = AffineTasks(3, lipschitz=4.0, noise=2.0).sample(10, 30, random_state=5, dtype=torch.float64)
    assert torch.equal(a.x, b.x)
    diff = b.y - 2 * a.y
    assert float(diff.std(dim=1).max()) < 1e-12


@pytest.mark.parametrize("cls", [ReLUTasks, CosineTasks, AffineTasks])
def test_lipschitz_bound_holds_and_is_nearly_tight(cls):
    L = 3.0
    s = cls(2, lipschitz=L, noise=0.0)
    batch = s.sample(200, 30, random_state=0, dtype=torch.float64)
    dx = torch.cdist(batch.x, batch.x)
    dy = (batch.y[:, :, None] - batch.y[:, None, :]).abs()
    ratio = dy / dx.clamp_min(1e-9)
    ratio = ratio[dx > 1e-6]
    assert float(ratio.max()) <= L + 1e-9
    assert float(ratio.max()) > 0.9 * L


def test_low_rank_depends_only_on_projection():
    s = LowRankTasks(6, 2, base="relu", lipschitz=2.0, noise=0.0, random_state=0)
    B = s.basis
    assert torch.allclose(B.T @ B, torch.eye(2, dtype=B.dtype), atol=1e-12)
    gen = torch.Generator().manual_seed(0)
    params = s.sample_params(4, gen, torch.float64)
    x = torch.randn(4, 9, 6, dtype=torch.float64)
    v = torch.randn(4, 9, 6, dtype=torch.float64)
    v = v - v @ s.projector  # orthogonal to span(B)
    assert torch.allclose(s.evaluate(params, x), s.evaluate(params, x + v), atol=1e-12)
    # moving inside span(B) does change f
    assert not torch.allclose(s.evaluate(params, x), s.evaluate(params, x + x @ s.projector))


def test_low_rank_accepts_sampler_and_basis():
    base = AffineTasks(2, lipschitz=3.0, noise=0.2)
    basis = np.eye(5)[:, :2]
    s = LowRankTasks(5, 2, base=base, basis=basis)
    assert s.lipschitz == 3.0 and s.noise == 0.2
    batch = s.sample(3, 4, random_state=0)
    assert batch.x.shape == (3, 4, 5)


def test_custom_task_class():
    class Quadratic(TaskSampler):
        def sample_params(self, batch_size, generator, dtype):
            return {"c": torch.randn(batch_size, generator=generator, dtype=dtype)}

        def evaluate(self, params, x):
            return params["c"][:, None] * (x[..., 0] ** 2)

    batch = Quadratic(3, noise=0.0).sample(2, 5, random_state=0)
    assert batch.y.shape == (2, 5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AffineTasks(0), "d must be a positive integer"),
        (lambda: AffineTasks(3, lipschitz=-1.0), "lipschitz"),
        (lambda: AffineTasks(3, noise=float("nan")), "noise"),
        (lambda: LowRankTasks(3, 4), "rank must be <= d"),
        (lambda: LowRankTasks(3, 2, base="sine"), "base must be one of"),
        (lambda: LowRankTasks(4, 2, base=AffineTasks(3)), "base sampler has d=3"),
        (lambda: LowRankTasks(3, 2, basis=np.ones((3, 2))), "orthonormal"),
        (lambda: LowRankTasks(3, 2, basis=np.eye(3)), "basis must have shape"),
        (lambda: AffineTasks(3).sample(0, 5), "batch_size"),
        (lambda: AffineTasks(3).sample(2, 0), "context_size"),
    ],
)
def test_bad_input_names_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()
