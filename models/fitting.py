"""The fitting functions every PyMC twin shares: MAP, ADVI, NUTS, and the compiled
log-likelihood with its curvature.

Parameters go in and come out as the model's *constrained* values keyed by the free
random variable's name (``{"theta": array([0.6, 0.5])}``), the same dict the EM twin uses.
Each function returns values; none plots or prints. PyMC's own log lines are silenced
inside these calls because the harness reports divergences, R-hat and convergence itself,
with numbers, next to the verdict.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import multiprocessing
import os
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz_base
import arviz_stats
import numpy as np
import pymc as pm
import pymc.sampling.mcmc as pm_mcmc
import pytensor
import pytensor.tensor as pt
from scipy.optimize import minimize

from emtwin.em_reference.checks import MAX_SEED, RULES, OneOf, Real, Whole, check

from .advi import mean_field_advi
from .advi_stop import DriftStop
from .precision import as_copied, compile_fn, copied_for, exact_arithmetic, keep_compiled, same_structure

__all__ = [
    "NUTS_SAMPLERS",
    "Curvature",
    "MAPFit",
    "PosteriorFit",
    "check_advi_options",
    "check_nuts_options",
    "curvature",
    "fit_advi",
    "fit_in_background",
    "fit_map",
    "fit_nuts",
    "fits_side_by_side",
    "free_names",
    "log_likelihood",
]

HDI_PROB = 0.94
MAP_MAX_ITER = 5000  # L-BFGS-B iterations; pm.find_MAP's default evaluation budget
MAP_RESTARTS = 3  # after a line-search failure (see _optimize)
NUTS_SAMPLERS = ("pymc", "nutpie")
NUTS_INITS = ("jitter+adapt_diag", "adapt_diag")
Params = dict[str, np.ndarray]


@contextlib.contextmanager
def _pymc_quiet() -> Iterator[None]:
    """Mute PyMC's INFO/WARNING log lines for the duration of a fit, then restore them.

    Progress bars (rich, which writes to stdout) are sent to stderr, so a caller's stdout
    holds only its results (``emtwin compare --json`` stays parseable).
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            # Emitted by ArviZ for fewer than 4 chains; the harness reports R-hat itself.
            warnings.filterwarnings("ignore", message=".*chains.*", category=UserWarning, module="arviz.*")
            yield
    finally:
        logger.setLevel(level)


def free_names(model: pm.Model) -> list[str]:
    """Names of the model's free random variables, in model order."""
    return [rv.name for rv in model.free_RVs]


def _reported_names(model: pm.Model) -> list[str]:
    """Free variables and Deterministics: everything a twin may be compared on."""
    return free_names(model) + [d.name for d in model.deterministics]


def _check_start(model: pm.Model, start: Mapping[str, Any]) -> Params:
    names = free_names(model)
    if not isinstance(start, Mapping):
        raise ValueError(f"start must be a dict of the model's free variables {names}; got {type(start).__name__}.")
    unknown = sorted(set(start) - set(names))
    missing = sorted(set(names) - set(start))
    if unknown or missing:
        raise ValueError(
            f"start must give exactly the model's free variables {names}; "
            f"unknown {unknown}, missing {missing}."
        )
    out = {}
    for rv in model.free_RVs:
        try:
            value = np.asarray(start[rv.name], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"start[{rv.name!r}] must hold numbers; got {start[rv.name]!r}.") from None
        expected = _shapes(model)[rv.name]
        if value.shape != expected:
            raise ValueError(f"start[{rv.name!r}] must have shape {expected}; got {value.shape}.")
        out[rv.name] = value
    # Outside the prior's support (bounds, ties under an ordering) the unconstrained value
    # is not finite; PyMC would fail later with a traceback or return NaN.
    for name, value in zip(names, _unconstrained(model, out)):
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"start[{name!r}] = {out[name].tolist()} lies outside the support of the model's "
                f"prior on {name} (its bounds, or an ordering with ties)."
            )
    return out


# What fit_nuts and fit_advi accept: one rule per option from the project's table
# (em_reference/checks.py), with what the number is for in brackets.
_NUTS_RULES = {
    "draws": (Whole(4), "NUTS draws per chain"),
    "tune": (Whole(0), "NUTS tuning steps per chain"),
    "chains": (Whole(1), ""),
    "seed": (RULES["seed"], ""),
    "target_accept": (Real(0.0, 1.0), ""),
    "sampler": (OneOf(NUTS_SAMPLERS), ""),
    "init": (OneOf(NUTS_INITS), ""),
    "progress": (OneOf((True, False)), ""),
}
_ADVI_RULES = {
    "n": (Whole(20), "ADVI iterations: the loss trend compares the last two tenths"),
    "draws": (Whole(2), "samples from the ADVI approximation, for an SD"),
    "seed": (RULES["seed"], ""),
    "early_stop": (OneOf((True, False)), ""),
    "progress": (OneOf((True, False)), ""),
}


def _checked(rules: Mapping[str, Any], options: Mapping[str, Any], who: str) -> dict[str, Any]:
    unknown = [k for k in options if k not in rules]
    if unknown:
        raise ValueError(f"{who} takes {', '.join(rules)}; got {', '.join(map(repr, unknown))}.")
    return {k: check(k, v, *rules[k]) for k, v in options.items()}


def check_nuts_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for :func:`fit_nuts` checked (draws >= 4, tune >= 0, chains >= 1, seed in
    [0, 2**32 − 1], target_accept in (0, 1), sampler pymc or nutpie), before anything compiles."""
    return _checked(_NUTS_RULES, options, "fit_nuts")


def check_advi_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for :func:`fit_advi` checked (n >= 20, draws >= 2, seed in [0, 2**32 − 1],
    early_stop True or False)."""
    return _checked(_ADVI_RULES, options, "fit_advi")


# --------------------------------------------------------------------------- compiled pieces
#
# Each function is compiled on first use and cached for the model's life in this process
# (functools.cache holds the model): a harness run, a report and a dozen L-BFGS-B restarts
# on one model share them, and a caller that only wants the log-likelihood never pays for
# the MAP objective. Second derivatives are central differences of the compiled gradient:
# a symbolic Hessian of a mixture's log-likelihood took PyTensor 1-8 s to rewrite and
# compile per model even with a warm cache, while at most a few dozen parameters make the
# differences cost milliseconds.

# Central-difference step, relative to max(1, |u|): balances truncation (∝ h²) and
# rounding (∝ ε/h) errors, leaving ~1e-10 of the largest Hessian entry.
FD_STEP = float(np.finfo(float).eps ** (1 / 3))


@functools.cache
def _shapes(model: pm.Model) -> dict[str, tuple[int, ...]]:
    """Constrained shape of every free variable, evaluated once (``rv.shape.eval()``
    compiles a function on every call); read off the static types where they know it."""
    if all(None not in rv.type.shape for rv in model.free_RVs):
        return {rv.name: tuple(int(n) for n in rv.type.shape) for rv in model.free_RVs}
    shapes = compile_fn(model, [rv.shape for rv in model.free_RVs], [])()
    return {rv.name: tuple(int(n) for n in shape) for rv, shape in zip(model.free_RVs, shapes)}


def _value_vars(model: pm.Model) -> list[Any]:
    return [model.rvs_to_values[rv] for rv in model.free_RVs]


@functools.cache
def _to_unconstrained_fn(model: pm.Model) -> Any:
    """Constrained free-variable values → the model's (unconstrained) value variables."""
    forward = []
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        forward.append(rv if transform is None else transform.forward(rv, *rv.owner.inputs))
    return compile_fn(model, forward, model.free_RVs)


@functools.cache
def _to_constrained_fn(model: pm.Model) -> Any:
    """Unconstrained values → constrained free variables followed by every Deterministic."""
    reported = model.replace_rvs_by_values(model.free_RVs + model.deterministics)
    return compile_fn(model, reported, _value_vars(model))


@functools.cache
def _density_fn(model: pm.Model) -> Any:
    """Unconstrained values → (log-likelihood, its flat gradient, log-prior, its flat
    gradient), the transforms' Jacobian left out of both. One compiled function for what EM
    maximises (the likelihood alone) and what ``pm.find_MAP`` maximises (their sum): the two
    share the likelihood's graph, the costly part to rewrite and compile (the 2-D mixture's
    likelihood took 65 s to compile cold, the objective beside it 25 s more)."""
    value_vars = _value_vars(model)
    loglik = model.logp(vars=model.observed_RVs, jacobian=False)
    prior = model.logp(vars=model.free_RVs + model.potentials, jacobian=False)
    # 'ignore': a hyperprior's value reaches the likelihood only through the variables below it
    grads = [pt.concatenate([g.ravel() for g in pt.grad(term, value_vars, disconnected_inputs="ignore")])
             for term in (loglik, prior)]
    return compile_fn(model, [loglik, grads[0], prior, grads[1]], value_vars)


def _loglik_fn(model: pm.Model) -> Any:
    """Unconstrained values → (log-likelihood, its flat gradient). The likelihood alone,
    no prior and no Jacobian: what EM maximises."""
    density = _density_fn(model)
    return lambda *values: density(*values)[:2]


def _objective_fn(model: pm.Model) -> Any:
    """Unconstrained values → (log-density, its flat gradient): priors included, the
    transforms' Jacobian left out. The objective ``pm.find_MAP`` maximises."""
    density = _density_fn(model)

    def objective(*values: np.ndarray) -> tuple[Any, np.ndarray]:
        loglik, grad, prior, prior_grad = density(*values)
        return loglik + prior, grad + prior_grad

    return objective


_POSTERIORS: list[tuple[list[Any], list[Any], dict[str, tuple[int, ...]], Any]] = []


@functools.cache
def _value_grad(model: pm.Model) -> Any:
    """PyMC's ``ValueGradFunction`` of the posterior: flat unconstrained vector (free variables
    in model order, each raveled) → (log posterior density, its flat gradient), priors and
    the transforms' Jacobian included. Compiled once per model structure, for ADVI and for
    NUTS: a model whose log-density is another's on other data gets a copy of that one's
    compiled function reading its own data (:func:`.precision.same_structure`)."""
    logp, value_vars, shapes = [model.logp()], _value_vars(model), _shapes(model)
    with exact_arithmetic():
        for earlier_logp, earlier_vars, earlier_shapes, earlier in reversed(_POSTERIORS):
            swap = same_structure(earlier_logp, earlier_vars, logp, value_vars) if earlier_shapes == shapes else None
            if swap is not None:
                return _posterior_copied(earlier, swap, model)
        # The class's method: inside fit_nuts the instance's is the wrapper below.
        fn = type(model).logp_dlogp_function(model, ravel_inputs=True)
        fn._pytensor_function = as_copied(fn._pytensor_function)
        # Its callers (NUTS's leapfrog, ADVI's steps) pass the flat float64 vector it was
        # compiled for: PyTensor's check of each call's input (its dtype, shape, a copy if
        # needed) is skipped, 3-7 µs of NUTS's 60 000 gradients on the coin sets. Copies
        # (Function.copy) keep the setting.
        fn._pytensor_function.trust_input = True
    keep_compiled(_POSTERIORS, (logp, value_vars, shapes, fn))
    return fn


def _posterior_copied(fn: Any, data_swap: dict[Any, Any], model: pm.Model) -> Any:
    """``fn`` (a ``ValueGradFunction``) on ``model``'s data: PyMC's ``ValueGradFunction.copy``
    (its own cost weights and extra values) with the data's shared variables swapped in the
    same copy of the compiled function."""
    new = copy.copy(fn)
    own = {old: pytensor.shared(old.get_value(), old.name, shape=old.type.shape)
           for old in (fn._weights, *fn._extra_vars_shared.values())}
    new._pytensor_function = copied_for(fn._pytensor_function, {**data_swap, **own})
    new._weights = own[fn._weights]
    new._extra_vars_shared = {name: own[old] for name, old in fn._extra_vars_shared.items()}
    new._extra_are_set = False
    new.set_extra_values(model.initial_point(0) if new._extra_vars else {})
    return new


def _posterior_fn(model: pm.Model) -> Any:
    """:func:`_value_grad` as a function of one flat vector: the density ADVI climbs."""
    value_grad = _value_grad(model)
    return lambda flat: value_grad(flat)


@contextlib.contextmanager
def _nuts_uses_the_compiled_posterior(model: pm.Model) -> Iterator[None]:
    """Inside the block, ``pm.sample``'s NUTS gets a copy of :func:`_value_grad` (its own
    shared state on the same compiled function) where PyMC would compile the same graph
    again (``model.logp_dlogp_function(ravel_inputs=True)``, about 1 s warm, one more graph
    for Numba on a fresh machine); its step assignment skips building a gradient graph
    that graph already holds, and its chains' trace function is compiled once per model.
    Any other call, or another model, goes to PyMC unchanged."""
    own = type(model).logp_dlogp_function

    def shared(*args: Any, **kwargs: Any) -> Any:
        if args or set(kwargs) - {"ravel_inputs", "initial_point"} or not kwargs.get("ravel_inputs"):
            return own(model, *args, **kwargs)
        fn = _value_grad(model).copy()
        fn.set_extra_values(kwargs.get("initial_point") or model.initial_point(0))
        return fn

    own_assign = pm_mcmc.assign_step_methods

    def assign(of: Any, step: Any = None, methods: Any = None) -> Any:
        # PyMC builds the model's log-density and a symbolic gradient per value variable
        # only to learn that each has one (0.2-0.4 s a call). _value_grad compiled exactly
        # that gradient, so PyMC's own competence rule is applied with has_gradient=True.
        if of is not model or step is not None or any(v.dtype in pm_mcmc.discrete_types for v in model.value_vars):
            return own_assign(of, step, methods)
        _value_grad(model)
        selected: dict[Any, list[Any]] = {}
        for var in model.value_vars:
            rv = model.values_to_rvs[var]
            best = max(list(methods or pm_mcmc.STEP_METHODS), key=lambda method: method._competence(rv, True))
            selected.setdefault(best, []).append(var)
        return [], selected

    own_compile = type(model).compile_fn
    traces = _trace_fns(model)

    def compile_trace(outs: Any, *, inputs: Any = None, point_fn: bool = True, **kwargs: Any) -> Any:
        # Each chain's trace compiles the same function of the value variables (PyMC's
        # BaseTrace: Out/In-wrapped, point_fn=False), 16 compiles a pm.sample call. On one
        # model's fixed graph, the same names, borrow flags and options are the same function.
        wrapped = isinstance(outs, list) and isinstance(inputs, list) and all(
            isinstance(v, pytensor.Out) for v in outs) and all(isinstance(v, pytensor.In) for v in inputs)
        if point_fn or not wrapped or any(v.variable.name is None for v in [*outs, *inputs]):
            return own_compile(model, outs, inputs=inputs, point_fn=point_fn, **kwargs)
        key = (tuple((v.variable.name, v.borrow) for v in outs), tuple((v.variable.name, v.borrow) for v in inputs),
               tuple(sorted(kwargs.items())))
        if key not in traces:
            with exact_arithmetic():
                traces[key] = own_compile(model, outs, inputs=inputs, point_fn=False, **kwargs)
        return traces[key]

    model.logp_dlogp_function = shared
    model.compile_fn = compile_trace
    pm_mcmc.assign_step_methods = assign
    try:
        yield
    finally:
        del model.logp_dlogp_function, model.compile_fn
        pm_mcmc.assign_step_methods = own_assign


@functools.cache
def _trace_fns(model: pm.Model) -> dict[Any, Any]:
    """The trace functions ``pm.sample`` compiled for ``model``, by what they compute."""
    return {}


def _unconstrained(model: pm.Model, params: Mapping[str, Any]) -> list[np.ndarray]:
    values = [np.asarray(params[name], dtype=float) for name in free_names(model)]
    return [np.asarray(v, dtype=float) for v in _to_unconstrained_fn(model)(*values)]


def _splitter(values: list[np.ndarray]) -> Any:
    """Function from a flat vector back to arrays shaped like ``values``."""
    shapes = [np.shape(v) for v in values]
    cuts = np.cumsum([int(np.prod(shape)) for shape in shapes])[:-1]
    return lambda flat: [part.reshape(shape) for part, shape in zip(np.split(flat, cuts), shapes)]


def _constrained(model: pm.Model, values: list[np.ndarray]) -> Params:
    """Constrained free variables and Deterministics at unconstrained ``values``."""
    out = _to_constrained_fn(model)(*values)
    return {name: np.asarray(v, dtype=float) for name, v in zip(_reported_names(model), out)}


def _central_differences(fn: Any, values: list[np.ndarray]) -> np.ndarray:
    """Jacobian of ``fn`` (value arrays → flat vector) at ``values``, shape
    (len(output), n_unconstrained), by central differences."""
    split = _splitter(values)
    x0 = np.concatenate([np.ravel(v) for v in values])
    columns = []
    for i in range(x0.size):  # one pair of evaluations per parameter
        if not np.isfinite(x0[i]):
            # ±∞: a parameter on its bound, or tied components under an ordering. The
            # transform is flat there (σ = floor + width·sigmoid(u), Δ = exp(u)), so every
            # derivative with respect to u is 0 in the limit, the value PyTensor's symbolic
            # derivatives give at that point.
            columns.append(np.zeros(np.size(fn(values))))
            continue
        h = FD_STEP * max(1.0, abs(x0[i]))
        up, down = x0.copy(), x0.copy()
        up[i] += h
        down[i] -= h
        columns.append((np.asarray(fn(split(up))) - np.asarray(fn(split(down)))) / (up[i] - down[i]))
    return np.column_stack(columns)


def _derivatives(model: pm.Model, params: Mapping[str, Any]) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """At constrained ``params``: log-likelihood, its gradient and (symmetrised) Hessian in
    unconstrained coordinates, and the Jacobian of the constrained free variables with
    respect to the unconstrained ones, shape (n_constrained, n_unconstrained)."""
    values = _unconstrained(model, params)
    loglik_fn = _loglik_fn(model)
    loglik, grad = loglik_fn(*values)
    hess = _central_differences(lambda vs: loglik_fn(*vs)[1], values)
    n_free = len(model.free_RVs)
    jac = _central_differences(
        lambda vs: np.concatenate([np.ravel(v) for v in _to_constrained_fn(model)(*vs)[:n_free]]), values
    )
    return float(loglik), np.asarray(grad), 0.5 * (hess + hess.T), jac


def log_likelihood(model: pm.Model, params: Mapping[str, Any]) -> float:
    """Total log-likelihood (nats) of the observed data at constrained ``params``; priors
    excluded, so it is the number the EM twin reports."""
    return float(_loglik_fn(model)(*_unconstrained(model, params))[0])


@dataclass(frozen=True)
class Curvature:
    """Shape of the log-likelihood around a point.

    Attributes
    ----------
    eigenvalues : ndarray, shape (n_unconstrained,)
        Eigenvalues of the negative Hessian of the log-likelihood in the model's
        unconstrained coordinates, ascending. A maximum has all of them > 0; one that is
        zero relative to the largest marks a flat direction.
    flat_directions : list of dict
        One per flat eigenvalue: the direction in the constrained parameters
        (``{name: array}``, unit length over all entries) along which the likelihood
        does not change.
    gradient_norm : float
        Euclidean norm of the log-likelihood gradient (unconstrained coordinates).
    relative_tol : float
        An eigenvalue counts as flat when it is below ``relative_tol`` times the largest.
    """

    eigenvalues: np.ndarray
    flat_directions: list[Params]
    gradient_norm: float
    relative_tol: float

    @property
    def identifiable(self) -> bool:
        return not self.flat_directions

    @property
    def is_maximum(self) -> bool:
        """No direction of increase to second order: every eigenvalue ≥ −tol·largest."""
        scale = max(float(np.max(np.abs(self.eigenvalues))), np.finfo(float).tiny)
        return bool(np.all(self.eigenvalues >= -self.relative_tol * scale))


def curvature(model: pm.Model, params: Mapping[str, Any], *, relative_tol: float = 1e-6) -> Curvature:
    """Eigen-analysis of the log-likelihood's Hessian at constrained ``params``.

    Flat directions are found in unconstrained coordinates (where a simplex or an ordering
    imposes no side condition) and mapped to the constrained parameters through the
    transform's Jacobian, so they read in the units the lecture uses.
    """
    _, grad, hess, jac = _derivatives(model, params)
    eigenvalues, eigenvectors = np.linalg.eigh(-0.5 * (hess + hess.T))
    scale = max(float(np.max(np.abs(eigenvalues))), np.finfo(float).tiny)
    flat = []
    for value, vector in zip(eigenvalues, eigenvectors.T):
        # |λ| small, not λ small: a negative eigenvalue means "not a maximum", not "flat".
        if abs(value) < relative_tol * scale:
            direction = jac @ vector
            # Zero at tied ordered components (the transform's Jacobian is singular there):
            # the direction is then NaN, and reported as inexpressible.
            with np.errstate(invalid="ignore", divide="ignore"):
                direction /= np.linalg.norm(direction)
            # Sign convention: the first clearly non-zero entry positive, so reports are stable.
            direction *= np.sign(direction[np.argmax(np.abs(direction) > 1e-8)])
            flat.append(_unflatten(model, direction))
    return Curvature(eigenvalues, flat, float(np.linalg.norm(grad)), relative_tol)


def _unflatten(model: pm.Model, flat: np.ndarray) -> Params:
    out, i = {}, 0
    for rv in model.free_RVs:
        shape = _shapes(model)[rv.name]
        size = int(np.prod(shape))
        out[rv.name] = flat[i : i + size].reshape(shape)
        i += size
    return out


# --------------------------------------------------------------------------- MAP


@dataclass(frozen=True)
class MAPFit:
    """The MAP, reduced to what the harness compares.

    ``params`` holds constrained values of the free variables and of every Deterministic;
    ``log_likelihood`` excludes priors (nats); ``idata`` holds ``params`` as a one-draw
    ``posterior`` group, as ``pm.find_MAP(return_inferencedata=True)`` does.
    """

    params: Params
    log_likelihood: float
    success: bool
    n_iter: int
    message: str
    idata: Any = field(repr=False)


def _optimize(model: pm.Model, start: Params, **options: Any) -> tuple[Params, Any]:
    """L-BFGS-B on the compiled MAP objective from constrained ``start``; returns the
    constrained free variables and Deterministics at the end, and scipy's result."""
    objective = _objective_fn(model)
    values = _unconstrained(model, start)
    split = _splitter(values)

    def negative(flat: np.ndarray) -> tuple[float, np.ndarray]:
        logp, grad = objective(*split(flat))
        # Outside the support the log-density is -inf; L-BFGS-B needs a finite-looking
        # answer to back off from, not a NaN gradient.
        if not np.isfinite(logp):
            return np.inf, np.zeros_like(flat)
        return -float(logp), -np.asarray(grad, dtype=float)

    x = np.concatenate([np.ravel(v) for v in values])
    iterations = 0
    for _ in range(MAP_RESTARTS + 1):
        result = minimize(negative, x, jac=True, method="L-BFGS-B", options=options)
        iterations += result.nit
        # "ABNORMAL": the line search found no acceptable step. With ftol near machine
        # precision this happens close to the maximum, when L-BFGS's curvature memory is
        # stale; a restart from the point reached (fresh memory) usually finishes the job.
        # pm.find_MAP stops there instead, 1e-8 from the maximum or 1e-10, by luck.
        if result.success or not str(result.message).startswith("ABNORMAL"):
            break
        if np.array_equal(result.x, x):
            # Not one step possible from a fresh start: every descent the gradient points
            # to is below the objective's rounding. That is a maximum to machine precision
            # (the harness still checks where it is against EM).
            result.success = True
            result.message = "CONVERGENCE: NO STEP IMPROVES THE OBJECTIVE AT MACHINE PRECISION"
            break
        x = result.x
    result.nit = iterations
    return _constrained(model, split(result.x)), result


def fit_map(model: pm.Model, start: Mapping[str, Any]) -> MAPFit:
    """Maximum a posteriori from ``start`` (constrained values, no jitter) by L-BFGS-B.

    The objective and optimiser of ``pm.find_MAP``: the model's log-density without the
    transforms' Jacobian, in unconstrained coordinates, so with flat priors (Beta(1, 1),
    Uniform) the MAP is the maximum-likelihood estimate EM finds. Unlike ``pm.find_MAP``,
    the objective is compiled once per model, not on every call.
    """
    start = _check_start(model, start)
    # scipy's default stop (an iteration gaining < 2.2e-9·|f|) leaves Gaussian-mixture
    # parameters 1e-5 to 5e-4 from the maximum on Old Faithful, above DESIGN's 1e-4.
    params, opt = _optimize(model, start, ftol=1e-14, gtol=1e-9, maxiter=MAP_MAX_ITER)
    finite = all(np.all(np.isfinite(v)) for v in params.values())
    idata = arviz_base.from_dict({"posterior": {name: value[None, None] for name, value in params.items()}})
    return MAPFit(
        params=params,
        log_likelihood=log_likelihood(model, {n: params[n] for n in free_names(model)}) if finite else float("nan"),
        # L-BFGS-B can report success with NaN parameters (an infeasible start).
        success=bool(opt.success) and finite,
        n_iter=int(opt.nit),
        message=str(opt.message),
        idata=idata,
    )


# --------------------------------------------------------------------------- posteriors


@dataclass(frozen=True)
class PosteriorFit:
    """Posterior draws with the summaries the harness compares.

    Attributes
    ----------
    method : {"advi", "nuts"}
    idata : xarray.DataTree
        ArviZ result with a ``posterior`` group (and ``sample_stats`` for NUTS).
    mean, sd : dict of str to ndarray
        Posterior mean and standard deviation of each free variable and Deterministic.
    hdi : dict of str to ndarray
        94% highest-density interval, shape ``(*param_shape, 2)`` (lower, upper).
    diagnostics : dict
        NUTS: ``sampler``, ``divergences``, ``max_rhat``, ``min_ess_bulk``.
        ADVI: ``n_iter`` (steps run), ``max_iter`` (the budget), ``stopped_early``,
        ``projected_drift`` (posterior SDs, :mod:`.advi_stop`), ``final_loss``,
        ``relative_loss_change`` over the last tenth, ``converged`` (that change below 1%).
    """

    method: str
    idata: Any = field(repr=False)
    mean: Params
    sd: Params
    hdi: Params
    diagnostics: dict[str, Any]


def _summaries(idata: Any, names: list[str]) -> tuple[Params, Params, Params]:
    mean, sd, hdi = {}, {}, {}
    interval = arviz_stats.hdi(idata, var_names=names, prob=HDI_PROB)
    for name in names:
        draws = idata.posterior[name].values
        flat = draws.reshape(-1, *draws.shape[2:])
        mean[name] = flat.mean(axis=0)
        sd[name] = flat.std(axis=0, ddof=1)
        hdi[name] = np.asarray(interval[name].values)
    return mean, sd, hdi


def fit_advi(
    model: pm.Model,
    start: Mapping[str, Any],
    *,
    n: int = 20_000,
    draws: int = 4000,
    seed: int = 0,
    early_stop: bool = True,
    progress: bool = False,
) -> PosteriorFit:
    """Mean-field ADVI for at most ``n`` steps from ``start``, then ``draws`` samples.

    PyMC's ``pm.fit(method="advi")`` algorithm (mean field, one Monte-Carlo draw a step,
    ``adagrad_window`` at its defaults) run by :mod:`.advi` on the model's posterior
    log-density, compiled once per model: no graph of its own to build and compile per call.
    A seed gives other draws than ``pm.fit`` with that seed; the estimator is the same
    (tests/test_advi.py).

    With ``early_stop`` the run ends once the parameters' projected drift over the steps
    left is below 0.05 posterior SD (:mod:`.advi_stop`; tested against the full ``n``
    steps on every built-in scenario); without it, exactly ``n`` steps. Not PyMC's
    parameter-convergence callback, which stops early at biased means on these models
    (see the project notes). The loss trend over the last tenth is reported either way.
    ``n`` must be at least 20 (the trend compares the last two tenths) and ``draws`` at
    least 2 (for an SD).
    """
    checked = check_advi_options({"n": n, "draws": draws, "seed": seed, "early_stop": early_stop})
    n, draws, seed, early_stop = checked["n"], checked["draws"], checked["seed"], checked["early_stop"]
    start = _check_start(model, start)
    names = _reported_names(model)
    values = _unconstrained(model, start)
    x0 = np.concatenate([np.ravel(v) for v in values])
    stop = DriftStop(budget_steps=n) if early_stop else None
    run = mean_field_advi(_posterior_fn(model), x0, n=n, seed=seed, stop=stop,
                          progress=_advi_progress(n) if progress else None)
    # The next seed for the draws, wrapping at the top of the seed range.
    idata = _draws_as_idata(model, run.sample(draws, (seed + 1) % (MAX_SEED + 1)), values)
    mean, sd, hdi = _summaries(idata, names)
    hist = run.losses
    tenth = max(len(hist) // 10, 1)
    last, before = hist[-tenth:].mean(), hist[-2 * tenth : -tenth].mean()
    change = float(abs(last - before) / max(abs(before), 1e-12))
    diagnostics = {
        "n_iter": len(hist),
        "max_iter": n,
        "stopped_early": run.stopped_at is not None,
        "projected_drift": stop.projected if stop is not None else float("inf"),
        "final_loss": float(last),
        "relative_loss_change": change,
        "converged": bool(np.isfinite(last) and change < 0.01),
    }
    return PosteriorFit("advi", idata, mean, sd, hdi, diagnostics)


def _advi_progress(n: int) -> Any:
    def report(step: int, loss: float) -> None:
        print(f"[advi] step {step}/{n}, loss {loss:.4g}", file=sys.stderr, flush=True)
    return report


def _draws_as_idata(model: pm.Model, flat_draws: np.ndarray, like: list[np.ndarray]) -> Any:
    """Unconstrained draws, shape (n_draws, n_unconstrained), as an ArviZ DataTree with one
    chain: the constrained free variables and every Deterministic, as ``approx.sample``."""
    split, to_constrained = _splitter(like), _to_constrained_fn(model)
    columns = list(zip(*(to_constrained(*split(x)) for x in flat_draws)))
    posterior = {name: np.stack(column)[None] for name, column in zip(_reported_names(model), columns)}
    return arviz_base.from_dict({"posterior": posterior})


# How many processes NUTS's chains may use; set in a background fit's process (below).
_CHAIN_PROCESSES: int | None = None


def _chain_processes(chains: int) -> int:
    """Processes for ``chains`` chains: one per core (PyMC's default is half of
    ``os.cpu_count()``, as if every core were a hyper-thread, which runs every chain on one
    core of a 2-core machine), fewer inside :func:`fit_in_background`, which leaves a core
    to the work that runs meanwhile. The draws depend only on the seed, not on how many
    processes share the chains."""
    cores = _CHAIN_PROCESSES if _CHAIN_PROCESSES is not None else (os.cpu_count() or 1)
    return max(1, min(chains, cores))


def _chain_context() -> Any:
    """How PyMC starts its chain processes: forked where the platform can fork. A chain must
    compile its graphs as this process does (``precision.exact_arithmetic``); inside a
    spawned process (an ``emtwin compare --jobs`` worker) Python's default turns to spawn,
    and spawned chains rounded differently from forked ones (measured: NUTS means 1e-8
    apart). Elsewhere spawn, which reads the flag from ``PYTENSOR_FLAGS``."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def _convergence(idata: Any, names: list[str]) -> tuple[float, float]:
    """Largest R-hat and smallest bulk ESS over the entries of ``names`` whose draws vary.

    An entry that is the same in every draw (the one weight of a one-component mixture,
    fixed at 1) has no R-hat: ArviZ divides 0 by 0, warns, and returns NaN, which would turn
    a healthy run into a failed diagnostic. Such entries are left out; with none left the
    result is (1.0, number of draws), a chain that cannot disagree with itself.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning)
        rhat = arviz_stats.rhat(idata, var_names=names)
        ess = arviz_stats.ess(idata, var_names=names)
    rhats, esses = [], []
    for name in names:
        draws = idata.posterior[name].values
        pooled = draws.reshape(draws.shape[0] * draws.shape[1], -1)
        varying = np.ptp(pooled, axis=0) > 0
        rhats.append(np.asarray(rhat[name].values, dtype=float).reshape(-1)[varying])
        esses.append(np.asarray(ess[name].values, dtype=float).reshape(-1)[varying])
    rhats, esses = np.concatenate(rhats), np.concatenate(esses)
    if rhats.size == 0:
        return 1.0, float(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"])
    return float(np.max(rhats)), float(np.min(esses))


def fit_nuts(
    model: pm.Model,
    start: Mapping[str, Any],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    target_accept: float = 0.95,
    sampler: str = "pymc",
    init: str = "jitter+adapt_diag",
    progress: bool = False,
) -> PosteriorFit:
    """NUTS from ``start`` (jittered per chain by PyMC's default init), seeded.

    ``init="adapt_diag"`` starts every chain exactly at ``start``: PyMC's default jitter of
    ±1 in unconstrained space can drop a chain of a 2-D Gaussian mixture into a basin where
    one component holds a handful of points.

    ``sampler`` is ``"pymc"`` (PyMC's own NUTS) or ``"nutpie"`` if installed. nutpie has
    its own mass-matrix adaptation; ``init`` decides only whether its chains start jittered
    (PyMC passes the start to nutpie, which otherwise jitters it silently).
    ``target_accept`` defaults above PyMC's 0.8: mixture posteriors pushed against an
    ordering boundary diverge at the larger steps 0.8 allows.

    Allowed: ``draws`` >= 4, ``tune`` >= 0, ``chains`` >= 1, ``target_accept`` in (0, 1),
    ``seed`` in [0, 2**32 − 1].
    """
    checked = check_nuts_options(
        {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "target_accept": target_accept, "sampler": sampler,
         "init": init}
    )
    draws, tune, chains, seed = checked["draws"], checked["tune"], checked["chains"], checked["seed"]
    start = _check_start(model, start)
    names = _reported_names(model)
    with _pymc_quiet(), exact_arithmetic(), _nuts_uses_the_compiled_posterior(model):
        idata = pm.sample(
            draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=progress,
            quiet=not progress,  # PyMC's quiet also hides the progress bar
            initvals=start,
            nuts_sampler=sampler,
            init=init,
            target_accept=target_accept,
            compute_convergence_checks=False,
            cores=_chain_processes(chains),
            mp_ctx=_chain_context(),
            model=model,
            **({"compile_kwargs": {"jitter_rvs": set()}} if sampler == "nutpie" and init == "adapt_diag" else {}),
        )
        max_rhat, min_ess = _convergence(idata, free_names(model))
    mean, sd, hdi = _summaries(idata, names)
    diagnostics = {
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "init": init,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "max_rhat": max_rhat,
        "min_ess_bulk": min_ess,
    }
    return PosteriorFit("nuts", idata, mean, sd, hdi, diagnostics)


# --------------------------------------------------------------------------- in the background


class RunningFit:
    """A fit running in a forked process of its own (:func:`fit_in_background`).

    ``result()`` waits for it and returns what the fit returned, or raises what it raised,
    after issuing here the warnings it issued there; ``seconds`` is then the fit's own time
    in that process. ``cancel()`` ends the process.
    """

    def __init__(self, process: Any, connection: Any) -> None:
        self._process, self._connection = process, connection
        self._outcome: tuple[str, Any, float, list[Any]] | None = None
        self.seconds = float("nan")

    @classmethod
    def done(cls, outcome: tuple[str, Any, float, list[Any]]) -> RunningFit:
        """A fit that ran in this process (where processes cannot be forked)."""
        running = cls(None, None)
        running._outcome = outcome
        return running

    def done_already(self) -> bool:
        """Whether :meth:`result` would return without waiting."""
        return self._outcome is not None or self._connection.poll()

    def wait(self) -> None:
        """Wait for the fit to end (its outcome is kept for :meth:`result`)."""
        if self._outcome is None:
            try:
                self._outcome = self._connection.recv()
            except EOFError:
                self._process.join()
                self._outcome = ("error", RuntimeError(
                    f"the background fit's process ended without a result (exit code {self._process.exitcode}; "
                    f"a negative code is the signal that ended it, e.g. -9 when the system ran out of memory)"), 0.0, [])
            finally:
                self._connection.close()
            self._process.join()

    def result(self) -> Any:
        self.wait()
        kind, value, self.seconds, caught = self._outcome
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _timed(fit: Any, *args: Any, **kwargs: Any) -> tuple[str, Any, float, list[Any]]:
    """``fit(*args, **kwargs)``: ("ok", its result) or ("error", what it raised), its time in
    seconds, and the warnings it issued (the filters in force decide which, as here)."""
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        try:
            outcome = "ok", fit(*args, **kwargs)
        except Exception as err:  # raised again by RunningFit.result
            outcome = "error", err
    return *outcome, time.perf_counter() - started, [(w.message, w.category, w.filename, w.lineno) for w in caught]


def _run_in_child(connection: Any, chain_processes: int, fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    global _CHAIN_PROCESSES
    _CHAIN_PROCESSES = chain_processes
    kind, value, seconds, caught = _timed(fit, *args, **kwargs)
    as_text = [(str(message), UserWarning, filename, lineno) for message, _, filename, lineno in caught]
    unpicklable = RuntimeError("".join(traceback.format_exception(value)) if kind == "error"
                               else f"the background fit's result does not pickle: {value!r}")
    # What does not pickle goes as text: first the warnings, then the result or the error.
    for outcome in ((kind, value, seconds, caught), (kind, value, seconds, as_text), ("error", unpicklable, seconds, as_text)):
        try:
            connection.send(outcome)
            break
        except Exception:
            continue
    connection.close()


def fit_in_background(
    fit: Any, model: pm.Model, *args: Any, chain_processes: int | None = None, **kwargs: Any
) -> RunningFit:
    """``fit(model, *args, **kwargs)`` (e.g. :func:`fit_nuts`) in a forked process, while
    this one goes on: a 2-core machine ran NUTS's chains on both cores and left one idle
    through MAP, ADVI and the derived EM, each on one core.

    The child inherits what this process compiled before the fork and compiles the rest
    (NUTS: the posterior log-density, when ADVI has not compiled it here yet), while this
    process compiles its own. NUTS's chains there use ``chain_processes`` processes, by
    default every core but one (one stays with this process's work). Same compiled code,
    same seed, so the same numbers as ``fit(model, ...)`` here. Forked as PyMC's chain
    processes are (:func:`_chain_context`; the ``--jobs`` pool spawns instead, being long-lived
    and started from the command line's process). Where processes cannot be forked the fit
    runs here, now.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return RunningFit.done(_timed(fit, model, *args, **kwargs))
    if chain_processes is None:
        chain_processes = max(1, (os.cpu_count() or 1) - 1)
    _compile_the_posterior_before_the_fork(model, args, kwargs)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    # Not a daemon: a daemon may not start processes, and the chains may need some.
    process = context.Process(target=_run_in_child, args=(sender, chain_processes, fit, (model, *args), kwargs))
    process.start()
    sender.close()
    return RunningFit(process, receiver)


def _compile_the_posterior_before_the_fork(model: pm.Model, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """The posterior log-density PyMC's NUTS samples (:func:`_value_grad`), compiled here and
    called once at the fit's start (``args[0]``: PyTensor's Numba backend compiles the machine
    code at the first call), so the forked fit inherits it, and this process (ADVI, the next
    fit of a sweep on a model of the same structure) does not compile it again. Compiled in
    both processes at once, it cost a fresh machine twice: the 2-D mixture's posterior took
    31 s and 28 s of CPU in one cold ``emtwin report``, in the report's process and its
    NUTS's. Warm, the fork starts that compile later and is spared it: the fit ends when it
    did. Not for nutpie (it compiles its own) or a model with discrete variables (PyMC's
    NUTS does not sample them); an error here is left for the fit to raise in its process."""
    start = args[0] if args else None
    if kwargs.get("sampler", "pymc") != "pymc" or not isinstance(model, pm.Model) or not isinstance(start, Mapping):
        return
    if any(v.dtype in pm_mcmc.discrete_types for v in model.value_vars):
        return
    try:
        value_grad = _value_grad(model)
        x0 = np.concatenate([np.ravel(v) for v in _unconstrained(model, start)])
        with np.errstate(all="ignore"):
            value_grad._pytensor_function(x0)
    except Exception:
        pass


def fits_side_by_side(fits: Iterable[tuple[Any, ...]], at_once: int | None = None) -> list[RunningFit]:
    """Each ``(fit, model, *args, kwargs)`` of ``fits`` in the background, at most
    ``at_once`` running at a time (default: one per core), each with its chains in one
    process: a sweep's fits side by side. ``fits`` is consumed lazily, so what builds the
    next fit (an EM run, a model) runs while the earlier ones sample. Returns the running
    fits in order; a fit started here is ended if building a later one raises."""
    at_once = max(1, at_once or os.cpu_count() or 1)
    running: list[RunningFit] = []
    try:
        for fit, model, *args, kwargs in fits:
            unfinished = [r for r in running if not r.done_already()]
            if len(unfinished) >= at_once:
                unfinished[0].wait()
            running.append(fit_in_background(fit, model, *args, chain_processes=1, **kwargs))
    except BaseException:
        for r in running:
            r.cancel()
        raise
    return running
