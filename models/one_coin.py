"""PyMC twin of one coin tossed N times.

    p ~ Beta(a, b)
    h ~ Binomial(N, p)

Nothing is latent, so there is nothing to marginalise: the posterior is Beta(a + h,
b + N − h) exactly, and the harness checks PyMC's MAP, ADVI and NUTS against it.
"""

from __future__ import annotations

import numpy as np
import pymc as pm

from .coins import check_beta_prior

__all__ = ["DEFAULT_PRIOR", "build_model"]

# Beta(1, 1) is flat on (0, 1): PyMC's find_MAP, which leaves out the logodds Jacobian,
# then returns the MLE h / N.
DEFAULT_PRIOR = (1.0, 1.0)


def build_model(
    heads: int,
    tosses: int,
    *,
    prior: tuple[float, float] = DEFAULT_PRIOR,
    name: str = "p",
) -> pm.Model:
    """One coin with a Beta(``prior``) bias; Beta(1, 1) makes MAP the MLE.

    Parameters
    ----------
    heads : int
        Heads h, 0 ≤ h ≤ N.
    tosses : int
        Tosses N ≥ 1.
    prior : (a, b)
        Beta prior on the bias, both > 0. Larger values shrink the posterior towards
        a / (a + b): a teaching knob.
    name : str
        Name of the bias variable.
    """
    a, b = check_beta_prior(prior)
    with pm.Model() as model:
        p = pm.Beta(name, a, b)
        # pm.Data, not constants: one compiled graph for every (h, N) (see models/coins.py)
        pm.Binomial("heads", n=pm.Data("tosses", np.int64(tosses)), p=p, observed=pm.Data("heads_seen", np.int64(heads)))
    return model
