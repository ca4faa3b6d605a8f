"""The harness that runs both twins, the scenario registry, reports and the command line.

The report (``emtwin report``) is the :mod:`.report` package; its drawing modules are imported
on use: they need matplotlib and Bokeh, which comparing does not.
"""

from emtwin.em_reference.components import align

from .custom import compare
from .results import Comparison, Row, flatten
from .scenario import Check
from .registry import SCENARIOS, Components, Scenario, get_scenario
from .scenario import ComponentSweep, Simulator

__all__ = [
    "SCENARIOS",
    "Check",
    "Comparison",
    "ComponentSweep",
    "Components",
    "Row",
    "Scenario",
    "Simulator",
    "align",
    "compare",
    "flatten",
    "get_scenario",
]
