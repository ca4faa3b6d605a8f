"""A two-component Gamma mixture of waiting times, written only as a PyMC model.

Durations (minutes a support ticket stays open, say) come from quick fixes and long
investigations:

    z_i ~ Categorical(weights),   x_i | z_i = k ~ Gamma(shape = alpha_k, mean = mu_k)

No EM is written by hand: its M-step has no closed form (the shape solves
log alpha − digamma(alpha) = log mean − mean log, per component), so ``emtwin.derive_em``
derives EM from this model, the M-step by numerical maximisation of Q.

Flat, bounded priors make PyMC's MAP the maximum-likelihood estimate EM finds and give NUTS
a proper posterior; ordering the means keeps the labels from switching.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from pymc.distributions.transforms import ordered

START = {"mu": np.array([1.0, 5.0]), "alpha": np.array([1.0, 1.0]), "weights": np.array([0.5, 0.5])}
MAX_SHAPE = 200.0  # upper bound of the flat prior on each shape


def simulate_durations(n: int = 400, *, seed: int = 11) -> np.ndarray:
    """``n`` durations: 40% Gamma(shape 2, mean 1.5), 60% Gamma(shape 8, mean 6); shape (n,)."""
    rng = np.random.default_rng(seed)
    slow = rng.random(n) < 0.6
    shape = np.where(slow, 8.0, 2.0)
    mean = np.where(slow, 6.0, 1.5)
    return rng.gamma(shape, mean / shape)


def build_model(durations: np.ndarray) -> pm.Model:
    x = np.asarray(durations, dtype=float)
    coords = {"component": ["quick", "long"], "obs_id": np.arange(len(x))}
    with pm.Model(coords=coords) as model:
        mu = pm.Uniform("mu", 0.0, 2 * x.max(), dims="component", transform=ordered)
        alpha = pm.Uniform("alpha", 0.0, MAX_SHAPE, dims="component")
        weights = pm.Dirichlet("weights", a=np.ones(2), dims="component")
        pm.Mixture("durations", w=weights, comp_dists=pm.Gamma.dist(alpha=alpha, beta=alpha / mu),
                   observed=x, dims="obs_id")
    return model
