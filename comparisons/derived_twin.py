"""The third twin: EM derived from the PyMC model, held to the hand-written EM every iteration.

From the hand-written run's own start, :func:`emtwin.derive_em` runs the EM the model implies
(label posterior as E-step, maximiser of Q as M-step) through the same driver. The two
must then follow one trajectory: at every iteration the parameters within 1e-8 and the
log-likelihood within 1e-10 relative (also on the interleaved coins' ridge, where Q is
strictly concave for fixed responsibilities though the likelihood is flat).

:func:`derived_twin` returns the derived run, its checks and its table column; the harness
calls it once per comparison. For a custom scenario, :func:`step_check` runs
:func:`emtwin.check_steps` on the user's own E-step and M-step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymc.distributions.mixture import MixtureRV

from emtwin.em_reference.driver import EMResult, Params
from emtwin.models import fitting
from emtwin.models.derived import derive_em
from emtwin.models.steps import StepCheck, check_steps

from .results import flatten
from .scenario import Check, Scenario

__all__ = ["DERIVED_LOGLIK_RTOL", "DERIVED_PARAM_ATOL", "DerivedTwin", "derived_twin", "has_mixture", "step_check"]

DERIVED_PARAM_ATOL = 1e-8  # per iteration, every parameter (EM's names and units)
DERIVED_LOGLIK_RTOL = 1e-10  # per iteration, relative


@dataclass(frozen=True)
class DerivedTwin:
    """The derived EM beside the hand-written one.

    Attributes
    ----------
    em : EMResult or None
        The derived run, parameters keyed by the model's free variables; None when it could
        not start (``checks`` then holds one info check saying why).
    params : dict
        Its final parameters under the hand-written EM's names (Deterministics included),
        components in the model's order.
    checks : list of Check
        Same trajectory (parameters, log-likelihood) and the same iteration count.
    columns : dict of str to dict
        ``{"derived_em": {row name: value}}``: one table column, rows named as ``flatten``.
    max_param_diff, max_loglik_rel : float
        Largest per-iteration difference from the hand-written EM over the common rows.
    seconds_per_iteration : float
        Derived EM's wall-clock time per iteration (compilation included on a first call).
    """

    em: EMResult | None
    params: Params
    checks: list[Check]
    columns: dict[str, dict[str, float]]
    max_param_diff: float
    max_loglik_rel: float
    seconds_per_iteration: float
    timings: dict[str, float] = field(default_factory=dict)


def has_mixture(model: Any) -> bool:
    """Whether ``model``'s likelihood has an observed ``pm.Mixture`` to derive EM from."""
    return any(isinstance(rv.owner.op, MixtureRV) for rv in model.observed_RVs)


def _em_named(model: Any, params: Mapping[str, Any], names: list[str]) -> Params:
    """The model's free-variable values as the hand-written EM's parameters (a Deterministic
    such as a covariance where the model parametrises differently)."""
    reported = fitting._constrained(model, fitting._unconstrained(model, params))
    return {n: reported[n] for n in names}


def derived_twin(sc: Scenario, data: Any, start: Mapping[str, Any], model: Any, em: EMResult) -> DerivedTwin:
    """Run the derived EM from ``em``'s start and compare it with ``em`` every iteration.

    Parameters
    ----------
    sc : Scenario
        Supplies the component order and ``to_model`` (EM's names → the model's variables).
    data
        The data both twins were given.
    start : mapping
        The caller's start (unused beyond the record: the derived EM starts where ``em``'s
        trace starts, which with several starts is the best run's).
    model : pm.Model
        The built PyMC twin (compiled pieces are cached on it).
    em : EMResult
        The hand-written run, components in the model's order (as the harness passes it).
    """
    em_start = {name: np.asarray(trace[0], dtype=float) for name, trace in em.param_trace.items()}
    comp = sc.components

    free = fitting.free_names(model)
    model_start = {n: v for n, v in sc.to_model(em_start).items() if n in free}
    t = time.perf_counter()
    try:
        run = derive_em(lambda _data: model, data, model_start, tol=em.tol, max_iter=max(em.n_iter + 1, 10_000))
    except ValueError as err:
        # E.g. a start on a bound of the model's support, where its unconstrained value is
        # infinite: reported, not hidden, and not a disagreement of the other twins.
        return DerivedTwin(None, {}, [Check("derived EM", False, np.nan, np.nan, f"not run: {err}", "info")], {},
                           np.nan, np.nan, np.nan)
    elapsed = time.perf_counter() - t

    names = list(em.params)
    rows = min(run.n_iter, em.n_iter) + 1
    param_diff = 0.0
    worst = (0, names[0])
    for t_ in range(rows):
        derived_row = _em_named(model, {n: run.param_trace[n][t_] for n in free}, names)
        hand_row = {n: em.param_trace[n][t_] for n in names}
        for n in names:
            gap = float(np.max(np.abs(np.asarray(derived_row[n]) - np.asarray(hand_row[n])), initial=0.0))
            if gap > param_diff:
                param_diff, worst = gap, (t_, n)
    ll_rel = float(np.max(np.abs(run.loglik_trace[:rows] - em.loglik_trace[:rows])
                          / np.maximum(np.abs(em.loglik_trace[:rows]), 1.0)))
    final = _em_named(model, run.params, names)
    checks = [
        Check("derived EM: same parameters every iteration", param_diff <= DERIVED_PARAM_ATOL, param_diff,
              DERIVED_PARAM_ATOL,
              f"largest difference {param_diff:.2e} (iteration {worst[0]}, {worst[1]}) over {rows} rows between the "
              "EM derived from the PyMC model and the hand-written EM, from the same start"),
        Check("derived EM: same log-likelihood every iteration", ll_rel <= DERIVED_LOGLIK_RTOL, ll_rel,
              DERIVED_LOGLIK_RTOL, f"largest relative difference {ll_rel:.2e} over {rows} rows"),
        Check("derived EM: same iterations", run.n_iter == em.n_iter, float(run.n_iter), float(em.n_iter),
              f"derived {run.n_iter}, hand-written {em.n_iter} iterations to a change below {em.tol:g} (each in its own parameters' units)",
              "info"),
    ]
    return DerivedTwin(
        em=run,
        params=final,
        checks=checks,
        columns={"derived_em": flatten(final, comp)},
        max_param_diff=param_diff,
        max_loglik_rel=ll_rel,
        seconds_per_iteration=elapsed / max(run.n_iter, 1),
        timings={"derived_em": elapsed},
    )


def step_check(sc: Scenario, data: Any, start: Mapping[str, Any], model: Any) -> tuple[StepCheck, Check] | None:
    """:func:`emtwin.check_steps` on a custom scenario's own steps, as one check (None for
    a scenario without step functions or a model without an observed mixture)."""
    steps = getattr(sc, "steps", None)
    if steps is None or not has_mixture(model):
        return None
    e_step, m_step, log_likelihood = steps
    check = check_steps(e_step, m_step, data, lambda _data: model, start, log_likelihood=log_likelihood)
    detail = check.message + "".join(f"; warning: {w}" for w in check.warnings)
    gap = float(check.first_failure.iteration) if check.first_failure else float(check.n_iter)
    return check, Check("EM steps vs the model", check.ok, gap, np.nan, detail)
