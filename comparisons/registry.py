"""The scenario registry: name → data, EM twin, PyMC twin, and what to compare.

Adding a scenario means writing its EM step functions (``em_reference/``), its model
builder (``models/``), one module in ``comparisons/scenarios/`` defining ``SCENARIO``,
and one line in the list below (the lecture's order). The harness, ``emtwin list`` and
the command line's help all derive from this table.
"""

from __future__ import annotations

import copyreg
from typing import Any

from .scenario import NO_COMPONENTS, Components, Scenario
from .scenarios import coin_sets
from .scenarios import interleaved_coins, one_coin
from .scenarios import gaussian_means
from .scenarios import gaussian_mixture

__all__ = ["NO_COMPONENTS", "SCENARIOS", "Components", "Scenario", "get_scenario"]

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in [
        one_coin.SCENARIO,
        interleaved_coins.SCENARIO,
        coin_sets.SCENARIO,
        gaussian_means.SCENARIO,
        gaussian_mixture.SCENARIO,
        gaussian_mixture.SCENARIO_2D,
    ]
}


def get_scenario(name: str) -> Scenario:
    """The registered scenario called ``name``; a clear error listing the names otherwise."""
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}; got {name!r}.") from None


def _pickled(scenario: Scenario) -> Any:
    """A registered scenario pickles as its name (its functions include lambdas, which do not
    pickle): a report section computed in a pool worker comes back holding this process's
    own object. Any other scenario pickles field by field, or says why it cannot."""
    if SCENARIOS.get(scenario.name) is scenario:
        return get_scenario, (scenario.name,)
    return object.__reduce_ex__(scenario, 2)


copyreg.pickle(Scenario, _pickled)
