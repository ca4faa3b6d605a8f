"""What a scenario is: its data, its two twins, and what to compare."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emtwin.em_reference.components import component_order, permute_components
from emtwin.em_reference.driver import EMResult, Params

__all__ = [
    "NO_COMPONENTS", "Check", "ComponentSweep", "Components", "Scenario", "Simulator", "flat_beta_prior", "flatten",
    "row_name",
]


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
        The parameter the PyMC twin keeps ordered (to remove label switching); for a
        (k, d) parameter its first coordinate (``mu[:, 0]``).
    descending : bool
        Whether that order is descending.

    The order itself is computed in one place, :mod:`emtwin.em_reference.components`.
    """

    params: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    order_by: str | None = None
    descending: bool = False

    def order(self, params: Params) -> np.ndarray | None:
        """The permutation putting ``params``' components in the PyMC twin's order (``None``
        without an ordering)."""
        if self.order_by is None:
            return None
        return component_order(params, self.order_by, descending=self.descending)

    def canonical(self, params: Params) -> Params:
        """``params`` in the PyMC twin's component order (unchanged without components)."""
        params = {name: np.asarray(value, dtype=float) for name, value in params.items()}
        order = self.order(params)
        return params if order is None else permute_components(params, order, self.params)


NO_COMPONENTS = Components()


@dataclass(frozen=True)
class Simulator:
    """Data sets of growing size drawn from known parameters: the report's "Bayesian vs MLE
    as data grows" figure.

    Attributes
    ----------
    draw : callable (n, numpy.random.Generator) -> data
        A data set of size ``n`` (``n`` counts ``unit``) from the scenario's model at
        ``truth``, in the form the scenario's twins take.
    sizes : tuple of int
        The sizes the report uses, ascending.
    unit : str
        What ``n`` counts, for axis labels: ``"tosses"``, ``"sets of 10 tosses"``, ``"points"``.
    truth : dict of str to array
        The parameters the data are drawn from (EM's names, the PyMC twin's component order).
    start : callable (data) -> dict, optional
        A start for both twins on a drawn data set; default: the scenario's ``make_start``
        if it has one, else its ``default_start``.
    """

    draw: Callable[[int, np.random.Generator], Any]
    sizes: tuple[int, ...]
    unit: str
    truth: Mapping[str, Any]
    start: Callable[[Any], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class ComponentSweep:
    """The same data fitted with k = 1, 2, ... components: the report's "how many
    components" figure (BIC and AIC from EM against PSIS-LOO from the PyMC twin).

    Attributes
    ----------
    with_k : callable (data, k) -> (data, start)
        The scenario's data object set up for ``k`` components, and a start for it.
    ks : tuple of int
        The numbers of components to fit, ascending.
    """

    with_k: Callable[[Any, int], tuple[Any, Mapping[str, Any]]]
    ks: tuple[int, ...] = (1, 2, 3, 4)


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
    make_start : callable (data) -> dict, optional
        A start built from a caller's own data (used when data but no start is given).
    nuts_defaults : dict
        NUTS settings this scenario needs (e.g. ``{"init": "adapt_diag"}``); the caller's
        ``nuts_options`` override them.
    map_is_mle : callable (model_options) -> bool
        Whether the PyMC twin built with these options has flat priors, so that its MAP
        must equal EM's MLE. When it returns False the EM-vs-MAP comparison is reported,
        not failed (an informative prior moves MAP away from the MLE on purpose).

    The report (``emtwin report``) draws more with four optional hooks; a scenario without
    one gets a report without that figure, which says so:

    log_likelihood : callable (data, params) -> float, optional
        The EM twin's total log-likelihood (nats) at EM-named parameters; evaluated on a
        grid for the log-likelihood contour of two-parameter scenarios.
    label_probabilities : callable (pm.Model) -> callable (params) -> ndarray, optional
        Compiles, from the PyMC twin's graph, each observation's label posterior
        Pr(label | observation, params) at the model's free-variable values, shape
        (n_observations, n_components) in the model's component order; usually
        :func:`emtwin.models.labels.mixture_label_probabilities`. Compared with EM's
        responsibilities.
    simulator : Simulator, optional
        Draws data of growing size, for posterior mean − MLE and posterior width against N.
    component_sweep : ComponentSweep, optional
        Refits with k = 1..K components, for BIC/AIC against PSIS-LOO.
    steps : (e_step, m_step, log_likelihood), optional
        A custom scenario's own step functions (``custom_scenario`` sets them), for
        :func:`emtwin.check_steps`: every step held to the PyMC model's.
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
    make_start: Callable[[Any], Mapping[str, Any]] | None = None
    nuts_defaults: Mapping[str, Any] = field(default_factory=dict)
    log_likelihood: Callable[[Any, Params], float] | None = None
    label_probabilities: Callable[[Any], Callable[[Mapping[str, Any]], np.ndarray]] | None = None
    simulator: Simulator | None = None
    component_sweep: ComponentSweep | None = None
    steps: tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]] | None = None

    def start_for(self, data: Any, *, data_given: bool) -> dict[str, Any]:
        """The start to use when the caller gives none: built from the caller's data where
        the scenario can (``make_start``), else the lecture's ``default_start``."""
        if data_given and self.make_start is not None:
            return dict(self.make_start(data))
        return dict(self.default_start)


def flat_beta_prior(model_options: Mapping[str, Any]) -> bool:
    """``map_is_mle`` for the coin twins: only Beta(1, 1) (their default) is flat."""
    return tuple(np.asarray(model_options.get("prior", (1.0, 1.0)), dtype=float).tolist()) == (1.0, 1.0)


def row_name(name: str, label: str) -> str:
    """A component parameter's row name: p + "1" reads "p1" as on the slide, theta + "A"
    reads "theta_A"."""
    return f"{name}{label}" if label[:1].isdigit() else f"{name}_{label}"


def flatten(params: Mapping[str, Any], components: Components) -> dict[str, float]:
    """One float per scalar parameter, named as in the lecture (``theta_A``, ``p1``,
    ``mu1[0]`` for entry 0 of component 1's mean vector)."""
    out: dict[str, float] = {}
    for name, value in params.items():
        arr = np.asarray(value, dtype=float)
        if name in components.params:
            # No labels: number the components 1..k, so k can follow the data.
            labels = components.labels or tuple(str(j + 1) for j in range(arr.shape[0]))
            if len(labels) < arr.shape[0]:
                raise ValueError(f"{name} has {arr.shape[0]} components but the scenario labels only "
                                 f"{len(labels)}: {', '.join(labels)}.")
            for label, sub in zip(labels, arr):
                base = row_name(name, label)
                for index in np.ndindex(sub.shape):
                    suffix = f"[{','.join(map(str, index))}]" if index else ""
                    out[base + suffix] = float(sub[index])
        else:
            for index in np.ndindex(arr.shape):
                suffix = f"[{','.join(map(str, index))}]" if index else ""
                out[name + suffix] = float(arr[index])
    return out
