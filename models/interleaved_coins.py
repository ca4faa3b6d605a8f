"""PyMC twin of the interleaved coins: the coin-set mixture with sets of one toss.

    p_c ~ Beta(a, b),  c ∈ {1, 2},  ordered p1 > p2
    x_i ~ ½ Bernoulli(p1) + ½ Bernoulli(p2)      (Binomial(1, p_c) in :mod:`.coins`)

A thin wrapper of :func:`emtwin.models.coins.build_model`: coins labelled "1" and "2", the
bias called ``p``, the set axis called ``toss``. The model identifies only (p1 + p2)/2:
its posterior is a ridge, which is the lesson, not a fault.
"""

from __future__ import annotations

import numpy as np
import pymc as pm

from . import coins

__all__ = ["build_model"]


def build_model(heads: np.ndarray, *, prior: tuple[float, float] = (1.0, 1.0)) -> pm.Model:
    """Interleaved two-coin mixture with Beta(``prior``) biases.

    Parameters
    ----------
    heads : ndarray of int, shape (n_tosses,)
        1 for a head, 0 for a tail, in toss order.
    prior : (a, b)
        Beta prior on each coin's bias, both > 0; Beta(1, 1) makes MAP the MLE.
    """
    heads = np.asarray(heads)
    return coins.build_model(heads, np.ones_like(heads), prior=prior, coins=("1", "2"), name="p", set_dim="toss")
