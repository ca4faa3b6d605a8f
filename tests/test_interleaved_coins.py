"""Interleaved coins: the lecture's 20 tosses, exact first EM step, and the ridge."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate

import arviz as az

import emtwin
from emtwin.comparisons import SCENARIOS
from emtwin.em_reference import EMConvergenceWarning, interleaved_coins, run_em
from emtwin.em_reference.interleaved_coins import LECTURE_SEQUENCE, tosses_from_string

TOSSES = tosses_from_string(LECTURE_SEQUENCE)
# At the maximum a toss is H with probability (p1 + p2)/2 = 11/20, so the log-likelihood is
# 11 log(11/20) + 9 log(9/20), wherever on the ridge p1 + p2 = 11/10 the point lies.
BY_HAND_LOGLIK = 11 * math.log(11 / 20) + 9 * math.log(9 / 20)
# A labelling of the lecture's tosses with 12 tosses of c1 (8 heads) and 8 of c2 (3 heads).
LABELS = "11111111112121222222"


@pytest.fixture(scope="module")
def comparison():
    """EM, MAP and (small) NUTS on the lecture's data, compiled once for this module."""
    # 4 × 3000 draws: enough (ESS of (p1+p2)/2 ≈ 6000) for the Monte-Carlo error to
    # resolve the Bayes-vs-MLE gap of 0.013 (0.12 posterior SD); 2 × 500 was not.
    return emtwin.compare("interleaved-coins", methods=["map", "nuts"], seed=0,
                          nuts_options={"draws": 3000, "tune": 500, "chains": 4})


def first_step_by_hand(sequence, p1, p2):
    """The slide's E-step and M-step one toss at a time, in exact fractions: the slow
    oracle for the vectorised code. Returns the four credited counts and (p1, p2)."""
    heads1 = tails1 = heads2 = tails2 = Fraction(0)
    for toss in sequence:
        like1 = p1 if toss == "H" else 1 - p1
        like2 = p2 if toss == "H" else 1 - p2
        c1 = Fraction(1, 2) * like1 / (Fraction(1, 2) * like1 + Fraction(1, 2) * like2)
        if toss == "H":
            heads1, heads2 = heads1 + c1, heads2 + (1 - c1)
        else:
            tails1, tails2 = tails1 + c1, tails2 + (1 - c1)
    return (heads1, tails1, heads2, tails2), (heads1 / (heads1 + tails1), heads2 / (heads2 + tails2))


def em_by_loop(sequence, p1, p2, n_iter):
    """Plain-float EM, one toss at a time: an oracle sharing no code with the twin."""
    for _ in range(n_iter):
        (h1, t1, h2, t2), _ = first_step_by_hand(sequence, p1, p2)
        p1, p2 = h1 / (h1 + t1), h2 / (h2 + t2)
    return p1, p2


# --------------------------------------------------------------------------- data


def test_lecture_sequence_has_11_heads_and_9_tails():
    assert LECTURE_SEQUENCE == "HTTHHTHTHHTHTHTHHTHT"
    assert TOSSES.n_sets == 20
    assert int(TOSSES.heads.sum()) == 11 and int(TOSSES.tails.sum()) == 9
    assert TOSSES.tosses.tolist() == [1] * 20
    assert TOSSES.heads.tolist()[:5] == [1, 0, 0, 1, 1]


def test_lower_case_tosses_are_read_too():
    assert tosses_from_string("hTt").heads.tolist() == [1, 0, 0]


# --------------------------------------------------------------------------- the first EM step


def test_hand_oracle_gives_the_lecture_numbers():
    counts, (p1, p2) = first_step_by_hand(LECTURE_SEQUENCE, Fraction(1, 2), Fraction(1, 4))
    assert counts == (Fraction(22, 3), Fraction(18, 5), Fraction(11, 3), Fraction(27, 5))
    assert (p1, p2) == (Fraction(110, 164), Fraction(55, 136))


def test_first_e_step_credits_heads_two_thirds_and_tails_two_fifths_to_c1():
    resp = interleaved_coins.e_step(TOSSES, {"p": np.array([0.5, 0.25])})
    assert resp.shape == (20, 2)
    expected_c1 = [2 / 3 if toss == "H" else 2 / 5 for toss in LECTURE_SEQUENCE]
    np.testing.assert_allclose(resp[:, 0], expected_c1, rtol=1e-15)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-15)


def test_first_step_fractional_counts_are_exact():
    resp = interleaved_coins.e_step(TOSSES, {"p": np.array([0.5, 0.25])})
    (h1, t1, h2, t2), _ = first_step_by_hand(LECTURE_SEQUENCE, Fraction(1, 2), Fraction(1, 4))
    heads_credited = resp.T @ TOSSES.heads
    tails_credited = resp.T @ TOSSES.tails
    assert heads_credited.tolist() == pytest.approx([float(h1), float(h2)], rel=1e-15)
    assert tails_credited.tolist() == pytest.approx([float(t1), float(t2)], rel=1e-15)
    assert heads_credited.tolist() == pytest.approx([22 / 3, 11 / 3], rel=1e-15)
    assert tails_credited.tolist() == pytest.approx([18 / 5, 27 / 5], rel=1e-15)


def test_first_m_step_is_110_of_164_and_55_of_136():
    with pytest.warns(EMConvergenceWarning):
        result = run_em(TOSSES, {"p": [0.5, 0.25]}, interleaved_coins.e_step, interleaved_coins.m_step,
                        interleaved_coins.log_likelihood, max_iter=1)
    p1, p2 = result.param_trace["p"][1]
    assert Fraction(p1).limit_denominator(1000) == Fraction(110, 164)
    assert Fraction(p2).limit_denominator(1000) == Fraction(55, 136)
    assert p1 == pytest.approx(110 / 164, rel=1e-15)
    assert p2 == pytest.approx(55 / 136, rel=1e-15)


# --------------------------------------------------------------------------- labelled tosses


def test_labelled_mle_is_8_of_12_and_3_of_8():
    labels = list(LABELS)
    assert labels.count("1") == 12 and labels.count("2") == 8
    assert sum(t == "H" for t, lab in zip(LECTURE_SEQUENCE, labels) if lab == "1") == 8
    assert sum(t == "H" for t, lab in zip(LECTURE_SEQUENCE, labels) if lab == "2") == 3
    p = interleaved_coins.labelled_mle(TOSSES, LABELS)["p"]
    assert p.tolist() == [8 / 12, 3 / 8]
    assert Fraction(p[0]).limit_denominator(100) == Fraction(2, 3)
    assert Fraction(p[1]).limit_denominator(100) == Fraction(3, 8)


def test_labels_may_be_ints():
    p = interleaved_coins.labelled_mle(TOSSES, [int(lab) for lab in LABELS])["p"]
    assert p.tolist() == [8 / 12, 3 / 8]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (LABELS[:-1], "labels must give one coin per toss (20); got 19."),
        ("3" + LABELS[1:], "labels must name coin 1 or 2 for every toss; got '3' at position 0."),
        ([1] * 19 + [0], "labels must name coin 1 or 2 for every toss; got 0 at position 19."),
        ("1" * 20, "labels give coin 2 no toss, so its bias p2 has no estimate."),
    ],
)
def test_bad_labels_are_rejected(labels, message):
    with pytest.raises(ValueError) as err:
        interleaved_coins.labelled_mle(TOSSES, labels)
    assert str(err.value) == message


# --------------------------------------------------------------------------- the ridge


def test_log_likelihood_sees_only_the_mean_bias():
    for p1, p2 in [(0.55, 0.55), (0.9, 0.2), (0.7, 0.4), (0.6, 0.5)]:
        value = interleaved_coins.log_likelihood(TOSSES, {"p": np.array([p1, p2])})
        assert value == pytest.approx(BY_HAND_LOGLIK, rel=1e-14), (p1, p2)


def test_em_converges_to_a_point_on_the_ridge():
    result = interleaved_coins.fit(TOSSES)
    assert result.converged
    p1, p2 = result.params["p"]
    assert (p1 + p2) / 2 == pytest.approx(11 / 20, abs=1e-10)
    assert result.log_likelihood == pytest.approx(BY_HAND_LOGLIK, rel=1e-13)
    oracle = em_by_loop(LECTURE_SEQUENCE, 0.5, 0.25, 200)
    assert (p1, p2) == pytest.approx(oracle, abs=1e-9)


def test_every_ridge_point_is_a_fixed_point_of_em():
    # On p1 + p2 = 11/10: c1's credited tosses are 11·p1/1.1 + 9·(1 − p1)/0.9 = 10 and its
    # credited heads 10·p1, so the M-step returns p1 unchanged.
    for p1 in (0.9, 0.8, 0.6):
        p = np.array([p1, 1.1 - p1])
        new = interleaved_coins.m_step(TOSSES, interleaved_coins.e_step(TOSSES, {"p": p}))["p"]
        np.testing.assert_allclose(new, p, atol=1e-15)


def test_log_likelihood_never_decreases():
    for start in [(0.5, 0.25), (0.1, 0.9), (0.51, 0.49), (0.99, 0.01)]:
        trace = interleaved_coins.fit(TOSSES, start).loglik_trace
        assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[1:])), start


def test_several_starts_reach_different_points_of_the_same_ridge():
    result = interleaved_coins.fit(TOSSES, n_starts=6, seed=1)
    assert len(result.local_maxima) > 1
    for maximum in result.local_maxima:
        assert maximum.params["p"].sum() / 2 == pytest.approx(11 / 20, abs=1e-9)
        assert maximum.log_likelihood == pytest.approx(BY_HAND_LOGLIK, rel=1e-12)
    # All tie, so the caller's own start is the one returned.
    np.testing.assert_allclose(result.params["p"], interleaved_coins.fit(TOSSES).params["p"], atol=1e-12)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        ("", "tosses is empty; give at least one toss, e.g. 'HTTH'."),
        ("HTXH", "tosses = 'HTXH' contains 'X'; only H (heads) and T (tails) are allowed."),
        ("HT1", "tosses = 'HT1' contains '1'; only H (heads) and T (tails) are allowed."),
        (["H", "T"], "tosses must be a string of H and T, e.g. 'HTTH'; got ['H', 'T']."),
    ],
)
def test_bad_sequences_are_rejected(sequence, message):
    with pytest.raises(ValueError) as err:
        tosses_from_string(sequence)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ((1.3, 0.25), "p1 must lie in (0, 1); got 1.3."),
        ((0.5, 0.0), "p2 must lie in (0, 1); got 0.0."),
        ((0.5, float("nan")), "p2 must lie in (0, 1); got nan."),
        ((0.5,), "start must hold 2 values (p1, p2); got 1."),
        ((0.5, 0.5), "start = [0.5, 0.5] gives two coins the same start; that is EM's symmetric fixed point "
                     "(both coins stay equal forever). Start them at different values."),
    ],
)
def test_bad_starts_are_rejected(start, message):
    with pytest.raises(ValueError) as err:
        interleaved_coins.fit(TOSSES, start)
    assert str(err.value) == message


@pytest.mark.parametrize("prior", [(0.0, 1.0), (1.0, -1.0)])
def test_bad_prior_is_rejected_before_pymc_runs(prior):
    with pytest.raises(ValueError) as err:
        emtwin.compare("interleaved-coins", methods=["map"], model_options={"prior": prior})
    assert str(err.value) == f"prior must be two positive numbers (a, b) for Beta(a, b); got {prior!r}."


# --------------------------------------------------------------------------- both twins


def test_registered_second_in_lecture_order():
    assert list(SCENARIOS).index("interleaved-coins") == 1
    assert SCENARIOS["interleaved-coins"].components.labels == ("1", "2")


def test_verdict_is_non_identifiable_with_no_failure(comparison):
    assert comparison.verdict == "non-identifiable"
    assert comparison.failures == []
    assert not comparison.identifiable
    assert [r.name for r in comparison.rows] == ["p1", "p2"]


def test_em_and_map_have_equal_log_likelihoods(comparison):
    assert comparison.em.log_likelihood == pytest.approx(BY_HAND_LOGLIK, rel=1e-12)
    assert comparison.map.log_likelihood == pytest.approx(BY_HAND_LOGLIK, rel=1e-10)


def test_em_and_map_agree_on_the_mean_bias(comparison):
    values = comparison.functionals["(p1+p2)/2"]
    assert values["em"] == pytest.approx(11 / 20, abs=1e-10)
    assert values["map"] == pytest.approx(11 / 20, abs=1e-6)
    check = next(c for c in comparison.checks if c.name == "EM vs MAP (p1+p2)/2")
    assert check.passed and check.severity == "error"


def test_em_and_map_land_on_different_points_of_the_ridge(comparison):
    rows = [comparison.row("p1"), comparison.row("p2")]
    em_point = np.array([r.em for r in rows])
    map_point = np.array([r.map for r in rows])
    assert em_point.sum() == pytest.approx(11 / 10, abs=1e-9)
    assert map_point.sum() == pytest.approx(11 / 10, abs=2e-6)
    assert abs(em_point[0] - map_point[0]) > 0.01
    # The parameter check is reported, not failed: on p1, p2 alone the twins neither
    # "agree" nor "disagree".
    check = next(c for c in comparison.checks if c.name == "EM vs MAP parameters")
    assert not check.passed and check.severity == "info"
    assert check.value == pytest.approx(abs(em_point[0] - map_point[0]))


def test_flat_direction_is_p1_minus_p2(comparison):
    curv = comparison.curvature
    assert len(curv.flat_directions) == 1
    direction = curv.flat_directions[0]["p"]
    np.testing.assert_allclose(np.abs(direction), [1 / math.sqrt(2)] * 2, atol=1e-8)
    assert direction[0] == pytest.approx(-direction[1], abs=1e-8)
    assert abs(curv.eigenvalues[0]) < 1e-6 * curv.eigenvalues[1]
    assert curv.eigenvalues[1] > 0
    detail = next(c for c in comparison.checks if c.name == "identifiable").detail
    assert "flat along +0.707·p1 -0.707·p2" in detail


def posterior_of_mean_bias():
    """Posterior mean and SD of m = (p1 + p2)/2 under the twin's flat priors, by 1-D
    quadrature: with p1, p2 uniform, m has the triangular prior 4·min(m, 1 − m), and the
    likelihood is m^11 (1 − m)^9. Ordering p1 > p2 does not change m's distribution."""
    density = lambda m: 4 * min(m, 1 - m) * m**11 * (1 - m) ** 9  # noqa: E731
    z = integrate.quad(density, 0, 1, points=[0.5])[0]
    mean = integrate.quad(lambda m: m * density(m), 0, 1, points=[0.5])[0] / z
    var = integrate.quad(lambda m: (m - mean) ** 2 * density(m), 0, 1, points=[0.5])[0] / z
    return mean, math.sqrt(var)


def test_nuts_mean_bias_matches_quadrature(comparison):
    mean, sd = posterior_of_mean_bias()
    post = comparison.nuts.idata.posterior["p"].values  # (chain, draw, coin)
    m_draws = post.mean(axis=-1)
    # The Monte-Carlo standard error of the NUTS mean, from the functional's own bulk ESS;
    # 4 of them is the tolerance (a 1-in-15 000 miss for a Normal error).
    mcse = sd / math.sqrt(float(az.ess(m_draws)))
    nuts_mean = comparison.functionals["(p1+p2)/2"]["nuts_mean"]
    assert abs(nuts_mean - mean) < 4 * mcse
    # Bayesian vs MLE on the identified quantity, its size: the triangular prior pulls the
    # posterior mean below 11/20 by (11/20 − mean), which the code's gap must reproduce.
    em = comparison.functionals["(p1+p2)/2"]["em"]
    assert (nuts_mean - em) == pytest.approx(mean - 11 / 20, abs=4 * mcse)
    assert 4 * mcse < 0.5 * abs(mean - 11 / 20)  # so a NUTS mean at the MLE would fail


def test_mle_inside_nuts_hdi_check_passes_on_the_ridge(comparison):
    check = next(c for c in comparison.checks if c.name == "MLE inside NUTS 94% HDI")
    assert check.passed
