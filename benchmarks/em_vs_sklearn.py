"""emtwin's Gaussian-mixture EM against scikit-learn's ``GaussianMixture``: same data, same
start, same model (full covariances, no regularisation), in the same process.

Per iteration
    Both run a fixed number n of iterations, and once a single iteration; the cost of one
    iteration is (t(n) − t(1)) / (n − 1), each t the best of several repeats. That removes
    what each pays once per call: input checks and the log-likelihood of the start for
    emtwin; the initialisation (an M-step from a one-hot assignment, whose result the given
    start then replaces) and a last E-step for scikit-learn. t(n) / n is kept too.
Same work
    scikit-learn's ``lower_bounds_[t]`` is the mean log-likelihood per point at the
    parameters after t M-steps, which is emtwin's ``loglik_trace[t] / N``: the two
    trajectories are compared entry by entry, and the final parameters too.
To convergence
    The stopping rules measure different things (emtwin: largest parameter change;
    scikit-learn: change of the mean log-likelihood), so iterations, time and the final
    log-likelihood of each are reported. These times are whole calls, once-per-call costs
    included (for scikit-learn about two iterations' worth, for emtwin about one).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference.driver import EMConvergenceWarning, EMResult

from .data import K, draw_mixture, sklearn_init, sklearn_view, start_for
from .timing import best_of, timed

__all__ = [
    "ConvergenceRecord",
    "IterationRecord",
    "Problem",
    "fit_ours",
    "fit_sklearn",
    "per_iteration",
    "trajectory_difference",
    "to_convergence",
    "warm_up",
]

# emtwin's fit stops when the parameter change falls below tol; for a fixed number of
# iterations tol must never be reached (a change of exactly 0 is < tol only if tol > 0).
NEVER = np.finfo(float).tiny
WARM_UP_N = 500


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: the data, in both libraries' forms, and the shared start."""

    dim: int
    n: int
    data: em_gm.MixtureData
    start: dict[str, np.ndarray]

    @classmethod
    def make(cls, n: int, dim: int, seed: int) -> Problem:
        """Draw the data (see :mod:`benchmarks.data`) and check them once, outside any timing."""
        return cls(dim, n, em_gm.MixtureData(draw_mixture(n, dim, seed), K), start_for(dim))

    @property
    def x_sklearn(self) -> np.ndarray:
        return sklearn_view(self.data.x)


def fit_ours(data: em_gm.MixtureData, start: dict[str, np.ndarray], *, max_iter: int, tol: float = NEVER) -> EMResult:
    """emtwin's EM from ``start``; a run stopped by ``max_iter`` is expected here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EMConvergenceWarning)
        return em_gm.fit(data, start, tol=tol, max_iter=max_iter)


def fit_sklearn(x: np.ndarray, start: dict[str, np.ndarray], *, max_iter: int, tol: float = 0.0) -> GaussianMixture:
    """scikit-learn's EM from ``start`` on ``x`` of shape (N, d), full covariances, ``reg_covar=0``.

    With ``weights_init``, ``means_init`` and ``precisions_init`` all given, scikit-learn
    still computes an initialisation and then discards it. ``init_params="random_from_data"``
    keeps that to a one-hot N × k assignment and one M-step, about one EM iteration; the
    default, k-means, would add a k-means fit to every timed call.
    """
    model = GaussianMixture(
        n_components=K,
        covariance_type="full",
        tol=tol,
        reg_covar=0.0,
        max_iter=max_iter,
        init_params="random_from_data",
        random_state=0,
        **sklearn_init(start),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x)
    return model


def warm_up(dim: int) -> None:
    """Fit both EMs once on a few hundred points, untimed: compiled kernels (emtwin's Numba
    code, loaded from its disk cache or compiled) and lazy imports are then in place, and
    the first timed or traced run measures EM, not set-up."""
    problem = Problem.make(WARM_UP_N, dim, seed=0)
    fit_ours(problem.data, problem.start, max_iter=2)
    fit_sklearn(problem.x_sklearn, problem.start, max_iter=2)


def _sklearn_params(model: GaussianMixture, dim: int) -> dict[str, np.ndarray]:
    """scikit-learn's fitted parameters in emtwin's names and shapes."""
    if dim == 1:
        return {"weights": model.weights_, "mu": model.means_[:, 0], "sigma": np.sqrt(model.covariances_[:, 0, 0])}
    return {"weights": model.weights_, "mu": model.means_, "cov": model.covariances_}


def _sklearn_loglik(model: GaussianMixture, problem: Problem) -> float:
    """Total log-likelihood (nats) at scikit-learn's final parameters."""
    return float(model.score(problem.x_sklearn) * problem.n)


def _max_abs_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(a[name]) - np.asarray(b[name])))) for name in a)


def trajectory_difference(ours: EMResult, theirs: GaussianMixture, n: int) -> float:
    """Largest relative difference between the two mean log-likelihood trajectories.

    ``theirs.lower_bounds_[t]`` (t = 0, 1, …) is the mean log-likelihood per point before
    M-step t + 1, i.e. after t M-steps: emtwin's ``loglik_trace[t] / n``.
    """
    bounds = np.asarray(theirs.lower_bounds_, dtype=float)
    mine = np.asarray(ours.loglik_trace[: len(bounds)], dtype=float) / n
    if len(mine) != len(bounds):
        raise RuntimeError(f"trajectories differ in length: emtwin {len(mine)}, scikit-learn {len(bounds)}")
    return float(np.max(np.abs(mine - bounds) / np.abs(bounds)))


@dataclass(frozen=True)
class IterationRecord:
    """One library pair at one (dim, N): cost of one EM iteration and the same-work checks.

    Times in seconds. ``speedup`` = scikit-learn's per-iteration time / emtwin's.
    Log-likelihoods are totals in nats after ``n_iter`` M-steps.
    """

    dim: int
    n: int
    k: int
    n_iter: int
    repeats: int
    ours_per_iter_s: float
    sklearn_per_iter_s: float
    speedup: float
    ours_total_s: float
    sklearn_total_s: float
    ours_one_iter_s: float
    sklearn_one_iter_s: float
    ours_loglik: float
    sklearn_loglik: float
    trajectory_max_rel_diff: float
    params_max_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_iteration(problem: Problem, *, n_iter: int, repeats: int) -> IterationRecord:
    """Time ``n_iter`` and 1 iteration of both EMs (best of ``repeats``) and check the work.

    Parameters
    ----------
    problem : Problem
    n_iter : int
        Iterations per timed run, at least 2; fewer if emtwin's parameters stop changing
        exactly (the record's ``n_iter`` says how many were run).
    repeats : int
        Timed runs of each; the shortest counts.
    """
    if n_iter < 2:
        raise ValueError(f"n_iter must be at least 2 (the cost per iteration is a difference); got {n_iter}.")
    ours_total, ours = best_of(repeats, lambda: fit_ours(problem.data, problem.start, max_iter=n_iter))
    if ours.n_iter < n_iter:
        # The parameters stopped changing at all (change exactly 0, below any tol): time
        # both over the iterations there are.
        if ours.n_iter < 2:
            raise RuntimeError(f"emtwin's EM reached a fixed point after {ours.n_iter} iteration; nothing to time.")
        n_iter = ours.n_iter
        ours_total, ours = best_of(repeats, lambda: fit_ours(problem.data, problem.start, max_iter=n_iter))
    ours_one, _ = best_of(repeats, lambda: fit_ours(problem.data, problem.start, max_iter=1))
    theirs_total, theirs = best_of(repeats, lambda: fit_sklearn(problem.x_sklearn, problem.start, max_iter=n_iter))
    theirs_one, _ = best_of(repeats, lambda: fit_sklearn(problem.x_sklearn, problem.start, max_iter=1))
    if ours.n_iter != n_iter or theirs.n_iter_ != n_iter:
        raise RuntimeError(f"asked for {n_iter} iterations; emtwin ran {ours.n_iter}, scikit-learn {theirs.n_iter_}")
    ours_per = (ours_total - ours_one) / (n_iter - 1)
    theirs_per = (theirs_total - theirs_one) / (n_iter - 1)
    return IterationRecord(
        dim=problem.dim,
        n=problem.n,
        k=K,
        n_iter=n_iter,
        repeats=repeats,
        ours_per_iter_s=ours_per,
        sklearn_per_iter_s=theirs_per,
        speedup=theirs_per / ours_per,
        ours_total_s=ours_total,
        sklearn_total_s=theirs_total,
        ours_one_iter_s=ours_one,
        sklearn_one_iter_s=theirs_one,
        ours_loglik=ours.log_likelihood,
        sklearn_loglik=_sklearn_loglik(theirs, problem),
        trajectory_max_rel_diff=trajectory_difference(ours, theirs, problem.n),
        params_max_abs_diff=_max_abs_difference(ours.params, _sklearn_params(theirs, problem.dim)),
    )


@dataclass(frozen=True)
class ConvergenceRecord:
    """Both EMs run to their own stopping rule from the shared start (times in seconds,
    log-likelihoods total, nats). ``speedup`` = scikit-learn's time / emtwin's."""

    dim: int
    n: int
    ours_tol: float
    sklearn_tol: float
    ours_n_iter: int
    sklearn_n_iter: int
    ours_converged: bool
    sklearn_converged: bool
    ours_s: float
    sklearn_s: float
    speedup: float
    ours_loglik: float
    sklearn_loglik: float
    loglik_rel_diff: float
    params_max_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_convergence(problem: Problem, *, ours_tol: float, sklearn_tol: float, max_iter: int = 10_000) -> ConvergenceRecord:
    """One run of each EM to convergence (``ours_tol``: parameter units; ``sklearn_tol``:
    mean log-likelihood per point, nats)."""
    ours_s, ours = timed(lambda: fit_ours(problem.data, problem.start, max_iter=max_iter, tol=ours_tol))
    theirs_s, theirs = timed(lambda: fit_sklearn(problem.x_sklearn, problem.start, max_iter=max_iter, tol=sklearn_tol))
    theirs_ll = _sklearn_loglik(theirs, problem)
    return ConvergenceRecord(
        dim=problem.dim,
        n=problem.n,
        ours_tol=ours_tol,
        sklearn_tol=sklearn_tol,
        ours_n_iter=ours.n_iter,
        sklearn_n_iter=int(theirs.n_iter_),
        ours_converged=ours.converged,
        sklearn_converged=bool(theirs.converged_),
        ours_s=ours_s,
        sklearn_s=theirs_s,
        speedup=theirs_s / ours_s,
        ours_loglik=ours.log_likelihood,
        sklearn_loglik=theirs_ll,
        loglik_rel_diff=abs(ours.log_likelihood - theirs_ll) / abs(theirs_ll),
        params_max_abs_diff=_max_abs_difference(ours.params, _sklearn_params(theirs, problem.dim)),
    )
