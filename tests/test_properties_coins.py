"""Properties of the coin-mixture EM over generated data sets (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emtwin.em_reference import coins

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
# Slow EM on flat likelihoods may stop at the 200-iteration cap; the properties hold at
# every iteration, so the cap's warning is expected here.
# Data sets whose sets all share one head rate (one set, say) send both coins to that rate:
# EM's symmetric fixed point, warned about and tested in test_hard_cases.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore::emtwin.em_reference.EMConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::emtwin.em_reference.SymmetricFixedPointWarning"),
]


@st.composite
def toss_sets(draw):
    n_sets = draw(st.integers(1, 8))
    sizes = draw(st.lists(st.integers(1, 40), min_size=n_sets, max_size=n_sets))
    heads = [draw(st.integers(0, n)) for n in sizes]
    return coins.TossSets.from_counts(heads, sizes)


biases = st.floats(0.02, 0.98, allow_nan=False)


@st.composite
def distinct_starts(draw):
    a = draw(biases)
    b = draw(biases.filter(lambda x: abs(x - a) > 1e-3))
    return np.array([a, b])


@PROPERTY_SETTINGS
@given(sets=toss_sets(), start=distinct_starts())
def test_log_likelihood_never_decreases(sets, start):
    trace = coins.fit(sets, start, max_iter=200, tol=1e-8).loglik_trace
    steps = np.diff(trace)
    assert np.all(steps >= -1e-9 * np.maximum(1.0, np.abs(trace[1:]))), steps.min()


@PROPERTY_SETTINGS
@given(sets=toss_sets(), start=distinct_starts())
def test_relabelling_the_coins_permutes_the_result_and_nothing_else(sets, start):
    forward = coins.fit(sets, start, max_iter=200, tol=1e-8)
    swapped = coins.fit(sets, start[::-1], max_iter=200, tol=1e-8)
    np.testing.assert_allclose(swapped.params["theta"], forward.params["theta"][::-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(swapped.responsibilities, forward.responsibilities[:, ::-1], atol=1e-12)
    assert swapped.n_iter == forward.n_iter
    np.testing.assert_allclose(swapped.loglik_trace, forward.loglik_trace, rtol=1e-12)


@PROPERTY_SETTINGS
@given(sets=toss_sets(), theta=distinct_starts())
def test_responsibilities_are_probabilities(sets, theta):
    resp = coins.e_step(sets, {"theta": theta})
    assert resp.shape == (sets.n_sets, 2)
    assert np.all((resp >= 0) & (resp <= 1))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)


@PROPERTY_SETTINGS
@given(sets=toss_sets(), start=distinct_starts())
def test_m_step_estimates_stay_inside_the_observed_head_rates(sets, start):
    # Each θ_c is a weighted average of the sets' head rates h_i/n_i (weights r_ic n_i),
    # so it cannot leave their range.
    theta = coins.fit(sets, start, max_iter=50, tol=1e-8).params["theta"]
    rates = sets.heads / sets.tosses
    assert np.all(theta >= rates.min() - 1e-12) and np.all(theta <= rates.max() + 1e-12)


# Same seed, same bits: tests/test_reproducibility.py (every scenario, coin sets included).
