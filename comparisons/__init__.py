"""The harness that runs both twins, the scenario registry, reports and the command line.

The public names load on first use (PEP 562), so that ``emtwin compare`` answering from the
result cache (:mod:`.result_cache`) imports neither PyMC, PyTensor nor ArviZ: importing any
module of this package runs this file first. The report (``emtwin report``) is the
:mod:`.report` package; its drawing modules are imported on use: they need matplotlib and
Bokeh, which comparing does not.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_EXPORTS = {
    "SCENARIOS": "emtwin.comparisons.registry",
    "Check": "emtwin.comparisons.scenario",
    "Comparison": "emtwin.comparisons.results",
    "ComponentSweep": "emtwin.comparisons.scenario",
    "Components": "emtwin.comparisons.scenario",
    "Row": "emtwin.comparisons.results",
    "Scenario": "emtwin.comparisons.scenario",
    "Simulator": "emtwin.comparisons.scenario",
    "align": "emtwin.em_reference.components",
    "compare": "emtwin.comparisons.custom",
    "flatten": "emtwin.comparisons.scenario",
    "get_scenario": "emtwin.comparisons.registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'emtwin.comparisons' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted(_EXPORTS)
