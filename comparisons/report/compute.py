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
from collections.abc import Iterator, Mapping
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
from emtwin.models.labels import observed_data
from emtwin.models.precision import exact_arithmetic

from .. import result_cache
from ..harness import METHODS
from ..model_memo import shared_model
from ..paths import Contour, EMPath, aligned_draws, em_path, pooled_draws
from ..paths import contour as contour_of
from ..results import Comparison, flatten
from ..scenario import Scenario

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
    "convergence_rate",
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
    cache : bool
        Answer the table's comparison from the result cache when it has run before
        (:mod:`.result_cache`; the command line's default, off with ``--no-cache``).
    derived : bool
        Run the third twin, the EM derived from the PyMC model (``--no-derived``: off).
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
    cache: bool = False
    derived: bool = True

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


def component_labels(sc: Scenario, params: Params) -> dict[str, list[str]]:
    """Each per-component parameter's component labels, as the table's rows name them
    (the scenario's labels, or 1..k)."""
    out = {}
    for name in sc.components.params:
        k = np.shape(params[name])[0]
        out[name] = list(sc.components.labels[:k]) if sc.components.labels else [str(j + 1) for j in range(k)]
    return out


# --------------------------------------------------------------------------- pieces, computed


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
        draws = pooled_draws(c.nuts, free)
        n_draws = len(next(iter(draws.values())))
        at_nuts = np.mean([label_fn({n: v[i] for n, v in draws.items()}) for i in range(n_draws)], axis=0)
    observations = observed_data(model)
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
    fitted: list[tuple[int, Any, Params, float]] = []  # N, EM's result, its canonical parameters, EM's seconds

    def fits() -> Iterator[tuple[Any, ...]]:
        for n in sizes:
            t = time.perf_counter()
            # The same seed for every N: data sets drawn toss by toss are then prefixes of one
            # another, as when one experiment goes on.
            data = sim.draw(n, np.random.default_rng(settings.seed))
            start = dict(sim.start(data) if sim.start is not None else sc.start_for(data, data_given=True))
            with _recorded(messages, f"N = {n}"):
                em = sc.fit_em(data, start, n_starts=settings.n_starts, seed=settings.seed)
                model = sc.build_model(data, **settings.model_options)
            em_start = comp.canonical({name: trace[0] for name, trace in em.param_trace.items()})
            fitted.append((n, em, comp.canonical(em.params), time.perf_counter() - t))
            yield fitting.fit_nuts, model, sc.to_model(em_start), _sweep_nuts(sc, settings)

    running = fitting.fits_side_by_side(fits())
    try:
        done = [_result_of(nuts, messages, f"N = {n}") for (n, *_), nuts in zip(fitted, running)]
    finally:
        for nuts in running:
            nuts.cancel()
    for i, ((n, em, em_params, em_seconds), nuts, fit) in enumerate(zip(fitted, running, done)):
        draws = align_draws(em_params, pooled_draws(fit, list(em_params)), comp.params)
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
             f"({em_seconds + nuts.seconds:.1f} s)")
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


def _sweep_nuts(sc: Scenario, settings: ReportSettings) -> dict[str, Any]:
    """The keyword arguments of a sweep's :func:`~emtwin.models.fitting.fit_nuts`."""
    return {"seed": settings.seed, **sc.nuts_defaults, **settings.sweep_nuts}


def _result_of(running: fitting.RunningFit, messages: list[str], where: str) -> Any:
    """A sweep's background fit's result, its warnings collected into ``messages``."""
    with _recorded(messages, where):
        return running.result()


def _nuts_and_loo(model: Any, start: Params, **options: Any) -> tuple[fitting.PosteriorFit, Any]:
    """NUTS, the pointwise log-likelihood of its draws, and PSIS-LOO: one component count."""
    fit = fitting.fit_nuts(model, start, **options)
    # Compiled as every emtwin function is (no fast-math: the same bits cold or warm)
    with exact_arithmetic():
        pm.compute_log_likelihood(fit.idata, model=model, progressbar=False)
    return fit, az.loo(fit.idata, pointwise=True)


def _n_free(model: Any) -> int:
    """Free parameters = dimension of the model's unconstrained space (a simplex of k
    weights counts k − 1)."""
    shapes = model.eval_rv_shapes()
    return int(sum(int(np.prod(shapes[v.name])) for v in model.value_vars))


def _components(sc: Scenario, c: Comparison, settings: ReportSettings, progress: bool) -> ComponentChoice:
    sweep = sc.component_sweep
    ks = [k for k in sweep.ks if settings.max_k is None or k <= settings.max_k]
    caught_messages: list[str] = []
    fitted: list[tuple[int, Any, Any, float]] = []  # k, EM's result, the model, EM's seconds

    def sweep_fits() -> Iterator[tuple[Any, ...]]:
        for k in ks:
            t = time.perf_counter()
            data_k, start_k = sweep.with_k(c.data, k)
            with _recorded(caught_messages, f"k = {k}"):
                em = sc.fit_em(data_k, dict(start_k), n_starts=settings.n_starts, seed=settings.seed)
                model = sc.build_model(data_k, **settings.model_options)
            fitted.append((k, em, model, time.perf_counter() - t))
            # NUTS starts at EM's answer: the sweep asks how well k components predict, not
            # whether the sampler finds the mode.
            yield _nuts_and_loo, model, sc.to_model(sc.components.canonical(em.params)), _sweep_nuts(sc, settings)

    running = fitting.fits_side_by_side(sweep_fits())
    fits = []
    try:
        for i, ((k, em, model, em_seconds), nuts) in enumerate(zip(fitted, running)):
            fit, loo = _result_of(nuts, caught_messages, f"k = {k}")
            fits.append((k, em, model, fit, loo))
            _say(progress, sc.name, f"components {i + 1}/{len(ks)}: k = {k}, EM + NUTS + PSIS-LOO "
                 f"({em_seconds + nuts.seconds:.1f} s)")
    finally:
        for nuts in running:
            nuts.cancel()
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


def convergence_rate(loglik: np.ndarray) -> float | None:
    """Median ratio of successive distances to the final log-likelihood: EM's linear rate
    (None when EM took too few steps to measure one)."""
    gap = loglik[-1] - loglik
    usable = gap[:-1] > 1e-9 * max(1.0, abs(loglik[-1]))
    ratios = gap[1:][usable] / gap[:-1][usable]
    ratios = ratios[(ratios > 0) & np.isfinite(ratios)]
    return float(np.median(ratios)) if ratios.size >= 2 else None


# --------------------------------------------------------------------------- the entry point


def _contour_piece(sc: Scenario, c: Comparison, path: EMPath, settings: ReportSettings,
                   timings: dict[str, float], omitted: dict[str, str]) -> Contour | None:
    """The log-likelihood contour for a two-parameter scenario with a log_likelihood hook;
    otherwise None, with the reason in ``omitted``."""
    if len(path.names) != 2:
        omitted["contour"] = (f"{len(path.names)} parameters ({', '.join(path.names)}): a contour needs exactly "
                              "two, so the EM path is drawn as one trace per parameter instead.")
        return None
    if sc.log_likelihood is None:
        omitted["contour"] = "the scenario gives no log_likelihood hook, so the log-likelihood surface is not drawn."
        return None
    t = time.perf_counter()
    contour = contour_of(sc, c, path, settings.grid)
    timings["contour"] = time.perf_counter() - t
    return contour


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
    from ..registry import get_scenario

    settings = ReportSettings() if settings is None else settings
    if not isinstance(settings, ReportSettings):
        raise ValueError(f"settings must be a ReportSettings; got {type(settings).__name__}.")
    sc = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    timings: dict[str, float] = {}
    omitted: dict[str, str] = {}

    t = time.perf_counter()
    c = result_cache.compare(sc, use_cache=settings.cache, methods=METHODS, seed=settings.seed, n_starts=settings.n_starts,
                nuts_options=dict(settings.nuts), advi_options=dict(settings.advi),
                model_options=dict(settings.model_options), derived=settings.derived, progress=progress)
    timings["comparison"] = time.perf_counter() - t
    model = shared_model(sc.build_model, c.data, settings.model_options)
    path = em_path(sc, c)

    contour = _contour_piece(sc, c, path, settings, timings, omitted)
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
