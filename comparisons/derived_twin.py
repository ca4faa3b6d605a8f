"""The third twin: EM derived from the PyMC model, held to the hand-written EM every iteration.

From the hand-written run's own start, :func:`emtwin.derive_em` runs the EM the model implies
(label posterior as E-step, maximiser of Q as M-step) through the same driver. The two
must then follow one trajectory: at every iteration the parameters within 1e-8 and the
log-likelihood within 1e-10 relative (also on the interleaved coins' ridge, where Q is
strictly concave for fixed responsibilities though the likelihood is flat).

Under a prior that is not flat the hand-written EM still climbs the likelihood, while MAP
climbs the posterior. The derived twin then runs as MAP-EM (the model's log-priors in Q),
and :func:`map_em_checks` holds MAP to it: parameters within 1e-4, log-density (priors
included, no Jacobian: ``find_MAP``'s objective) within 1e-8 relative. So "MAP agrees"
means the same under every prior.

:func:`derived_twin` returns the derived run, its checks and its table column; the harness
calls it once per comparison (``compare(..., derived=False)`` skips it, and with it the
compile of Q). For a custom scenario, :func:`step_check` runs :func:`emtwin.check_steps`
on the user's own E-step and M-step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymc.distributions.mixture import MixtureRV

from emtwin.em_reference.components import align
from emtwin.em_reference.driver import EMResult, Params
from emtwin.models import fitting
from emtwin.models.derived import derive_em
from emtwin.models.steps import StepCheck, check_steps

from .results import flatten
from .scenario import Check, Scenario

__all__ = [
    "DERIVED_LOGLIK_RTOL", "DERIVED_PARAM_ATOL", "MAP_EM_LOGP_RTOL", "MAP_EM_PARAM_ATOL", "DerivedTwin", "derived_twin",
    "has_mixture", "map_em_checks", "step_check",
]

DERIVED_PARAM_ATOL = 1e-8  # per iteration, every parameter (EM's names and units)
DERIVED_LOGLIK_RTOL = 1e-10  # per iteration, relative
# MAP held to MAP-EM: DESIGN.md's EM-vs-MAP tolerances, the posterior's mode in place of the MLE.
MAP_EM_PARAM_ATOL = 1e-4
MAP_EM_LOGP_RTOL = 1e-8


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
        Largest per-iteration difference from the hand-written EM over the common rows
        (NaN for MAP-EM, which climbs another function).
    seconds_per_iteration : float
        Derived EM's wall-clock time per iteration (compilation included on a first call).
    priors : bool
        Whether the model's log-priors were in Q (MAP-EM: the prior is not flat).
    """

    em: EMResult | None
    params: Params
    checks: list[Check]
    columns: dict[str, dict[str, float]]
    max_param_diff: float
    max_loglik_rel: float
    seconds_per_iteration: float
    timings: dict[str, float] = field(default_factory=dict)
    priors: bool = False

    @property
    def label(self) -> str:
        """What the run is called in tables and checks: ``"derived EM"`` or ``"MAP-EM"``."""
        return "MAP-EM" if self.priors else "derived EM"


def has_mixture(model: Any) -> bool:
    """Whether ``model``'s likelihood has an observed ``pm.Mixture`` to derive EM from."""
    return any(isinstance(rv.owner.op, MixtureRV) for rv in model.observed_RVs)


def _em_named(model: Any, params: Mapping[str, Any], names: list[str]) -> Params:
    """The model's free-variable values as the hand-written EM's parameters (a Deterministic
    such as a covariance where the model parametrises differently)."""
    reported = fitting._constrained(model, fitting._unconstrained(model, params))
    return {n: reported[n] for n in names}


def derived_twin(
    sc: Scenario, data: Any, start: Mapping[str, Any], model: Any, em: EMResult, *, priors: bool = False
) -> DerivedTwin:
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
    priors : bool
        The prior is not flat: run MAP-EM (the model's log-priors in Q), the twin MAP is
        held to (:func:`map_em_checks`); it is not held to the hand-written EM, which
        climbs the likelihood.
    """
    em_start = {name: np.asarray(trace[0], dtype=float) for name, trace in em.param_trace.items()}
    free = fitting.free_names(model)
    model_start = {n: v for n, v in sc.to_model(em_start).items() if n in free}
    t = time.perf_counter()
    # A prior may put the posterior's mode where components tie (Beta(20, 20) on the coin
    # sets: θ_A = θ_B), the ordered coordinates' boundary, where MAP-EM in them stalls 3e-5
    # short. So MAP-EM climbs without the ordering, where the order can be restored after.
    unordered = priors and bool(sc.components.params) and all(p in free for p in sc.components.params)
    try:
        run = derive_em(lambda _data: model, data, model_start, tol=em.tol, max_iter=max(em.n_iter + 1, 10_000),
                        priors=priors, keep_order=not unordered)
    except ValueError as err:
        # E.g. a start on a bound of the model's support, where its unconstrained value is
        # infinite: reported, not hidden, and not a disagreement of the other twins.
        return DerivedTwin(None, {}, [Check("derived EM", False, np.nan, np.nan, f"not run: {err}", "info")], {},
                           np.nan, np.nan, np.nan, priors=priors)
    elapsed = time.perf_counter() - t
    if unordered:
        run = dataclasses.replace(run, params=sc.components.canonical(run.params))
    final = _em_named(model, run.params, list(em.params))
    if priors:
        checks, param_diff, ll_rel = [_map_em_run(run)], np.nan, np.nan
    else:
        checks, param_diff, ll_rel = _same_trajectory(model, run, em)
    return DerivedTwin(
        em=run,
        params=final,
        checks=checks,
        columns={"derived_em": flatten(final, sc.components)},
        max_param_diff=param_diff,
        max_loglik_rel=ll_rel,
        seconds_per_iteration=elapsed / max(run.n_iter, 1),
        timings={"derived_em": elapsed},
        priors=priors,
    )


def _same_trajectory(model: Any, run: EMResult, em: EMResult) -> tuple[list[Check], float, float]:
    """The derived run against the hand-written one, row by row: the checks, the largest
    parameter difference and the largest relative log-likelihood difference."""
    free, names = fitting.free_names(model), list(em.params)
    rows = min(run.n_iter, em.n_iter) + 1
    param_diff = 0.0
    worst = (0, names[0])
    for t_ in range(rows):
        derived_row = _em_named(model, {n: run.param_trace[n][t_] for n in free}, names)
        for n in names:
            gap = float(np.max(np.abs(np.asarray(derived_row[n]) - np.asarray(em.param_trace[n][t_])), initial=0.0))
            if gap > param_diff:
                param_diff, worst = gap, (t_, n)
    ll_rel = float(np.max(np.abs(run.loglik_trace[:rows] - em.loglik_trace[:rows])
                          / np.maximum(np.abs(em.loglik_trace[:rows]), 1.0)))
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
    return checks, param_diff, ll_rel


def _map_em_run(run: EMResult) -> Check:
    return Check(
        "MAP-EM converged", run.converged, float(run.n_iter), run.tol,
        f"the prior is not flat: the EM derived from the PyMC model has the model's log-priors in Q and climbs "
        f"to the posterior mode (MAP-EM), {run.n_iter} iterations to a change below {run.tol:g}"
        + ("" if run.converged else " NOT reached (stopped at the cap)")
        + "; MAP is held to it, not to the hand-written EM, which climbs the likelihood",
        "info",
    )


def _log_density(model: Any, params: Mapping[str, Any]) -> float:
    """The model's log-density, priors included and the transforms' Jacobian left out:
    the objective MAP (``find_MAP``) and MAP-EM maximise (nats)."""
    free = fitting.free_names(model)
    logp, _ = fitting._objective_fn(model)(*fitting._unconstrained(model, {n: params[n] for n in free}))
    return float(logp)


def map_em_checks(map_fit: fitting.MAPFit, derived: DerivedTwin, model: Any, sc: Scenario) -> list[Check]:
    """MAP held to MAP-EM (both maximise the log-posterior): parameters within
    :data:`MAP_EM_PARAM_ATOL` under EM's names, log-density within :data:`MAP_EM_LOGP_RTOL`
    relative. Errors: a MAP that is not the posterior's mode fails them, as does a MAP-EM
    that left the prior out of Q.

    ``map_fit`` holds EM's parameter names (as the harness keeps it); ``derived`` is the
    MAP-EM run on ``model``.
    """
    comp = sc.components
    names = list(map_fit.params)
    mine = {n: derived.params[n] for n in names}
    if comp.params:
        mine, _ = align(map_fit.params, mine, comp.params)
    ours, theirs = flatten(mine, comp), flatten(map_fit.params, comp)
    diffs = {k: abs(ours[k] - theirs[k]) for k in ours}
    worst = max(diffs, key=diffs.get)
    free = fitting.free_names(model)
    logp_em = _log_density(model, derived.em.params)
    logp_map = _log_density(model, {n: v for n, v in sc.to_model(comp.canonical(map_fit.params)).items() if n in free})
    rel = abs(logp_em - logp_map) / max(abs(logp_em), 1.0)
    return [
        Check("MAP-EM vs MAP parameters", diffs[worst] <= MAP_EM_PARAM_ATOL, diffs[worst], MAP_EM_PARAM_ATOL,
              f"largest difference {diffs[worst]:.2e} at {worst} between MAP and the EM derived from the model "
              "with its priors in Q (both climb the log-posterior)"),
        Check("MAP-EM vs MAP log-density", rel <= MAP_EM_LOGP_RTOL, rel, MAP_EM_LOGP_RTOL,
              f"log-density (priors included, no Jacobian) MAP-EM {logp_em:.10g}, MAP {logp_map:.10g} "
              f"(relative difference {rel:.1e})"),
    ]


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
