"""emtwin: every classic EM teaching scenario written twice, hand-coded EM and a PyMC twin.

>>> import emtwin
>>> result = emtwin.compare("coin-sets", methods=["map"])   # doctest: +SKIP
>>> result.verdict                                          # doctest: +SKIP
'agree'

Your own EM, two ways in:

* step form: ``emtwin.custom_scenario(name, data=..., start=..., e_step=..., m_step=...,
  log_likelihood=..., build_model=..., components=emtwin.Components(...))``, then
  ``emtwin.compare(scenario)``;
* black box: ``emtwin.check_em(my_em, data, build_model, components=...)``.

``emtwin.testing.assert_twins_agree(result)`` raises with the table when they disagree; in
pytest the ``em_twins`` fixture does the same with models compiled once per session.
"""

from emtwin import testing
from emtwin.comparisons import SCENARIOS, Comparison, Components, ComponentSweep, Scenario, Simulator
from emtwin.comparisons.blackbox import BlackBoxComparison, check_em
from emtwin.comparisons.custom import compare, custom_scenario, load_scenario

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
    "compare",
    "custom_scenario",
    "load_scenario",
    "testing",
]
