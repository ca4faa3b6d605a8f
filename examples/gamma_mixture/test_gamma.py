"""The user's tests: EM derived from the model, then held to PyMC's MAP.

Run with ``pytest`` from this folder; the ``em_twins`` fixture comes with emtwin.
"""

import numpy as np
from gamma_model import START, build_model, simulate_durations
from gamma_scenario import make_scenario


def test_derived_em_converges(em_twins):
    run = em_twins.derive_em(build_model, simulate_durations(), START)
    assert run.converged
    assert np.all(np.diff(run.loglik_trace) >= -1e-9)  # EM never lowers the likelihood


def test_derived_em_agrees_with_map(em_twins):
    em_twins.assert_agree(make_scenario(), methods=["map"])
