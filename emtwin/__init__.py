"""emtwin: every classic EM teaching scenario written twice, hand-coded EM and a PyMC twin.

>>> import emtwin
>>> result = emtwin.compare("coin-sets", methods=["map"])   # doctest: +SKIP
>>> result.verdict                                          # doctest: +SKIP
'agree'
"""

from emtwin.comparisons import SCENARIOS, Comparison, compare

__version__ = "0.1.0"
__all__ = ["SCENARIOS", "Comparison", "__version__", "compare"]
