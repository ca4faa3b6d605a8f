"""The scenario registry: name → data, EM twin, PyMC twin, and what to compare.

Adding a scenario means writing its EM step functions (``em_reference/``), its model
builder (``models/``) and one :class:`Scenario` entry below. The harness, ``emtwin list``
and the command line's help all derive from this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emtwin.em_reference import coins as em_coins
from emtwin.em_reference.components import order_components
from emtwin.em_reference.driver import EMResult, Params
from emtwin.models import coins as pm_coins

__all__ = ["SCENARIOS", "Components", "Scenario", "get_scenario"]


@dataclass(frozen=True)
class Components:
    """Which parameters are per component, their labels, and the model's ordering.

    Attributes
    ----------
    params : tuple of str
        Parameters whose axis 0 is the component axis.
    labels : tuple of str
        Component names, used in table rows (``theta_A``, ``p1``).
    order_by : str
        The 1-D parameter the PyMC twin keeps ordered (to remove label switching).
    descending : bool
        Whether that order is descending.
    """

    params: tuple[str, ...]
    labels: tuple[str, ...]
    order_by: str
    descending: bool = False

    def canonical(self, params: Params) -> Params:
        """``params`` in the PyMC twin's component order."""
        return order_components(params, self.params, self.order_by, descending=self.descending)


@dataclass(frozen=True)
class Scenario:
    """One lecture scenario and its two twins.

    Attributes
    ----------
    name, title, source
        Short kebab-case name, one-line title, and the slide or paper it reproduces.
    make_data : callable () -> data
        The scenario's default data set.
    default_start : dict
        The lecture's starting parameters (constrained values).
    fit_em : callable (data, start, *, n_starts, seed) -> EMResult
    build_model : callable (data, **model_options) -> pm.Model
        Free-variable names of the model equal the EM parameter names.
    components : Components
    functionals : dict of str to callable
        Quantities the likelihood identifies even where the parameters are not
        (e.g. ``(p1+p2)/2``), compared between the twins.
    """

    name: str
    title: str
    source: str
    make_data: Callable[[], Any]
    default_start: Mapping[str, Any]
    fit_em: Callable[..., EMResult]
    build_model: Callable[..., Any]
    components: Components
    functionals: Mapping[str, Callable[[Params], float]] = field(default_factory=dict)


def _fit_coin_sets(data: em_coins.TossSets, start: Mapping[str, Any], **options: Any) -> EMResult:
    return em_coins.fit(data, start["theta"], **options)


def _build_coin_sets(data: em_coins.TossSets, **options: Any) -> Any:
    return pm_coins.build_model(data.heads, data.tosses, **options)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            name="coin-sets",
            title="Two coins, five sets of ten tosses",
            source="Do & Batzoglou (2008), Nat. Biotechnol. 26:897, Fig. 1b",
            make_data=lambda: em_coins.TossSets.from_strings(em_coins.DO_BATZOGLOU_SETS),
            default_start={"theta": np.array([0.6, 0.5])},
            fit_em=_fit_coin_sets,
            build_model=_build_coin_sets,
            components=Components(params=("theta",), labels=em_coins.COINS, order_by="theta", descending=True),
        ),
    ]
}


def get_scenario(name: str) -> Scenario:
    """The registered scenario called ``name``; a clear error listing the names otherwise."""
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"scenario must be one of {', '.join(SCENARIOS)}; got {name!r}."
        ) from None
