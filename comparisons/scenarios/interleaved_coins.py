"""Registry entry: two coins, the lecture's twenty interleaved tosses HTTHHTHTHHTHTHTHHTHT.

Each toss is H with probability (p1 + p2)/2, so the likelihood identifies only that mean
(11/20 at the maximum) and is flat along p1 − p2. The harness's curvature check finds the
flat direction and gives the verdict "non-identifiable"; EM and MAP stop at different
points of the ridge p1 + p2 = 11/10 with equal log-likelihood, and the twins are compared
on the functional (p1 + p2)/2 instead of on p1, p2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from emtwin.em_reference import coins as em_coins
from emtwin.em_reference import interleaved_coins as em_interleaved
from emtwin.em_reference.driver import EMResult, Params
from ..scenario import Components, Scenario, Simulator, flat_beta_prior
from . import mixture_label_probabilities

__all__ = ["SCENARIO"]


def _fit_em(data: em_coins.TossSets, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_interleaved.fit(data, start["p"], **options)


def _build_model(data: em_coins.TossSets, **options: Any) -> Any:
    from emtwin.models import interleaved_coins as pm_interleaved

    return pm_interleaved.build_model(data.heads, **options)


def _mean_bias(params: Params) -> Any:
    """(p1 + p2)/2 = Pr(a toss is H): the one thing the likelihood sees."""
    return (params["p"][0] + params["p"][1]) / 2


# For the report's "as data grows" figure; chosen for the report so that (p1 + p2)/2 = 0.55,
# the lecture sequence's fraction of heads.
TRUE_P = np.array([0.75, 0.35])


def _draw(n: int, rng: np.random.Generator) -> em_coins.TossSets:
    """``n`` tosses, each with coin 1 or 2 picked with probability 1/2."""
    coin = rng.integers(2, size=n)
    heads = (rng.random(n) < TRUE_P[coin]).astype(np.int64)
    return em_coins.TossSets(heads, np.ones_like(heads))


SCENARIO = Scenario(
    name="interleaved-coins",
    title="Two coins, twenty interleaved tosses: only (p1+p2)/2 is identified",
    source="the EM lecture's interleaved tosses HTTHHTHTHHTHTHTHHTHT, start p1 = 1/2, p2 = 1/4",
    make_data=lambda: em_interleaved.tosses_from_string(em_interleaved.LECTURE_SEQUENCE),
    default_start={"p": np.array(em_interleaved.LECTURE_START)},
    fit_em=_fit_em,
    build_model=_build_model,
    components=Components(params=("p",), labels=em_interleaved.COINS, order_by="p", descending=True),
    functionals={"(p1+p2)/2": _mean_bias},
    map_is_mle=flat_beta_prior,
    log_likelihood=em_interleaved.log_likelihood,
    label_probabilities=mixture_label_probabilities,
    simulator=Simulator(draw=_draw, sizes=(20, 80, 320, 1280), unit="tosses", truth={"p": TRUE_P}),
)
