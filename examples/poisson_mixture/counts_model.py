"""The PyMC twin of ``counts_em.py``: the same mixture, labels marginalised.

    lam   ~ flat on (0, ∞)², ordered lam_1 < lam_2
    w     ~ Dirichlet(1, 1)                         (flat on the simplex)
    x_i   ~ w_1 Poisson(lam_1) + w_2 Poisson(lam_2)

Flat priors make PyMC's MAP the maximum-likelihood estimate EM finds; the ordering keeps
the labels from switching.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from pymc.distributions.transforms import Ordered


def build_model(counts: np.ndarray) -> pm.Model:
    coords = {"component": ["1", "2"], "obs_id": np.arange(len(counts))}
    with pm.Model(coords=coords) as model:
        lam = pm.HalfFlat("lam", dims="component", transform=Ordered())
        weights = pm.Dirichlet("weights", a=np.ones(2), dims="component")
        pm.Mixture("counts", w=weights, comp_dists=pm.Poisson.dist(mu=lam), observed=counts, dims="obs_id")
    return model
