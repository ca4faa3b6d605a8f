"""Mixture components are exchangeable: the one module that orders and aligns them.

Every place that needs components in an order asks here:

- :func:`component_order` / :func:`order_components`: the canonical order, components
  sorted by one parameter (its first coordinate when it is a vector, as the PyMC twins'
  ordering transforms do). EM's multistart uses it to recognise one maximum under swapped
  labels; the harness uses it (``Components.canonical``) to put EM's answer in the PyMC
  twin's order.
- :func:`align` / :func:`align_draws`: the best relabelling of one set of components onto
  another (Hungarian algorithm on squared differences), for fits and posterior draws whose
  labels are arbitrary.
- :func:`reorder_result`: a whole EM run (parameters, traces, responsibilities) relabelled.

and the check that components stayed distinct (EM's symmetric fixed point).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .driver import EMResult, Params, SymmetricFixedPointWarning

__all__ = [
    "SAME_COMPONENT_ATOL",
    "align",
    "align_draws",
    "component_order",
    "order_components",
    "permute_components",
    "reorder_result",
    "tied_components",
    "warn_if_tied",
]

# Two components closer than this in every parameter are one component: the tolerance
# run_em_multistart uses for "the same local maximum", and the harness's 1e-4.
SAME_COMPONENT_ATOL = 1e-4


def permute_components(params: Params, order: Sequence[int], component_params: Sequence[str]) -> Params:
    """``params`` with the component axis (axis 0) of each of ``component_params`` reordered."""
    order = np.asarray(order)
    return {
        name: (np.asarray(value)[order] if name in component_params else np.asarray(value))
        for name, value in params.items()
    }


def component_order(params: Params, key: str, *, descending: bool = False) -> np.ndarray:
    """The permutation that sorts components by ``params[key]`` (stable): by its value for a
    1-D parameter, by its first coordinate for a (k, d) one (``mu[:, 0]``)."""
    value = np.asarray(params[key])
    order = np.argsort(value.reshape(value.shape[0], -1)[:, 0], kind="stable")
    return order[::-1] if descending else order


def order_components(
    params: Params, component_params: Sequence[str], key: str, *, descending: bool = False
) -> Params:
    """``params`` with components sorted by ``params[key]`` (see :func:`component_order`)."""
    return permute_components(params, component_order(params, key, descending=descending), component_params)


def align(reference: Params, other: Params, component_params: Sequence[str]) -> tuple[Params, np.ndarray]:
    """Relabel ``other``'s components to best match ``reference``.

    Returns the permuted parameters and the permutation ``order`` such that component
    ``j`` of the result is component ``order[j]`` of ``other``. The cost is the summed
    squared difference over all component parameters; the assignment is optimal
    (Hungarian algorithm), so it scales beyond a brute-force search of k! labelings.
    """
    k = np.asarray(reference[component_params[0]]).shape[0]
    cost = np.zeros((k, k))
    for name in component_params:
        ref = np.asarray(reference[name], dtype=float).reshape(k, -1)
        oth = np.asarray(other[name], dtype=float).reshape(k, -1)
        cost += ((ref[:, None, :] - oth[None, :, :]) ** 2).sum(axis=2)
    _, order = linear_sum_assignment(cost)
    return permute_components(other, order, component_params), order


def align_draws(
    reference: Params, draws: Mapping[str, np.ndarray], component_params: Sequence[str]
) -> dict[str, np.ndarray]:
    """Posterior draws, shape (n_draws, k, ...) per component parameter, relabelled as one:
    the permutation :func:`align` finds for their means against ``reference`` (the same
    relabelling the harness applies to a fit's summaries)."""
    if not component_params:
        return dict(draws)
    _, order = align(reference, {name: d.mean(axis=0) for name, d in draws.items()}, component_params)
    return {name: (d[:, order] if name in component_params else d) for name, d in draws.items()}


def reorder_result(result: EMResult, order: np.ndarray | None, component_params: Sequence[str]) -> EMResult:
    """``result`` with its components relabelled by ``order`` (``None``: unchanged):
    parameters, every row of their traces and the responsibilities' columns alike."""
    if order is None or np.array_equal(order, np.arange(len(order))):
        return result
    resp = np.asarray(result.responsibilities)
    return dataclasses.replace(
        result,
        params=permute_components(result.params, order, component_params),
        param_trace={name: (trace[:, order] if name in component_params else trace)
                     for name, trace in result.param_trace.items()},
        responsibilities=resp[:, order] if resp.ndim == 2 and resp.shape[1] == len(order) else resp,
    )


def tied_components(
    params: Params, component_params: Sequence[str], *, atol: float = SAME_COMPONENT_ATOL
) -> tuple[int, int, float] | None:
    """The first pair (i, j) of components whose parameters all differ by less than ``atol``,
    with their largest difference; None when every pair is distinct."""
    if not component_params:
        return None
    arrays = [np.asarray(params[name], dtype=float) for name in component_params]
    k = arrays[0].shape[0] if arrays[0].ndim else 0
    for i in range(k):
        for j in range(i + 1, k):
            gap = max(float(np.max(np.abs(a[i] - a[j]))) for a in arrays)
            if gap < atol:
                return i, j, gap
    return None


def warn_if_tied(
    params: Params,
    component_params: Sequence[str],
    *,
    labels: Sequence[str] | None = None,
    atol: float = SAME_COMPONENT_ATOL,
) -> None:
    """Warn :class:`SymmetricFixedPointWarning` if two components of ``params`` are equal."""
    tie = tied_components(params, component_params, atol=atol)
    if tie is not None:
        i, j, gap = tie
        names = labels if labels is not None else [str(c + 1) for c in range(max(i, j) + 1)]
        warnings.warn(SymmetricFixedPointWarning((names[i], names[j]), gap, atol), stacklevel=3)
