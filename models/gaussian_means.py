"""PyMC twin of the k-Gaussian mixture with known, shared σ and equal weights 1/k.

    μ_j ~ Uniform(min z − mσ, max z + mσ),  j = 1..k,  ordered μ_1 < μ_2 < ... < μ_k
    z_i ~ Σ_j (1/k) Normal(μ_j, σ)

The component label of each point is marginalised by ``pm.NormalMixture``, whose
log-density is log Σ_j (1/k) N(z_i | μ_j, σ²): the normaliser of the EM twin's E-step.

Why a bounded Uniform prior: MAP equals the MLE only if the prior is flat, and NUTS needs a
proper posterior. With an improper flat prior a component that claims no data has a
posterior flat over the whole real line. A Uniform is flat inside its bounds and proper;
the MLE lies inside [min z, max z] (every μ_j is a weighted mean of the points), so
bounds ``margin`` σ beyond the data never bind it. PyMC chains the ordering after the
Uniform's interval transform, so the sampler works in unbounded coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
from pymc.distributions.transforms import ordered

from emtwin.em_reference.checks import Real, check

__all__ = ["build_model", "prior_bounds"]


def prior_bounds(z: np.ndarray, sigma: float, margin: float = 10.0) -> tuple[float, float]:
    """(min z − margin·σ, max z + margin·σ): the support of the flat prior on every μ_j."""
    z = np.asarray(z, dtype=float)
    return float(z.min() - margin * sigma), float(z.max() + margin * sigma)


def build_model(
    z: np.ndarray,
    *,
    sigma: float,
    k: int,
    margin: float = 10.0,
    labels: Sequence[str] | None = None,
    name: str = "mu",
) -> pm.Model:
    """k Gaussians of known SD ``sigma``, equal weights, means under a flat bounded prior.

    Parameters
    ----------
    z : ndarray of float, shape (N,)
        The data points (validated by ``MixtureData``).
    sigma : float
        The known SD of every component, data units.
    k : int
        Number of components.
    margin : float
        Prior bounds reach ``margin`` σ beyond the data on each side; > 0. Only their
        width matters to NUTS (it sets where an empty component may wander), not to MAP.
    labels : sequence of str, optional
        Component coordinate values; default "1".."k".

    Returns
    -------
    pm.Model
        Free variable ``mu`` (dims ``component``), observed ``z`` (dims ``obs_id``).
        Its ordering transform needs a start with distinct, ascending means at every
        call (``initvals``); see the project notes.
    """
    margin = check("margin", margin, Real(), "in sigmas")
    # np.float64, not a Python float: PyTensor makes 0.5 a float32 constant and log(0.5) in
    # float32 is 1.9e-9 off per point (models/precision.py).
    sigma = np.float64(check("sigma", sigma, Real(), "the known component SD"))
    k = check("k", k, meaning="the number of components")
    labels = [str(j + 1) for j in range(k)] if labels is None else list(labels)
    if len(labels) != k:
        raise ValueError(f"labels must name k = {k} components; got {len(labels)}: {labels}.")
    z = np.asarray(z, dtype=float)
    lower, upper = prior_bounds(z, sigma, margin)
    coords = {"component": labels, "obs_id": np.arange(z.size)}
    with pm.Model(coords=coords) as model:
        # Ascending order: mu1 is the leftmost component, so labels cannot swap.
        # The bounds as pm.Data: they follow the data, and as constants each data set made a
        # graph of its own for PyTensor to rewrite and Numba to compile (models/precision.py).
        mu = pm.Uniform(name, lower=pm.Data(f"{name}_lower", np.float64(lower)),
                        upper=pm.Data(f"{name}_upper", np.float64(upper)), dims="component", transform=ordered)
        # pm.Data, not a constant: one compiled graph for data of any size (models/coins.py)
        pm.NormalMixture("z", w=np.full(k, 1.0 / k), mu=mu, sigma=sigma,
                         observed=pm.Data("z_seen", z, dims="obs_id"), dims="obs_id")
    return model
