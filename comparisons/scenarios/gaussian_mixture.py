"""Registry entries: k Gaussians with unknown weights, means and variances (the lecture's
last slides), fitted to Old Faithful.

``SCENARIO`` ("gaussian-mixture") is the 1-D case: the 272 waiting times, k = 2,
parameters ``weights``, ``mu``, ``sigma``. ``SCENARIO_2D`` ("gaussian-mixture-2d") is the
d-D case with full covariances: eruption and waiting times together, k = 2, parameters
``weights``, ``mu`` (k, d), ``cov`` (k, d, d).
The data object is :class:`~emtwin.em_reference.gaussian_mixture.MixtureData` (points, k,
variance floor); with your own data and no start, the start is built from the data::

    from emtwin.em_reference.gaussian_mixture import MixtureData
    emtwin.compare("gaussian-mixture", data=MixtureData(x, 3))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference.driver import EMResult, Params
from ..scenario import Check, Components, ComponentSweep, Scenario, Simulator
from . import mixture_label_probabilities

__all__ = ["SCENARIO", "SCENARIO_2D"]

# Row labels "1", "2", ...: the harness names rows weights1, mu2[0], cov1[0,1].
SOURCE = (
    "Lecture, last slides: mixture of k Gaussians, weights, means and variances unknown; "
    "data R datasets::faithful (Härdle 1991; Azzalini & Bowman 1990)"
)


def _checked_data(data: Any, *, scenario: str, one_d: bool) -> em_gm.MixtureData:
    """``data`` if it is a MixtureData of the shape this scenario fits."""
    if not isinstance(data, em_gm.MixtureData):
        raise ValueError(
            f"data must be a MixtureData (points, k, var_floor); got {type(data).__name__}. "
            "Build one with MixtureData(x, k)."
        )
    if (data.x.ndim == 1) != one_d:
        wanted, other = ("1-D data, shape (N,)", "gaussian-mixture-2d") if one_d else (
            "data of shape (N, d)", "gaussian-mixture")
        raise ValueError(
            f"the {scenario} scenario fits {wanted}; got data of shape {data.x.shape}. Use {other}."
        )
    return data


def _checked_start(data: Any, start: Mapping[str, Any], *, scenario: str, one_d: bool) -> Params:
    """The EM twin's checks plus what the harness and the PyMC twin need, before anything
    runs: the data's shape for this scenario and start means that can be ordered."""
    data = _checked_data(data, scenario=scenario, one_d=one_d)
    params = em_gm.check_start(data, start)
    first = params["mu"].reshape(data.k, -1)[:, 0]
    if len(np.unique(first)) < data.k:
        what = "start['mu']" if data.x.ndim == 1 else "start['mu'][:, 0]"
        raise ValueError(
            f"{what} = {first.tolist()} has equal values; the PyMC twin orders components by the "
            "first coordinate of their means, so those must differ."
        )
    return params


def _fit_em_1d(data: em_gm.MixtureData, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_gm.fit(data, _checked_start(data, start, scenario="gaussian-mixture", one_d=True), **options)


def _fit_em_2d(data: em_gm.MixtureData, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_gm.fit(data, _checked_start(data, start, scenario="gaussian-mixture-2d", one_d=False), **options)


def _build_model(data: em_gm.MixtureData, **options: Any) -> Any:
    if options:
        raise ValueError(
            f"model_options are not used by the Gaussian-mixture twin (its priors are fixed by the data); "
            f"got {sorted(options)}. Set k and var_floor on the MixtureData."
        )
    from emtwin.models import gaussian_mixture as pm_gm

    return pm_gm.build_model(data.x, k=data.k, var_floor=data.var_floor, columns=data.columns)


def _free_values(params: Params) -> dict[str, np.ndarray]:
    """EM's parameters as the 2-D twin's free variables (a Cholesky factor for each
    covariance): :func:`emtwin.models.gaussian_mixture.free_values`."""
    from emtwin.models import gaussian_mixture as pm_gm

    return pm_gm.free_values(params)


def _floor_check(comparison: Any) -> list[Check]:
    """Warn when a component of EM's answer sits on the variance floor: a collapse, whose
    likelihood is the floor's artefact (both twins share the floor, so they may still agree)."""
    data = comparison.data
    ratio = em_gm.conditional_variances(data, comparison.em.params) / data.var_floor
    j, c = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
    smallest = float(ratio[j, c])
    off_floor = smallest > 1.0 + 1e-6
    where = f"component {j + 1}" + ("" if data.x.ndim == 1 else f", coordinate {c}")
    return [
        Check(
            "EM variances above the floor",
            off_floor,
            smallest,
            1.0,
            f"smallest variance is {smallest:.4g} × var_floor ({where})"
            + ("" if off_floor else ": that component collapsed onto the floor"),
            "warning",
        )
    ]


def _faithful(column: str | None) -> em_gm.MixtureData:
    return em_gm.MixtureData.old_faithful(column, k=2)


# For the report's "as data grows" figure: the two-component fit to the waiting times,
# rounded (mixtools' published fit: weights 0.361, 0.639, means 54.61, 80.09, SDs 5.87, 5.87).
TRUE_WAITING = {"weights": np.array([0.36, 0.64]), "mu": np.array([54.6, 80.1]), "sigma": np.array([5.9, 5.9])}


def _draw_waiting(n: int, rng: np.random.Generator) -> em_gm.MixtureData:
    """``n`` waiting times from ``TRUE_WAITING``: a component picked by weight, then a Normal."""
    labels = rng.choice(2, size=n, p=TRUE_WAITING["weights"])
    return em_gm.MixtureData(rng.normal(TRUE_WAITING["mu"][labels], TRUE_WAITING["sigma"][labels]), 2)


def _with_k(data: em_gm.MixtureData, k: int) -> tuple[em_gm.MixtureData, Params]:
    """The same points with ``k`` components and the same variance floor, from EM's default start."""
    refit = em_gm.MixtureData(data.x, k, var_floor=data.var_floor, columns=data.columns)
    return refit, em_gm.default_start(refit)


SCENARIO = Scenario(
    name="gaussian-mixture",
    title="Two Gaussians, weights, means and SDs unknown: Old Faithful waiting times",
    source=SOURCE,
    make_data=lambda: _faithful("waiting"),
    default_start=em_gm.default_start(_faithful("waiting")),
    fit_em=_fit_em_1d,
    build_model=_build_model,
    components=Components(params=("weights", "mu", "sigma"), order_by="mu"),  # rows weights1, mu1, sigma1, ...
    extra_checks=_floor_check,
    make_start=lambda data: em_gm.default_start(_checked_data(data, scenario="gaussian-mixture", one_d=True)),
    log_likelihood=em_gm.log_likelihood,
    label_probabilities=mixture_label_probabilities,
    simulator=Simulator(draw=_draw_waiting, sizes=(50, 200, 800), unit="waiting times", truth=TRUE_WAITING),
    # k = 4 adds minutes of sampling for a choice k = 3 already shows.
    component_sweep=ComponentSweep(with_k=_with_k, ks=(1, 2, 3)),
)

SCENARIO_2D = Scenario(
    name="gaussian-mixture-2d",
    title="Two Gaussians with full covariances: Old Faithful eruption and waiting times",
    source=SOURCE,
    make_data=lambda: _faithful(None),
    default_start=em_gm.default_start(_faithful(None)),
    fit_em=_fit_em_2d,
    build_model=_build_model,
    # mu is (k, d): components are ordered by mu[:, 0], as the twin's ordering transform does;
    # the harness hands to_model parameters already in that order.
    components=Components(params=("weights", "mu", "cov"), order_by="mu"),
    to_model=_free_values,
    extra_checks=_floor_check,
    make_start=lambda data: em_gm.default_start(_checked_data(data, scenario="gaussian-mixture-2d", one_d=False)),
    # PyMC's default ±1 jitter can start a chain in a basin where one component holds a
    # handful of points (3 of 6 seeds, R-hat > 2); starting at EM's start does not.
    nuts_defaults={"init": "adapt_diag"},
    log_likelihood=em_gm.log_likelihood,
    label_probabilities=mixture_label_probabilities,
)
