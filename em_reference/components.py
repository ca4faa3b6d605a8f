"""Mixture components are exchangeable: helpers that put them in a canonical order, and the
check that they stayed distinct (EM's symmetric fixed point)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .driver import Params, SymmetricFixedPointWarning

__all__ = ["SAME_COMPONENT_ATOL", "order_components", "permute_components", "tied_components", "warn_if_tied"]

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


def order_components(
    params: Params, component_params: Sequence[str], key: str, *, descending: bool = False
) -> Params:
    """``params`` with components sorted by ``params[key]`` (a 1-D array, one per component)."""
    order = np.argsort(np.asarray(params[key]), kind="stable")
    return permute_components(params, order[::-1] if descending else order, component_params)


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
