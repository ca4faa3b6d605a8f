"""emtwin: every classic EM teaching scenario written twice, hand-coded EM and a PyMC twin.

>>> import emtwin
>>> result = emtwin.compare("coin-sets", methods=["map"])   # doctest: +SKIP
>>> result.verdict                                          # doctest: +SKIP
'agree'

Your own EM, two ways in:

* step form: ``emtwin.custom_scenario(name, data=..., start=..., e_step=..., m_step=...,
  log_likelihood=..., build_model=..., components=emtwin.Components(...))``, then
  ``emtwin.compare(scenario)``;
* black box: ``emtwin.check_em(my_em, data, build_model, components=...)``;
* step by step: ``emtwin.check_steps(e_step, m_step, data, build_model, start)`` holds every
  E-step and M-step to the PyMC model's label posterior and Q maximiser.

From a PyMC model alone: ``emtwin.derive_em(build_model, data, start)`` is the EM the
model implies (its E-step the label posterior, its M-step the maximiser of Q).

In Jupyter, ``emtwin.show_steps(result)`` shows the step-through page inline.

``emtwin.testing.assert_twins_agree(result)`` raises with the table when they disagree; in
pytest the ``em_twins`` fixture does the same with models compiled once per session.
"""

from __future__ import annotations

import importlib
from typing import Any

# The public names load on first use (PEP 562): `import emtwin.em_reference` runs this file
# first, and the EM twin alone must not pay for importing PyMC (~2 s, ~450 MB).
_EXPORTS = {
    "SCENARIOS": "emtwin.comparisons",
    "Comparison": "emtwin.comparisons",
    "Components": "emtwin.comparisons",
    "ComponentSweep": "emtwin.comparisons",
    "Scenario": "emtwin.comparisons",
    "Simulator": "emtwin.comparisons",
    "BlackBoxComparison": "emtwin.comparisons.blackbox",
    "check_em": "emtwin.comparisons.blackbox",
    "check_steps": "emtwin.models.steps",
    "compare": "emtwin.comparisons.custom",
    "derive_em": "emtwin.models.derived",
    "custom_scenario": "emtwin.comparisons.custom",
    "load_scenario": "emtwin.comparisons.custom",
    "show_steps": "emtwin.comparisons.notebook",
}


def __getattr__(name: str) -> Any:
    if name == "testing":
        return importlib.import_module("emtwin.testing")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'emtwin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"
__all__ = [
    "SCENARIOS",
    "BlackBoxComparison",
    "Comparison",
    "ComponentSweep",
    "Components",
    "Scenario",
    "Simulator",
    "__version__",
    "check_em",
    "check_steps",
    "compare",
    "derive_em",
    "custom_scenario",
    "load_scenario",
    "show_steps",
    "testing",
]
