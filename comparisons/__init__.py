"""The harness that runs both twins, the scenario registry, reports and the command line."""

from .harness import Check, Comparison, Row, align, compare, flatten
from .registry import SCENARIOS, Components, Scenario, get_scenario

__all__ = ["SCENARIOS", "Check", "Comparison", "Components", "Row", "Scenario", "align", "compare", "flatten", "get_scenario"]
