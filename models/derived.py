"""EM derived from a PyMC mixture model: both of its steps read off the model's graph.

For a model whose likelihood is one observed ``pm.Mixture`` (vector or list ``comp_dists``,
``pm.NormalMixture``, multivariate components), the model itself holds an EM::

    E-step   r_ij = Pr(label_i = j | x_i, θ)                    (models/labels.py)
    M-step   θ'   = argmax_θ Q(θ | r),
             Q(θ | r) = Σ_i Σ_j r_ij [log w_j + log p_j(x_i | θ)]

with r held fixed in the M-step. :func:`mixture_q` compiles Q and its gradient once per
model, over the model's free variables in unconstrained coordinates (so bounds, simplices
and, unless asked otherwise, orderings hold by construction); :meth:`MixtureQ.maximise`
climbs it from the current θ. :func:`derive_em` runs the two steps through the project's
one EM driver (``run_em``, its fused ``step`` hook), so a derived EM returns the same
:class:`~emtwin.em_reference.driver.EMResult` as a hand-written one.

Why the M-step is polished with Newton steps: L-BFGS-B alone stops where its line search
can no longer see Q improve, ~1e-7 from the maximiser on the Poisson example; that is far
from the closed-form M-step a hand-written EM computes. Newton steps on a central-difference
Hessian of the compiled gradient (the helper :mod:`.fitting` uses for curvature) bring the
gradient below 1e-10, where the two M-steps agree to ~1e-12.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.mixture import MixtureRV
from pymc.distributions.transforms import Chain, Ordered
from pytensor.graph.replace import graph_replace
from scipy.optimize import minimize

from emtwin.em_reference.checks import OneOf, check
from emtwin.em_reference.driver import EMResult, Params, run_em

from . import fitting
from .labels import LabelProbabilities, mixture_label_probabilities, mixture_log_joint
from .precision import compile_fn, exact_arithmetic

__all__ = ["GRADIENT_TOL", "MixtureQ", "QMaximum", "build_mixture_model", "derive_em", "label_posterior", "mixture_q",
           "observed_log_likelihood", "ordering"]

# The M-step stops when every entry of ∂Q/∂u (unconstrained coordinates) is below this.
GRADIENT_TOL = 1e-10
# Newton steps after L-BFGS-B; from L-BFGS-B's end point two or three suffice (quadratic
# convergence); the cap only guards against a Q that is not concave near its maximum.
NEWTON_MAX_STEPS = 20
LBFGS_MAX_ITER = 2000


# --------------------------------------------------------------------------- the model


def build_mixture_model(build_model: Callable[..., Any], data: Any, observed: str | None = None) -> pm.Model:
    """``build_model(data)``, checked to be a ``pm.Model`` with one observed ``pm.Mixture``
    (or the one named ``observed``): the model every derived E-step and M-step reads."""
    if isinstance(build_model, pm.Model) or not callable(build_model):
        raise ValueError(
            f"build_model must be a function (data) -> pm.Model; got {type(build_model).__name__}. "
            "Pass the function that builds the model, e.g. build_model=my_model, not its result."
        )
    name = getattr(build_model, "__qualname__", repr(build_model))
    model = build_model(data)
    if not isinstance(model, pm.Model):
        raise ValueError(f"build_model {name}(data) must return a pm.Model; got {type(model).__name__}.")
    mixtures = [rv.name for rv in model.observed_RVs if isinstance(rv.owner.op, MixtureRV)]
    if not mixtures:
        observed_names = [rv.name for rv in model.observed_RVs]
        raise ValueError(
            f"the model built by {name} has no observed pm.Mixture (its observed variables are "
            f"{observed_names}): no latent label to derive an E-step from. Write the likelihood as "
            "pm.Mixture(...) or pm.NormalMixture(...) to derive EM from the model."
        )
    if observed is not None and observed not in mixtures:
        raise ValueError(
            f"observed must name an observed pm.Mixture of the model built by {name}; got {observed!r}, "
            f"its observed mixtures are {mixtures}."
        )
    if observed is None and len(mixtures) > 1:
        raise ValueError(
            f"the model built by {name} has {len(mixtures)} observed pm.Mixture variables {mixtures}; "
            "pass observed=NAME to say whose labels the E-step infers."
        )
    return model


@functools.cache
def label_posterior(model: pm.Model, observed: str | None = None) -> LabelProbabilities:
    """:func:`~emtwin.models.labels.mixture_label_probabilities`, compiled once per model."""
    return mixture_label_probabilities(model, observed)


def _transform(model: pm.Model, rv: Any, keep_order: bool) -> Any:
    """The model's transform of ``rv``, without its ordering when ``keep_order`` is False
    (the bounds or simplex it is chained after stay)."""
    transform = model.rvs_to_transforms.get(rv)
    if keep_order or transform is None:
        return transform
    if isinstance(transform, Ordered):
        return None
    if isinstance(transform, Chain):
        kept = [t for t in transform.transform_list if not isinstance(t, Ordered)]
        return None if not kept else kept[0] if len(kept) == 1 else Chain(kept)
    return transform


# --------------------------------------------------------------------------- Q(θ | r)


@dataclass(frozen=True)
class QMaximum:
    """One M-step: the maximiser of Q, Q there, and the largest |∂Q/∂u| left."""

    params: Params
    q: float
    gradient: float


class MixtureQ:
    """Q(θ | r) of one model, compiled with its gradient (build with :func:`mixture_q`).

    Parameters go in and come out as constrained values keyed by free-variable name;
    ``resp`` has the label posterior's shape, (n_observations, n_components).
    """

    def __init__(self, model: pm.Model, observed: str | None, priors: bool, keep_order: bool):
        self.model, self.priors, self.keep_order = model, priors, keep_order
        free = list(model.free_RVs)
        self.names = [rv.name for rv in free]
        log_joint = mixture_log_joint(model, observed)
        resp = pt.tensor("resp", dtype="float64", shape=(None,) * log_joint.ndim)
        q = pt.sum(resp * log_joint)
        holders = {rv: rv.type(name=f"{rv.name}_value") for rv in free}
        if priors:
            # MAP-EM: the log-priors join Q (no Jacobian, as in find_MAP's objective).
            q = q + pt.add(*[pm.logp(rv, holders[rv]).sum() for rv in free])
        transforms = [_transform(model, rv, keep_order) for rv in free]
        constrained_in = [rv.type(name=rv.name) for rv in free]
        unconstrained_in = [model.rvs_to_values[rv].type(name=f"{rv.name}_u") for rv in free]
        from_u = [u if t is None else t.backward(u, *rv.owner.inputs) for rv, t, u in zip(free, transforms, unconstrained_in)]
        to_u = [c if t is None else t.forward(c, *rv.owner.inputs) for rv, t, c in zip(free, transforms, constrained_in)]

        def substituted(graph: Any, values: list[Any]) -> Any:
            return graph_replace(graph, {**dict(zip(free, values)), **dict(zip(holders.values(), values))}, strict=False)

        q_u = substituted(q, from_u)
        grad = pt.concatenate([g.ravel() for g in pt.grad(q_u, unconstrained_in, disconnected_inputs="ignore")])
        self._q_grad = compile_fn(model, [q_u, grad], [*unconstrained_in, resp])
        self._q = compile_fn(model, substituted(q, constrained_in), [*constrained_in, resp])
        self._forward = compile_fn(model, to_u, constrained_in)
        self._backward = compile_fn(model, from_u, unconstrained_in)

    def unconstrained(self, params: Mapping[str, Any]) -> list[np.ndarray]:
        """Unconstrained coordinates of constrained ``params`` (±inf or NaN outside the support)."""
        with np.errstate(all="ignore"):
            out = self._forward(*(np.asarray(params[n], dtype=float) for n in self.names))
        return [np.asarray(v, dtype=float) for v in out]

    def constrained(self, values: list[np.ndarray]) -> Params:
        return {n: np.asarray(v, dtype=float) for n, v in zip(self.names, self._backward(*values))}

    def inside_support(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` lies where the transforms reach: finite unconstrained values
        that map back to ``params`` (weights off the simplex map back normalised)."""
        values = self.unconstrained(params)
        if not all(np.all(np.isfinite(v)) for v in values):
            return False
        back = self.constrained(values)
        return all(
            np.allclose(back[n], np.asarray(params[n], dtype=float), rtol=1e-10, atol=1e-12) for n in self.names
        )

    def value(self, params: Mapping[str, Any], resp: np.ndarray) -> float:
        """Q(params | resp), evaluated at the constrained values as given."""
        with np.errstate(all="ignore"):
            return float(self._q(*(np.asarray(params[n], dtype=float) for n in self.names), np.asarray(resp, dtype=float)))

    def maximise(self, params: Mapping[str, Any], resp: np.ndarray) -> QMaximum:
        """The M-step: argmax Q(· | resp), climbed from ``params`` (constrained, inside the
        support) by L-BFGS-B, then Newton steps until every |∂Q/∂u| < ``GRADIENT_TOL`` or
        rounding stops the gradient from falling. Never returns a point whose Q is lower
        than at ``params``."""
        resp = np.asarray(resp, dtype=float)
        values = self.unconstrained(params)
        split = fitting._splitter(values)
        x0 = np.concatenate([np.ravel(v) for v in values])

        def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
            with np.errstate(all="ignore"):
                q, grad = self._q_grad(*split(x), resp)
            return float(q), np.asarray(grad, dtype=float)

        def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
            q, grad = evaluate(x)
            # Outside the support Q is -inf; L-BFGS-B backs off from an infinite value.
            if not np.isfinite(q):
                return np.inf, np.zeros_like(x)
            return -q, -grad

        q0, g0 = evaluate(x0)
        x, q, grad = x0, q0, g0
        if np.max(np.abs(g0), initial=0.0) >= GRADIENT_TOL:
            result = minimize(negative, x0, jac=True, method="L-BFGS-B",
                              options={"ftol": 1e-15, "gtol": GRADIENT_TOL, "maxiter": LBFGS_MAX_ITER})
            if np.isfinite(result.fun) and -result.fun >= q0:
                x = result.x
                q, grad = evaluate(x)
        for _ in range(NEWTON_MAX_STEPS):
            if np.max(np.abs(grad), initial=0.0) < GRADIENT_TOL:
                break
            hessian = fitting._central_differences(lambda vs: self._q_grad(*vs, resp)[1], split(x))
            try:
                step = np.linalg.solve(0.5 * (hessian + hessian.T), grad)
            except np.linalg.LinAlgError:
                break
            x_new = x - step
            q_new, grad_new = evaluate(x_new)
            # The gradient stops falling at the rounding floor of a sum over n points.
            if not (np.isfinite(q_new) and np.max(np.abs(grad_new)) < np.max(np.abs(grad))):
                break
            x, q, grad = x_new, q_new, grad_new
        return QMaximum(self.constrained(split(x)), q, float(np.max(np.abs(grad), initial=0.0)))


@functools.cache
def mixture_q(model: pm.Model, observed: str | None = None, *, priors: bool = False, keep_order: bool = True) -> MixtureQ:
    """Q(θ | r) of ``model``'s observed mixture, compiled once per (model, options).

    ``priors`` adds the model's log-priors (MAP-EM); ``keep_order=False`` maximises over
    the same free variables without their ordering transform (the step oracle: a user's
    M-step may cross the order the model keeps for sampling).
    """
    return MixtureQ(model, observed, priors, keep_order)


@functools.cache
def observed_log_likelihood(model: pm.Model) -> Callable[[Mapping[str, Any]], float]:
    """The model's log-likelihood (nats, every observed variable, priors excluded) at
    constrained parameters, compiled once per model.

    Unlike :func:`emtwin.models.fitting.log_likelihood` it takes no detour through the
    model's unconstrained coordinates, so it is defined for components in any order (an
    ordering transform maps an unordered point to NaN); it is the same PyMC log-density.
    """
    free = list(model.free_RVs)
    names = [rv.name for rv in free]
    loglik = pt.add(*[pm.logp(rv, model.rvs_to_values[rv]).sum() for rv in model.observed_RVs])
    inputs = [rv.type(name=rv.name) for rv in free]
    fn = compile_fn(model, graph_replace(loglik, dict(zip(free, inputs)), strict=False), inputs)

    def log_likelihood(params: Mapping[str, Any]) -> float:
        with np.errstate(all="ignore"):
            return float(fn(*(np.asarray(params[n], dtype=float) for n in names)))

    return log_likelihood


def ordering(model: pm.Model) -> dict[str, bool]:
    """Free variables the model keeps ordered, each with whether the order is ascending."""
    out = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        parts = transform.transform_list if isinstance(transform, Chain) else [transform]
        for part in parts:
            if isinstance(part, Ordered):
                out[rv.name] = bool(part.ascending)
    return out


# --------------------------------------------------------------------------- derived EM


def _initial_point(model: pm.Model) -> Params:
    names = fitting.free_names(model)
    with exact_arithmetic():  # PyMC compiles the point's function: as every emtwin compile, without fast-math
        point = model.initial_point()
    values = [np.asarray(point[model.rvs_to_values[rv].name], dtype=float) for rv in model.free_RVs]
    infinite = [n for n, v in zip(names, values) if not np.all(np.isfinite(v))]
    if infinite:
        raise ValueError(
            f"start=None uses the model's initial point, which is not finite for {infinite} (an ordering "
            "transform's default point ties the components, log 0 = -inf); pass start={...} with a value "
            f"for each of the model's free variables {names}, components in the model's order."
        )
    constrained = fitting._constrained(model, values)
    return {n: constrained[n] for n in names}


def derive_em(
    build_model: Callable[..., Any],
    data: Any,
    start: Mapping[str, Any] | None = None,
    *,
    observed: str | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    priors: bool = False,
    keep_order: bool = True,
) -> EMResult:
    """EM derived from a PyMC model whose likelihood is one observed ``pm.Mixture``.

    Parameters
    ----------
    build_model : callable (data) -> pm.Model
        The model; its free variables are the parameters EM estimates.
    data
        What ``build_model`` takes.
    start : dict, optional
        Constrained values of every free variable, components in the model's order.
        Default: the model's initial point, where it is finite.
    observed : str, optional
        Name of the observed mixture, if the model has several.
    tol, max_iter
        The driver's stopping rule: the largest absolute change of any parameter in one
        iteration below ``tol``, or ``max_iter`` iterations.
    priors : bool
        Add the model's log-priors to Q: EM then climbs to the posterior mode (MAP-EM)
        instead of the maximum-likelihood estimate.
    keep_order : bool
        Maximise Q in the model's own coordinates, ordering transform included (default).
        ``False`` keeps bounds and simplices but drops the ordering, where the answer may
        tie components: the tie is the ordered coordinates' boundary (log 0), where the
        M-step's gradient in them vanishes and the run stalls short of it. The result's
        components are then in the order EM left them.

    Returns
    -------
    EMResult
        Parameters keyed by the model's free-variable names (constrained values);
        ``loglik_trace`` is the model's log-likelihood (nats, priors excluded) at every row.
    """
    check("priors", priors, OneOf((True, False)), "whether the model's log-priors are in Q")
    check("keep_order", keep_order, OneOf((True, False)), "whether Q is maximised with the ordering transform")
    model = build_mixture_model(build_model, data, observed)
    start = _initial_point(model) if start is None else fitting._check_start(model, start)
    q = mixture_q(model, observed, priors=priors, keep_order=keep_order)
    labels = label_posterior(model, observed)

    def e_step(_data: Any, params: Params) -> np.ndarray:
        return labels(params)

    def m_step(_data: Any, resp: np.ndarray) -> Params:
        # Used by nobody in the loop (the fused step warm-starts from the current θ);
        # a valid M-step all the same, climbed from the start.
        return q.maximise(start, resp).params

    # Without the ordering a point may leave the ordered coordinates (NaN there): the
    # log-likelihood is then read at the constrained values, the same PyMC log-density.
    loglik = (lambda params: fitting.log_likelihood(model, params)) if keep_order else observed_log_likelihood(model)

    def log_likelihood(_data: Any, params: Params) -> float:
        return loglik(params)

    def step(_data: Any, params: Params) -> tuple[Params, float]:
        return q.maximise(params, labels(params)).params, loglik(params)

    return run_em(data, start, e_step, m_step, log_likelihood, tol=tol, max_iter=max_iter, step=step)
