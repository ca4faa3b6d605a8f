"""What a scenario is: its data, its two twins, and what to compare."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emtwin.em_reference.components import order_components
from emtwin.em_reference.driver import EMResult, Params

__all__ = ["NO_COMPONENTS", "Check", "Components", "Scenario", "flat_beta_prior"]


@dataclass(frozen=True)
class Check:
    """One row of DESIGN.md's table, evaluated.

    ``severity`` is ``"error"`` (a failure means the twins disagree), ``"warning"``
    (reported next to the verdict, does not change it) or ``"info"``.
    """

    name: str
    passed: bool
    value: float
    tolerance: float
    detail: str
    severity: str = "error"


@dataclass(frozen=True)
class Components:
    """Which parameters are per component, their labels, and the model's ordering.

    Attributes
    ----------
    params : tuple of str
        Parameters whose axis 0 is the component axis; empty for a model without
        exchangeable components (then nothing is reordered or aligned).
    labels : tuple of str
        Component names, used in table rows (``theta_A``, ``p1``); empty: numbered 1..k.
    order_by : str
        The 1-D parameter the PyMC twin keeps ordered (to remove label switching).
    descending : bool
        Whether that order is descending.
    """

    params: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    order_by: str | None = None
    descending: bool = False

    def canonical(self, params: Params) -> Params:
        """``params`` in the PyMC twin's component order (unchanged without components)."""
        if self.order_by is None:
            return {name: np.asarray(value, dtype=float) for name, value in params.items()}
        return order_components(params, self.params, self.order_by, descending=self.descending)


NO_COMPONENTS = Components()


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
        (e.g. ``(p1+p2)/2``), compared between the twins. Each takes a params dict whose
        arrays may carry a trailing axis of posterior draws.
    to_model : callable (params) -> dict
        Maps EM parameters (in the twin's component order) to values of the model's free
        variables, where the model parametrises differently (e.g. a Cholesky factor for a
        covariance). The model must still expose every EM parameter by name, as a free
        variable or a Deterministic. Default: the same dict.
    extra_checks : callable (Comparison) -> list of Check, optional
        Scenario-specific checks, e.g. against a closed-form posterior.
    map_is_mle : callable (model_options) -> bool
        Whether the PyMC twin built with these options has flat priors, so that its MAP
        must equal EM's MLE. When it returns False the EM-vs-MAP comparison is reported,
        not failed (an informative prior moves MAP away from the MLE on purpose).
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
    to_model: Callable[[Params], Params] = lambda params: dict(params)
    extra_checks: Callable[[Any], list[Check]] | None = None
    map_is_mle: Callable[[Mapping[str, Any]], bool] = lambda options: True


def flat_beta_prior(model_options: Mapping[str, Any]) -> bool:
    """``map_is_mle`` for the coin twins: only Beta(1, 1) (their default) is flat."""
    return tuple(np.asarray(model_options.get("prior", (1.0, 1.0)), dtype=float).tolist()) == (1.0, 1.0)

