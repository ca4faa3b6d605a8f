"""Everything a scenario's report shows, computed: numbers only, no drawing, no files.

:func:`scenario_report` runs the harness (the table of ``emtwin compare``) and then the
pieces a teacher projects next to it, each from a scenario hook
(:class:`~emtwin.comparisons.scenario.Scenario`):

=================  ==========================  ===========================================
piece              hook                        what it holds
=================  ==========================  ===========================================
EM path            (always)                    EM's parameters and log-likelihood per
                                               iteration, in the PyMC twin's labels
contour            ``log_likelihood``          the log-likelihood on a grid (two-parameter
                                               scenarios), NUTS draws, the ridge if flat
labels             ``label_probabilities``     EM's responsibilities beside the PyMC twin's
                                               label posterior at EM's point, MAP and NUTS
data growth        ``simulator``               MLE and NUTS posterior on data of growing N
components         ``component_sweep``         BIC, AIC (EM) and PSIS-LOO (PyMC) for k = 1..K
=================  ==========================  ===========================================

A missing hook (or a model the piece does not apply to) leaves the piece ``None`` and a
sentence in :attr:`ScenarioReport.omitted` saying why, which the report prints in its place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
from pymc.printing import str_for_dist, str_for_model

from emtwin.em_reference.checks import Whole, check
from emtwin.em_reference.components import align_draws
from emtwin.em_reference.driver import Params
from emtwin.models import fitting

from .custom import compare
from .harness import METHODS
from .results import Comparison, flatten
from .scenario import Scenario

__all__ = [
    "ComponentChoice",
    "ComponentRow",
    "Contour",
    "Growth",
    "Labels",
    "EMPath",
    "ReportSettings",
    "ScenarioReport",
    "aligned_draws",
    "component_labels",
    "scenario_report",
]

HDI_PROB = fitting.HDI_PROB
# Pareto k above this marks a PSIS-LOO estimate as unreliable (Vehtari et al. 2024; ArviZ's
# `good_k` for these sample sizes).
PARETO_K_BAD = 0.7


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ReportSettings:
    """How much work a report does; the defaults take about half a minute per scenario
    with a warm compile cache on a 2-core machine.

    Attributes
    ----------
    seed : int
        Seeds EM's extra starts, ADVI, NUTS and the simulated data sets.
    n_starts : int
        EM starts (the lecture's plus random ones), for the table and every refit.
    nuts, advi : dict
        Options for the table's NUTS and ADVI fits
        (:func:`~emtwin.models.fitting.fit_nuts`, ``fit_advi``); empty: their defaults.
    sweep_nuts : dict
        NUTS options for each data set of the data-growth and component sweeps.
    n_sizes : int, optional
        Use only the first ``n_sizes`` of the simulator's data sizes.
    max_k : int, optional
        Fit only k <= ``max_k`` in the component sweep.
    grid : int
        Grid points per axis of the log-likelihood contour.
    model_options : dict
        Passed to the scenario's model builder in every fit, e.g. ``{"prior": (2, 2)}``
        (``emtwin report --prior 2,2``); empty: the builder's defaults.
    """

    seed: int = 0
    n_starts: int = 5
    nuts: Mapping[str, Any] = field(default_factory=dict)
    advi: Mapping[str, Any] = field(default_factory=dict)
    sweep_nuts: Mapping[str, Any] = field(default_factory=lambda: {"draws": 500, "tune": 500, "chains": 2})
    n_sizes: int | None = None
    max_k: int | None = None
    grid: int = 81
    model_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check("seed", self.seed)
        check("n_starts", self.n_starts)
        check("grid", self.grid, Whole(5))
        if self.n_sizes is not None:
            check("n_sizes", self.n_sizes, Whole(1))
        if self.max_k is not None:
            check("max_k", self.max_k, Whole(1))

    @classmethod
    def quick(cls, seed: int = 0) -> ReportSettings:
        """A few seconds per scenario once compiled: short chains, three data sizes, k <= 3.
        For a first look and for tests; the numbers are noisier than the defaults'."""
        return cls(
            seed=seed,
            n_starts=3,
            nuts={"draws": 300, "tune": 300, "chains": 2},
            advi={"n": 5000, "draws": 600},
            sweep_nuts={"draws": 200, "tune": 200, "chains": 2},
            n_sizes=3,
            max_k=3,
            grid=41,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class EMPath:
    """EM's run (the path its parameters took), in the PyMC twin's component order (the
    table's rows).

    Attributes
    ----------
    names : list of str
        Scalar parameter names (table rows).
    values : ndarray, shape (n_iter + 1, n_scalars)
        Row 0 is the start.
    loglik : ndarray, shape (n_iter + 1,)
        Total log-likelihood (nats) at each row.
    map_point : ndarray, shape (n_scalars,), or None
        PyMC's MAP, when it ran.
    local_maxima : list of (ndarray, float, int)
        Every distinct end point of EM's starts: parameters, log-likelihood, starts ending there.
    """

    names: list[str]
    values: np.ndarray
    loglik: np.ndarray
    map_point: np.ndarray | None
    local_maxima: list[tuple[np.ndarray, float, int]]


@dataclass(frozen=True)
class Contour:
    """The log-likelihood over the plane of a two-parameter scenario.

    ``loglik[i, j]`` is at ``(x[j], y[i])`` (NaN outside the parameters' support).
    ``draws`` are NUTS posterior draws, shape (n_draws, 2). ``ridge`` is a segment of the
    flat direction through EM's answer, shape (n_points, 2), for a non-identifiable
    scenario, and ``ridge_loglik`` the log-likelihood along it.
    """

    names: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    loglik: np.ndarray
    draws: np.ndarray | None
    ridge: np.ndarray | None = None
    ridge_loglik: np.ndarray | None = None


@dataclass(frozen=True)
class Labels:
    """Each observation's label: EM's E-step against the PyMC twin's label posterior.

    All arrays have shape (n_observations, n_components), columns in the PyMC twin's order.
    ``pymc_at_em`` is the PyMC graph evaluated at EM's parameters (it must equal ``em`` to
    rounding), ``pymc_at_map`` at PyMC's MAP, ``pymc_nuts`` averaged over the NUTS draws
    (the posterior probability of the label, parameters integrated out).
    """

    observations: np.ndarray
    components: list[str]
    em: np.ndarray
    pymc_at_em: np.ndarray
    pymc_at_map: np.ndarray | None
    pymc_nuts: np.ndarray | None

    @property
    def max_diff_at_em(self) -> float:
        return float(np.max(np.abs(self.pymc_at_em - self.em)))

    @property
    def max_diff_at_map(self) -> float | None:
        return None if self.pymc_at_map is None else float(np.max(np.abs(self.pymc_at_map - self.em)))


@dataclass(frozen=True)
class Growth:
    """MLE and NUTS posterior on simulated data sets of growing size.

    ``values[name]`` maps ``"mle"``, ``"mean"``, ``"sd"``, ``"hdi_low"``, ``"hdi_high"`` to
    arrays over ``sizes``; ``kinds[name]`` is ``"parameter"`` or ``"functional"``;
    ``diagnostics`` has one dict per size (divergences, max R-hat).
    """

    unit: str
    sizes: list[int]
    truth: dict[str, float]
    values: dict[str, dict[str, np.ndarray]]
    kinds: dict[str, str]
    diagnostics: list[dict[str, Any]]
    nuts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ComponentRow:
    """One k of the component sweep. ``elpd_diff`` is elpd_loo − the best k's, ``diff_se``
    its standard error from the pointwise differences (as ``az.compare`` computes it)."""

    k: int
    n_params: int
    log_likelihood: float
    bic: float
    aic: float
    elpd_loo: float
    elpd_se: float
    p_loo: float
    elpd_diff: float
    diff_se: float
    high_pareto_k: int
    divergences: int
    max_rhat: float


@dataclass(frozen=True)
class ComponentChoice:
    """The component sweep and the k each criterion picks (lowest BIC, lowest AIC,
    highest elpd_loo)."""

    rows: list[ComponentRow]
    n_observations: int
    bic_choice: int
    aic_choice: int
    loo_choice: int
    nuts: dict[str, Any]
    warnings: list[str]


@dataclass(frozen=True)
class ScenarioReport:
    """A scenario's comparison and every piece its report shows.

    ``model_text`` is PyMC's printout of the twin, ``priors`` its free variables' lines.
    ``omitted`` maps a piece's name (``"contour"``, ``"labels"``, ``"growth"``,
    ``"components"``, ``"ridge"``) to the sentence the report prints instead of it.
    """

    scenario: Scenario
    comparison: Comparison
    settings: ReportSettings
    model_text: str
    priors: list[str]
    path: EMPath
    contour: Contour | None
    labels: Labels | None
    growth: Growth | None
    components: ComponentChoice | None
    omitted: dict[str, str]
    timings: dict[str, float]


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _recorded(messages: list[str], where: str) -> Iterator[None]:
    """Collect the warnings of a sweep's fits into ``messages`` instead of the terminal.

    A sweep runs many fits, and their warnings (an EM start ending at a symmetric fixed
    point with k too large, Pareto k above 0.7 in PSIS-LOO) are findings, listed in the
    report beside the numbers. Other categories (NumPy's RuntimeWarning, say) are passed on
    unchanged, and filters set to "error" (pytest's FutureWarning) still raise.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    seen = set()
    for w in caught:
        if not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = f"{where}: {w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            messages.append(text)


def _say(progress: bool, name: str, message: str) -> None:
    if progress:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)


def _unflattener(sc: Scenario, like: Params) -> Any:
    """Inverse of :func:`flatten` for parameters shaped like ``like``: scalars -> Params."""
    slots = []
    for name, value in like.items():
        positions = np.arange(np.asarray(value).size, dtype=float).reshape(np.shape(value))
        slots += [(name, int(i)) for i in flatten({name: positions}, sc.components).values()]

    def unflatten(values: Sequence[float]) -> Params:
        out = {name: np.array(value, dtype=float) for name, value in like.items()}
        for (name, i), v in zip(slots, values):
            out[name].flat[i] = v
        return out

    return unflatten


def _draws(fit: fitting.PosteriorFit, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Pooled posterior draws, shape (n_draws, *param_shape), of ``names``."""
    out = {}
    for name in names:
        values = fit.idata.posterior[name].values
        out[name] = values.reshape(-1, *values.shape[2:])
    return out


def component_labels(sc: Scenario, params: Params) -> dict[str, list[str]]:
    """Each per-component parameter's component labels, as the table's rows name them
    (the scenario's labels, or 1..k)."""
    out = {}
    for name in sc.components.params:
        k = np.shape(params[name])[0]
        out[name] = list(sc.components.labels[:k]) if sc.components.labels else [str(j + 1) for j in range(k)]
    return out


def aligned_draws(sc: Scenario, c: Comparison, fit: fitting.PosteriorFit) -> dict[str, np.ndarray]:
    """``fit``'s pooled draws of EM's parameters, components relabelled like the table's rows.

    The harness relabels a fit's summaries (mean, SD, HDI) to match EM; this applies the same
    permutation to the draws, found the same way (posterior means against EM's answer).
    """
    return align_draws(c.em.params, _draws(fit, list(c.em.params)), sc.components.params)


# --------------------------------------------------------------------------- pieces, computed


def _path(sc: Scenario, c: Comparison) -> EMPath:
    trace = c.em.param_trace
    n_rows = len(c.em.loglik_trace)
    flat = [flatten({n: v[t] for n, v in trace.items()}, sc.components) for t in range(n_rows)]
    names = list(flat[0])
    values = np.array([[row[n] for n in names] for row in flat])
    map_point = None
    if c.map is not None:
        map_flat = flatten(c.map.params, sc.components)
        map_point = np.array([map_flat[n] for n in names])
    maxima = []
    for m in c.em.local_maxima:
        m_flat = flatten(sc.components.canonical(m.params), sc.components)
        maxima.append((np.array([m_flat[n] for n in names]), float(m.log_likelihood), int(m.n_starts)))
    return EMPath(names, values, np.asarray(c.em.loglik_trace, dtype=float), map_point, maxima)


def _contour(sc: Scenario, c: Comparison, path: EMPath, settings: ReportSettings) -> Contour:
    unflatten = _unflattener(sc, c.em.params)
    points = [path.values]
    if path.map_point is not None:
        points.append(path.map_point[None, :])
    points += [m[0][None, :] for m in path.local_maxima]
    draws = None
    if c.nuts is not None:
        draws_by_name = aligned_draws(sc, c, c.nuts)
        flat = [flatten({n: v[i] for n, v in draws_by_name.items()}, sc.components)
                for i in range(len(next(iter(draws_by_name.values()))))]
        draws = np.array([[row[n] for n in path.names] for row in flat])
        # The bulk of the posterior, not its most extreme draws, sets the frame.
        points.append(np.quantile(draws, [0.005, 0.995], axis=0))
    every = np.vstack(points)
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.12 * np.maximum(high - low, 1e-3 * np.maximum(np.abs(high), 1.0))
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], settings.grid)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], settings.grid)

    def loglik(x: float, y: float) -> float:
        # Outside the support (a bias beyond [0, 1]) the EM twin's formulas give NaN or
        # raise; such cells are left blank.
        try:
            with np.errstate(all="ignore"):
                value = float(sc.log_likelihood(c.data, unflatten([x, y])))
        except (ValueError, FloatingPointError):
            return np.nan
        return value if np.isfinite(value) else np.nan

    grid = np.array([[loglik(x, y) for x in xs] for y in ys])
    # Trim rows and columns that are blank throughout (the frame reached past the support).
    keep_rows, keep_cols = np.isfinite(grid).any(axis=1), np.isfinite(grid).any(axis=0)
    xs, ys, grid = xs[keep_cols], ys[keep_rows], grid[np.ix_(keep_rows, keep_cols)]

    ridge = ridge_ll = None
    if not c.curvature.identifiable:
        direction = flatten(c.curvature.flat_directions[0], sc.components)
        d = np.array([direction[n] for n in path.names])
        em_point = path.values[-1]
        # The segment of the line em_point + t·d that stays inside the frame.
        with np.errstate(divide="ignore", invalid="ignore"):
            bounds = np.sort(np.stack([(np.array([xs[0], ys[0]]) - em_point) / d,
                                       (np.array([xs[-1], ys[-1]]) - em_point) / d]), axis=0)
        t_low, t_high = np.nanmax(bounds[0][np.isfinite(bounds[0])]), np.nanmin(bounds[1][np.isfinite(bounds[1])])
        ts = np.linspace(t_low, t_high, 61)
        ridge = em_point[None, :] + ts[:, None] * d[None, :]
        ridge_ll = np.array([loglik(x, y) for x, y in ridge])
        inside = np.isfinite(ridge_ll)
        ridge, ridge_ll = ridge[inside], ridge_ll[inside]
    return Contour((path.names[0], path.names[1]), xs, ys, grid, draws, ridge, ridge_ll)


def _labels(sc: Scenario, c: Comparison, model: Any) -> Labels:
    label_fn = sc.label_probabilities(model)
    free = fitting.free_names(model)
    at_em = label_fn(sc.to_model(c.em.params))
    em_resp = np.asarray(c.em.responsibilities)
    at_map = None
    if c.map is not None:
        # The MAP point exactly as PyMC found it, in the model's own variables.
        at_map = label_fn({n: c.map.idata.posterior[n].values[0, 0] for n in free})
    at_nuts = None
    if c.nuts is not None:
        draws = _draws(c.nuts, free)
        n_draws = len(next(iter(draws.values())))
        at_nuts = np.mean([label_fn({n: v[i] for n, v in draws.items()}) for i in range(n_draws)], axis=0)
    value = model.rvs_to_values[model.observed_RVs[0]]
    # Observed data are constants in these twins, shared variables when given with pm.Data.
    observations = np.asarray(value.data if hasattr(value, "data") else value.get_value())
    k = at_em.shape[1]
    labels = list(sc.components.labels[:k]) if sc.components.labels else [str(j + 1) for j in range(k)]
    return Labels(observations, labels, em_resp, at_em, at_map, at_nuts)


def _posterior_summary(draws: np.ndarray) -> tuple[float, float, float, float]:
    low, high = az.hdi(np.asarray(draws, dtype=float).reshape(-1), prob=HDI_PROB)
    return float(np.mean(draws)), float(np.std(draws, ddof=1)), float(low), float(high)


def _growth(sc: Scenario, settings: ReportSettings, progress: bool) -> Growth:
    sim = sc.simulator
    comp = sc.components
    sizes = list(sim.sizes[: settings.n_sizes] if settings.n_sizes else sim.sizes)
    values: dict[str, dict[str, list[float]]] = {}
    kinds: dict[str, str] = {}
    diagnostics = []
    messages: list[str] = []
    for i, n in enumerate(sizes):
        t = time.perf_counter()
        # The same seed for every N: data sets drawn toss by toss are then prefixes of one
        # another, as when one experiment goes on.
        data = sim.draw(n, np.random.default_rng(settings.seed))
        start = dict(sim.start(data) if sim.start is not None else sc.start_for(data, data_given=True))
        with _recorded(messages, f"N = {n}"):
            em = sc.fit_em(data, start, n_starts=settings.n_starts, seed=settings.seed)
            em_params = comp.canonical(em.params)
            model = sc.build_model(data, **settings.model_options)
            em_start = comp.canonical({name: trace[0] for name, trace in em.param_trace.items()})
            fit = fitting.fit_nuts(model, sc.to_model(em_start), seed=settings.seed,
                                   **{**sc.nuts_defaults, **settings.sweep_nuts})
        draws = align_draws(em_params, _draws(fit, list(em_params)), comp.params)
        n_draws = len(next(iter(draws.values())))
        mle = flatten(em_params, comp)
        per_draw = [flatten({name: v[j] for name, v in draws.items()}, comp) for j in range(n_draws)]
        rows = {name: (mle[name], np.array([d[name] for d in per_draw]), "parameter") for name in mle}
        for fname, func in sc.functionals.items():
            stacked = {name: np.moveaxis(v, 0, -1) for name, v in draws.items()}
            rows[fname] = (float(func(em_params)), np.asarray(func(stacked), dtype=float).reshape(-1), "functional")
        for name, (mle_value, samples, kind) in rows.items():
            mean, sd, low, high = _posterior_summary(samples)
            entry = values.setdefault(name, {"mle": [], "mean": [], "sd": [], "hdi_low": [], "hdi_high": []})
            for key, value in zip(("mle", "mean", "sd", "hdi_low", "hdi_high"), (mle_value, mean, sd, low, high)):
                entry[key].append(value)
            kinds[name] = kind
        diagnostics.append({"n": n, "divergences": fit.diagnostics["divergences"],
                            "max_rhat": fit.diagnostics["max_rhat"], "em_iterations": em.n_iter})
        _say(progress, sc.name, f"data growth {i + 1}/{len(sizes)}: N = {n} {sim.unit}, EM + NUTS "
             f"({time.perf_counter() - t:.1f} s)")
    truth = flatten(comp.canonical({k: np.asarray(v, dtype=float) for k, v in sim.truth.items()}), comp)
    for fname, func in sc.functionals.items():
        truth[fname] = float(func({k: np.asarray(v, dtype=float) for k, v in sim.truth.items()}))
    return Growth(
        unit=sim.unit,
        sizes=sizes,
        truth=truth,
        values={name: {k: np.array(v) for k, v in entry.items()} for name, entry in values.items()},
        kinds=kinds,
        diagnostics=diagnostics,
        nuts=dict(settings.sweep_nuts),
        warnings=messages,
    )


def _n_free(model: Any) -> int:
    """Free parameters = dimension of the model's unconstrained space (a simplex of k
    weights counts k − 1)."""
    shapes = model.eval_rv_shapes()
    return int(sum(int(np.prod(shapes[v.name])) for v in model.value_vars))


def _components(sc: Scenario, c: Comparison, settings: ReportSettings, progress: bool) -> ComponentChoice:
    sweep = sc.component_sweep
    ks = [k for k in sweep.ks if settings.max_k is None or k <= settings.max_k]
    fits = []
    caught_messages: list[str] = []
    for i, k in enumerate(ks):
        t = time.perf_counter()
        data_k, start_k = sweep.with_k(c.data, k)
        with _recorded(caught_messages, f"k = {k}"):
            em = sc.fit_em(data_k, dict(start_k), n_starts=settings.n_starts, seed=settings.seed)
            model = sc.build_model(data_k, **settings.model_options)
            # NUTS starts at EM's answer: the sweep asks how well k components predict, not
            # whether the sampler finds the mode.
            fit = fitting.fit_nuts(model, sc.to_model(sc.components.canonical(em.params)), seed=settings.seed,
                                   **{**sc.nuts_defaults, **settings.sweep_nuts})
            pm.compute_log_likelihood(fit.idata, model=model, progressbar=False)
            loo = az.loo(fit.idata, pointwise=True)
        fits.append((k, em, model, fit, loo))
        _say(progress, sc.name, f"components {i + 1}/{len(ks)}: k = {k}, EM + NUTS + PSIS-LOO "
             f"({time.perf_counter() - t:.1f} s)")
    n_obs = int(fits[0][4].n_data_points)
    best = max(fits, key=lambda f: f[4].elpd)
    best_pointwise = np.asarray(best[4].elpd_i).reshape(-1)
    rows = []
    for k, em, model, fit, loo in fits:
        p = _n_free(model)
        ll = em.log_likelihood
        diff = np.asarray(loo.elpd_i).reshape(-1) - best_pointwise
        rows.append(ComponentRow(
            k=k, n_params=p, log_likelihood=ll, bic=-2 * ll + p * np.log(n_obs), aic=-2 * ll + 2 * p,
            elpd_loo=float(loo.elpd), elpd_se=float(loo.se), p_loo=float(loo.p),
            elpd_diff=float(diff.sum()), diff_se=float(np.sqrt(diff.size * np.var(diff))),
            high_pareto_k=int(np.sum(np.asarray(loo.pareto_k) > PARETO_K_BAD)),
            divergences=int(fit.diagnostics["divergences"]), max_rhat=float(fit.diagnostics["max_rhat"]),
        ))
    return ComponentChoice(
        rows=rows,
        n_observations=n_obs,
        bic_choice=min(rows, key=lambda r: r.bic).k,
        aic_choice=min(rows, key=lambda r: r.aic).k,
        loo_choice=max(rows, key=lambda r: r.elpd_loo).k,
        nuts=dict(settings.sweep_nuts),
        warnings=caught_messages,
    )


# --------------------------------------------------------------------------- the entry point


def scenario_report(
    scenario: str | Scenario,
    settings: ReportSettings | None = None,
    *,
    progress: bool = False,
) -> ScenarioReport:
    """Run a scenario's comparison and compute every piece of its report.

    Parameters
    ----------
    scenario : str or Scenario
        A registered name or a :class:`Scenario` (e.g. from ``emtwin.custom_scenario``).
    settings : ReportSettings, optional
        Seeds and amounts of work; default ``ReportSettings()``.
    progress : bool
        Print a line per stage (and PyMC's progress bars for the table's fits) to stderr.

    Returns
    -------
    ScenarioReport
    """
    from .registry import get_scenario

    settings = ReportSettings() if settings is None else settings
    if not isinstance(settings, ReportSettings):
        raise ValueError(f"settings must be a ReportSettings; got {type(settings).__name__}.")
    sc = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    timings: dict[str, float] = {}
    omitted: dict[str, str] = {}

    t = time.perf_counter()
    c = compare(sc, methods=METHODS, seed=settings.seed, n_starts=settings.n_starts,
                nuts_options=dict(settings.nuts), advi_options=dict(settings.advi),
                model_options=dict(settings.model_options), progress=progress)
    timings["comparison"] = time.perf_counter() - t
    model = sc.build_model(c.data, **settings.model_options)
    path = _path(sc, c)

    contour = None
    if len(path.names) != 2:
        omitted["contour"] = (f"{len(path.names)} parameters ({', '.join(path.names)}): a contour needs exactly "
                              "two, so the EM path is drawn as one trace per parameter instead.")
    elif sc.log_likelihood is None:
        omitted["contour"] = "the scenario gives no log_likelihood hook, so the log-likelihood surface is not drawn."
    else:
        t = time.perf_counter()
        contour = _contour(sc, c, path, settings)
        timings["contour"] = time.perf_counter() - t

    labels = None
    if sc.label_probabilities is None:
        omitted["labels"] = ("the scenario gives no label_probabilities hook"
                             + ("" if sc.components.params else " (it has no latent label: every observation "
                                "comes from the one component)") + ", so there are no labels to compare.")
    else:
        t = time.perf_counter()
        _say(progress, sc.name, "label posteriors from the PyMC graph ...")
        labels = _labels(sc, c, model)
        timings["labels"] = time.perf_counter() - t

    growth = None
    if sc.simulator is None:
        omitted["growth"] = "the scenario gives no simulator hook, so there is no data of growing size to fit."
    else:
        t = time.perf_counter()
        growth = _growth(sc, settings, progress)
        timings["growth"] = time.perf_counter() - t

    components = None
    if sc.component_sweep is None:
        omitted["components"] = ("the scenario gives no component_sweep hook ("
                                 + ("its EM twin fits a fixed number of components" if sc.components.params
                                    else "it is not a mixture") + "), so the number of components is not chosen here.")
    else:
        t = time.perf_counter()
        components = _components(sc, c, settings, progress)
        timings["components"] = time.perf_counter() - t

    if c.curvature.identifiable:
        omitted["ridge"] = "the log-likelihood is strictly peaked at EM's answer: there is no ridge."
    # Printed by PyMC from the model object, so the report states the priors actually used.
    priors = [str_for_dist(rv) for rv in model.free_RVs]
    return ScenarioReport(sc, c, settings, str_for_model(model), priors, path, contour, labels, growth, components,
                          omitted, timings)
