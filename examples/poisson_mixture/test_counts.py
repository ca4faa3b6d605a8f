"""The user's tests: EM in step form, and the black-box loop, against the PyMC twin.

Run with ``pytest`` from this folder; the ``em_twins`` fixture comes with emtwin.
"""

from counts_em import my_em, simulate_counts
from counts_model import build_model
from counts_scenario import COMPONENTS, make_scenario


def test_em_agrees_with_pymc(em_twins):
    em_twins.assert_agree(make_scenario(), methods=["map"])


def test_my_em_reaches_the_maximum(em_twins):
    em_twins.assert_em_agrees(my_em, simulate_counts(), build_model, components=COMPONENTS)
