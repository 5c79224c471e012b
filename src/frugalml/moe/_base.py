"""Base class for mixtures of experts: it owns the fitting loop.

Follows ``sklearn/mixture/_base.py``: the base class runs the ``n_init`` restarts, the
E-step / M-step alternation, the convergence test and the ``ConvergenceWarning``;
subclasses supply only their steps (``_initialize``, ``_e_step``, ``_m_step``) and the
parameter get/set used to keep the best restart.
"""

from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from frugalml._core.random import check_random_state
from frugalml._core.validation import check_scalar


def _check_int(value, name, minimum=1):
    return check_scalar(value, name, integer=True, low=minimum)


def _check_real(value, name, *, minimum=0.0, strict=False):
    return float(check_scalar(value, name, low=minimum, low_inclusive=not strict))


class BaseMixtureOfExperts(BaseEstimator, metaclass=ABCMeta):
    """Shared EM / gradient loop for mixtures of experts.

    The loop, per restart::

        initialise parameters theta_0
        objective_0 = E-step(theta_0)
        for t = 1 .. max_iter:
            theta_t = M-step(responsibilities(theta_{t-1}))
            objective_t = E-step(theta_t)
            stop when |objective_t - objective_{t-1}| < tol

    ``lower_bounds_[t]`` is the (penalised) mean log-likelihood at ``theta_t``, so
    ``lower_bounds_[0]`` is the starting point and ``lower_bound_`` the value at the
    returned parameters. ``converged_`` is True only if the tolerance was met.
    """

    def __init__(self, n_experts, *, max_iter, tol, n_init, random_state, warm_start, verbose):
        self.n_experts = n_experts
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ---------------------------------------------------------------- subclass API
    @abstractmethod
    def _validate_fit_data(self, X, y):
        """Return checked ``(X, y)`` in the form the steps use."""

    @abstractmethod
    def _check_parameters(self, X, y):
        """Check the subclass hyper-parameters (raise ValueError naming the argument)."""

    @abstractmethod
    def _initialize(self, X, y, rng):
        """Set the starting parameters."""

    @abstractmethod
    def _e_step(self, X, y):
        """Return ``(log_resp (n, K), objective)`` at the current parameters."""

    @abstractmethod
    def _m_step(self, X, y, log_resp):
        """Update the parameters given the responsibilities of the current ones."""

    @abstractmethod
    def _get_parameters(self):
        """A snapshot of the learned parameters."""

    @abstractmethod
    def _set_parameters(self, params):
        """Restore a snapshot (and set the public ``*_`` attributes)."""

    # ---------------------------------------------------------------- the loop
    def _check_base_parameters(self):
        _check_int(self.n_experts, "n_experts")
        _check_int(self.max_iter, "max_iter", minimum=0)
        _check_real(self.tol, "tol")
        _check_int(self.n_init, "n_init")

    def fit(self, X, y):
        """Fit the mixture by ``n_init`` restarts of the loop; keep the best objective.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Real targets (linear experts) or class labels (classification experts).

        Returns
        -------
        self
        """
        self._check_base_parameters()
        X, y = self._validate_fit_data(X, y)
        self._check_parameters(X, y)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)

        best = None
        for init in range(n_init):
            if do_init:
                self._initialize(X, y, rng)
            self._n_grad_evals = 0
            log_resp, objective = self._e_step(X, y)
            history = [objective]
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):
                self._m_step(X, y, log_resp)
                log_resp, objective = self._e_step(X, y)
                change = objective - history[-1]
                history.append(objective)
                if self.verbose >= 2:
                    print(f"  init {init + 1} iteration {n_iter}: objective {objective:.10g} change {change:.3g}")
                if not np.isfinite(objective):
                    break
                if abs(change) < self.tol:
                    converged = True
                    break
            if self.verbose >= 1:
                print(f"init {init + 1}: objective {objective:.10g} after {n_iter} iterations, converged={converged}")
            if best is None or (np.isfinite(objective) and objective > best[0]) or not np.isfinite(best[0]):
                best = (objective, self._get_parameters(), n_iter, converged, history, self._n_grad_evals)

        objective, params, n_iter, converged, history, n_grad = best
        self._set_parameters(params)
        self.n_iter_ = n_iter
        self.converged_ = bool(converged)
        self.lower_bounds_ = [float(v) for v in history]
        self.lower_bound_ = float(objective)
        self.n_grad_evals_ = int(n_grad)
        if not np.isfinite(objective):
            warnings.warn(
                f"the objective became non-finite ({objective}); with a gradient solver the "
                "learning_rate is too large for this problem, lower it",
                ConvergenceWarning,
                stacklevel=2,
            )
        elif not converged and self.max_iter > 0:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} iterations "
                f"(last change above tol={self.tol}); raise max_iter or tol, or check the "
                "learning_rate of a gradient solver",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self
