"""Each observation's label posterior, read off the PyMC twin's own graph.

A twin marginalises the label with ``pm.Mixture``: its log-density is

    log p(x_i | params) = log Σ_j w_j p_j(x_i | params)

and Bayes' rule applied to the same terms gives the posterior of the label,

    Pr(label_i = j | x_i, params) = w_j p_j(x_i | params) / Σ_l w_l p_l(x_i | params),

the quantity the EM twin's E-step calls a responsibility. PyMC has no function for it, so
:func:`mixture_label_probabilities` builds it from the mixture's own weights and component
distributions (the graph PyMC's ``mixture_logprob`` sums over) and compiles it: nothing of
the EM twin is used, which is what makes "E-step = PyMC's label posterior" a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.mixture import MixtureRV

from .precision import compile_fn

__all__ = ["LabelProbabilities", "mixture_label_probabilities", "mixture_log_joint", "observed_data"]

LabelProbabilities = Callable[[Mapping[str, Any]], np.ndarray]


def observed_data(model: pm.Model, rv: Any | None = None) -> np.ndarray:
    """The data the model holds for its observed variable ``rv`` (default: the first), as the
    variable's dtype: a constant's value, or a ``pm.Data``'s (behind the cast PyMC puts on
    integer data, which ``pm.Data`` stores as int32), read without compiling anything."""
    value = model.rvs_to_values[model.observed_RVs[0] if rv is None else rv]
    source = value.owner.inputs[0] if value.owner is not None and len(value.owner.inputs) == 1 else value
    return np.asarray(source.data if hasattr(source, "data") else source.get_value(), dtype=value.dtype)


def _mixture_rv(model: pm.Model, observed: str | None) -> Any:
    mixtures = [rv for rv in model.observed_RVs if isinstance(rv.owner.op, MixtureRV)]
    if observed is not None:
        chosen = [rv for rv in mixtures if rv.name == observed]
        if not chosen:
            raise ValueError(
                f"observed must name an observed pm.Mixture of the model; got {observed!r}, "
                f"the model's observed mixtures are {[rv.name for rv in mixtures]}."
            )
        return chosen[0]
    if len(mixtures) != 1:
        raise ValueError(
            "the model must have exactly one observed pm.Mixture (or pass observed=NAME) to define "
            f"per-observation labels; it has {len(mixtures)}: {[rv.name for rv in mixtures]}."
        )
    return mixtures[0]


def mixture_log_joint(model: pm.Model, observed: str | None = None) -> Any:
    """The graph of log w_j + log p_j(x_i | params) for the model's observed ``pm.Mixture``.

    Parameters
    ----------
    model : pm.Model
        A model whose likelihood is a ``pm.Mixture`` (vector or list ``comp_dists``,
        ``pm.NormalMixture``, multivariate components).
    observed : str, optional
        Name of the observed mixture; needed only when the model has several.

    Returns
    -------
    TensorVariable, shape (n_observations, n_components)
        In terms of the model's free random variables (their constrained values); the
        component axis is last, in the model's component order.
    """
    rv = _mixture_rv(model, observed)
    _, weights, *components = rv.owner.inputs
    value = model.rvs_to_values[rv]
    # The same component log-densities mixture_logprob stacks, component axis last.
    if len(components) == 1:
        axis = -components[0].owner.op.ndim_supp - 1
        comp_logp = pm.logp(components[0], pt.expand_dims(value, axis))
    else:
        comp_logp = pt.stack([pm.logp(component, value) for component in components], axis=-1)
    return pt.log(weights) + comp_logp


def mixture_label_probabilities(model: pm.Model, observed: str | None = None) -> LabelProbabilities:
    """Compile Pr(label | observation, params) from the model's observed ``pm.Mixture``.

    Parameters
    ----------
    model : pm.Model
        A twin whose likelihood is a ``pm.Mixture`` (``pm.NormalMixture`` is one).
    observed : str, optional
        Name of the observed mixture; needed only when the model has several.

    Returns
    -------
    callable (params) -> ndarray, shape (n_observations, n_components)
        ``params`` maps each free variable's name to its constrained value (the dict
        ``fit_map`` and the harness use); rows of the result sum to one, columns are the
        model's components in its own order.

    Examples
    --------
    >>> import numpy as np
    >>> from emtwin.models import coins
    >>> labels = mixture_label_probabilities(coins.build_model(np.array([5, 9]), np.array([10, 10])))
    >>> labels({"theta": np.array([0.8, 0.5])}).round(3)   # scipy.stats.binom agrees
    array([[0.097, 0.903],
           [0.965, 0.035]])
    """
    log_joint = mixture_log_joint(model, observed)
    # Normalised in log space: w_j p_j(x_i) underflows for points far from every component.
    probabilities = pt.exp(log_joint - pt.logsumexp(log_joint, axis=-1, keepdims=True))
    names = [free.name for free in model.free_RVs]
    fn = compile_fn(model, probabilities, model.free_RVs)

    def label_probabilities(params: Mapping[str, Any]) -> np.ndarray:
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(
                f"params must give every free variable of the model {names}; missing {missing}."
            )
        return np.asarray(fn(*(np.asarray(params[n], dtype=float) for n in names)))

    return label_probabilities
