"""Check an EM you already have, written any way you like, against a PyMC twin.

You give ``my_em`` (a function ``data -> parameters``, or the parameters it returned) and
a PyMC model builder. Nothing of your EM's inside is needed: the checks use only its
answer and PyMC's compiled log-likelihood, gradient and Hessian.

=========================================  ===============================================
check                                      passes when
=========================================  ===============================================
same likelihood in both twins              the log-likelihood your code reports (if any)
                                           equals the model's at your parameters, 1e-8 rel.
stationary point                           the gradient there vanishes: the Newton step it
                                           implies is below ``stationary_tol`` (1e-6) in
                                           every parameter
MAP from your estimate stays there         MAP (find_MAP's objective, L-BFGS-B) from your
                                           parameters moves none of them by more than 1e-4
no higher maximum from other starts        L-BFGS-B on the same objective, from starts
                                           around yours, finds no higher log-likelihood
identifiable (info)                        the curvature there has no flat direction; if it
                                           has, the verdict is "non-identifiable"
=========================================  ===============================================
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emtwin.em_reference.checks import Real, Whole, check
from emtwin.em_reference.components import align
from emtwin.em_reference.driver import Params
from emtwin.models import fitting, gradient, precision

from .report import text as report
from .custom import _callable_name, build_checked, check_params
from .harness import LOGLIK_RTOL, PARAM_ATOL, describe_curvature
from .results import Verdicts, flatten
from .scenario import NO_COMPONENTS, Check, Components

__all__ = ["STATIONARY_ATOL", "BlackBoxComparison", "BlackBoxRow", "check_em"]

STATIONARY_ATOL = 1e-6
SAME_POINT_ATOL = 1e-3  # L-BFGS-B end points closer than this are one maximum


@dataclass(frozen=True)
class BlackBoxRow:
    """One scalar parameter: yours, PyMC's MAP from it, and the slope there.

    ``gradient`` is ∂ℓ/∂θ (nats per unit, projected onto the constraints), ``newton_step``
    the move one Newton iteration would make (parameter units)."""

    name: str
    em: float
    map: float | None
    gradient: float
    newton_step: float

    @property
    def em_minus_map(self) -> float | None:
        return None if self.map is None else self.em - self.map


@dataclass(frozen=True, repr=False)  # Verdicts.__repr__: one line
class BlackBoxComparison(Verdicts):
    """Everything :func:`check_em` found, numbers first, verdict last.

    Attributes
    ----------
    scenario : str
        The name shown in the table (your EM's function name by default).
    params : dict of str to ndarray
        Your parameters, components in the model's order.
    reported_log_likelihood : float or None
        What your code said; ``None`` if it reported nothing.
    log_likelihood : float
        The PyMC model's log-likelihood at your parameters (nats, priors excluded).
    stationarity : emtwin.models.gradient.Stationarity
    map : emtwin.models.fitting.MAPFit
        :func:`emtwin.models.fitting.fit_map` (``pm.find_MAP``'s objective) from your
        parameters, components aligned to yours.
    other_starts : list of emtwin.models.gradient.LocalFit
        L-BFGS-B runs from the other starts.
    higher_maxima : list of emtwin.models.gradient.LocalFit
        Distinct end points among those with a higher log-likelihood than yours, best first.
    curvature : emtwin.models.fitting.Curvature
    """

    scenario: str
    rows: list[BlackBoxRow]
    checks: list[Check]
    params: Params
    reported_log_likelihood: float | None
    log_likelihood: float
    stationarity: gradient.Stationarity
    map: fitting.MAPFit
    other_starts: list[gradient.LocalFit]
    higher_maxima: list[gradient.LocalFit]
    curvature: fitting.Curvature
    components: Components
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    methods = ("map",)

    def table(self) -> str:
        return report.format_blackbox(self)

    def to_dict(self) -> dict[str, Any]:
        return report.blackbox_to_dict(self)


# --------------------------------------------------------------------------- input


def _split_output(output: Any, who: str) -> tuple[Mapping[str, Any], float | None]:
    """(parameters, reported log-likelihood or None) from what an EM returned."""
    if isinstance(output, Mapping):
        return output, None
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], Mapping):
        return output[0], output[1]
    if hasattr(output, "params") and isinstance(output.params, Mapping):
        return output.params, getattr(output, "log_likelihood", None)
    raise ValueError(
        f"{who} must return the parameters as a dict (name -> array), a tuple (params, "
        f"log_likelihood), or an object with .params and .log_likelihood; got {type(output).__name__}."
    )


def _checked(model: Any, params: Mapping[str, Any], components: Components, who: str, builder: str) -> Params:
    """Names, shapes and NaN checked on the values as given (so a message shows them as the
    user returned them), then components put in the model's order and the support checked."""
    as_given = check_params(model, params, argument=who, builder=builder, support=False)
    return check_params(model, components.canonical(as_given), argument=who, builder=builder)


# --------------------------------------------------------------------------- the checks


def check_em(
    em: Callable[[Any], Any] | Mapping[str, Any] | Any,
    data: Any,
    build_model: Callable[..., Any],
    *,
    components: Components = NO_COMPONENTS,
    log_likelihood: float | None = None,
    name: str | None = None,
    starts: Sequence[Mapping[str, Any]] | None = None,
    n_starts: int = 8,
    seed: int = 0,
    start_scale: float = 1.0,
    stationary_tol: float = STATIONARY_ATOL,
    model_options: Mapping[str, Any] | None = None,
) -> BlackBoxComparison:
    """Check the parameters your EM returns against the PyMC model's likelihood.

    Parameters
    ----------
    em : callable (data) -> parameters, or the parameters themselves
        Your EM. It may return a dict ``{name: array}``, a tuple ``(params,
        log_likelihood)``, or an object with ``.params`` and ``.log_likelihood`` (an
        :class:`~emtwin.em_reference.EMResult`, say). Names and shapes must be the PyMC
        model's free variables'; values are constrained (rates, probabilities, weights).
    data
        Passed to ``em`` and to ``build_model``.
    build_model : callable (data, **model_options) -> pm.Model
        The PyMC twin, with flat priors so that its MAP is the maximum-likelihood estimate.
    components : Components
        Which parameters are per component; used to put your components in the model's
        order and to align MAP's labels with yours. Default: none.
    log_likelihood : float, optional
        The log-likelihood your code reported, when ``em`` is a parameter dict.
    name : str, optional
        Shown in the table; default: ``em``'s function name.
    starts : list of dict, optional
        Other starts for the search for a higher maximum; default: ``n_starts`` draws
        around your parameters (see :func:`emtwin.models.gradient.jittered_starts`).
    n_starts : int
        How many starts to draw when ``starts`` is not given (0: no search).
    seed : int
        Seeds the drawn starts.
    start_scale : float
        Their spread, in the model's unconstrained coordinates.
    stationary_tol : float
        Largest Newton step (parameter units) that still counts as a stationary point.
    model_options : dict, optional
        Passed to ``build_model``.

    Returns
    -------
    BlackBoxComparison
    """
    _check_arguments(build_model, components, starts)
    # n_starts counts the other starts here, so 0 (no search) is allowed.
    n_starts, seed = check("n_starts", n_starts, Whole(0)), check("seed", seed)
    stationary_tol, start_scale = check("stationary_tol", stationary_tol, Real()), check("start_scale", start_scale, Real())
    timings: dict[str, float] = {}
    builder = _callable_name(build_model)

    who, raw, reported = _run_yours(em, data, log_likelihood, timings)
    label = name or (getattr(em, "__name__", None) if callable(em) else None) or "your EM"

    t = time.perf_counter()
    model = build_checked(build_model, data, model_options)
    params = _checked(model, raw, components, who, builder)
    other = [_checked(model, s, components, f"starts[{i}]", builder) for i, s in enumerate(starts or [])]
    loglik = fitting.log_likelihood(model, params)
    stat = gradient.stationarity(model, params)
    curv = fitting.curvature(model, params)
    timings["compile"] = time.perf_counter() - t

    t = time.perf_counter()
    map_fit = _map_from(model, params, components)
    timings["map"] = time.perf_counter() - t

    t = time.perf_counter()
    if starts is None:
        other = gradient.jittered_starts(model, params, n_starts, seed=seed, scale=start_scale)
    fits = [gradient.maximize(model, s) for s in other]
    higher = _distinct_higher(fits, loglik, components)
    timings["starts"] = time.perf_counter() - t

    checks = _checks(who, reported, loglik, stat, stationary_tol, params, map_fit, fits, higher, curv, components, model)
    rows = _rows(components, params, map_fit, stat)
    settings = {
        "n_starts": len(other),
        "seed": seed,
        "start_scale": start_scale,
        "starts_given": starts is not None,
        "stationary_tol": stationary_tol,
        "builder": builder,
        "model_options": dict(model_options or {}),
    }
    return BlackBoxComparison(label, rows, checks, params, reported, loglik, stat, map_fit, fits, higher, curv,
                              components, settings, timings)


def _check_arguments(build_model: Any, components: Any, starts: Any) -> None:
    if not callable(build_model):
        raise ValueError(f"build_model must be a function (data) -> pm.Model; got {type(build_model).__name__}.")
    if not isinstance(components, Components):
        raise ValueError(f"components must be an emtwin.Components; got {type(components).__name__}.")
    if starts is not None and (isinstance(starts, (str, bytes, Mapping)) or not isinstance(starts, Sequence)):
        raise ValueError(f"starts must be a list of parameter dicts; got {starts!r}.")
    for i, s in enumerate(starts or []):
        if not isinstance(s, Mapping):
            raise ValueError(f"starts[{i}] must be a dict of parameters; got {type(s).__name__}.")


def _run_yours(
    em: Any, data: Any, log_likelihood: float | None, timings: dict[str, float]
) -> tuple[str, Mapping[str, Any], float | None]:
    """(who, parameters, reported log-likelihood or None): your EM run (or its answer read)."""
    t = time.perf_counter()
    if callable(em):
        who = f"{_callable_name(em)}(data)"
        output = em(data)
        timings["em"] = time.perf_counter() - t
        raw, reported = _split_output(output, who)
        if log_likelihood is not None:
            raise ValueError(
                "log_likelihood is for parameters given directly; when em is a function, return "
                "(params, log_likelihood) from it instead."
            )
    else:
        who = "em"
        raw, reported = _split_output(em, who)
        reported = log_likelihood if log_likelihood is not None else reported
    if reported is not None:
        try:
            reported = float(reported)
        except (TypeError, ValueError):
            raise ValueError(f"the log-likelihood {who} reports must be a number; got {reported!r}.") from None
        if not np.isfinite(reported):
            raise ValueError(f"the log-likelihood {who} reports is {reported}; it must be finite.")
    return who, raw, reported


def _map_from(model: Any, params: Params, components: Components) -> fitting.MAPFit:
    """MAP started at your parameters, reduced to them, components aligned to yours."""
    map_fit = fitting.fit_map(model, params)
    map_params = {n: map_fit.params[n] for n in params}
    if components.params and map_fit.success:
        map_params, _ = align(params, map_params, components.params)
    return dataclasses.replace(map_fit, params=map_params)


def _distinct_higher(fits: list[gradient.LocalFit], loglik: float, comp: Components) -> list[gradient.LocalFit]:
    bar = loglik + LOGLIK_RTOL * max(1.0, abs(loglik))
    found: list[gradient.LocalFit] = []
    for f in sorted((f for f in fits if f.success and f.log_likelihood > bar), key=lambda f: -f.log_likelihood):
        point = comp.canonical(f.params)
        if not any(max(float(np.max(np.abs(point[n] - comp.canonical(g.params)[n]))) for n in point) < SAME_POINT_ATOL
                   for g in found):
            found.append(f)
    return found


def _fmt_point(params: Mapping[str, Any], digits: int = 4) -> str:
    return ", ".join(f"{k}={np.array2string(np.asarray(v), precision=digits, separator=', ')}" for k, v in params.items())


def _why_likelihoods_differ(model: Any) -> str:
    why = precision.explain_narrow_floats(model)
    return f"); {why}" if why else "; a constant left out, such as log x!, or a different model?)"


def _checks(
    who: str, reported: float | None, loglik: float, stat: gradient.Stationarity, stationary_tol: float,
    params: Params, map_fit: fitting.MAPFit, fits: list[gradient.LocalFit], higher: list[gradient.LocalFit],
    curv: fitting.Curvature, comp: Components, model: Any,
) -> list[Check]:
    checks = []
    if reported is None:
        checks.append(Check("same likelihood in both twins", True, np.nan, LOGLIK_RTOL,
                            f"{who} reports no log-likelihood; the PyMC model's at its parameters is {loglik:.10g}",
                            "info"))
    else:
        rel = abs(reported - loglik) / max(abs(loglik), np.finfo(float).tiny)
        checks.append(Check(
            "same likelihood in both twins", rel <= LOGLIK_RTOL, rel, LOGLIK_RTOL,
            f"{who} reports {reported:.10g}, the PyMC model gives {loglik:.10g} at those parameters "
            f"(difference {reported - loglik:+.3g} nats"
            + (")" if rel <= LOGLIK_RTOL else _why_likelihoods_differ(model)),
        ))

    grads = flatten(stat.gradient, comp)
    steps = flatten(stat.newton_step, comp)
    g_worst, s_worst = max(grads, key=lambda k: abs(grads[k])), max(steps, key=lambda k: abs(steps[k]))
    checks.append(Check(
        "stationary point", stat.max_step <= stationary_tol, stat.max_step, stationary_tol,
        f"largest gradient {abs(grads[g_worst]):.2e} nats per unit at {g_worst}; one Newton step would move "
        f"{s_worst} by {steps[s_worst]:+.2e} (tolerance {stationary_tol:.0e})"
        + ("" if stat.max_step <= stationary_tol else ": not a maximum yet, EM stopped early?"),
    ))

    checks.append(Check("MAP optimiser converged", map_fit.success, float(map_fit.n_iter), np.nan,
                        f"{map_fit.n_iter} iterations: {map_fit.message}"))
    yours, maps = flatten(params, comp), flatten(map_fit.params, comp)
    diffs = {k: abs(yours[k] - maps[k]) for k in yours}
    worst = max(diffs, key=diffs.get)
    checks.append(Check(
        "MAP from your estimate stays there", diffs[worst] <= PARAM_ATOL, diffs[worst], PARAM_ATOL,
        f"largest move {diffs[worst]:.2e} at {worst} ({yours[worst]:.6g} -> {maps[worst]:.6g}); "
        f"log-likelihood {loglik:.10g} -> {map_fit.log_likelihood:.10g}"
        + ("" if curv.identifiable else " (not failed: the likelihood is flat along a direction, see below)"),
        "error" if curv.identifiable else "info",
    ))

    failed = sum(not f.success for f in fits)
    tail = f" ({failed} of them did not converge)" if failed else ""
    if not fits:
        detail, passed = "no other starts were run (n_starts=0)", True
    elif not higher:
        best = max((f.log_likelihood for f in fits if f.success), default=float("nan"))
        detail, passed = f"{len(fits)} starts{tail}; the best reached {best:.10g}, none above yours ({loglik:.10g})", True
    else:
        map_point = comp.canonical(map_fit.params)

        def where(h: gradient.LocalFit) -> str:
            point = comp.canonical(h.params)
            same = max(float(np.max(np.abs(point[n] - map_point[n]))) for n in point) < SAME_POINT_ATOL
            return " (where MAP from your estimate went)" if same else ""

        found = "; ".join(f"{h.log_likelihood:.10g} ({h.log_likelihood - loglik:+.3g}) at {_fmt_point(h.params)}{where(h)}"
                          for h in higher)
        detail, passed = f"{len(fits)} starts{tail} found {len(higher)} higher: {found}", False
    checks.append(Check("no higher maximum from other starts", passed, float(len(higher)), 0.0, detail))

    checks.append(Check("identifiable", curv.identifiable, float(curv.eigenvalues[0]), curv.relative_tol,
                        describe_curvature(curv, comp), "info"))
    return checks


def _rows(comp: Components, params: Params, map_fit: fitting.MAPFit, stat: gradient.Stationarity) -> list[BlackBoxRow]:
    yours, maps = flatten(params, comp), flatten(map_fit.params, comp)
    grads, steps = flatten(stat.gradient, comp), flatten(stat.newton_step, comp)
    return [BlackBoxRow(k, v, maps.get(k), grads[k], steps[k]) for k, v in yours.items()]
