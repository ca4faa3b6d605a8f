"""Run both twins of a scenario and say, with numbers, whether they agree.

What "agree" means is fixed by DESIGN.md:

====================================  ====================================================
pair                                  must hold
====================================  ====================================================
EM vs PyMC MAP (flat priors)          parameters within 1e-4 after label alignment, same
                                      log-likelihood within 1e-8 relative
EM vs NUTS posterior                  MLE inside the 94% HDI; mean − MLE reported in SDs
ADVI vs NUTS                          ADVI mean within one posterior SD, else a warning
non-identifiable                      functionals and log-likelihood agree; the flat
                                      directions are reported, not failed
====================================  ====================================================

Beyond the table, the hard cases it can see, each a check carrying its numbers:

- EM stopped at its iteration cap (the last parameter change against tol) and EM's symmetric
  fixed point (two components equal within 1e-4): errors, so never reported as success;
- NUTS divergences or R-hat above 1.01, pooled NUTS draws with several modes (what an
  ordering constraint cannot remove), ADVI whose loss has not settled: warnings, shown
  with the verdict ("AGREE (with 2 warnings)") and in the JSON.

Input is checked here, before EM runs or PyMC compiles: one ``ValueError`` naming the
argument, the value and what is allowed.

Nothing here knows a scenario's answer: every number comes from running the twins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import arviz_base
import arviz_stats
import numpy as np
from scipy.signal import find_peaks
from scipy.stats import gaussian_kde

from emtwin.em_reference.checks import OneOf, check
from emtwin.em_reference.components import align, align_draws, permute_components, reorder_result
from emtwin.em_reference.driver import EMResult, Params
from emtwin.models import fitting, precision

from .derived_twin import DerivedTwin, derived_twin, has_mixture, map_em_checks, step_check
from .registry import get_scenario
from .model_memo import shared_model
from .results import Comparison, Row, flatten, row_name
from .scenario import Check, Components, Scenario

__all__ = [
    "FITS",
    "METHODS",
    "Check",
    "Comparison",
    "Method",
    "Row",
    "align",
    "compare_twins",
    "flatten",
    "posterior_modes",
]

PARAM_ATOL = 1e-4
LOGLIK_RTOL = 1e-8
RHAT_MAX = 1.01
# A second posterior mode counts when the density between it and a higher mode falls below
# MODE_VALLEY of its own peak, and its peak reaches MODE_MIN_HEIGHT of the highest one.
MODE_VALLEY = 0.75
MODE_MIN_HEIGHT = 0.05
# Options the caller may pass to the fitting functions; seed and progress are compare's own.
_OWN = {"seed", "progress"}


# --------------------------------------------------------------------------- the method table


@dataclass(frozen=True)
class Method:
    """One PyMC fit the harness can run: a new method is one entry of :data:`FITS`.

    Attributes
    ----------
    label : str
        What the progress line says while it runs.
    fit : callable (model, start, **options) -> fit
        A function of :mod:`emtwin.models.fitting`; its keyword arguments (other than
        ``seed`` and ``progress``, which ``compare`` passes when ``seeded``) are the
        options a caller may set.
    seeded : bool
        Whether ``fit`` takes ``seed`` and ``progress``.
    check_options : callable (dict) -> dict, optional
        Checks the caller's options before anything runs.
    background : bool
        Run in a process of its own (:func:`emtwin.models.fitting.fit_in_background`)
        while the other fits and the derived EM run here: the same numbers, sooner.
    """

    label: str
    fit: Callable[..., Any]
    seeded: bool = True
    check_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    background: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(n for n in inspect.signature(self.fit).parameters if n not in {"model", "start", *_OWN})

    def run(self, model: Any, start: Params, seed: int, progress: bool, options: Mapping[str, Any]) -> Any:
        own = {"seed": seed, "progress": progress} if self.seeded else {}
        return self.fit(model, start, **own, **options)

    def start(self, model: Any, start: Params, seed: int, options: Mapping[str, Any]) -> fitting.RunningFit:
        """:meth:`run` in the background, with no progress bar (it would cross the others')."""
        own = {"seed": seed, "progress": False} if self.seeded else {}
        return fitting.fit_in_background(self.fit, model, start, **own, **options)


FITS: dict[str, Method] = {
    "map": Method("MAP (L-BFGS-B from EM's start)", fitting.fit_map, seeded=False),
    "advi": Method("ADVI", fitting.fit_advi, check_options=fitting.check_advi_options),
    # The longest fit (seconds to a minute), in the background while the rest runs.
    "nuts": Method("NUTS", fitting.fit_nuts, check_options=fitting.check_nuts_options, background=True),
}
METHODS = tuple(FITS)
NUTS_OPTIONS = FITS["nuts"].options
ADVI_OPTIONS = FITS["advi"].options


# --------------------------------------------------------------------------- the harness


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _stage(timings: dict[str, float], key: str, progress: bool, message: str | None = None) -> Iterator[None]:
    """Time one stage into ``timings[key]`` (seconds, added to what is there), announcing it
    on stderr first."""
    if message is not None:
        _say(progress, message)
    started = time.perf_counter()
    yield
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - started


def same_likelihood(em_ll: float, model_ll: float, model: Any, who: str = "EM's") -> Check:
    """``who`` log-likelihood against the PyMC model's at the same parameters. When they
    differ, the message says whether the model computes part of it in a narrow float."""
    gap = abs(em_ll - model_ll) / max(abs(em_ll), 1.0)
    details = f"{who} log-likelihood {em_ll:.10g} vs the PyMC model's {model_ll:.10g} at {who} parameters"
    if not gap <= LOGLIK_RTOL:
        why = precision.explain_narrow_floats(model)
        details += f" (relative difference {gap:.2e}); {why}" if why else f" (relative difference {gap:.2e})"
    return Check("same likelihood in both twins", gap <= LOGLIK_RTOL, gap, LOGLIK_RTOL, details)


def _checks_em_map(
    comp: Components, em_params: Params, em_ll: float, em_ll_pymc: float, map_fit: fitting.MAPFit | None,
    identifiable: bool, map_is_mle: bool, model: Any, held_to_map_em: bool = False,
) -> list[Check]:
    """EM against MAP: errors under a flat prior (MAP is the MLE), else info. Under a prior
    that is not flat, ``held_to_map_em`` says MAP is checked against MAP-EM instead."""
    checks = [same_likelihood(em_ll, em_ll_pymc, model)]
    if map_fit is None:
        return checks
    not_mle = (" (not failed: the prior is not flat, so MAP is not the MLE"
               + ("; MAP is held to MAP-EM below)" if held_to_map_em else ")"))
    checks.append(
        Check("MAP optimiser converged", map_fit.success, float(map_fit.n_iter), np.nan,
              f"{map_fit.n_iter} iterations: {map_fit.message}")
    )
    em_flat, map_flat = flatten(em_params, comp), flatten(map_fit.params, comp)
    diffs = {k: abs(em_flat[k] - map_flat[k]) for k in em_flat}
    worst = max(diffs, key=diffs.get)
    checks.append(
        Check(
            "EM vs MAP parameters",
            diffs[worst] <= PARAM_ATOL,
            diffs[worst],
            PARAM_ATOL,
            f"largest difference {diffs[worst]:.2e} at {worst}"
            + ("" if identifiable else " (not failed: the likelihood is flat along a direction, see below)")
            + ("" if map_is_mle else not_mle),
            "error" if identifiable and map_is_mle else "info",
        )
    )
    rel = abs(em_ll - map_fit.log_likelihood) / max(abs(em_ll), 1e-300)
    why = "" if rel <= LOGLIK_RTOL or not map_is_mle else precision.explain_narrow_floats(model)
    checks.append(
        Check("EM vs MAP log-likelihood", rel <= LOGLIK_RTOL, rel, LOGLIK_RTOL,
              f"EM {em_ll:.10g}, MAP {map_fit.log_likelihood:.10g} (relative difference {rel:.1e})"
              + ("" if map_is_mle else not_mle)
              + (f"; {why}" if why else ""),
              "error" if map_is_mle else "info")
    )
    return checks


def _checks_posterior(
    rows: list[Row], advi: fitting.PosteriorFit | None, nuts: fitting.PosteriorFit | None, identifiable: bool = True,
    flat_prior: bool = True,
) -> list[Check]:
    checks = []
    if nuts is not None:
        outside = [r.name for r in rows if not (r.hdi_low <= r.em <= r.hdi_high)]
        worst = max(rows, key=lambda r: abs(r.z_nuts or 0.0))
        checks.append(
            Check("MLE inside NUTS 94% HDI", not outside, float(len(outside)), 0.0,
                  ("all parameters inside" if not outside else f"outside: {', '.join(outside)}")
                  + f"; largest |mean − MLE| = {abs(worst.z_nuts or 0):.2f} SD at {worst.name}"
                  # On a ridge EM's answer is one arbitrary maximiser: where it stopped is not
                  # evidence either way. The functionals carry the error check instead.
                  + ("" if identifiable else " (not failed: EM's point on the flat ridge depends on its start)")
                  # An informative prior moves the posterior away from the MLE on purpose.
                  + ("" if flat_prior else
                     " (not failed: the prior is not flat, so the posterior need not cover the MLE)"),
                  "error" if identifiable and flat_prior else "info")
        )
        d = nuts.diagnostics
        healthy = d["divergences"] == 0 and d["max_rhat"] <= RHAT_MAX
        checks.append(
            Check("NUTS diagnostics", healthy, d["max_rhat"], RHAT_MAX,
                  f"{d['divergences']} divergences, max R-hat {d['max_rhat']:.3f}, "
                  f"min bulk ESS {d['min_ess_bulk']:.0f} ({d['chains']} chains × {d['draws']} draws, {d['sampler']})",
                  "warning")
        )
    if advi is not None:
        d = advi.diagnostics
        checks.append(
            Check("ADVI loss settled", d["converged"], d["relative_loss_change"], 0.01,
                  f"loss changed {d['relative_loss_change']:.2%} over the last tenth of {d['n_iter']} iterations"
                  + (f" (stopped early, budget {d['max_iter']}: the rest would move the answer "
                     f"{d['projected_drift']:.3f} SD by projection)" if d.get("stopped_early") else ""),
                  "warning")
        )
    if advi is not None and nuts is not None:
        gaps = {r.name: abs(r.advi_mean - r.nuts_mean) / r.nuts_sd for r in rows if r.nuts_sd}
        worst = max(gaps, key=gaps.get)
        checks.append(
            Check("ADVI vs NUTS means", gaps[worst] <= 1.0, gaps[worst], 1.0,
                  f"largest |ADVI − NUTS| = {gaps[worst]:.2f} posterior SD at {worst}"
                  + ("" if gaps[worst] <= 1.0 else ": mean-field ADVI misplaces the posterior here"),
                  "warning")
        )
    return checks


@dataclass(frozen=True)
class Inputs:
    """What :func:`compare` was asked to do, checked, with the scenario's defaults filled in."""

    scenario: Scenario
    data: Any
    start: dict[str, Any]
    methods: tuple[str, ...]
    seed: int
    n_starts: int
    model_options: dict[str, Any]
    options: dict[str, dict[str, Any]]  # per method: the caller's options over the scenario's
    progress: bool
    derived: bool = True  # run the derived twin (EM from the PyMC model; MAP-EM under a prior)

    @property
    def flat_prior(self) -> bool:
        """Whether the twin's priors are flat for these options, so that MAP is the MLE."""
        return self.scenario.map_is_mle(dict(self.model_options))

    def announce(self, what: str) -> str:
        return f"[{self.scenario.name}] {what}"


@dataclass(frozen=True)
class Twin:
    """The PyMC twin, built for the data, looked at where EM ended."""

    model: Any
    log_likelihood_at_em: float  # the model's log-likelihood at EM's answer (nats)
    curvature: fitting.Curvature
    start: Params  # EM's start, as the model's free variables in its component order


def compare_twins(
    scenario: str | Scenario,
    *,
    data: Any = None,
    start: Mapping[str, Any] | None = None,
    methods: Iterable[str] = METHODS,
    seed: int = 0,
    n_starts: int = 1,
    model_options: Mapping[str, Any] | None = None,
    nuts_options: Mapping[str, Any] | None = None,
    advi_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    derived: bool = True,
) -> Comparison:
    """Run a scenario's EM twin and PyMC twin and compare them (the harness itself; users
    call :func:`emtwin.compare`, which checks a Scenario object's input first, then this).

    A pipeline of named stages, each a function below: inputs (checked before anything
    runs) → EM → the PyMC twin at EM's answer → the fits of :data:`FITS` → the model as
    EM oracle (derived EM; a custom scenario's own steps) → checks → result.

    Parameters
    ----------
    scenario : str or Scenario
        A registered name (``emtwin list``) or a :class:`Scenario`.
    data
        The scenario's data object; default: the lecture's data.
    start : dict, optional
        Starting parameters for EM and MAP; default: the lecture's start.
    methods : iterable of {"map", "advi", "nuts"}
        PyMC fits to run; EM always runs.
    seed : int
        Seeds EM's extra starts, ADVI and NUTS: equal seeds give equal numbers.
    n_starts : int
        EM starts (the given start plus random ones); the best is compared and every
        distinct local maximum is kept on ``comparison.em.local_maxima``.
    model_options : dict, optional
        Passed to the scenario's model builder (e.g. ``{"prior": (2, 2)}``).
    nuts_options, advi_options : dict, optional
        Passed to :func:`emtwin.models.fitting.fit_nuts` / ``fit_advi``.
    progress : bool
        Print stage lines to stderr and show PyMC's progress bars.
    derived : bool
        Run the third twin, the EM derived from the PyMC model (for a model with an observed
        ``pm.Mixture``): held to the hand-written EM every iteration under flat priors, and
        run as MAP-EM, the twin MAP is held to, under a prior that is not flat. ``False``
        skips it and the compile of its Q (about a second per model); MAP under such a prior
        is then reported against EM, not checked. A custom scenario's own step check runs
        either way.

    Returns
    -------
    Comparison
    """
    inputs = _inputs(scenario, data, start, methods, seed, n_starts, model_options,
                     {"nuts": nuts_options, "advi": advi_options}, progress, derived)
    timings: dict[str, float] = {}
    em = _run_em(inputs, timings)
    model, start = _build_model(inputs, em, timings)
    running = _start_background_fits(inputs, model, start)
    try:
        twin = _look_at_em(inputs, em, model, start, timings)
        fits = _run_fits(inputs, em, twin, timings)
        oracle = _run_oracle(inputs, em, twin, timings)
        fits = _collect_background_fits(inputs, em, running, fits, timings)
    finally:
        for fit in running.values():
            fit.cancel()
    return _result(inputs, em, twin, fits, oracle, timings)


def _inputs(
    scenario: Any, data: Any, start: Any, methods: Any, seed: Any, n_starts: Any, model_options: Any,
    method_options: Mapping[str, Any], progress: bool, derived: Any = True,
) -> Inputs:
    """Stage 1: every argument checked, before EM runs or PyMC compiles."""
    sc = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    methods = _check_methods(methods)
    seed, n_starts = check("seed", seed), check("n_starts", n_starts)
    derived = check("derived", derived, OneOf((True, False)), "whether to run the EM derived from the PyMC model")
    if start is not None and not isinstance(start, Mapping):
        raise ValueError(
            f"start must be a dict of parameter name -> value, e.g. "
            f"{ {k: np.asarray(v).tolist() for k, v in sc.default_start.items()} }; got {start!r}."
        )
    model_options = _check_options(model_options, "model_options", None)
    options = {}
    for name, method in FITS.items():
        given = _check_options(method_options.get(name), f"{name}_options", method.options)
        if method.check_options is not None:
            method.check_options(given)  # their values too
        options[name] = {**(sc.nuts_defaults if name == "nuts" else {}), **given}
    data_given = data is not None
    data = sc.make_data() if data is None else data
    start = dict(sc.start_for(data, data_given=data_given) if start is None else start)
    return Inputs(sc, data, start, methods, seed, n_starts, model_options, options, progress, derived)


def _run_em(inputs: Inputs, timings: dict[str, float]) -> EMResult:
    """Stage 2: the EM twin, its components relabelled into the PyMC twin's order."""
    sc, start = inputs.scenario, inputs.start
    with _stage(timings, "em", inputs.progress):
        try:
            em = sc.fit_em(inputs.data, start, n_starts=inputs.n_starts, seed=inputs.seed)
        except KeyError as err:
            # The scenario looked up a parameter the caller's start does not have.
            name = err.args[0] if err.args else None
            if not (isinstance(name, str) and name not in start):
                raise
            raise ValueError(
                f"start must give the {sc.name} scenario's parameters {list(sc.default_start)}; "
                f"got {list(start)}, without {name!r}."
            ) from None
    unknown = [name for name in start if name not in em.params]
    if unknown:
        raise ValueError(
            f"start names {unknown}, which the {sc.name} scenario does not have; its parameters are "
            f"{list(em.params)}."
        )
    _say(inputs.progress, inputs.announce(
        f"EM: {em.n_iter} iterations, log-likelihood {em.log_likelihood:.6f} ({timings['em']:.2f} s)"))
    # EM's own labels are arbitrary; from here on one labelling, the twin's, is used.
    return reorder_result(em, sc.components.order(em.params), sc.components.params)


def _build_model(inputs: Inputs, em: EMResult, timings: dict[str, float]) -> tuple[Any, Params]:
    """Stage 3a: the PyMC twin built for the data, and the start its fits take."""
    sc = inputs.scenario
    with _stage(timings, "compile", inputs.progress, inputs.announce("building and compiling the PyMC twin ...")):
        try:
            model = shared_model(sc.build_model, inputs.data, inputs.model_options)
        except TypeError as err:
            if not inputs.model_options:
                raise
            # An option the builder has no parameter for.
            raise ValueError(
                f"model_options {sorted(inputs.model_options)} are not all accepted by the {sc.name} PyMC twin: {err}."
            ) from err
    # The PyMC twin is ordered; give it, in that order, the start of the EM run being
    # compared. With n_starts > 1 that is the best run's start, possibly a random one:
    # MAP from the caller's start may climb a different local maximum.
    em_start = sc.components.canonical({name: trace[0] for name, trace in em.param_trace.items()})
    return model, sc.to_model(em_start)


def _look_at_em(inputs: Inputs, em: EMResult, model: Any, start: Params, timings: dict[str, float]) -> Twin:
    """Stage 3b: the PyMC twin's log-likelihood and curvature at EM's answer (compiled)."""
    with _stage(timings, "compile", inputs.progress):
        em_point = inputs.scenario.to_model(em.params)
        return Twin(model, fitting.log_likelihood(model, em_point), fitting.curvature(model, em_point), start)


def _start_background_fits(inputs: Inputs, model: Any, start: Params) -> dict[str, fitting.RunningFit]:
    """Stage 4a, as soon as the model is built: the requested methods of :data:`FITS` that
    run in the background, started."""
    running = {}
    for name in inputs.methods:
        method = FITS[name]
        if method.background:
            _say(inputs.progress, inputs.announce(f"{method.label} ... (in a second process, while the rest runs here)"))
            running[name] = method.start(model, start, inputs.seed, inputs.options[name])
    return running


def _run_fits(inputs: Inputs, em: EMResult, twin: Twin, timings: dict[str, float]) -> dict[str, Any]:
    """Stage 4b: every other requested method of :data:`FITS`, relabelled to match EM."""
    fits = {}
    for name in inputs.methods:
        method = FITS[name]
        if method.background:
            continue
        with _stage(timings, name, inputs.progress, inputs.announce(f"{method.label} ...")):
            fit = method.run(twin.model, twin.start, inputs.seed, inputs.progress, inputs.options[name])
            fits[name] = _aligned(fit, list(em.params), em.params, inputs.scenario.components)
    return fits


def _collect_background_fits(
    inputs: Inputs, em: EMResult, running: Mapping[str, fitting.RunningFit], fits: Mapping[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    """Stage 4c, after the oracle: the background fits' results (timed in their own process),
    relabelled to match EM; every fit in the order of ``inputs.methods``."""
    fits = dict(fits)
    for name, fit in running.items():
        if not fit.done_already():
            _say(inputs.progress, inputs.announce(f"waiting for {FITS[name].label} ..."))
        fits[name] = _aligned(fit.result(), list(em.params), em.params, inputs.scenario.components)
        timings[name] = fit.seconds
        _say(inputs.progress, inputs.announce(f"{FITS[name].label}: done ({fit.seconds:.1f} s)"))
    return {name: fits[name] for name in inputs.methods}


@dataclass(frozen=True)
class Oracle:
    """The PyMC model as EM oracle: the EM derived from it (a mixture model), and a custom
    scenario's own E-step and M-step checked against it (with that check's summary)."""

    derived: DerivedTwin | None
    steps: Any  # models.steps.StepCheck or None
    steps_check: Check | None


def _run_oracle(inputs: Inputs, em: EMResult, twin: Twin, timings: dict[str, float]) -> Oracle:
    """Stage 5: the EM derived from the model, from the hand-written run's start (MAP-EM
    when the prior is not flat; skipped with ``derived=False``), and the step check of a
    custom scenario's own steps."""
    sc, derived = inputs.scenario, None
    if inputs.derived and has_mixture(twin.model):
        what = "EM" if inputs.flat_prior else "MAP-EM (the prior is not flat)"
        with _stage(timings, "derived_em", inputs.progress, inputs.announce(f"{what} derived from the PyMC model ...")):
            derived = derived_twin(sc, inputs.data, inputs.start, twin.model, em, priors=not inputs.flat_prior)
    stepped = None
    if sc.steps is not None:
        with _stage(timings, "step_check", inputs.progress):
            stepped = step_check(sc, inputs.data, inputs.start, twin.model)
    return Oracle(derived, *(stepped if stepped else (None, None)))


def _result(
    inputs: Inputs, em: EMResult, twin: Twin, fits: dict[str, Any], oracle: Oracle, timings: dict[str, float]
) -> Comparison:
    """Stage 6: DESIGN.md's checks on what the twins returned, and the result."""
    sc, comp = inputs.scenario, inputs.scenario.components
    map_fit, advi, nuts = (fits.get(name) for name in ("map", "advi", "nuts"))
    identifiable = twin.curvature.identifiable
    rows = _rows(comp, em.params, map_fit, advi, nuts, oracle.derived)
    # Under a prior that is not flat, MAP is held to MAP-EM (when it ran) instead of EM.
    map_em = oracle.derived if map_fit is not None and oracle.derived and oracle.derived.priors \
        and oracle.derived.em is not None else None
    functional_checks, functionals = _functionals(sc, em.params, map_fit, advi, nuts, inputs.flat_prior, map_em)
    checks = [
        *([oracle.steps_check] if oracle.steps_check else []),
        _check_em_converged(em),
        *_check_distinct(em.params, comp),
        *_checks_em_map(comp, em.params, em.log_likelihood, twin.log_likelihood_at_em, map_fit, identifiable,
                        inputs.flat_prior, twin.model, held_to_map_em=map_em is not None),
        *(oracle.derived.checks if oracle.derived else []),
        *(map_em_checks(map_fit, map_em, twin.model, sc) if map_em is not None else []),
        *functional_checks,
        Check("identifiable", identifiable, float(twin.curvature.eigenvalues[0]), twin.curvature.relative_tol,
              describe_curvature(twin.curvature, comp), "info"),
        *_checks_posterior(rows, advi, nuts, identifiable, inputs.flat_prior),
        *([_check_unimodal(nuts, em.params, comp)] if nuts is not None else []),
    ]
    settings = {
        "seed": inputs.seed,
        "n_starts": inputs.n_starts,
        "start": {k: np.asarray(v).tolist() for k, v in inputs.start.items()},
        "em_tol": em.tol,
        "model_options": inputs.model_options,
        "nuts_options": inputs.options["nuts"],
        "advi_options": inputs.options["advi"],
        "derived": inputs.derived,
    }
    result = Comparison(sc.name, inputs.methods, rows, checks, em, fits, twin.curvature, functionals, settings,
                        timings, data=inputs.data, derived=oracle.derived, steps=oracle.steps)
    if sc.extra_checks is not None:
        result = dataclasses.replace(result, checks=checks + list(sc.extra_checks(result)))
    return result


def _functionals(
    sc: Scenario, em_params: Params, map_fit: Any, advi: Any, nuts: Any, flat_prior: bool = True,
    map_em: DerivedTwin | None = None,
) -> tuple[list[Check], dict[str, dict[str, float]]]:
    """The scenario's identified quantities (e.g. (p1+p2)/2) from every twin, and their
    checks: MAP's against EM's under a flat prior, else against MAP-EM's (``map_em``)."""
    checks, functionals = [], {}
    for fname, func in sc.functionals.items():
        values = {"em": float(func(em_params))}
        if map_fit is not None:
            values["map"] = float(func(map_fit.params))
            gap = abs(values["em"] - values["map"])
            checks.append(Check(f"EM vs MAP {fname}", gap <= PARAM_ATOL, gap, PARAM_ATOL,
                                f"EM {values['em']:.6f}, MAP {values['map']:.6f}"
                                + ("" if flat_prior else " (not failed: the prior is not flat, so MAP is not the MLE)"),
                                "error" if flat_prior else "info"))
        if map_fit is not None and map_em is not None:
            values["map_em"] = float(func({n: map_em.params[n] for n in map_fit.params}))
            gap = abs(values["map_em"] - values["map"])
            checks.append(Check(f"MAP-EM vs MAP {fname}", gap <= PARAM_ATOL, gap, PARAM_ATOL,
                                f"MAP-EM {values['map_em']:.6f}, MAP {values['map']:.6f}"))
        for fit in (advi, nuts):
            if fit is None:
                continue
            draws = {n: np.moveaxis(fit.idata.posterior[n].values.reshape(-1, *fit.mean[n].shape), 0, -1)
                     for n in fit.mean}
            values[f"{fit.method}_mean"] = float(np.mean(func(draws)))
            if fit.method == "nuts":
                # A NumPy array: az.hdi reduces over its last axis, the pooled draws.
                low, high = arviz_stats.hdi(np.asarray(func(draws), dtype=float).reshape(-1), prob=fitting.HDI_PROB)
                inside = bool(low <= values["em"] <= high)
                checks.append(Check(f"EM {fname} inside NUTS 94% HDI", inside, values["em"], np.nan,
                                    f"EM {values['em']:.6f}, NUTS 94% HDI [{low:.4f}, {high:.4f}]"))
        functionals[fname] = values
    return checks, functionals


def describe_curvature(curv: fitting.Curvature, comp: Components) -> str:
    ev = ", ".join(f"{v:.3g}" for v in curv.eigenvalues)
    if not curv.is_maximum:
        return f"curvature eigenvalues {ev}: EM's answer is not a local maximum of the likelihood"
    if curv.identifiable:
        return f"log-likelihood curvature eigenvalues {ev}: a strict local maximum"
    dirs = "; ".join(
        # Where a transform's Jacobian is singular (tied ordered components, a parameter on
        # its bound) the direction has no image in the constrained parameters.
        " ".join(f"{v:+.3f}·{k}" for k, v in flat.items() if abs(v) > 1e-3)
        if all(np.isfinite(v) for v in flat.values())
        else "a direction the model's transforms cannot express here (tied ordered components, or a "
        "parameter on its bound)"
        for flat in (flatten(d, comp) for d in curv.flat_directions)
    )
    return f"NON-IDENTIFIABLE: curvature eigenvalues {ev}; flat along {dirs}"


# --------------------------------------------------------------------------- input and hard cases


def _check_methods(methods: Any) -> tuple[str, ...]:
    if isinstance(methods, str) or not isinstance(methods, Iterable):
        raise ValueError(
            f"methods must be a list drawn from {', '.join(METHODS)}, e.g. ['map', 'nuts']; got {methods!r}."
        )
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be drawn from {', '.join(METHODS)}; got {', '.join(map(repr, unknown))}.")
    return methods


def _check_options(options: Any, argument: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"{argument} must be a dict of option name -> value; got {options!r}.")
    if allowed is not None:
        unknown = [k for k in options if k not in allowed]
        if unknown:
            own = [k for k in unknown if k in _OWN]
            hint = f" ({', '.join(own)}: pass to compare itself)" if own else ""
            raise ValueError(f"{argument} may set {', '.join(allowed)}; got {', '.join(map(repr, unknown))}{hint}.")
    return dict(options)


def _check_em_converged(em: EMResult) -> Check:
    if em.converged:
        return Check("EM converged", True, float(em.n_iter), em.tol,
                     f"{em.n_iter} iterations, parameter change below {em.tol:g}")
    last = max(float(np.max(np.abs(trace[-1] - trace[-2]))) for trace in em.param_trace.values())
    return Check("EM converged", False, float(em.n_iter), em.tol,
                 f"stopped at the cap of {em.n_iter} iterations; the last parameter change was {last:.3g}, "
                 f"above tol = {em.tol:g}")


def _component_label(comp: Components, j: int) -> str:
    return comp.labels[j] if j < len(comp.labels) else str(j + 1)


def _check_distinct(em_params: Params, comp: Components) -> list[Check]:
    """EM's symmetric fixed point: two components equal within PARAM_ATOL in every parameter."""
    if not comp.params:
        return []
    arrays = [np.asarray(em_params[name], dtype=float) for name in comp.params]
    k = arrays[0].shape[0]
    if k < 2:
        return []
    gap, a, b = min(
        (max(float(np.max(np.abs(arr[i] - arr[j]))) for arr in arrays), i, j)
        for i in range(k) for j in range(i + 1, k)
    )
    la, lb = _component_label(comp, a), _component_label(comp, b)
    if len(comp.params) == 1:  # name them as the table's rows do: theta_A and theta_B, mu1 and mu2
        pair = f"{row_name(comp.params[0], la)} and {row_name(comp.params[0], lb)}"
        what = ""
    else:
        pair, what = f"components {la} and {lb}", f" over {', '.join(comp.params)}"
    if gap >= PARAM_ATOL:
        return [Check("EM components distinct", True, gap, PARAM_ATOL,
                      f"the closest pair, {pair}, differ by {gap:.3g}{what}")]
    return [Check(
        "EM components distinct", False, gap, PARAM_ATOL,
        f"{pair} ended equal (largest difference {gap:.3g}{what}, below {PARAM_ATOL:g}): "
        "EM's symmetric fixed point, where equal components get equal responsibilities and stay equal. "
        "This is not a fit with distinct components: start elsewhere, or use fewer components",
    )]


def posterior_modes(draws: np.ndarray, *, grid_size: int = 512) -> np.ndarray:
    """Modes of 1-D posterior draws: peaks of a Gaussian KDE (Scott's bandwidth) on a grid.

    A peak counts when its height is at least ``MODE_MIN_HEIGHT`` of the highest and the
    density between it and any higher peak falls below ``MODE_VALLEY`` of its height (its
    prominence is at least 1 − MODE_VALLEY of its height). Returns the modes, ascending.
    """
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 4 or np.ptp(x) == 0:
        return np.unique(x)[:1]
    try:
        kde = gaussian_kde(x)
    except np.linalg.LinAlgError:  # all draws (numerically) on one point
        return np.array([float(np.median(x))])
    grid = np.linspace(x.min(), x.max(), grid_size)
    density = kde(grid)
    # Zeros on both sides, so a peak at the grid's edge is found and the highest peak's
    # prominence is its whole height.
    peaks, props = find_peaks(np.r_[0.0, density, 0.0], prominence=0.0)
    heights = density[peaks - 1]
    keep = (props["prominences"] >= (1 - MODE_VALLEY) * heights) & (heights >= MODE_MIN_HEIGHT * density.max())
    return grid[peaks[keep] - 1]


def _check_unimodal(nuts: fitting.PosteriorFit, em_params: Params, comp: Components) -> Check:
    """Warn when a parameter's pooled NUTS draws have several modes: the ordering constraint
    removes label switching, not every second maximum, and one mean, SD and HDI then
    describe nothing well."""
    draws = {n: nuts.idata.posterior[n].values.reshape(-1, *np.shape(em_params[n])) for n in em_params}
    # The draws are in the model's component order; relabel them as the summaries were.
    draws = align_draws(em_params, draws, comp.params)
    columns = {}
    for n, d in draws.items():
        # flatten's row names, in its order (C order within each parameter).
        names = flatten({n: np.zeros(d.shape[1:])}, comp)
        columns |= dict(zip(names, d.reshape(len(d), -1).T))
    several = {name: modes for name, col in columns.items() if len(modes := posterior_modes(col)) > 1}
    if not several:
        return Check("NUTS posterior unimodal", True, 1.0, 1.0,
                     "every parameter's pooled draws have one mode", "warning")
    shown = "; ".join(f"{name} has {len(m)} modes, at {', '.join(f'{v:.4g}' for v in m)}" for name, m in several.items())
    return Check(
        "NUTS posterior unimodal", False, float(max(len(m) for m in several.values())), 1.0,
        f"{shown}: the ordering removes label switching, not this; the posterior mean, SD and 94% HDI "
        "(and mean − MLE in SDs) summarise several modes at once",
        "warning",
    )


def _aligned(fit: Any, names: list[str], reference: Params, comp: Components) -> Any:
    """``fit`` reduced to the EM parameters ``names``, components relabelled to match
    ``reference`` (EM's answer)."""
    pick = lambda d: {n: d[n] for n in names}  # noqa: E731
    if isinstance(fit, fitting.MAPFit):
        fit = dataclasses.replace(fit, params=pick(fit.params))
        point = fit.params
    else:
        fit = dataclasses.replace(fit, mean=pick(fit.mean), sd=pick(fit.sd), hdi=pick(fit.hdi))
        point = fit.mean
    if not comp.params:
        return fit
    _, order = align(reference, point, comp.params)
    if np.array_equal(order, np.arange(len(order))):
        return fit
    permute = lambda d: permute_components(d, order, comp.params)  # noqa: E731
    if isinstance(fit, fitting.MAPFit):
        return dataclasses.replace(fit, params=permute(fit.params))
    return dataclasses.replace(fit, mean=permute(fit.mean), sd=permute(fit.sd), hdi=permute(fit.hdi))


def _rows(comp: Components, em_params: Params, map_fit: Any, advi: Any, nuts: Any,
          derived: DerivedTwin | None = None) -> list[Row]:
    em_flat = flatten(em_params, comp)
    cols: dict[str, dict[str, float]] = {}
    if derived is not None and derived.em is not None:
        cols["derived_em"] = derived.columns["derived_em"]
    if map_fit is not None:
        cols["map"] = flatten(map_fit.params, comp)
    if advi is not None:
        cols["advi_mean"], cols["advi_sd"] = flatten(advi.mean, comp), flatten(advi.sd, comp)
    if nuts is not None:
        cols["nuts_mean"], cols["nuts_sd"] = flatten(nuts.mean, comp), flatten(nuts.sd, comp)
        cols["hdi_low"] = flatten({k: v[..., 0] for k, v in nuts.hdi.items()}, comp)
        cols["hdi_high"] = flatten({k: v[..., 1] for k, v in nuts.hdi.items()}, comp)
    return [Row(name, value, **{col: vals[name] for col, vals in cols.items()}) for name, value in em_flat.items()]
