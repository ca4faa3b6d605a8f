"""The one EM loop every scenario runs through.

A scenario hands :func:`run_em` three plain functions written as on its slide::

    resp   = e_step(data, params)          # Pr(label | observation, params), rows sum to 1
    params = m_step(data, resp)            # maximise the expected complete-data log-likelihood
    ll     = log_likelihood(data, params)  # total observed-data log-likelihood, in nats

``params`` is a dict mapping parameter names to floats or NumPy arrays. The driver owns
the loop, the stopping rule and the record a teacher wants to show; the scenario owns
nothing but its formulas.

A scenario whose data are large may also hand over a fused ``step``, one EM iteration in a
single pass over the data, which returns what the three functions would::

    new_params, ll = step(data, params)    # m_step(data, e_step(data, params)),
                                           # log_likelihood(data, params)

The loop calls ``step`` once per iteration; without a fused one it is the three functions
composed, ``(m_step(data, e_step(data, params)), log_likelihood(data, params))``, so there is
one loop either way. ``e_step`` and ``log_likelihood`` also give the final row.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .checks import check

__all__ = [
    "EMConvergenceWarning",
    "EMResult",
    "SymmetricFixedPointWarning",
    "LocalMaximum",
    "Params",
    "run_em",
    "run_em_multistart",
]

Params = dict[str, np.ndarray]
EStep = Callable[[Any, Params], np.ndarray]
MStep = Callable[[Any, np.ndarray], Params]
LogLikelihood = Callable[[Any, Params], float]
Step = Callable[[Any, Params], tuple[Mapping[str, Any], float]]


class EMConvergenceWarning(UserWarning):
    """EM stopped at the iteration cap before the parameter change fell below ``tol``.

    Attributes
    ----------
    last_change : float
        Largest absolute parameter change in the last iteration.
    tol : float
        The tolerance that was not reached.
    n_iter : int
        Iterations run.
    """

    def __init__(self, last_change: float, tol: float, n_iter: int):
        self.last_change = last_change
        self.tol = tol
        self.n_iter = n_iter
        super().__init__(
            f"EM did not converge in {n_iter} iterations: the last parameter change was "
            f"{last_change:.3g}, above tol={tol:.3g}. Raise max_iter or loosen tol."
        )


class SymmetricFixedPointWarning(UserWarning):
    """EM ended with two components equal: its symmetric fixed point, not a k-component fit.

    Equal components get equal responsibilities, so the M-step keeps them equal for ever:
    once there (or started there), EM cannot leave. The run "converged", but to a point
    that describes fewer components than were asked for.

    Attributes
    ----------
    components : tuple of str
        The two components that ended equal (their labels).
    difference : float
        Largest absolute difference between their parameters, in parameter units.
    atol : float
        Components closer than this in every parameter count as equal.
    """

    def __init__(self, components: tuple[str, str], difference: float, atol: float):
        self.components = components
        self.difference = difference
        self.atol = atol
        a, b = components
        super().__init__(
            f"EM ended at its symmetric fixed point: components {a} and {b} are equal (largest parameter "
            f"difference {difference:.3g}, below {atol:g}), so this is not a fit with distinct components. "
            "Start elsewhere, or use fewer components if the data hold fewer groups."
        )


@dataclasses.dataclass(frozen=True)
class LocalMaximum:
    """One distinct end point found by :func:`run_em_multistart`."""

    params: Params
    log_likelihood: float
    n_starts: int  # how many starts ended here


@dataclasses.dataclass(frozen=True)
class EMResult:
    """Everything one EM run computed.

    Attributes
    ----------
    params : dict of str to ndarray
        Final parameters.
    param_trace : dict of str to ndarray
        ``param_trace[name][t]`` is the value after iteration ``t``; row 0 is the start,
        so each array has ``n_iter + 1`` rows.
    loglik_trace : ndarray, shape (n_iter + 1,)
        Total observed-data log-likelihood (nats) at each row of ``param_trace``.
    responsibilities : ndarray
        The last E-step, computed at the final parameters; shape (n_observations,
        n_components), rows sum to one.
    n_iter : int
        M-steps taken.
    converged : bool
        Whether the largest absolute parameter change fell below ``tol``.
    tol : float
        The tolerance used (max absolute change of any parameter in one iteration).
    local_maxima : tuple of LocalMaximum
        Filled by :func:`run_em_multistart`: every distinct end point, best first.
    """

    params: Params
    param_trace: dict[str, np.ndarray]
    loglik_trace: np.ndarray
    responsibilities: np.ndarray
    n_iter: int
    converged: bool
    tol: float
    local_maxima: tuple[LocalMaximum, ...] = dataclasses.field(default=())

    @property
    def log_likelihood(self) -> float:
        """Total log-likelihood (nats) at the final parameters."""
        return float(self.loglik_trace[-1])


def _as_params(params: Mapping[str, Any]) -> Params:
    return {name: np.array(value, dtype=float) for name, value in params.items()}


def _max_abs_change(old: Params, new: Params) -> float:
    return max(float(np.max(np.abs(new[name] - old[name]))) for name in old)


def _default_step(e_step: EStep, m_step: MStep, log_likelihood: LogLikelihood) -> Step:
    """One EM iteration from the three slide functions: the M-step of the E-step, with the
    log-likelihood at the parameters it started from."""

    def step(data: Any, params: Params) -> tuple[Mapping[str, Any], float]:
        return m_step(data, e_step(data, params)), log_likelihood(data, params)

    return step


def run_em(
    data: Any,
    initial: Mapping[str, Any],
    e_step: EStep,
    m_step: MStep,
    log_likelihood: LogLikelihood,
    *,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    step: Step | None = None,
) -> EMResult:
    """Run EM from ``initial`` until the parameters stop moving.

    Parameters
    ----------
    data
        Whatever the scenario's step functions take (validated by the scenario).
    initial : mapping of str to float or array
        Starting parameters.
    e_step, m_step, log_likelihood
        The scenario's formulas (see the module docstring).
    tol : float
        Stop when the largest absolute change of any parameter in one iteration is
        below ``tol`` (parameter units, e.g. probability for a coin's bias). A
        parameter tolerance rather than a log-likelihood one, because on a flat ridge
        the log-likelihood stops changing long before the parameters do.
    max_iter : int
        Iteration cap; reaching it emits :class:`EMConvergenceWarning`.
    step : callable, optional
        ``step(data, params) -> (new_params, ll)``: one iteration computed in one go, equal
        to ``(m_step(data, e_step(data, params)), log_likelihood(data, params))`` (module
        docstring). Default: exactly that, from the three functions. With a fused step,
        ``e_step`` and ``log_likelihood`` are called once, at the final parameters.

    Returns
    -------
    EMResult
    """
    tol, max_iter = check("tol", tol), check("max_iter", max_iter)
    if step is None:
        step = _default_step(e_step, m_step, log_likelihood)

    params = _as_params(initial)
    trace = {name: [value] for name, value in params.items()}
    # loglik[t] is at the parameters after t M-steps: each step reports it for the
    # parameters it started from, and the last one is computed after the loop.
    loglik: list[float] = []
    converged = False
    change = np.inf
    n_iter = 0
    while n_iter < max_iter and not converged:
        new_params, ll = step(data, params)
        new_params = _as_params(new_params)
        loglik.append(float(ll))
        change = _max_abs_change(params, new_params)
        params = new_params
        n_iter += 1
        for name, value in params.items():
            trace[name].append(value)
        converged = change < tol
    loglik.append(float(log_likelihood(data, params)))
    if not converged:
        warnings.warn(EMConvergenceWarning(change, tol, n_iter), stacklevel=2)

    return EMResult(
        params=params,
        param_trace={name: np.array(values) for name, values in trace.items()},
        loglik_trace=np.array(loglik),
        # Recomputed at the final parameters, so the responsibilities match `params`.
        responsibilities=e_step(data, params),
        n_iter=n_iter,
        converged=converged,
        tol=tol,
    )


def run_em_multistart(
    data: Any,
    starts: list[Mapping[str, Any]],
    e_step: EStep,
    m_step: MStep,
    log_likelihood: LogLikelihood,
    *,
    canonical: Callable[[Params], Params] = lambda params: params,
    same_point_atol: float = 1e-4,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    step: Step | None = None,
) -> EMResult:
    """Run EM from several starts; return the best run with every distinct end point.

    Parameters
    ----------
    starts : list of mappings
        Starting parameters, one per run.
    canonical : callable
        Maps parameters to a label-free form (e.g. components sorted) so that two runs
        ending at the same maximum under swapped labels count as one.
    same_point_atol : float
        End points whose canonical parameters differ by less than this (max absolute
        difference) are one local maximum.
    step : callable, optional
        A fused iteration, passed to :func:`run_em`.

    Returns
    -------
    EMResult
        The run with the highest final log-likelihood (the earliest start on ties), with
        ``local_maxima`` listing every distinct end point, highest log-likelihood first.
    """
    if not starts:
        raise ValueError("starts must hold at least one set of starting parameters; got none")
    maxima: list[LocalMaximum] = []
    # Runs that may still be the best. Each holds its responsibilities (n_observations ×
    # n_components), so runs that can no longer win are dropped as soon as a better one
    # ends rather than kept until the last start.
    candidates: list[EMResult] = []
    top = -np.inf
    for start in starts:
        run = run_em(data, start, e_step, m_step, log_likelihood, tol=tol, max_iter=max_iter, step=step)
        point = canonical(run.params)
        for i, known in enumerate(maxima):
            if _max_abs_change(known.params, point) < same_point_atol:
                maxima[i] = LocalMaximum(known.params, known.log_likelihood, known.n_starts + 1)
                break
        else:
            maxima.append(LocalMaximum(point, run.log_likelihood, 1))
        top = max(top, run.log_likelihood)
        # Ties (within rounding) go to the earliest start, so the caller's own start wins
        # over a random one that reached the same maximum under swapped labels.
        candidates = [c for c in [*candidates, run] if c.log_likelihood >= top - 1e-9 * max(1.0, abs(top))]
    maxima.sort(key=lambda m: -m.log_likelihood)
    return dataclasses.replace(candidates[0], local_maxima=tuple(maxima))
