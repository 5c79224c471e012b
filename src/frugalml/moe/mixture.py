"""Mixture of experts with a linear softmax gate, fitted by EM or by gradient descent.

References
----------
Fruytier, Mokhtari, Sanghavi. "Learning Mixtures of Experts with EM: A Mirror Descent
Perspective." ICML 2025 (arXiv:2411.06056).
"""

from __future__ import annotations


import numpy as np
from sklearn.utils import check_array as _sk_check_array
from sklearn.utils._tags import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from frugalml._core.validation import check_array, check_option
from frugalml.moe._base import BaseMixtureOfExperts, _check_int, _check_real
from frugalml.moe._init import kmeans_labels, random_labels, spectral_labels
from frugalml.moe._multinomial import fit_multinomial, log_softmax, logits, logsumexp_rows, objective_and_grad
from frugalml.moe.experts import LinearExperts, MultinomialExperts

EXPERTS = ("linear", "logistic", "softmax")
SOLVERS = ("em", "gd", "gradient_em")
INIT_PARAMS = ("auto", "spectral", "kmeans", "random")


def _check_X(X):
    """``X`` with scikit-learn's checks and messages (complex, object, sparse, 1-D, empty, NaN)."""
    if X is None or isinstance(X, (str, bytes)):
        raise TypeError(f"X must be a 2-D numeric array-like; got {X!r}")
    X = _sk_check_array(X, dtype=np.float64, input_name="X", ensure_all_finite=False)
    return check_array(X, "X")  # NaN/inf: our message, which counts them


class MixtureOfExperts(BaseMixtureOfExperts):
    """Mixture of experts ``p(y|x) = sum_k softmax_k(x . w_k) p_k(y | x; beta_k)``.

    The gate is a linear softmax with its last row fixed at zero (``w_K = 0``, paper
    Sec. 2). Experts are Gaussian linear regressions, binary logistic regressions or
    softmax (multi-class) regressions.

    Three solvers share one loop (:class:`~frugalml.moe._base.BaseMixtureOfExperts`):

    - ``"em"``: the E-step computes responsibilities in log space,
      ``log r_ik = log pi_k(x_i) + log p_k(y_i|x_i) - logsumexp_j(...)``; the M-step
      maximises ``Q(theta | theta_t)`` exactly: closed-form weighted least squares for
      linear experts, warm-started Newton (or L-BFGS for large problems) for logistic /
      softmax experts and for the gate. The paper shows this is mirror descent with unit
      step on the log-likelihood (its Theorem 1; see :mod:`frugalml.moe.symmetric`).
    - ``"gd"``: one gradient step on the mean negative log-likelihood per iteration.
    - ``"gradient_em"``: ``inner_steps`` gradient steps on ``-Q(. | theta_t) / n`` per
      iteration; with ``inner_steps=1`` it is exactly ``"gd"`` (Fisher's identity
      ``grad Q(theta | theta) = grad log-likelihood(theta)``).

    Parameters
    ----------
    n_experts : int, default=2
    expert : {"linear", "logistic", "softmax"}, default="linear"
    solver : {"em", "gd", "gradient_em"}, default="em"
    learning_rate : float or None, default=None
        Step of the gradient solvers (on the *mean* negative log-likelihood). ``None``
        uses ``1 / L`` with ``L = lambda_max(X^T X / n) * max(1, 1 / noise_variance)``.
        Must be ``None`` with ``solver="em"``.
    inner_steps : int, default=1
        Gradient steps per iteration of ``"gradient_em"`` (must be 1 otherwise).
    max_iter : int, default=100
    tol : float, default=1e-6
        Convergence when the objective (mean log-likelihood minus penalties) changes by
        less than ``tol`` between iterations.
    n_init : int, default=1
        Restarts; the one with the highest final objective is kept.
    gate_penalty : float, default=0.0
        L2 strength on the gate weights (not intercepts), in mean-loss units; needed when
        the responsibilities are separable.
    expert_penalty : float, default=0.0
        L2 strength on the expert coefficients (not intercepts).
    noise_variance : float or "estimate", default=1.0
        Known variance of linear experts (the paper's ``sigma^2 = 1``), or ``"estimate"``
        to learn one per expert (floored at ``1e-6 * var(y)``).
    fit_intercept : bool, default=True
    init_params : {"auto", "spectral", "kmeans", "random"}, default="auto"
        Starting responsibilities, as a hard assignment; the experts start at their M-step
        on it, the gate at zero. ``"spectral"`` (linear experts only): k-means on
        ``r_i U^T x_i``, with ``r`` the pooled least-squares residual and ``U`` the top
        eigenvectors of ``(1/n) sum r_i^2 (x_i x_i^T - I)`` on whitened ``x`` (Yi, Caramanis &
        Sanghavi 2014; see :mod:`frugalml.moe._init`); it finds the MLE of symmetric mixtures
        of linear regressions where k-means on ``[X, y]`` lands on the symmetric saddle.
        ``"kmeans"``: k-means on the standardised ``[X, y]``. ``"random"``: uniform labels.
        ``"auto"``: ``"spectral"`` for linear experts, ``"kmeans"`` otherwise. Not used for
        the experts when ``expert_init`` is given.
    gate_init : array-like (n_experts, n_features) or (n_experts, n_features + 1), optional
        Starting gate weights (an extra last column is the intercept). Rows are shifted so
        that the last is zero (the gate is invariant to a common shift).
    expert_init : array-like, optional
        Starting expert coefficients, shaped like ``expert_coef_`` (optionally with an
        extra last column of intercepts).
    inner_max_iter : int, default=100
        Iteration cap of the inner Newton / L-BFGS solvers of the EM M-step.
    warm_start : bool, default=False
        Reuse the last fit's parameters as the start (one restart).
    random_state : None, int or numpy Generator
    verbose : int, default=0

    Attributes
    ----------
    gate_coef_ : ndarray (n_experts, n_features), last row zero.
    gate_intercept_ : ndarray (n_experts,), last entry zero (zeros if no intercept).
    expert_coef_ : ndarray (n_experts, n_features) for linear / logistic experts,
        (n_experts, n_classes, n_features) for softmax experts (last class row zero).
    expert_intercept_ : ndarray (n_experts,) or (n_experts, n_classes).
    noise_variance_ : ndarray (n_experts,), linear experts only.
    classes_ : ndarray, classification experts only.
    n_iter_, converged_, lower_bound_, lower_bounds_ : see
        :class:`~frugalml.moe._base.BaseMixtureOfExperts`.
    n_grad_evals_ : int, passes over the data that evaluated a gradient or objective
        (inner solver evaluations for EM; one per step for the gradient solvers).

    Examples
    --------
    >>> from frugalml.moe import MixtureOfExperts, make_symmetric_moe
    >>> data = make_symmetric_moe(n_samples=2000, n_features=3, random_state=0)
    >>> moe = MixtureOfExperts(2, fit_intercept=False, random_state=0).fit(data.X, data.y)
    >>> moe.converged_
    True
    """

    def __init__(self, n_experts=2, expert="linear", solver="em", *, learning_rate=None, inner_steps=1,
                 max_iter=100, tol=1e-6, n_init=1, gate_penalty=0.0, expert_penalty=0.0, noise_variance=1.0,
                 fit_intercept=True, init_params="auto", gate_init=None, expert_init=None, inner_max_iter=100,
                 warm_start=False, random_state=None, verbose=0):
        super().__init__(n_experts, max_iter=max_iter, tol=tol, n_init=n_init, random_state=random_state,
                         warm_start=warm_start, verbose=verbose)
        self.expert = expert
        self.solver = solver
        self.learning_rate = learning_rate
        self.inner_steps = inner_steps
        self.gate_penalty = gate_penalty
        self.expert_penalty = expert_penalty
        self.noise_variance = noise_variance
        self.fit_intercept = fit_intercept
        self.init_params = init_params
        self.gate_init = gate_init
        self.expert_init = expert_init
        self.inner_max_iter = inner_max_iter

    # ------------------------------------------------------------------ checks
    def _design(self, X):
        """The augmented design ``[X, 1]`` when fitting intercepts."""
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def _validate_fit_data(self, X, y):
        check_option(self.expert, EXPERTS, "expert")
        X = _check_X(X)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y_arr = np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            # a column vector: scikit-learn's convention is a DataConversionWarning and ravel
            y_arr = column_or_1d(y_arr, warn=True)
        if y_arr.ndim != 1:
            raise ValueError(f"y must be 1-D; got shape {y_arr.shape}")
        if y_arr.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y_arr.shape[0]} entries but X has {X.shape[0]} rows; they must match")
        if self.expert == "linear":
            y_arr = check_array(y_arr, "y", ndim=1)
            self._target = y_arr
        else:
            if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
                raise ValueError("y contains NaN or infinite labels")
            if y_arr.dtype.kind in "cOUSV" or y_arr.dtype.kind == "f" and np.any(y_arr != np.round(y_arr)):
                # continuous (or complex / object) targets are not class labels: scikit-learn's message
                # ("Unknown label type: continuous"), not one class per distinct float
                check_classification_targets(y_arr)
            classes, codes = np.unique(y_arr, return_inverse=True)
            if self.warm_start and hasattr(self, "classes_") and not np.array_equal(classes, self.classes_):
                raise ValueError("warm_start=True but y has different classes than the previous fit")
            if self.expert == "logistic" and len(classes) != 2:
                raise ValueError(f"Only binary classification is supported. expert='logistic' needs exactly 2 "
                                 f"classes in y; got {len(classes)} class{'es' if len(classes) != 1 else ''} "
                                 "(use expert='softmax' for more)")
            if len(classes) < 2:
                raise ValueError("y has 1 class (a single class); classification experts need at least 2")
            self.classes_ = classes
            C = len(classes)
            T = np.zeros((len(codes), C))
            if self.expert == "logistic":  # internal class 0 <-> classes_[1] so that beta is the usual sign
                T[np.arange(len(codes)), 1 - codes] = 1.0
            else:
                T[np.arange(len(codes)), codes] = 1.0
            self._target = T
        if self.warm_start and hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"warm_start=True but X has {X.shape[1]} features; the previous fit had "
                             f"{self.n_features_in_}")
        self.n_features_in_ = X.shape[1]
        return self._design(X), self._target

    def _check_parameters(self, X, y):
        check_option(self.solver, SOLVERS, "solver")
        check_option(self.init_params, INIT_PARAMS, "init_params")
        if self.init_params == "spectral" and self.expert != "linear":
            raise ValueError(f"init_params='spectral' needs expert='linear'; got expert={self.expert!r} "
                             "(use 'kmeans', 'random' or 'auto')")
        K = self.n_experts
        if K > X.shape[0]:
            raise ValueError(f"n_experts={K} exceeds the number of samples (n_samples={X.shape[0]})")
        inner = _check_int(self.inner_steps, "inner_steps")
        if self.solver != "gradient_em" and inner != 1:
            raise ValueError(f"inner_steps={inner} is only used by solver='gradient_em'; got solver={self.solver!r}")
        if self.solver == "em":
            if self.learning_rate is not None:
                raise ValueError("learning_rate is only used by solver='gd' or 'gradient_em'; leave it None for 'em'")
        elif self.learning_rate is not None:
            _check_real(self.learning_rate, "learning_rate", strict=True)
        _check_real(self.gate_penalty, "gate_penalty")
        _check_real(self.expert_penalty, "expert_penalty")
        _check_int(self.inner_max_iter, "inner_max_iter")
        if self.expert == "linear":
            if isinstance(self.noise_variance, str):
                check_option(self.noise_variance, ("estimate",), "noise_variance")
            else:
                _check_real(self.noise_variance, "noise_variance", strict=True)
        p = X.shape[1]
        self._mask = np.ones(p)
        if self.fit_intercept:
            self._mask[-1] = 0.0
        if self.expert == "linear":
            est = self.noise_variance == "estimate"
            floor = 1e-6 * max(float(np.var(y)), 1e-12)
            self._family = LinearExperts(estimate_variance=est, variance_floor=floor)
        else:
            self._family = MultinomialExperts(inner_tol=1e-10, inner_max_iter=self.inner_max_iter)
        if self.solver != "em":
            if self.learning_rate is None:
                lam = float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])
                scale = 1.0
                if self.expert == "linear":
                    var = float(np.var(y)) if self.noise_variance == "estimate" else self.noise_variance
                    scale = max(1.0, 1.0 / max(var, 1e-12))
                self._lr = 1.0 / (lam * scale)
            else:
                self._lr = float(self.learning_rate)

    # ------------------------------------------------------------------ init
    def _expert_shape(self, p):
        K = self.n_experts
        if self.expert == "linear":
            return (K, p)
        return (K, self._target.shape[1] - 1, p)

    def _initialize(self, X, y, rng):
        n, p = X.shape
        K = self.n_experts
        self._W = np.zeros((K - 1, p))
        if self.expert == "linear":
            var0 = float(np.var(y)) if self.noise_variance == "estimate" else float(self.noise_variance)
            start = {"B": np.zeros((K, p)), "log_var": np.full(K, np.log(max(var0, 1e-12)))}
        else:
            start = {"B": np.zeros(self._expert_shape(p))}
        if self.expert_init is None:
            Xf = X[:, : self.n_features_in_]
            init = self.init_params
            if init == "auto":
                init = "spectral" if self.expert == "linear" else "kmeans"
            if init == "spectral":
                labels = spectral_labels(Xf, y, K, rng) if K > 1 else np.zeros(n, dtype=int)
            elif init == "kmeans":
                labels = kmeans_labels(Xf, y, K, rng)
            else:
                labels = random_labels(n, K, rng)
            R = np.zeros((n, K))
            R[np.arange(n), labels] = 1.0
            # experts start at their M-step on the hard assignment (a small ridge keeps it finite)
            self._P, _ = self._family.m_step(X, y, R, start, max(self.expert_penalty, 1e-6), self._mask)
        else:
            B = self._coerce_init(self.expert_init, "expert_init", self._public_expert_shape())
            if self.expert == "softmax":
                B = B - B[:, -1:, :]  # each expert's softmax is invariant to a common shift
                B = B[:, :-1, :]
            elif self.expert == "logistic":
                B = B[:, None, :]
            self._P = dict(start, B=B)
        if self.gate_init is not None:
            G = self._coerce_init(self.gate_init, "gate_init", (K, self.n_features_in_))
            G = G - G[-1]
            self._W = G[:-1]

    def _public_expert_shape(self):
        K, d = self.n_experts, self.n_features_in_
        if self.expert == "softmax":
            return (K, self._target.shape[1], d)
        return (K, d)

    def _coerce_init(self, value, name, shape):
        """Accept ``shape`` or ``shape`` with one more last column (intercepts)."""
        arr = check_array(value, name, ndim=len(shape))
        if arr.shape == shape:
            if self.fit_intercept:
                arr = np.concatenate([arr, np.zeros(shape[:-1] + (1,))], axis=-1)
            return arr
        if self.fit_intercept and arr.shape == shape[:-1] + (shape[-1] + 1,):
            return arr
        allowed = f"{shape}" + (f" or {shape[:-1] + (shape[-1] + 1,)}" if self.fit_intercept else "")
        raise ValueError(f"{name} must have shape {allowed}; got {arr.shape}")

    # ------------------------------------------------------------------ steps
    def _log_joint(self, X, y):
        log_pi = log_softmax(logits(X, self._W))  # (n, K)
        return log_pi + self._family.log_prob(X, y, self._P)  # (n, K)

    def _penalty(self):
        Wm = self._W * self._mask
        return 0.5 * self.gate_penalty * float(np.sum(Wm * Wm)) + self._family.penalty(
            self._P, self.expert_penalty, self._mask)

    def _e_step(self, X, y):
        log_joint = self._log_joint(X, y)
        lse = logsumexp_rows(log_joint)[:, 0]  # (n,)
        log_resp = log_joint - lse[:, None]
        return log_resp, float(np.mean(lse)) - self._penalty()

    def _m_step(self, X, y, log_resp):
        R = np.exp(log_resp)  # (n, K)
        n = X.shape[0]
        if self.solver == "em":
            self._W, e_gate = fit_multinomial(X, R, np.ones(n), self._W, n_total=n, penalty=self.gate_penalty,
                                              mask=self._mask, tol=1e-10, max_iter=self.inner_max_iter)
            self._P, e_exp = self._family.m_step(X, y, R, self._P, self.expert_penalty, self._mask)
            self._n_grad_evals += e_gate + e_exp
            return
        ones = np.full(n, 1.0 / n)
        for _ in range(self.inner_steps):  # gradient steps on -Q(. | theta_t)/n, R fixed at theta_t
            gW = objective_and_grad(self._W, X, R, ones, self.gate_penalty, self._mask)[1]
            gP = self._family.gradient(X, y, R, self._P, self.expert_penalty, self._mask)
            self._W = self._W - self._lr * gW
            self._P = self._family.apply_step(self._P, gP, self._lr)
            self._n_grad_evals += 1

    def _get_parameters(self):
        return {"W": self._W.copy(), "P": {k: v.copy() for k, v in self._P.items()}}

    def _set_parameters(self, params):
        self._W = params["W"].copy()
        self._P = {k: v.copy() for k, v in params["P"].items()}
        K, d = self.n_experts, self.n_features_in_
        W_full = np.vstack([self._W, np.zeros((1, self._W.shape[1]))])  # (K, p)
        self.gate_coef_ = W_full[:, :d].copy()
        self.gate_intercept_ = W_full[:, d].copy() if self.fit_intercept else np.zeros(K)
        B = self._P["B"]
        if self.expert == "linear":
            self.expert_coef_ = B[:, :d].copy()
            self.expert_intercept_ = B[:, d].copy() if self.fit_intercept else np.zeros(K)
            self.noise_variance_ = np.exp(self._P["log_var"])
        elif self.expert == "logistic":
            self.expert_coef_ = B[:, 0, :d].copy()
            self.expert_intercept_ = B[:, 0, d].copy() if self.fit_intercept else np.zeros(K)
        else:
            Bf = np.concatenate([B, np.zeros((K, 1, B.shape[2]))], axis=1)  # (K, C, p)
            self.expert_coef_ = Bf[:, :, :d].copy()
            self.expert_intercept_ = Bf[:, :, d].copy() if self.fit_intercept else np.zeros(Bf.shape[:2])

    # ------------------------------------------------------------------ prediction
    def _check_fitted_X(self, X):
        check_is_fitted(self, "converged_")  # NotFittedError (a ValueError) before fit
        X = _check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return self._design(X)

    def _encode(self, X, y):
        if self.expert == "linear":
            y = check_array(y, "y", ndim=1)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
            return y
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with {X.shape[0]} entries; got shape {y.shape}")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[idx] == y):
            raise ValueError("y holds labels that were not seen in fit")
        T = np.zeros((len(y), len(self.classes_)))
        T[np.arange(len(y)), (1 - idx) if self.expert == "logistic" else idx] = 1.0
        return T

    def gate_proba(self, X):
        """Gate probabilities ``P(z=k | x)``, shape (n_samples, n_experts)."""
        Xd = self._check_fitted_X(X)
        return np.exp(log_softmax(logits(Xd, self._W)))

    def responsibilities(self, X, y):
        """Posterior ``P(z=k | x, y)`` (the E-step), shape (n_samples, n_experts)."""
        Xd = self._check_fitted_X(X)
        lj = self._log_joint(Xd, self._encode(Xd, y))
        return np.exp(lj - logsumexp_rows(lj))

    def sample_log_likelihood(self, X, y):
        """Per-sample log-likelihood ``log p(y_i | x_i)``.

        (Not named ``score_samples``: scikit-learn reserves that for a density of ``X`` alone,
        called as ``score_samples(X)``; a mixture of experts models ``y`` given ``x``.)
        """
        Xd = self._check_fitted_X(X)
        return logsumexp_rows(self._log_joint(Xd, self._encode(Xd, y)))[:, 0]

    def score(self, X, y):
        """Mean log-likelihood ``(1/n) sum_i log p(y_i | x_i)`` (no penalty term)."""
        return float(np.mean(self.sample_log_likelihood(X, y)))

    @available_if(lambda self: self.expert != "linear")
    def predict_proba(self, X):
        """Class probabilities ``sum_k P(z=k|x) P_k(y|x)``, columns in ``classes_`` order.

        Only defined for ``expert='logistic'`` or ``'softmax'`` (``hasattr`` is False otherwise,
        as for scikit-learn's meta-estimators).
        """
        Xd = self._check_fitted_X(X)
        pi = np.exp(log_softmax(logits(Xd, self._W)))  # (n, K)
        P = np.einsum("nk,nkc->nc", pi, self._family.proba(Xd, self._P))  # (n, C)
        return P[:, ::-1] if self.expert == "logistic" else P

    def predict(self, X):
        """Mixture mean ``sum_k P(z=k|x) x . beta_k`` (linear) or the most probable class."""
        if self.expert == "linear":
            Xd = self._check_fitted_X(X)
            pi = np.exp(log_softmax(logits(Xd, self._W)))
            return np.sum(pi * self._family.predict_mean(Xd, self._P), axis=1)
        proba = self.predict_proba(X)  # NotFittedError before fit (before classes_ is looked up)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        # Classification experts make a classifier (integer labels, predict_proba); logistic
        # experts are binary only. Linear experts keep the default (real targets).
        tags = super().__sklearn_tags__()
        if self.expert in ("logistic", "softmax"):
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=self.expert == "softmax")
            tags.regressor_tags = None
        return tags
