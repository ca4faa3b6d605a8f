"""Registry entry: k Gaussians with known, shared σ and equal weights; EM estimates the means.

Default data: k = 2, N = 200, true means (−2, 2), σ = 1, seed 0
(:meth:`~emtwin.em_reference.gaussian_means.MixtureData.synthetic`); start μ = (−1, 1).
Another data set: ``emtwin.compare("gaussian-means", data=MixtureData.from_array(z, k=3,
sigma=0.5), start={"mu": [...]})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from emtwin.em_reference import gaussian_means as em_means
from emtwin.em_reference.driver import EMResult
from ..scenario import Components, ComponentSweep, Scenario, Simulator
from . import mixture_label_probabilities

__all__ = ["SCENARIO"]

LECTURE_START = {"mu": np.array([-1.0, 1.0])}

def _fit_em(data: em_means.MixtureData, start: Mapping[str, Any], **options: Any) -> EMResult:
    if not isinstance(data, em_means.MixtureData):
        raise ValueError(
            "data must be a MixtureData (points, known sigma and k), e.g. "
            f"MixtureData.from_array(z, k=2, sigma=1.0); got {type(data).__name__}."
        )
    # The PyMC twin's prior is flat on a bounded range; a start outside it has log-density
    # −inf and PyMC would fail with a traceback. Checked here, before either twin runs.
    mu = em_means.check_start(start["mu"], k=data.k)
    from emtwin.models import gaussian_means as pm_means

    lower, upper = pm_means.prior_bounds(data.z, data.sigma)
    outside = np.flatnonzero((mu <= lower) | (mu >= upper))
    if outside.size:
        j = int(outside[0])
        raise ValueError(
            f"start mu{j + 1} = {mu[j]:g} lies outside the PyMC twin's flat prior on the means, "
            f"({lower:.6g}, {upper:.6g}) (the data's range ± 10 sigma); start inside it."
        )
    return em_means.fit(data, mu, **options)


def _build_model(data: em_means.MixtureData, **options: Any) -> Any:
    from emtwin.models import gaussian_means as pm_means

    return pm_means.build_model(data.z, sigma=data.sigma, k=data.k, **options)


def _draw(n: int, rng: np.random.Generator) -> em_means.MixtureData:
    """``n`` points from the default data's model: means (−2, 2), σ = 1, equal weights."""
    means = np.array(em_means.DEFAULT_TRUE_MEANS)
    labels = rng.integers(means.size, size=n)
    return em_means.MixtureData(rng.normal(means[labels], em_means.DEFAULT_SIGMA), em_means.DEFAULT_SIGMA,
                                means.size, means)


def _start(data: Any) -> dict[str, np.ndarray]:
    """The (j − ½)/k quantiles of the points (EM's default start); for anything but a
    MixtureData the lecture's start, and the EM twin then says what data it needs."""
    if not isinstance(data, em_means.MixtureData):
        return dict(LECTURE_START)
    return {"mu": np.quantile(data.z, (np.arange(data.k) + 0.5) / data.k)}


def _with_k(data: em_means.MixtureData, k: int) -> tuple[em_means.MixtureData, dict[str, np.ndarray]]:
    """The same points with ``k`` components, started at the (j − ½)/k quantiles (EM's default)."""
    refit = em_means.MixtureData(data.z, data.sigma, k)
    return refit, _start(refit)


SCENARIO = Scenario(
    name="gaussian-means",
    title="k Gaussians, known shared sigma, equal weights: estimate the means",
    source="lecture: mixture of Gaussians with known σ",
    make_data=em_means.MixtureData.synthetic,
    default_start=LECTURE_START,
    fit_em=_fit_em,
    build_model=_build_model,
    components=Components(params=("mu",), order_by="mu"),  # rows mu1, mu2, ...
    make_start=_start,
    log_likelihood=em_means.log_likelihood,
    label_probabilities=mixture_label_probabilities,
    simulator=Simulator(draw=_draw, sizes=(25, 100, 400, 1600), unit="points",
                        truth={"mu": np.array(em_means.DEFAULT_TRUE_MEANS)}),
    component_sweep=ComponentSweep(with_k=_with_k, ks=(1, 2, 3, 4)),
)
