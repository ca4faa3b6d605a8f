"""Mixture components are exchangeable: helpers that put them in a canonical order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .driver import Params

__all__ = ["order_components", "permute_components"]


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
