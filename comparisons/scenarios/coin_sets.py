"""Registry entry: two coins, five sets of ten tosses (Do & Batzoglou 2008, Fig. 1b)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from emtwin.em_reference import coins as em_coins
from emtwin.em_reference.driver import EMResult
from ..scenario import Components, Scenario, Simulator, flat_beta_prior
from . import mixture_label_probabilities

__all__ = ["SCENARIO"]


def _fit_em(data: em_coins.TossSets, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_coins.fit(data, start["theta"], **options)


def _build_model(data: em_coins.TossSets, **options: Any) -> Any:
    from emtwin.models import coins as pm_coins

    return pm_coins.build_model(data.heads, data.tosses, **options)


# For the report's "as data grows" figure; chosen for the report, not from the paper.
TRUE_THETA = np.array([0.8, 0.45])
SET_SIZE = 10


def _draw(n: int, rng: np.random.Generator) -> em_coins.TossSets:
    """``n`` sets of ten tosses, each made with coin A or B picked with probability 1/2."""
    coin = rng.integers(2, size=n)
    return em_coins.TossSets.from_counts(rng.binomial(SET_SIZE, TRUE_THETA[coin]), SET_SIZE)


SCENARIO = Scenario(
    name="coin-sets",
    title="Two coins, five sets of ten tosses",
    source="Do & Batzoglou (2008), Nat. Biotechnol. 26:897, Fig. 1b",
    make_data=lambda: em_coins.TossSets.from_strings(em_coins.DO_BATZOGLOU_SETS),
    default_start={"theta": np.array([0.6, 0.5])},
    fit_em=_fit_em,
    build_model=_build_model,
    components=Components(params=("theta",), labels=em_coins.COINS, order_by="theta", descending=True),
    map_is_mle=flat_beta_prior,
    log_likelihood=em_coins.log_likelihood,
    label_probabilities=mixture_label_probabilities,
    simulator=Simulator(draw=_draw, sizes=(5, 20, 80, 320), unit=f"sets of {SET_SIZE} tosses",
                        truth={"theta": TRUE_THETA}),
)
