"""One module per scenario, each defining ``SCENARIO``: the registry entry.

The modules import the PyMC twins (``emtwin.models``) inside the functions that build or
use a model, never at the top: the registry, and so ``emtwin list``, the command line's
parsing and a result-cache hit, load without PyMC, PyTensor or ArviZ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["mixture_label_probabilities"]


def mixture_label_probabilities(model: Any) -> Callable[[Mapping[str, Any]], np.ndarray]:
    """:func:`emtwin.models.labels.mixture_label_probabilities` for ``model``, imported on
    the first call (module docstring): the ``label_probabilities`` hook of every mixture."""
    from emtwin.models.labels import mixture_label_probabilities as compile_label_posterior

    return compile_label_posterior(model)
