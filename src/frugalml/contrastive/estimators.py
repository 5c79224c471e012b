"""Linear contrastive encoders trained with InfoNCE (one modality) or the CLIP loss (two).

Reference: Bansal, Kavis & Sanghavi, "Understanding Contrastive Learning via Gaussian
Mixture Models" (arXiv:2411.03517). A linear encoder ``f(x) = A x`` with ``A`` of shape
``(r, d)`` is trained by Adam on the InfoNCE loss with in-batch negatives
(:func:`~frugalml.contrastive.losses.info_nce_loss`). On Gaussian-mixture pairs the row
space of ``A`` approaches the Fisher subspace ``span{Sigma^{-1}(mu_k - mu_bar)}`` without
any label; the CLIP variant learns the part of it shared by both modalities.

Both estimators follow the scikit-learn contract, with one deliberate deviation: the
second argument of ``fit`` is not a label vector but the *paired* data (the augmentation
``X_pos`` for InfoNCE, the other modality ``Y`` for CLIP) -- contrastive learning never
sees labels.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from frugalml._core import check_array, check_option, check_positive, check_random_state, progress

MAX_ABS = 1e15  # larger inputs overflow float32 in the similarity products: rescale them
from frugalml.contrastive.losses import SIMILARITIES, clip_loss, info_nce_loss
from frugalml.contrastive.subspace import orthonormal_rows

LR_SCHEDULES = ("cosine", "constant")


class _LinearContrastiveBase(BaseEstimator):
    """Owns the training loop; subclasses say how many encoders there are and which loss."""

    _loss_name = "contrastive"

    def __init__(self, n_components, *, temperature=1.0, similarity="dot", n_steps=2000, batch_size=256,
                 learning_rate=3e-3, lr_schedule="cosine", center=True, random_state=None):
        self.n_components = n_components
        self.temperature = temperature
        self.similarity = similarity
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.center = center
        self.random_state = random_state

    # ----------------------------------------------------------------- checks
    def _check_params(self, dims: list[int]) -> None:
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_components must be a positive integer; got {k!r}")
        for d in dims:
            if k >= d:
                raise ValueError(f"n_components must be < n_features ({d}) for a proper subspace; got {k}")
        check_positive(self.temperature, "temperature")
        check_option(self.similarity, SIMILARITIES, "similarity")
        check_positive(self.n_steps, "n_steps", integer=True)
        check_positive(self.batch_size, "batch_size", integer=True)
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives need a second pair); got {self.batch_size}")
        check_positive(self.learning_rate, "learning_rate")
        check_option(self.lr_schedule, LR_SCHEDULES, "lr_schedule")
        if not isinstance(self.center, (bool, np.bool_)):
            raise ValueError(f"center must be True or False; got {self.center!r}")

    @staticmethod
    def _check_pair(X, X2, names):
        # float32 input stays float32 (training runs in float32): no float64 copy of large data
        # max_abs: squared entries of larger data overflow float32 (the encoder would come out zero)
        X = check_array(X, names[0], dtype=np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64,
                        max_abs=MAX_ABS)
        X2 = check_array(X2, names[1], dtype=np.float32 if getattr(X2, "dtype", None) == np.float32 else np.float64,
                         max_abs=MAX_ABS)
        if X.shape[0] != X2.shape[0]:
            raise ValueError(f"{names[0]} and {names[1]} must hold the same number of pairs; got "
                             f"{X.shape[0]} and {X2.shape[0]} rows")
        if X.shape[0] < 2:
            raise ValueError(f"need at least 2 pairs (in-batch negatives); got {X.shape[0]}")
        return X, X2

    # ----------------------------------------------------------------- loop
    # which encoder embeds each view: InfoNCE shares one between X and X_pos, CLIP has two
    _towers = (0, 1)

    def _train(self, dims: list[int], next_batch, rng: np.random.Generator) -> None:
        """Adam on ``loss(*[(batch_v - mean_v) @ A_{tower(v)}.T])``; the one training loop of the module.

        ``dims`` are the encoders' input widths; ``next_batch(step)`` returns one float32
        tensor per view, shape ``(b, d)``, routed to its encoder by ``_towers``.
        """
        import torch

        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        first = next_batch(0)
        # A_m: (r, d_m) with N(0, 1 / tr Cov_m) entries, so every embedding coordinate starts with
        # unit variance and the initial logits are O(r) whatever the scale of the data
        scales = [float(first[self._towers.index(m)].var(dim=0).sum().clamp_min(1e-12)) ** 0.5
                  for m in range(len(dims))]
        weights = [
            (torch.randn(self.n_components, d, generator=gen) / sc).requires_grad_(True) for d, sc in zip(dims, scales)
        ]
        opt = torch.optim.Adam(weights, lr=self.learning_rate)
        # cosine decay to 0 (the default): at a constant lr the mini-batch gradient noise leaves A
        # jittering around the minimiser, a floor of a few hundredths in the subspace error
        sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / self.n_steps)))
                 if self.lr_schedule == "cosine" else None)
        history = np.empty(self.n_steps)
        for step in progress(range(self.n_steps), desc=self._loss_name, total=self.n_steps):
            batch = first if step == 0 else next_batch(step)
            embeddings = [b @ weights[m].T for b, m in zip(batch, self._towers)]  # each (b, r)
            loss = self._loss(*embeddings)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{self._loss_name} loss became {value} at step {step}; lower learning_rate "
                    f"({self.learning_rate}) or raise temperature ({self.temperature}), or standardise the data"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            history[step] = value
        self.loss_history_ = history
        self.n_iter_ = self.n_steps
        self._set_encoders([A.detach().double().numpy() for A in weights])

    def _epoch_batches(self, arrays, means, rng):
        """``next_batch`` over fixed pairs: reshuffle every epoch, batches of ``batch_size``."""
        import torch

        n = arrays[0].shape[0]
        b = self.batch_size
        if b > n:
            warnings.warn(f"batch_size={b} exceeds the {n} pairs; every step uses all {n} pairs", UserWarning,
                          stacklevel=3)
            b = n
        centred = [torch.from_numpy(a.astype(np.float32, copy=False) - m.astype(np.float32))
                   for a, m in zip(arrays, means)]  # (n, d_m)
        state = {"order": torch.from_numpy(rng.permutation(n)), "pos": 0}

        def next_batch(step):
            if state["pos"] + b > n:
                state["order"], state["pos"] = torch.from_numpy(rng.permutation(n)), 0
            idx = state["order"][state["pos"]: state["pos"] + b]
            state["pos"] += b
            return [c[idx] for c in centred]  # each (b, d_m)

        return next_batch

    def _stream_batches(self, sampler, names, rng):
        """``next_batch`` that draws ``batch_size`` fresh pairs from ``sampler(n, rng)`` each step.

        With ``center=True`` each batch is centred with the running mean of all samples
        drawn so far, which is stored as the fitted mean.
        """
        import torch

        first = sampler(self.batch_size, rng)
        if not isinstance(first, (tuple, list)) or len(first) != 2:
            raise ValueError("sampler(n, rng) must return a pair of arrays (X, X_other)")
        first = self._check_pair(*first, names)
        if first[0].shape[0] != self.batch_size:
            raise ValueError(f"sampler(n, rng) returned {first[0].shape[0]} pairs; expected n={self.batch_size}")
        dims = [a.shape[1] for a in first]
        sums = [np.zeros(d) for d in dims]
        state = {"count": 0, "pending": first}

        def next_batch(step):
            batch = state["pending"] if state["pending"] is not None else self._check_pair(
                *sampler(self.batch_size, rng), names)
            state["pending"] = None
            if self.center:
                state["count"] += batch[0].shape[0]
                for s, a in zip(sums, batch):
                    s += a.sum(axis=0)
                means = [s / state["count"] for s in sums]
                if self._towers[0] == self._towers[1]:  # one encoder for both views: one pooled mean
                    means = [(means[0] + means[1]) / 2] * 2
            else:
                means = [np.zeros(d) for d in dims]
            state["means"] = means
            return [torch.from_numpy((a - m).astype(np.float32)) for a, m in zip(batch, means)]

        return dims, next_batch, state


class InfoNCEProjection(TransformerMixin, _LinearContrastiveBase):
    """Linear dimensionality reduction learned by InfoNCE on (sample, augmentation) pairs.

    Minimises the InfoNCE loss of arXiv:2411.03517 (its linear-encoder setting)
    ``-E log[exp(s(Ax, Ax+)/tau) / sum_j exp(s(Ax, Ax_j+)/tau)]`` over a linear encoder
    ``A`` of shape ``(n_components, n_features)`` with Adam and in-batch negatives. On a
    Gaussian mixture with augmentation = another draw from the same component, the row
    space of ``A`` approaches the Fisher (LDA) subspace -- without labels.

    Parameters
    ----------
    n_components : int
        Embedding dimension ``r`` (``K - 1`` for a K-component mixture); must be < n_features.
    temperature : float, default 1.0
        ``tau`` in the softmax.
    similarity : {"dot", "cosine"}, default "dot"
        Raw inner product ``<Ax, Ax+>`` or cosine similarity of the embeddings.
    n_steps : int, default 2000
        Adam steps (one mini-batch each).
    batch_size : int, default 256
        Pairs per step; each anchor's negatives are the other ``batch_size - 1`` positives.
    learning_rate : float, default 3e-3
        Adam step size (the peak, with the cosine schedule).
    lr_schedule : {"cosine", "constant"}, default "cosine"
        ``"cosine"`` decays the step size to 0 over ``n_steps`` (half a cosine period), so
        the encoder settles at the minimiser instead of jittering around it with the
        mini-batch noise; ``"constant"`` keeps ``learning_rate`` throughout.
    center : bool, default True
        Subtract the mean of the data before encoding (stored as ``mean_``).
    random_state : int, numpy Generator or None
        Seeds the initialisation and the mini-batch order / pair draws.

    Attributes
    ----------
    encoder_ : ndarray of shape (n_components, n_features)
        The learned ``A``; :meth:`transform` returns ``(X - mean_) @ encoder_.T``.
    components_ : ndarray of shape (n_components, n_features)
        Orthonormal rows spanning the learned subspace (right singular vectors of
        ``encoder_``, largest singular value first).
    singular_values_ : ndarray of shape (n_components,)
    mean_ : ndarray of shape (n_features,)
    loss_history_ : ndarray of shape (n_steps,)
        Mini-batch loss at every step.
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    ``fit(X, X_pos)`` takes the pairs, not labels: ``X_pos[i]`` is the augmentation (the
    positive) of ``X[i]``. Use :meth:`fit_stream` to draw fresh pairs every step from a
    sampler such as :class:`~frugalml.contrastive.GaussianMixturePairs` or
    :class:`~frugalml.contrastive.SameClassPairs`.

    Examples
    --------
    >>> from frugalml.contrastive import GaussianMixturePairs, InfoNCEProjection, subspace_distance
    >>> gm = GaussianMixturePairs.random(n_components=4, n_features=20, random_state=0)
    >>> pairs = gm.sample(2000, random_state=1)
    >>> est = InfoNCEProjection(n_components=3, random_state=0).fit(pairs.X, pairs.X_pos)
    >>> subspace_distance(est.components_, gm.fisher_subspace()) < 0.3
    True
    """

    _loss_name = "InfoNCE"
    _towers = (0, 0)  # one encoder A embeds both the sample and its augmentation

    def _loss(self, z, z_pos):
        return info_nce_loss(z, z_pos, self.temperature, self.similarity)

    def _set_encoders(self, encoders):
        (A,) = encoders
        self.encoder_ = A
        _, s, Vt = np.linalg.svd(A, full_matrices=False)
        self.components_ = Vt
        self.singular_values_ = s

    def fit(self, X, X_pos):
        """Fit on fixed pairs: ``X_pos[i]`` is the positive (augmentation) of ``X[i]``.

        Parameters
        ----------
        X, X_pos : array-like of shape (n_pairs, n_features)

        Returns
        -------
        self
        """
        X, X_pos = self._check_pair(X, X_pos, ("X", "X_pos"))
        if X.shape[1] != X_pos.shape[1]:
            raise ValueError(f"X and X_pos must have the same number of features; got {X.shape[1]} and {X_pos.shape[1]}")
        d = X.shape[1]
        self._check_params([d])
        rng = check_random_state(self.random_state)
        self.mean_ = ((X.mean(axis=0, dtype=np.float64) + X_pos.mean(axis=0, dtype=np.float64)) / 2
                      if self.center else np.zeros(d))
        self.n_features_in_ = d
        self._train([d], self._epoch_batches([X, X_pos], [self.mean_] * 2, rng), rng)
        return self

    def fit_stream(self, sampler):
        """Fit on fresh pairs drawn every step: ``X, X_pos = sampler(batch_size, rng)``.

        ``rng`` is a numpy Generator derived from ``random_state``. With ``center=True``
        the running mean of all drawn samples centres each batch and ends up in ``mean_``.
        """
        if not callable(sampler):
            raise ValueError(f"sampler must be callable as sampler(n, rng) -> (X, X_pos); got {type(sampler).__name__}")
        check_positive(self.batch_size, "batch_size", integer=True)
        rng = check_random_state(self.random_state)
        dims, next_batch, state = self._stream_batches(sampler, ("X", "X_pos"), rng)
        if dims[0] != dims[1]:
            raise ValueError(f"sampler returned X with {dims[0]} features and X_pos with {dims[1]}; they must match")
        self._check_params(dims[:1])
        self.n_features_in_ = dims[0]
        self._train(dims[:1], next_batch, rng)
        self.mean_ = state["means"][0] if self.center else np.zeros(dims[0])
        return self

    def transform(self, X):
        """Embed ``X``: ``(X - mean_) @ encoder_.T``, shape ``(n_samples, n_components)``."""
        check_is_fitted(self, "encoder_")
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features but the projection was fitted on {self.n_features_in_}")
        return (X - self.mean_) @ self.encoder_.T


class CLIPProjection(_LinearContrastiveBase):
    """Two linear encoders trained with the symmetric CLIP loss on paired modalities.

    Minimises ``(CE(S) + CE(S^T)) / 2`` with ``S_ij = s(A_x x_i, A_y y_j) / tau`` and
    in-batch negatives (arXiv:2411.03517, multi-modal section). On the two-modality
    mixture the row space of ``A_x`` approaches the Fisher subspace of the information
    *shared* with ``y``; modality-private structure of ``x`` is filtered out.

    Parameters
    ----------
    Same as :class:`InfoNCEProjection`; ``n_components`` must be below both input dims.

    Attributes
    ----------
    encoder_x_, encoder_y_ : ndarrays of shape (n_components, d_x) and (n_components, d_y)
    components_x_, components_y_ : orthonormal rows spanning each learned subspace
    mean_x_, mean_y_ : centring means
    loss_history_ : ndarray of shape (n_steps,)
    n_iter_ : int

    Notes
    -----
    ``fit(X, Y)`` takes the two modalities row-aligned (``Y[i]`` pairs with ``X[i]``);
    there are no labels.

    Examples
    --------
    >>> from frugalml.contrastive import CLIPProjection, TwoModalityMixturePairs
    >>> tm = TwoModalityMixturePairs.random(random_state=0)
    >>> s = tm.sample(2000, random_state=1)
    >>> clip = CLIPProjection(n_components=3, n_steps=300, random_state=0).fit(s.X, s.Y)
    >>> clip.transform_x(s.X).shape, clip.transform_y(s.Y).shape
    ((2000, 3), (2000, 3))
    """

    _loss_name = "CLIP"

    def _loss(self, z_x, z_y):
        return clip_loss(z_x, z_y, self.temperature, self.similarity)

    def _set_encoders(self, encoders):
        self.encoder_x_, self.encoder_y_ = encoders
        self.components_x_ = orthonormal_rows(self.encoder_x_, "encoder_x_", rtol=0)
        self.components_y_ = orthonormal_rows(self.encoder_y_, "encoder_y_", rtol=0)

    def fit(self, X, Y):
        """Fit on row-aligned pairs ``(X[i], Y[i])``; ``X`` and ``Y`` may differ in width."""
        X, Y = self._check_pair(X, Y, ("X", "Y"))
        self._check_params([X.shape[1], Y.shape[1]])
        rng = check_random_state(self.random_state)
        self.mean_x_ = X.mean(axis=0, dtype=np.float64) if self.center else np.zeros(X.shape[1])
        self.mean_y_ = Y.mean(axis=0, dtype=np.float64) if self.center else np.zeros(Y.shape[1])
        self.n_features_x_, self.n_features_y_ = X.shape[1], Y.shape[1]
        self._train([X.shape[1], Y.shape[1]], self._epoch_batches([X, Y], [self.mean_x_, self.mean_y_], rng), rng)
        return self

    def fit_stream(self, sampler):
        """Fit on fresh pairs drawn every step: ``X, Y = sampler(batch_size, rng)``."""
        if not callable(sampler):
            raise ValueError(f"sampler must be callable as sampler(n, rng) -> (X, Y); got {type(sampler).__name__}")
        check_positive(self.batch_size, "batch_size", integer=True)
        rng = check_random_state(self.random_state)
        dims, next_batch, state = self._stream_batches(sampler, ("X", "Y"), rng)
        self._check_params(dims)
        self.n_features_x_, self.n_features_y_ = dims
        self._train(dims, next_batch, rng)
        self.mean_x_, self.mean_y_ = state["means"] if self.center else [np.zeros(d) for d in dims]
        return self

    def _transform(self, X, name, mean, encoder):
        check_is_fitted(self, "encoder_x_")
        X = check_array(X, name)
        if X.shape[1] != encoder.shape[1]:
            raise ValueError(f"{name} has {X.shape[1]} features but its encoder was fitted on {encoder.shape[1]}")
        return (X - mean) @ encoder.T

    def transform_x(self, X):
        """Embed the first modality: ``(X - mean_x_) @ encoder_x_.T``."""
        check_is_fitted(self, "encoder_x_")
        return self._transform(X, "X", self.mean_x_, self.encoder_x_)

    def transform_y(self, Y):
        """Embed the second modality: ``(Y - mean_y_) @ encoder_y_.T``."""
        check_is_fitted(self, "encoder_y_")
        return self._transform(Y, "Y", self.mean_y_, self.encoder_y_)


__all__ = ["CLIPProjection", "InfoNCEProjection"]
