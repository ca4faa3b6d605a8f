"""Your own EM, through the same harness as the lecture's scenarios.

Step form: hand :func:`custom_scenario` your start, E-step, M-step and log-likelihood, and a
PyMC model builder; it returns a :class:`~emtwin.comparisons.scenario.Scenario` whose EM twin
is the project's generic driver (several starts, label alignment, the identifiability check
all come with it). :func:`compare` is :func:`emtwin.comparisons.harness.compare_twins` with the
user's input checked first, so a mistake reads as one ``ValueError`` naming what to fix
rather than a PyTensor traceback. :func:`load_scenario` reads ``path/to/file.py:function``
for the command line, and :class:`ModelCache` builds each PyMC model once per session.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emtwin.em_reference.checks import check
from emtwin.em_reference.driver import EMResult, EStep, LogLikelihood, MStep, Params, run_em_multistart

from .registry import get_scenario
from .scenario import NO_COMPONENTS, Components, Scenario

if TYPE_CHECKING:
    from .results import Comparison

# PyMC (emtwin.models, the harness) is imported in the functions that fit or check a model:
# the command line imports this module for load_scenario, and a result-cache hit needs no PyMC.

__all__ = [
    "BuilderError",
    "ModelCache",
    "build_checked",
    "check_params",
    "compare",
    "custom_scenario",
    "load_scenario",
    "registered_or_loaded",
]


def _callable_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _names(values: Sequence[str]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


# --------------------------------------------------------------------------- checks at the entry


class BuilderError(ValueError):
    """A model builder failed; the message names it, ``__cause__`` holds what it raised."""


def build_checked(build_model: Callable[..., Any], data: Any, options: Mapping[str, Any] | None = None) -> Any:
    """``build_model(data, **options)``, with any failure turned into one ``ValueError``
    naming the builder (the original exception stays attached as ``__cause__``)."""
    import pymc as pm

    name = _callable_name(build_model)
    options = dict(options or {})
    call = f"{name}(data{''.join(f', {k}=...' for k in options)})"
    try:
        model = build_model(data, **options)
    except BuilderError:
        raise  # already named (a cached builder checked it)
    except Exception as err:
        raise BuilderError(
            f"build_model {call} raised {type(err).__name__}: {err}. Fix the model builder; "
            f"it must return a pm.Model for the data it is given."
        ) from err
    if not isinstance(model, pm.Model):
        raise BuilderError(f"build_model {call} must return a pm.Model; got {type(model).__name__}.")
    if not model.free_RVs:
        raise BuilderError(f"build_model {call} returned a model without free variables; there is nothing to compare.")
    return model


def check_params(
    model: Any, params: Mapping[str, Any], *, argument: str, builder: str, support: bool = True
) -> Params:
    """``params`` as float arrays, checked against ``model``'s free variables.

    Names must equal the free variables', shapes must equal theirs, values must be finite
    and (with ``support``) give a finite log-likelihood. Each failure is one ``ValueError``
    that starts with ``argument`` (who produced the parameters) and names ``builder``.
    """
    from emtwin.models import fitting

    free = fitting.free_names(model)
    unknown = sorted(set(params) - set(free))
    missing = [n for n in free if n not in params]
    if unknown or missing:
        raise ValueError(
            f"{argument} names the parameters {_names(list(params))} but the PyMC model built by "
            f"{builder} has the free variables {_names(free)} (unknown: {_names(unknown)}, missing: "
            f"{_names(missing)}). Name the parameters as the model's free variables."
        )
    shapes = model.eval_rv_shapes()
    out: Params = {}
    for name in free:
        value = np.asarray(params[name], dtype=float)
        expected = tuple(int(s) for s in shapes[name])
        if value.shape != expected:
            raise ValueError(
                f"{argument}[{name!r}] has shape {value.shape} but the model's {name!r} has shape "
                f"{expected}; give one value per entry of {name!r}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"{argument}[{name!r}] = {value.tolist()} is not finite; parameters must be finite "
                "numbers (look for a division by a zero total or a log of 0)."
            )
        out[name] = value
    if support and not _inside_support(model, out):
        raise ValueError(
            f"{argument} ({_shown(out)}) lies outside the support of the PyMC model built by {builder}: "
            "no finite log-likelihood or no finite unconstrained value (e.g. a negative rate, weights "
            "not summing to 1, or two components tied under the model's ordering)."
        )
    return out


def _inside_support(model: Any, params: Params) -> bool:
    from emtwin.models import fitting

    # Both, because a tie under an ordering maps to -inf yet the likelihood stays finite.
    unconstrained = fitting._unconstrained(model, params)
    if not all(np.all(np.isfinite(v)) for v in unconstrained):
        return False
    return bool(np.isfinite(fitting.log_likelihood(model, params)))


def compare(
    scenario: str | Scenario,
    *,
    data: Any = None,
    start: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Comparison:
    """Run both twins of a scenario and compare them: :func:`emtwin.comparisons.harness.compare_twins`
    (same arguments: ``methods``, ``seed``, ``n_starts``, ``nuts_options``, ``advi_options``,
    ``progress``, ``derived``), with a :class:`Scenario` object's input checked first.

    For a :class:`Scenario` the model is built once, here: a builder that raises, or a start
    whose names or shapes do not match the model's free variables, gives one ``ValueError``
    naming what to fix. Registered names go straight to the harness, whose scenarios check
    their own input.
    """
    from .harness import compare_twins

    if isinstance(scenario, str):
        return compare_twins(scenario, data=data, start=start, model_options=model_options, **options)
    if not isinstance(scenario, Scenario):
        raise ValueError(
            "scenario must be a registered name (see `emtwin list`) or a Scenario from "
            f"emtwin.custom_scenario(...); got {type(scenario).__name__}."
        )
    sc = scenario
    if start is not None and not isinstance(start, Mapping):
        raise ValueError(f"start must be a dict of parameter name -> value; got {start!r}.")
    if model_options is not None and not isinstance(model_options, Mapping):
        raise ValueError(f"model_options must be a dict of option name -> value; got {model_options!r}.")
    data_given = data is not None
    data = sc.make_data() if data is None else data
    start = dict(sc.start_for(data, data_given=data_given) if start is None else start)
    builder = _callable_name(sc.build_model)
    model = build_checked(sc.build_model, data, model_options)
    try:
        as_given = sc.to_model(dict(start))
    except KeyError:
        as_given = start  # check_params names the missing parameter
    # Names, shapes and NaN on the values as given; the support in the model's component order.
    check_params(model, as_given, argument="start", builder=builder, support=False)
    check_params(model, sc.to_model(sc.components.canonical(start)), argument="start", builder=builder)
    # Hand the harness the model just built and checked: built once, compiled once.
    sc = dataclasses.replace(sc, build_model=lambda _data, **_options: model)
    return compare_twins(sc, data=data, start=start, model_options=model_options, **options)


# --------------------------------------------------------------------------- step form


def _named_like(params: Any, expected: Mapping[str, tuple[int, ...]], who: str) -> Params:
    """``params`` as float arrays with exactly ``expected``'s names and shapes."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{who} must return a dict of parameters (name -> array); got {type(params).__name__}.")
    if set(params) != set(expected):
        raise ValueError(
            f"{who} returned the parameters {_names(list(params))} but start has {_names(list(expected))}; "
            "return every parameter of the start, under the same names."
        )
    out = {}
    for name, shape in expected.items():
        value = np.asarray(params[name], dtype=float)
        if value.shape != shape:
            raise ValueError(f"{who} returned {name!r} with shape {value.shape}; start's {name!r} has shape {shape}.")
        out[name] = value
    return out


def _shown(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in params.items())


def _guarded(e_step: EStep, m_step: MStep, log_likelihood: LogLikelihood, shapes: Mapping[str, tuple[int, ...]]):
    """The user's three functions, each checked on every call: NaN from user code must stop
    EM at the step that produced it (the driver would otherwise iterate NaN to the cap)."""
    e_name, m_name, ll_name = map(_callable_name, (e_step, m_step, log_likelihood))

    def e(data: Any, params: Params) -> np.ndarray:
        resp = np.asarray(e_step(data, params), dtype=float)
        if not np.all(np.isfinite(resp)):
            raise ValueError(
                f"e_step {e_name} returned non-finite responsibilities at {_shown(params)}; "
                "normalise in log space (scipy.special.logsumexp) to avoid 0/0."
            )
        return resp

    def m(data: Any, resp: np.ndarray) -> Params:
        params = _named_like(m_step(data, resp), shapes, f"m_step {m_name}")
        bad = {n: v for n, v in params.items() if not np.all(np.isfinite(v))}
        if bad:
            totals = ", ".join(f"{t:.6g}" for t in np.atleast_2d(resp).sum(axis=0))
            raise ValueError(
                f"m_step {m_name} returned non-finite parameters: {_shown(bad)}, from responsibilities "
                f"whose column totals are [{totals}]. Look for a division by a zero total or a log of 0."
            )
        return params

    def ll(data: Any, params: Params) -> float:
        value = float(log_likelihood(data, params))
        if not np.isfinite(value):
            raise ValueError(f"log_likelihood {ll_name} returned {value} at {_shown(params)}; it must be finite.")
        return value

    return e, m, ll


def custom_scenario(
    name: str,
    *,
    data: Any,
    start: Mapping[str, Any],
    e_step: EStep,
    m_step: MStep,
    log_likelihood: LogLikelihood,
    build_model: Callable[..., Any],
    components: Components = NO_COMPONENTS,
    random_start: Callable[[Any, np.random.Generator], Mapping[str, Any]] | None = None,
    functionals: Mapping[str, Callable[[Params], float]] | None = None,
    title: str = "",
    source: str = "",
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> Scenario:
    """A scenario built from your own EM steps and PyMC model, for :func:`emtwin.compare`.

    Parameters
    ----------
    name : str
        Short name shown in tables and progress lines, e.g. ``"poisson-mixture"``.
    data
        Whatever your three functions and ``build_model`` take.
    start : dict of str to array
        Starting parameters, named as the PyMC model's free variables, in its shapes.
    e_step : callable (data, params) -> ndarray, shape (n_observations, n_components)
        Responsibilities Pr(component | observation, params); rows sum to one.
    m_step : callable (data, responsibilities) -> dict
        New parameters, same names and shapes as ``start``.
    log_likelihood : callable (data, params) -> float
        Total observed-data log-likelihood in nats, the quantity the PyMC model's
        likelihood reports (keep constants such as log x! in).
    build_model : callable (data, **options) -> pm.Model
        The PyMC twin: flat priors (so MAP is the maximum-likelihood estimate) and the
        labels marginalised (``pm.Mixture``).
    components : Components
        Which parameters are per component (axis 0), the component labels for table
        rows, and the parameter the model keeps ordered. Default: no components (nothing
        is relabelled).
    random_start : callable (data, numpy.random.Generator) -> dict, optional
        Draws one extra start for ``n_starts > 1``. Default: the M-step applied to random
        responsibilities (uniform draws normalised per row, scikit-learn's ``"random"``
        initialisation), which lands inside the parameters' constraints by construction.
    functionals : dict of str to callable, optional
        Quantities the likelihood identifies even where the parameters are not.
    title, source : str
        One-line description and reference, shown by the command line.
    tol, max_iter
        EM's stopping rule (largest absolute parameter change per iteration) and cap.

    Returns
    -------
    Scenario
        Its ``fit_em`` runs :func:`emtwin.em_reference.run_em_multistart` on your functions,
        each call checked: a NaN or a wrong parameter name stops EM with a ``ValueError``.
    """
    start = _checked_steps(name, start, e_step, m_step, log_likelihood, build_model, components, random_start)
    tol, max_iter = check("tol", tol), check("max_iter", max_iter)
    shapes = {k: v.shape for k, v in start.items()}
    guarded = _guarded(e_step, m_step, log_likelihood, shapes)
    return Scenario(
        name=name,
        title=title or f"{name} (custom scenario)",
        source=source or "user code",
        make_data=lambda: data,
        default_start=start,
        fit_em=_multistart_em(guarded, shapes, components, random_start, tol, max_iter),
        build_model=build_model,
        components=components,
        functionals=dict(functionals or {}),
        log_likelihood=log_likelihood,  # emtwin report: the log-likelihood contour
        steps=(e_step, m_step, log_likelihood),  # compare's step check
    )


def _checked_steps(
    name: Any, start: Any, e_step: Any, m_step: Any, log_likelihood: Any, build_model: Any, components: Any,
    random_start: Any,
) -> Params:
    """custom_scenario's arguments checked; returns ``start`` as float arrays."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string such as 'poisson-mixture'; got {name!r}.")
    for arg, fn in (("e_step", e_step), ("m_step", m_step), ("log_likelihood", log_likelihood),
                    ("build_model", build_model)):
        if not callable(fn):
            raise ValueError(f"{arg} must be a function; got {type(fn).__name__}.")
    if random_start is not None and not callable(random_start):
        raise ValueError(f"random_start must be a function (data, rng) -> dict; got {type(random_start).__name__}.")
    if not isinstance(start, Mapping) or not start:
        raise ValueError(f"start must be a non-empty dict of parameter name -> value; got {start!r}.")
    start = {k: np.asarray(v, dtype=float) for k, v in start.items()}
    if not isinstance(components, Components):
        raise ValueError(f"components must be an emtwin.Components; got {type(components).__name__}.")
    referred = dict.fromkeys((*components.params, *([components.order_by] if components.order_by else [])))
    absent = [p for p in referred if p not in start]
    if absent:
        raise ValueError(
            f"components refers to {_names(absent)}, which start does not name; start has {_names(list(start))}."
        )
    for p in components.params:
        if start[p].ndim == 0 or (components.labels and start[p].shape[0] != len(components.labels)):
            raise ValueError(
                f"components.labels gives {len(components.labels)} components but start[{p!r}] has shape "
                f"{start[p].shape}; its axis 0 must have one entry per component."
            )
    return start


def _multistart_em(
    guarded: tuple[EStep, MStep, LogLikelihood], shapes: Mapping[str, tuple[int, ...]], components: Components,
    random_start: Callable[[Any, np.random.Generator], Mapping[str, Any]] | None, tol: float, max_iter: int,
) -> Callable[..., EMResult]:
    """The scenario's ``fit_em``: the project's driver on the user's (checked) steps, from the
    given start plus ``n_starts − 1`` drawn ones."""
    e, m, ll = guarded

    def extra_start(data: Any, first: Params, rng: np.random.Generator, n_starts: int) -> Params:
        if random_start is not None:
            return _named_like(random_start(data, rng), shapes, f"random_start {_callable_name(random_start)}")
        shape = np.shape(e(data, first))
        if len(shape) != 2:
            raise ValueError(
                f"n_starts={n_starts} needs extra starts, but e_step returns shape {shape}, not "
                "(n_observations, n_components); pass random_start=(data, rng) -> dict to custom_scenario."
            )
        resp = rng.uniform(size=shape)
        return m(data, resp / resp.sum(axis=1, keepdims=True))

    def fit_em(data: Any, start: Mapping[str, Any], *, n_starts: int = 1, seed: int = 0) -> EMResult:
        n_starts, seed = check("n_starts", n_starts), check("seed", seed)
        first = {k: np.asarray(v, dtype=float) for k, v in start.items()}
        rng = np.random.default_rng(seed)
        starts = [first] + [extra_start(data, first, rng, n_starts) for _ in range(n_starts - 1)]
        return run_em_multistart(data, starts, e, m, ll, canonical=components.canonical, tol=tol, max_iter=max_iter)

    return fit_em


# --------------------------------------------------------------------------- compile once


def _fingerprint(obj: Any, depth: int = 0) -> Any:
    """A hashable summary of ``obj``'s content, so equal data built twice hits one model.
    Objects it cannot read are keyed by identity (the cache keeps them alive)."""
    if depth > 20:
        return ("id", id(obj))
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return (type(obj).__name__, obj)
    if isinstance(obj, np.generic):
        return ("np", obj.dtype.str, obj.item())
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        digest = hashlib.sha1(np.ascontiguousarray(obj).tobytes()).hexdigest()
        return ("ndarray", obj.dtype.str, obj.shape, digest)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_fingerprint(v, depth + 1) for v in obj))
    if isinstance(obj, Mapping):
        return ("map", tuple(sorted((repr(k), _fingerprint(v, depth + 1)) for k, v in obj.items())))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = tuple((f.name, _fingerprint(getattr(obj, f.name), depth + 1)) for f in dataclasses.fields(obj))
        return ("dataclass", type(obj).__qualname__, fields)
    return ("id", id(obj))


class ModelCache:
    """PyMC models keyed by (builder, data content, builder options).

    PyTensor compiles per model object (``fitting`` caches compiled functions on it), so
    handing every comparison of the same builder and data the same model compiles it once.
    """

    def __init__(self) -> None:
        self._models: dict[Any, Any] = {}
        self._alive: list[Any] = []  # keeps objects keyed by id() from being reused

    def __len__(self) -> int:
        return len(self._models)

    def build(self, build_model: Callable[..., Any], data: Any, options: Mapping[str, Any] | None = None) -> Any:
        """The model ``build_checked(build_model, data, options)`` returns, built on first use."""
        builder = getattr(build_model, "__wrapped__", build_model)
        key = (id(builder), _fingerprint(data), _fingerprint(dict(options or {})))
        if key not in self._models:
            self._models[key] = build_checked(build_model, data, options)
            self._alive += [builder, data]
        return self._models[key]

    def wrap(self, build_model: Callable[..., Any]) -> Callable[..., Any]:
        """``build_model`` answered from this cache (same name, for error messages)."""
        builder = getattr(build_model, "__wrapped__", build_model)

        @functools.wraps(builder)
        def cached(data: Any, **options: Any) -> Any:
            return self.build(builder, data, options)

        return cached

    def clear(self) -> None:
        self._models.clear()
        self._alive.clear()


# --------------------------------------------------------------------------- file:function


_SPEC = re.compile(r"^(?P<path>.+\.py):(?P<func>[A-Za-z_]\w*)$")


def load_scenario(spec: str) -> Scenario:
    """The :class:`Scenario` returned by ``function()`` in ``path/to/file.py:function``.

    The file's folder goes first on ``sys.path`` so it can import its neighbours (its EM
    module, its model module). Every failure is one ``ValueError`` naming the file.
    """
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if not match:
        raise ValueError(f"NAME must be a registered scenario or path/to/file.py:function; got {spec!r}.")
    path, func = Path(match["path"]), match["func"]
    if not path.is_file():
        raise ValueError(f"no file {str(path)!r} (from {spec!r}); give the path to a Python file.")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"emtwin_user_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    # Registered before running, as `import` does: dataclasses look their module up there.
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[module_name]
        raise ValueError(f"could not import {str(path)!r}: {type(err).__name__}: {err}") from err
    factory = getattr(module, func, None)
    if not callable(factory):
        defined = sorted(k for k, v in vars(module).items()
                         if callable(v) and getattr(v, "__module__", None) == module_name and not k.startswith("_"))
        raise ValueError(f"{str(path)!r} defines no function {func!r}; functions defined there: {', '.join(defined) or 'none'}.")
    try:
        scenario = factory()
    except Exception as err:
        raise ValueError(f"{spec} raised {type(err).__name__}: {err}") from err
    if not isinstance(scenario, Scenario):
        raise ValueError(f"{spec} returned {type(scenario).__name__}, not a Scenario; build one with emtwin.custom_scenario(...).")
    return scenario


def registered_or_loaded(name: str) -> Scenario:
    """A registered scenario by name, else ``path/to/file.py:function`` loaded."""
    if _SPEC.match(name):
        return load_scenario(name)
    return get_scenario(name)
