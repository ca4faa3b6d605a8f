"""Coin sets (Do & Batzoglou 2008, Fig. 1): EM against hand-worked values."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from emtwin.em_reference import EMConvergenceWarning, coins, run_em
from emtwin.em_reference.coins import DO_BATZOGLOU_SETS, TossSets

SETS = TossSets.from_strings(DO_BATZOGLOU_SETS)


def one_step_by_hand(heads, n, theta_a, theta_b):
    """The slide's E-step and M-step, one set at a time, in exact fractions: the slow
    oracle for the vectorised code. C(n, h) and the 1/2 prior cancel in every ratio."""
    credit_a_heads = credit_a_tosses = credit_b_heads = credit_b_tosses = Fraction(0)
    for h in heads:
        like_a = theta_a**h * (1 - theta_a) ** (n - h)
        like_b = theta_b**h * (1 - theta_b) ** (n - h)
        w_a = like_a / (like_a + like_b)
        credit_a_heads += w_a * h
        credit_a_tosses += w_a * n
        credit_b_heads += (1 - w_a) * h
        credit_b_tosses += (1 - w_a) * n
    return credit_a_heads / credit_a_tosses, credit_b_heads / credit_b_tosses


def test_counts_read_from_the_figure():
    assert SETS.heads.tolist() == [5, 9, 8, 4, 7]
    assert SETS.tosses.tolist() == [10] * 5


def test_one_iteration_equals_the_exact_hand_computation():
    exact_a, exact_b = one_step_by_hand([5, 9, 8, 4, 7], 10, Fraction(3, 5), Fraction(1, 2))
    result = run_em(SETS, {"theta": [0.6, 0.5]}, coins.e_step, coins.m_step, coins.log_likelihood, max_iter=1, tol=1.0)
    assert result.params["theta"][0] == pytest.approx(float(exact_a), abs=1e-14)
    assert result.params["theta"][1] == pytest.approx(float(exact_b), abs=1e-14)


def test_one_iteration_reproduces_the_published_figure():
    # Fig. 1b: responsibilities 0.45/0.55, 0.80/0.20, 0.73/0.27, 0.35/0.65, 0.65/0.35;
    # coin A credited ≈21.3 H and 8.6 T, coin B ≈11.7 H and 8.4 T; θ_A ≈ 0.71, θ_B ≈ 0.58.
    resp = coins.e_step(SETS, {"theta": np.array([0.6, 0.5])})
    np.testing.assert_allclose(resp[:, 0], [0.45, 0.80, 0.73, 0.35, 0.65], atol=0.005)
    np.testing.assert_allclose(resp.T @ SETS.heads, [21.3, 11.7], atol=0.05)
    np.testing.assert_allclose(resp.T @ SETS.tails, [8.6, 8.4], atol=0.05)
    theta = coins.m_step(SETS, resp)["theta"]
    assert np.round(theta, 2).tolist() == [0.71, 0.58]


def test_ten_iterations_reach_the_published_estimate():
    # Fig. 1b reports θ_A ≈ 0.80, θ_B ≈ 0.52 after 10 iterations.
    with pytest.warns(EMConvergenceWarning):
        result = run_em(SETS, {"theta": [0.6, 0.5]}, coins.e_step, coins.m_step, coins.log_likelihood, max_iter=10)
    assert np.round(result.params["theta"], 2).tolist() == [0.80, 0.52]


def independent_loglik(theta_a, theta_b, heads=(5, 9, 8, 4, 7), n=10):
    """Log-likelihood of the head counts straight from scipy.stats: an oracle separate
    from the EM twin's log-space code."""
    return sum(np.log(0.5 * stats.binom.pmf(h, n, theta_a) + 0.5 * stats.binom.pmf(h, n, theta_b)) for h in heads)


def test_convergence_is_a_stationary_point_of_the_likelihood():
    result = coins.fit(SETS)
    assert result.converged
    a, b = result.params["theta"]
    assert (round(a, 2), round(b, 2)) == (0.80, 0.52)
    eps = 1e-6
    grad_a = (independent_loglik(a + eps, b) - independent_loglik(a - eps, b)) / (2 * eps)
    grad_b = (independent_loglik(a, b + eps) - independent_loglik(a, b - eps)) / (2 * eps)
    assert abs(grad_a) < 1e-6 and abs(grad_b) < 1e-6
    assert result.log_likelihood == pytest.approx(independent_loglik(a, b), rel=1e-12)


def test_log_likelihood_at_the_start_matches_scipy():
    assert coins.log_likelihood(SETS, {"theta": np.array([0.6, 0.5])}) == pytest.approx(
        independent_loglik(0.6, 0.5), rel=1e-12
    )


def test_log_likelihood_never_decreases():
    for start in [(0.6, 0.5), (0.1, 0.9), (0.51, 0.49), (0.99, 0.01)]:
        trace = coins.fit(SETS, start).loglik_trace
        assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[1:])), start


def test_labelled_mle_is_24_of_30_and_9_of_20():
    theta = coins.labelled_mle(SETS, ["B", "A", "A", "B", "A"])["theta"]
    assert theta.tolist() == [24 / 30, 9 / 20]


def test_sets_of_different_sizes_are_supported():
    sets = TossSets.from_strings(["HHT", "HTTTTH", "H"])
    assert sets.tosses.tolist() == [3, 6, 1]
    theta = coins.labelled_mle(sets, ["A", "B", "A"])["theta"]
    assert theta.tolist() == [3 / 4, 2 / 6]


def test_long_sets_do_not_underflow():
    # 0.5**1100 underflows to 0.0 in float64; the E-step works in log space.
    sets = TossSets.from_counts([700, 400, 650], 1100)
    resp = coins.e_step(sets, {"theta": np.array([0.6, 0.5])})
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert resp[0, 0] > 0.999 and resp[1, 1] > 0.999


def test_counts_and_strings_give_the_same_sets():
    by_counts = TossSets.from_counts([5, 9, 8, 4, 7], 10)
    assert by_counts.heads.tolist() == SETS.heads.tolist()
    assert by_counts.tosses.tolist() == SETS.tosses.tolist()


def test_several_starts_find_the_one_maximum():
    result = coins.fit(SETS, n_starts=8, seed=1)
    assert len(result.local_maxima) == 1
    assert result.local_maxima[0].n_starts == 8
    np.testing.assert_allclose(result.local_maxima[0].params["theta"], [0.7968, 0.5196], atol=1e-4)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([], "sets is empty; give at least one set of tosses, e.g. ['HTTH']."),
        (["HTXH"], "sets[0] = 'HTXH' contains 'X'; only H (heads) and T (tails) are allowed."),
        (["HT", ""], "sets[1] is an empty set of tosses; every set needs at least one toss."),
        ("HTTH", "sets must be a list of strings of H and T, one per set; got the single string 'HTTH'. "
                 "Wrap it in a list, e.g. ['HTTH']."),
        ([1010], "sets[0] must be a string of H and T; got 1010."),
    ],
)
def test_bad_sets_are_rejected_with_a_clear_message(sets, message):
    with pytest.raises(ValueError) as err:
        TossSets.from_strings(sets)
    assert str(err.value) == message


def test_heads_above_set_size_are_rejected():
    with pytest.raises(ValueError) as err:
        TossSets.from_counts([5, 11], 10)
    assert str(err.value) == "heads must lie between 0 and the set size; got heads [5, 11] for set sizes [10, 10]."


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ((1.3, 0.5), "theta_A must lie in (0, 1); got 1.3."),
        ((0.6, 0.0), "theta_B must lie in (0, 1); got 0.0."),
        ((0.6, float("nan")), "theta_B must lie in (0, 1); got nan."),
        ((0.6,), "start must hold 2 values (theta_A, theta_B); got 1."),
        ((0.5, 0.5), "start = [0.5, 0.5] gives two coins the same start; that is EM's symmetric fixed point "
                     "(both coins stay equal forever). Start them at different values."),
    ],
)
def test_bad_starts_are_rejected_with_a_clear_message(start, message):
    with pytest.raises(ValueError) as err:
        coins.fit(SETS, start)
    assert str(err.value) == message
