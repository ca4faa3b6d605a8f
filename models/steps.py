"""A user's EM checked step by step against the PyMC model it claims to fit.

End points say only *that* an EM is wrong. :func:`check_steps` runs the user's E-step and
M-step from their start and, at every iteration, holds each step to what the model says
it must be (see :mod:`.derived`):

- the E-step against the model's label posterior at the same θ (max |difference| ≤ 1e-8);
- the M-step against the maximiser of Q(θ | r) at the user's *own* responsibilities r, per
  parameter (|difference| ≤ 1e-8 · max(1, |value|)); an M-step that misses the maximiser but
  still raises Q (a generalised EM) is a warning, one that lowers Q or leaves the model's
  support is a failure;
- the user's log-likelihood against the model's (relative 1e-8, DESIGN's tolerance) and the
  model's log-likelihood never falling from one iteration to the next.

It stops at the first failure and says where: iteration, step, parameter, expected, got.
Components are taken in the user's column order. The model's ordering transform exists for
sampling; a user's M-step may cross it mid-run, so the oracle maximises Q over the same
free variables without the ordering (bounds and simplices kept), and says so where the
user's parameters are out of the model's order.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import fitting
from .derived import (
    build_mixture_model,
    label_posterior,
    mixture_q,
    observed_log_likelihood,
    ordering,
)

__all__ = ["E_STEP_ATOL", "LOGLIK_RTOL", "M_STEP_RTOL", "StepCheck", "StepFailure", "StepRow", "check_steps"]

E_STEP_ATOL = 1e-8  # largest |r_ij − Pr(label_i = j | x_i, θ)|
M_STEP_RTOL = 1e-8  # |θ − θ*| ≤ M_STEP_RTOL · max(1, |θ*|), entry by entry
LOGLIK_RTOL = 1e-8  # DESIGN.md: the twins' log-likelihoods, relative
# Rounding of a sum over n points: Q or the log-likelihood "unchanged" within this, relative.
ROUNDING_RTOL = 1e-12
CONVERGED_TOL = 1e-10  # the driver's default: largest absolute parameter change per iteration
DEFAULT_MAX_ITER = 10_000
STEPS = ("e_step", "m_step", "log_likelihood")
AGREE, DISAGREE = "agree", "disagree"


def _fmt(value: Any) -> str:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return "[" + ", ".join(_fmt(sub) if arr.ndim > 1 else f"{float(sub):.8g}" for sub in arr) + "]"


def _shown(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


@dataclass(frozen=True)
class StepFailure:
    """Where the user's EM first parted from the model.

    Attributes
    ----------
    iteration : int
        1 for the first E-step and M-step (from ``start``).
    step : {"e_step", "m_step", "log_likelihood"}
    parameter : str
        The parameter (M-step, the first in the model's order that fails),
        ``"responsibilities"`` (E-step; ``expected`` and ``got`` are the worst row, named
        in ``detail``) or ``"log_likelihood"``.
    expected, got : float or ndarray
        The model's value and the user's.
    detail : str
        Why, in words (e.g. "lowers Q from ... to ...").
    """

    iteration: int
    step: str
    parameter: str
    expected: Any
    got: Any
    detail: str = ""

    def __str__(self) -> str:
        more = f" ({self.detail})" if self.detail else ""
        return f"iteration {self.iteration}, {self.step}, {self.parameter}: expected {_fmt(self.expected)}, got {_fmt(self.got)}{more}"


@dataclass(frozen=True)
class StepRow:
    """One iteration: each step's largest difference from the model and its status.

    ``status`` maps each step to ``"ok"``, ``"FAIL"``, ``"GEM"`` (M-step raises Q without
    maximising it) or ``"-"`` (not reached: an earlier step of the iteration failed).
    """

    iteration: int
    e_gap: float
    m_gap: float  # largest of m_gaps
    m_gaps: dict[str, float]  # per parameter: max |θ − θ*| / max(1, |θ*|)
    loglik: float  # the model's log-likelihood (nats) after this iteration's M-step
    loglik_gap: float  # relative |user's − model's|; NaN without a user log-likelihood
    status: dict[str, str]


@dataclass(frozen=True)
class StepCheck:
    """What :func:`check_steps` found, iteration by iteration.

    Attributes
    ----------
    rows : list of StepRow
    first_failure : StepFailure or None
    warnings : list of str
        Generalised-EM steps, as one line carrying its iterations and Q values.
    notes : list of str
        Where the user's parameters leave the model's ordering (the oracle ignores it).
    params : dict
        The user's parameters after the last iteration run.
    n_iter : int
    converged : bool
        The user's EM stopped moving (largest change < 1e-10) with no failure.
    """

    rows: list[StepRow]
    first_failure: StepFailure | None
    warnings: list[str]
    notes: list[str]
    params: dict[str, np.ndarray]
    n_iter: int
    converged: bool
    tolerances: dict[str, float] = field(default_factory=lambda: {
        "e_step": E_STEP_ATOL, "m_step": M_STEP_RTOL, "log_likelihood": LOGLIK_RTOL})

    @property
    def verdict(self) -> str:
        """``"disagree"`` if a step failed, else ``"agree"`` (warnings do not change it)."""
        return DISAGREE if self.first_failure is not None else AGREE

    @property
    def ok(self) -> bool:
        return self.first_failure is None

    @property
    def message(self) -> str:
        """One line: the first failure with its numbers, or that every step agreed."""
        if self.first_failure is not None:
            return str(self.first_failure)
        gem = f", {len(self.warnings)} warning{'s' * (len(self.warnings) != 1)}" if self.warnings else ""
        return f"every step of {self.n_iter} iterations agrees with the model{gem}"

    def table(self) -> str:
        """One row per iteration, one column per step, the failing cell marked ``◀ FAIL``."""
        head = f"{'iter':>5}  {'e_step max|r−r*|':>18}  {'m_step max|θ−θ*|':>22}  {'log-lik (model)':>18}  {'rel |ll−ll*|':>14}"
        lines = ["step check: each step of your EM against the PyMC model's", head, "-" * len(head)]
        for row in self.rows:
            def cell(step: str, value: float, width: int) -> str:
                status = row.status[step]
                if status == "-":
                    return f"{'-':>{width}}"
                text = f"{value:.2e}" if np.isfinite(value) else "n/a"
                mark = {"ok": "", "FAIL": " ◀ FAIL", "GEM": " (GEM)"}[status]
                return f"{text + mark:>{width}}"
            lines.append(
                f"{row.iteration:>5}  {cell('e_step', row.e_gap, 18)}  {cell('m_step', row.m_gap, 22)}  "
                f"{f'{row.loglik:.10g}' if np.isfinite(row.loglik) else '-':>18}  "
                f"{cell('log_likelihood', row.loglik_gap, 14)}"
            )
        lines.append("")
        lines.append(f"tolerances: e_step {E_STEP_ATOL:g} absolute, m_step {M_STEP_RTOL:g}·max(1, |θ*|), "
                     f"log-likelihood {LOGLIK_RTOL:g} relative and never falling")
        if self.first_failure is not None:
            lines.append(f"first failure: {self.first_failure}")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
        label = self.verdict.upper()
        if self.warnings and self.ok:
            label += f" (with {len(self.warnings)} warning{'s' * (len(self.warnings) != 1)})"
        lines.append(f"verdict: {label}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- input


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _params(model: Any, params: Any, who: str, builder: str) -> dict[str, np.ndarray]:
    """``params`` as float arrays with exactly the model's free-variable names and shapes."""
    names = fitting.free_names(model)
    if not isinstance(params, Mapping):
        raise ValueError(f"{who} must be a dict of the model's free variables {names}; got {type(params).__name__}.")
    unknown = [n for n in params if n not in names]
    missing = [n for n in names if n not in params]
    if unknown or missing:
        raise ValueError(
            f"{who} names the parameters {list(params)} but the model built by {builder} has the free "
            f"variables {names} (unknown: {unknown}, missing: {missing}). Name the parameters as the "
            "model's free variables."
        )
    shapes = fitting._shapes(model)
    out = {}
    for n in names:
        try:
            value = np.asarray(params[n], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{who}[{n!r}] must hold numbers; got {params[n]!r}.") from None
        if value.shape != shapes[n]:
            raise ValueError(f"{who}[{n!r}] has shape {value.shape} but the model's {n!r} has shape {shapes[n]}.")
        out[n] = value
    bad = {n: v for n, v in out.items() if not np.all(np.isfinite(v))}
    if bad:
        raise ValueError(
            f"{who} returned non-finite parameters: {_shown(bad)}. Look for a division by a zero total "
            "or a log of 0." if who.startswith("m_step") else f"{who} must be finite; got {_shown(bad)}."
        )
    return out


def _max_iter(max_iter: Any) -> int:
    if max_iter is None:
        return DEFAULT_MAX_ITER
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a whole number >= 1 (or None for {DEFAULT_MAX_ITER}); got {max_iter!r}.")
    return int(max_iter)


def _out_of_order(order: Mapping[str, bool], params: Mapping[str, np.ndarray]) -> list[str]:
    out = []
    for name, ascending in order.items():
        diffs = np.diff(np.asarray(params[name], dtype=float), axis=0)
        if not np.all(diffs > 0 if ascending else diffs < 0):
            out.append(name)
    return out


# --------------------------------------------------------------------------- the check


def check_steps(
    e_step: Callable[[Any, Mapping[str, np.ndarray]], np.ndarray],
    m_step: Callable[[Any, np.ndarray], Mapping[str, Any]],
    data: Any,
    build_model: Callable[..., Any],
    start: Mapping[str, Any],
    *,
    log_likelihood: Callable[[Any, Mapping[str, np.ndarray]], float] | None = None,
    observed: str | None = None,
    max_iter: int | None = None,
) -> StepCheck:
    """Run the user's EM from ``start`` and check every step against the model.

    Parameters
    ----------
    e_step : callable (data, params) -> ndarray, shape (n_observations, n_components)
        The user's responsibilities; columns in the user's component order.
    m_step : callable (data, responsibilities) -> dict
        New parameters, named as the model's free variables, in their shapes.
    data
        What the user's functions and ``build_model`` take.
    build_model : callable (data) -> pm.Model
        A model whose likelihood is one observed ``pm.Mixture``.
    start : dict
        The user's starting parameters (constrained values, any component order).
    log_likelihood : callable (data, params) -> float, optional
        The user's total log-likelihood (nats); checked against the model's when given.
    observed : str, optional
        The observed mixture's name, if the model has several.
    max_iter : int, optional
        Iteration cap (default 10 000); the check also stops when the user's parameters
        stop moving (largest change below 1e-10) or at the first failure.

    Returns
    -------
    StepCheck
    """
    for arg, fn in (("e_step", e_step), ("m_step", m_step)):
        if not callable(fn):
            raise ValueError(f"{arg} must be a function; got {type(fn).__name__}.")
    if log_likelihood is not None and not callable(log_likelihood):
        raise ValueError(f"log_likelihood must be a function (data, params) -> float or None; got {type(log_likelihood).__name__}.")
    max_iter = _max_iter(max_iter)
    model = build_mixture_model(build_model, data, observed)
    builder = _name(build_model)
    q = mixture_q(model, observed, keep_order=False)
    labels = label_posterior(model, observed)
    model_loglik = observed_log_likelihood(model)
    theta = _params(model, start, "start", builder)
    if not q.inside_support(theta) or not np.isfinite(model_loglik(theta)):
        raise ValueError(
            f"start ({_shown(theta)}) lies outside the support of the model built by {builder}: no finite "
            "log-likelihood there, or a value its priors exclude (a negative rate, weights not summing to 1, "
            "a bound crossed). Give a start inside the support."
        )
    order = ordering(model)
    crossed: dict[str, int] = {}
    e_name, m_name = _name(e_step), _name(m_step)

    def note_order(params: Mapping[str, np.ndarray], iteration: int) -> None:
        for name in _out_of_order(order, params):
            crossed.setdefault(name, iteration)

    def user_loglik(params: Mapping[str, np.ndarray], expected: float) -> tuple[float, float]:
        got = float(log_likelihood(data, params))
        gap = abs(got - expected) / max(abs(expected), 1.0) if np.isfinite(got) else np.inf
        return got, gap

    note_order(theta, 0)
    rows: list[StepRow] = []
    failure: StepFailure | None = None
    gem: list[tuple[int, float, float, float]] = []  # iteration, Q before, Q at the user's step, Q max
    ll_old = model_loglik(theta)
    if log_likelihood is not None:
        got, gap = user_loglik(theta, ll_old)
        if gap > LOGLIK_RTOL:
            failure = StepFailure(1, "log_likelihood", "log_likelihood", ll_old, got,
                                  f"at the start; relative difference {gap:.2e} > {LOGLIK_RTOL:g}")
            rows.append(StepRow(1, np.nan, np.nan, {}, np.nan, gap, {"e_step": "-", "m_step": "-", "log_likelihood": "FAIL"}))
    converged = False
    iteration = 0
    while failure is None and iteration < max_iter:
        iteration += 1
        status = {"e_step": "-", "m_step": "-", "log_likelihood": "-"}
        e_gap = m_gap = loglik_gap = np.nan
        gaps: dict[str, float] = {}
        ll_new = np.nan

        # E-step: the user's responsibilities against the label posterior at the same θ.
        expected_r = labels(theta)
        got_r = np.asarray(e_step(data, theta), dtype=float)
        if got_r.shape != expected_r.shape:
            raise ValueError(
                f"e_step {e_name} returned responsibilities of shape {got_r.shape}; the model's label "
                f"posterior has shape {expected_r.shape} (n_observations, n_components): one row per "
                "observation, one column per component."
            )
        if not np.all(np.isfinite(got_r)):
            raise ValueError(
                f"e_step {e_name} returned non-finite responsibilities at {_shown(theta)}; normalise in log "
                "space (scipy.special.logsumexp) to avoid 0/0."
            )
        diff = np.abs(got_r - expected_r)
        e_gap = float(diff.max(initial=0.0))
        status["e_step"] = "ok" if e_gap <= E_STEP_ATOL else "FAIL"
        if status["e_step"] == "FAIL":
            i = int(np.unravel_index(np.argmax(diff), diff.shape)[0])
            sums = got_r.sum(axis=-1)
            why = (f"row {i}; rows of the E-step must sum to one, this one sums to {sums[i]:.10g}"
                   if abs(sums[i] - 1) > E_STEP_ATOL else
                   f"row {i}, |difference| {e_gap:.2e} > {E_STEP_ATOL:g}")
            failure = StepFailure(iteration, "e_step", "responsibilities", expected_r[i], got_r[i], why)
        else:
            # M-step: the user's parameters against argmax Q at the user's responsibilities.
            new = _params(model, m_step(data, got_r), f"m_step {m_name}", builder)
            best = q.maximise(theta, got_r)
            gaps = {n: float(np.max(np.abs(new[n] - best.params[n]) / np.maximum(1.0, np.abs(best.params[n])), initial=0.0))
                    for n in q.names}
            m_gap = float(max(gaps.values()))
            wrong = [n for n in q.names if gaps[n] > M_STEP_RTOL]
            status["m_step"] = "ok"
            if wrong:
                name = wrong[0]
                q_old, q_new = q.value(theta, got_r), q.value(new, got_r)
                rounding = ROUNDING_RTOL * max(1.0, abs(q_old))
                if not q.inside_support(new) or not np.isfinite(q_new):
                    why = "outside the model's support (its bounds or simplex)"
                elif q_new < q_old - rounding:
                    why = f"lowers Q from {q_old:.10g} to {q_new:.10g}; its maximum is {best.q:.10g}"
                elif q_new <= q_old + rounding and best.q - q_new > rounding:
                    why = f"leaves Q at {q_new:.10g}, below its maximum {best.q:.10g}"
                else:
                    why = ""
                    status["m_step"] = "GEM"
                    gem.append((iteration, q_old, q_new, best.q))
                if why:
                    status["m_step"] = "FAIL"
                    failure = StepFailure(iteration, "m_step", name, best.params[name], new[name], why)
            if failure is None:
                # Log-likelihood: the user's against the model's, and never falling.
                ll_new = model_loglik(new)
                status["log_likelihood"] = "ok"
                if log_likelihood is not None:
                    got, loglik_gap = user_loglik(new, ll_new)
                    if loglik_gap > LOGLIK_RTOL:
                        status["log_likelihood"] = "FAIL"
                        failure = StepFailure(iteration, "log_likelihood", "log_likelihood", ll_new, got,
                                              f"relative difference {loglik_gap:.2e} > {LOGLIK_RTOL:g}")
                if failure is None and ll_new < ll_old - ROUNDING_RTOL * max(1.0, abs(ll_old)):
                    status["log_likelihood"] = "FAIL"
                    failure = StepFailure(iteration, "log_likelihood", "log_likelihood", ll_old, ll_new,
                                          "the model's log-likelihood fell; EM never lowers it")
                if failure is None:
                    note_order(new, iteration)
                    change = max(float(np.max(np.abs(new[n] - theta[n]), initial=0.0)) for n in q.names)
                    theta, ll_old = new, ll_new
                    if change < CONVERGED_TOL:
                        converged = True
        rows.append(StepRow(iteration, e_gap, m_gap, gaps, ll_new, loglik_gap, status))
        if converged:
            break

    warnings = []
    if gem:
        first = gem[0]
        warnings.append(
            f"m_step raises Q but does not maximise it at {len(gem)} iteration{'s' * (len(gem) != 1)} "
            f"(first: iteration {first[0]}, Q {first[1]:.10g} before, {first[2]:.10g} at your M-step, "
            f"{first[3]:.10g} at the maximiser): a generalised EM, which still climbs the likelihood"
        )
    notes = [
        f"the model keeps {name} {'ascending' if order[name] else 'descending'} for sampling; your EM has it "
        f"out of that order from iteration {it} on. The step oracle maximises Q without the ordering, so "
        "each step is checked in your component order."
        for name, it in crossed.items()
    ]
    return StepCheck(rows, failure, warnings, notes, theta, iteration, converged)
