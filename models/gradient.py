"""Is a given point a maximum of a PyMC model's likelihood? First-order test, and a search
for higher maxima.

Used to check parameters that came from someone else's EM code: the gradient of the
log-likelihood there (it must vanish), the Newton step it implies (how far the maximum
is, in the parameters' own units), and L-BFGS-B runs from other starts.

Coordinates. Parameters go in and come out as the model's *constrained* values keyed by
free-variable name (``{"lam": array([2.1, 9.4]), "weights": array([0.59, 0.41])}``), the
dict an EM returns. Where a constraint removes directions (a simplex: weights sum to one),
the gradient is the one *along the constraint surface*: the ambient gradient projected onto
the tangent space spanned by the transform's Jacobian, ``J (JᵀJ)⁺ g_u``, where ``g_u`` is
the gradient in the model's unconstrained coordinates. Open constraints (positivity, an
ordering) remove no direction, so there it is the plain partial derivative ∂ℓ/∂θ. Units:
nats per unit of the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm

from . import fitting

__all__ = ["LocalFit", "Stationarity", "jittered_starts", "maximize", "stationarity"]

Params = dict[str, np.ndarray]


# --------------------------------------------------------------------------- first order


@dataclass(frozen=True)
class Stationarity:
    """The log-likelihood's slope at a point, in the constrained parameters.

    Attributes
    ----------
    log_likelihood : float
        Total log-likelihood (nats) at the point; priors excluded.
    gradient : dict of str to ndarray
        ∂ℓ/∂θ in nats per parameter unit, projected onto the constraints' tangent space
        (see the module docstring); each array has its parameter's shape.
    newton_step : dict of str to ndarray
        The step one Newton iteration would take, ``(−H)⁺ g`` mapped to the constrained
        parameters (parameter units): at a point near a maximum, how far away it is.
        Directions along which the likelihood is flat are left out.
    max_gradient, max_step : float
        Largest absolute entry of ``gradient`` / ``newton_step``.
    """

    log_likelihood: float
    gradient: Params
    newton_step: Params
    max_gradient: float
    max_step: float


def stationarity(model: pm.Model, params: Mapping[str, Any], *, relative_tol: float = 1e-6) -> Stationarity:
    """Gradient and Newton step of the log-likelihood at constrained ``params``.

    Parameters
    ----------
    model : pm.Model
    params : mapping of str to array
        Constrained values of every free variable.
    relative_tol : float
        Curvature eigenvalues below ``relative_tol`` times the largest count as flat and
        are left out of the Newton step (as in :func:`emtwin.models.fitting.curvature`).
    """
    loglik, grad_u, hess_u, jac = fitting._derivatives(model, params)
    # Tangent-space gradient: the vector in range(J) whose pull-back through J is grad_u.
    grad_c = jac @ np.linalg.pinv(jac.T @ jac) @ grad_u
    eigenvalues, vectors = np.linalg.eigh(-0.5 * (hess_u + hess_u.T))
    scale = max(float(np.max(np.abs(eigenvalues))), np.finfo(float).tiny)
    keep = np.abs(eigenvalues) > relative_tol * scale
    step_u = vectors[:, keep] @ ((vectors[:, keep].T @ grad_u) / eigenvalues[keep])
    step_c = jac @ step_u
    return Stationarity(
        log_likelihood=float(loglik),
        gradient=fitting._unflatten(model, grad_c),
        newton_step=fitting._unflatten(model, step_c),
        max_gradient=float(np.max(np.abs(grad_c))),
        max_step=float(np.max(np.abs(step_c))),
    )


# --------------------------------------------------------------------------- other starts


def jittered_starts(
    model: pm.Model, params: Mapping[str, Any], n: int, *, seed: int = 0, scale: float = 1.0
) -> list[Params]:
    """``n`` starts around constrained ``params``: Normal(0, ``scale``²) noise added in the
    model's unconstrained coordinates, so every start satisfies the constraints (a rate
    stays positive, weights stay on the simplex, an ordering holds). ``scale=1`` moves a
    log-transformed rate by a factor of about e."""
    rng = np.random.default_rng(seed)
    centre = fitting._unconstrained(model, params)
    return [
        _free(model, fitting._constrained(model, [c + rng.normal(0.0, scale, size=np.shape(c)) for c in centre]))
        for _ in range(n)
    ]


@dataclass(frozen=True)
class LocalFit:
    """One L-BFGS-B run: constrained ``params``, their ``log_likelihood`` (nats, no prior)."""

    start: Params
    params: Params
    log_likelihood: float
    success: bool
    n_iter: int


def _free(model: pm.Model, params: Params) -> Params:
    return {name: params[name] for name in fitting.free_names(model)}


def maximize(model: pm.Model, start: Mapping[str, Any]) -> LocalFit:
    """L-BFGS-B on the objective ``pm.find_MAP`` uses, from constrained ``start``:
    :func:`emtwin.models.fitting.fit_map` (compiled once per model, so a dozen starts cost
    milliseconds), reduced to the free variables."""
    fit = fitting.fit_map(model, start)
    return LocalFit(
        start={k: np.asarray(v, dtype=float) for k, v in start.items()},
        params=_free(model, fit.params),
        log_likelihood=fit.log_likelihood,
        success=fit.success and np.isfinite(fit.log_likelihood),
        n_iter=fit.n_iter,
    )
