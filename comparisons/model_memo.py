"""One PyMC model per (builder, data, options) in a process, so its compiled functions are reused.

emtwin compiles each function of a model once and keeps it for the model's life
(``functools.cache`` on the model in models/fitting.py, models/labels.py,
models/derived.py: the MAP objective, the log-likelihood and its gradient for the
curvature, the posterior log-density ADVI and NUTS share, the transforms, the label
posterior, the derived EM's Q). A new model object is compiled afresh, so a second
``compare`` of the same scenario in one process (a notebook, a test session, the report
after its table) used to pay every compile again.
This memo hands back the model built before for the same builder, data and options.

``pm.sample`` is handed that posterior log-density (``fitting._nuts_uses_the_compiled_posterior``)
but still compiles its trace and initial-point functions on every call (PyMC builds them
inside the call), about 0.6 s with a warm disk cache.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

import joblib

__all__ = ["MAX_MODELS", "shared_model"]

MAX_MODELS = 16  # models kept (least recently used dropped): each holds its compiled functions

_MODELS: collections.OrderedDict[tuple[Any, str, str], Any] = collections.OrderedDict()


def shared_model(build_model: Callable[..., Any], data: Any, options: Mapping[str, Any] | None = None) -> Any:
    """``build_model(data, **options)``, or the model it returned before for equal data
    and options (compared by content: :func:`joblib.hash`; data that cannot be hashed get a
    new model every time)."""
    options = dict(options or {})
    try:
        key = (build_model, joblib.hash(data), joblib.hash(sorted(options.items())))
    except Exception:  # data or options that do not pickle: no memo, a model of their own
        return build_model(data, **options)
    if key in _MODELS:
        _MODELS.move_to_end(key)
        return _MODELS[key]
    model = build_model(data, **options)
    _MODELS[key] = model
    while len(_MODELS) > MAX_MODELS:
        _MODELS.popitem(last=False)
    return model
