"""One coin, N tosses: MLE h/N, the Beta posterior in closed form, and both twins on it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

import emtwin
from emtwin.comparisons import SCENARIOS
from emtwin.comparisons.scenarios import one_coin as scenario_one_coin
from emtwin.em_reference import one_coin
from emtwin.em_reference.one_coin import BetaPosterior, Tosses
from emtwin.models import one_coin as pm_one_coin

DATA = Tosses.from_string(one_coin.DEFAULT_SEQUENCE)
# Beta(1, 1) prior, 7 heads in 10 tosses -> Beta(8, 4), worked by hand:
# mean 8/12, variance 8·4/(12²·13) = 32/1872, mode 7/10.
EXACT_MEAN = 8 / 12
EXACT_SD = math.sqrt(32 / 1872)
NUTS_OPTIONS = {"draws": 1000, "tune": 1000, "chains": 2}  # bulk ESS ≈ 600: MC error ≈ 0.04 SD


@pytest.fixture(scope="module")
def comparison():
    """The default comparison, every method, small NUTS: compiled once for this module."""
    return emtwin.compare("one-coin", seed=0, nuts_options=NUTS_OPTIONS)


# --------------------------------------------------------------------------- data


def test_default_data_is_seven_heads_in_ten():
    assert one_coin.DEFAULT_SEQUENCE == "HHTHHHTHTH"
    assert (DATA.heads, DATA.tosses, DATA.tails) == (7, 10, 3)


def test_strings_and_counts_give_the_same_tosses():
    assert Tosses.from_string("hhTh") == Tosses.from_counts(3, 4) == Tosses(3, 4)
    assert Tosses.from_counts(3.0, np.int64(4)) == Tosses(3, 4)


# --------------------------------------------------------------------------- the EM twin


def test_em_gives_h_over_n_in_two_steps():
    result = one_coin.fit(DATA, 0.5)
    assert result.converged
    assert result.params["p"] == 7 / 10
    # Step 1 jumps to h/N, step 2 confirms nothing moves.
    assert result.n_iter == 2
    assert result.param_trace["p"].tolist() == [0.5, 0.7, 0.7]
    assert result.responsibilities.tolist() == [[1.0]]


def test_em_started_at_the_mle_stops_after_one_step():
    result = one_coin.fit(DATA, 0.7)
    assert result.n_iter == 1
    assert result.params["p"] == 0.7


def test_every_start_reaches_the_one_maximum():
    result = one_coin.fit(DATA, 0.5, n_starts=5, seed=3)
    assert len(result.local_maxima) == 1
    assert result.local_maxima[0].n_starts == 5
    assert result.params["p"] == 0.7


def test_log_likelihood_is_the_binomial_log_pmf():
    # log C(10, 7) + 7 log 0.7 + 3 log 0.3, C(10, 7) = 120.
    by_hand = math.log(120) + 7 * math.log(0.7) + 3 * math.log(0.3)
    value = one_coin.log_likelihood(DATA, {"p": np.array(0.7)})
    assert value == pytest.approx(by_hand, rel=1e-13)
    assert value == pytest.approx(stats.binom.logpmf(7, 10, 0.7), rel=1e-13)
    assert one_coin.fit(DATA).log_likelihood == pytest.approx(by_hand, rel=1e-13)


def test_the_mle_is_the_maximum():
    at_mle = one_coin.log_likelihood(DATA, {"p": np.array(0.7)})
    for p in (0.69, 0.71, 0.5, 0.9):
        assert one_coin.log_likelihood(DATA, {"p": np.array(p)}) < at_mle
    assert one_coin.mle(DATA) == 0.7


def test_no_heads_gives_the_boundary_mle_with_a_finite_log_likelihood():
    result = one_coin.fit(Tosses.from_string("TTTT"))
    assert result.params["p"] == 0.0
    # Pr(4 tails | p = 0) = 1: log-likelihood exactly 0, not NaN from 0·log 0.
    assert result.log_likelihood == 0.0


# --------------------------------------------------------------------------- closed-form posterior


def test_flat_prior_posterior_is_beta_8_4():
    post = one_coin.posterior(DATA)
    assert (post.a, post.b) == (8.0, 4.0)
    assert post.mean == pytest.approx(EXACT_MEAN, rel=1e-15)
    assert post.sd == pytest.approx(EXACT_SD, rel=1e-15)
    # Beta(1, 1): MAP = (a+h−1)/(a+b+N−2) = 7/10 = MLE.
    assert post.mode == pytest.approx(0.7, rel=1e-15)


def test_beta_2_2_prior_moves_map_off_the_mle():
    post = one_coin.posterior(DATA, (2, 2))
    assert (post.a, post.b) == (9.0, 5.0)
    assert post.mean == pytest.approx(9 / 14, rel=1e-15)
    assert post.mode == pytest.approx(8 / 12, rel=1e-15)


@pytest.mark.parametrize(
    ("a", "b", "mode"),
    [(0.5, 3.0, 0.0), (3.0, 0.5, 1.0), (1.0, 4.0, 0.0), (4.0, 1.0, 1.0), (3.0, 2.0, 2 / 3)],
)
def test_posterior_mode_at_and_inside_the_boundary(a, b, mode):
    assert BetaPosterior(a, b).mode == pytest.approx(mode, rel=1e-15)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (0.5, 0.5)])
def test_posterior_without_a_single_mode_says_nan(a, b):
    assert math.isnan(BetaPosterior(a, b).mode)


def test_bayes_vs_mle_table_by_hand():
    rows = one_coin.bayes_vs_mle(0.7, (1, 1), [10, 100, 1000])
    assert [(r.n, r.heads) for r in rows] == [(10, 7), (100, 70), (1000, 700)]
    assert [r.mle for r in rows] == [0.7, 0.7, 0.7]
    # Posterior mean (1 + h)/(2 + N); minus 0.7 = (1 − 0.7·2)/(N + 2) = −0.4/(N + 2).
    by_hand_means = [8 / 12, 71 / 102, 701 / 1002]
    by_hand_sds = [math.sqrt(8 * 4 / (12**2 * 13)), math.sqrt(71 * 31 / (102**2 * 103)),
                   math.sqrt(701 * 301 / (1002**2 * 1003))]
    by_hand_differences = [-1 / 30, -1 / 255, -1 / 2505]
    for row, mean, sd, diff in zip(rows, by_hand_means, by_hand_sds, by_hand_differences):
        assert row.posterior_mean == pytest.approx(mean, rel=1e-14)
        assert row.posterior_sd == pytest.approx(sd, rel=1e-14)
        assert row.difference == pytest.approx(diff, rel=1e-9)
        assert row.difference_in_sd == pytest.approx(diff / sd, rel=1e-9)


def test_a_strong_prior_pulls_hard_at_small_n_and_not_at_large_n():
    rows = one_coin.bayes_vs_mle(0.9, (10, 10), [10, 10_000])
    # N = 10: h = 9, posterior Beta(19, 11), mean 19/30, MLE 27/30: 8/30 apart.
    assert rows[0].posterior_mean == pytest.approx(19 / 30, rel=1e-15)
    assert rows[0].difference == pytest.approx(-8 / 30, rel=1e-12)
    # N = 10 000: h = 9000, mean 9010/10020; (10 − 0.9·20)/10020 = −8/10020.
    assert rows[1].difference == pytest.approx(-8 / 10_020, rel=1e-9)


def test_difference_shrinks_as_n_grows():
    rows = one_coin.bayes_vs_mle(0.7, (2, 5), [10, 100, 1000, 10_000])
    # (a − p̂(a + b))/(a + b + N) = (2 − 0.7·7)/(7 + N) = −2.9/(7 + N): like 1/N.
    assert [r.difference for r in rows] == pytest.approx([-2.9 / 17, -2.9 / 107, -2.9 / 1007, -2.9 / 10_007], rel=1e-9)
    # In posterior SDs it shrinks too (like 1/√N): the prior stops mattering.
    in_sd = [abs(r.difference_in_sd) for r in rows]
    assert in_sd == sorted(in_sd, reverse=True)
    assert in_sd[-1] < 0.05 * in_sd[0]


def test_a_symmetric_prior_at_p_one_half_does_not_move_the_mean():
    for row in one_coin.bayes_vs_mle(0.5, (3, 3), [10, 100]):
        assert row.mle == 0.5 and row.posterior_mean == 0.5 and row.difference == 0.0


def test_simulated_tosses_are_one_sequence_growing():
    first = one_coin.bayes_vs_mle(0.7, (1, 1), [10, 100, 1000], rng=np.random.default_rng(5))
    again = one_coin.bayes_vs_mle(0.7, (1, 1), [10, 100, 1000], rng=np.random.default_rng(5))
    assert first == again
    heads = [r.heads for r in first]
    # Row N uses the first N tosses of one sequence: counts never fall, and never grow
    # by more than the tosses added.
    assert heads[0] <= heads[1] <= heads[0] + 90 and heads[1] <= heads[2] <= heads[1] + 900
    for r in first:
        assert r.posterior_mean == pytest.approx((1 + r.heads) / (2 + r.n), rel=1e-15)
        # |mean − MLE| = |1 − 2 MLE|/(N + 2) ≤ 1/(N + 2) for a flat prior.
        assert abs(r.difference) <= 1 / (r.n + 2) + 1e-15


def test_table_text_has_one_line_per_n():
    text = one_coin.format_bayes_vs_mle(one_coin.bayes_vs_mle(0.7, (1, 1), [10, 100]))
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["10", "7", "0.7000", "0.6667", "0.1307", "-3.33e-02", "-0.255"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        ("", "tosses is empty; give at least one toss, e.g. 'HHTH'."),
        ("HTXH", "tosses = 'HTXH' contains 'X'; only H (heads) and T (tails) are allowed."),
        ("H T", "tosses = 'H T' contains ' '; only H (heads) and T (tails) are allowed."),
        (["H", "T"], "tosses must be a string of H and T, e.g. 'HHTH'; got ['H', 'T']."),
    ],
)
def test_bad_sequences_are_rejected(sequence, message):
    with pytest.raises(ValueError) as err:
        Tosses.from_string(sequence)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("heads", "tosses", "message"),
    [
        (float("nan"), 10, "heads must be a whole number in [0, 10]; got nan."),
        (2.5, 10, "heads must be a whole number in [0, 10]; got 2.5."),
        (11, 10, "heads must be a whole number in [0, 10]; got 11."),
        (-1, 10, "heads must be a whole number in [0, 10]; got -1."),
        (0, 0, "tosses must be a whole number >= 1; got 0."),
        (3, "ten", "tosses must be a whole number >= 1; got 'ten'."),
    ],
)
def test_bad_counts_are_rejected(heads, tosses, message):
    with pytest.raises(ValueError) as err:
        Tosses.from_counts(heads, tosses)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (1.3, "p must lie in (0, 1); got 1.3."),
        (0.0, "p must lie in (0, 1); got 0.0."),
        (float("nan"), "p must lie in (0, 1); got nan."),
        ([0.5, 0.6], "p must be one number in (0, 1); got 2 values [0.5, 0.6]."),
    ],
)
def test_bad_starts_are_rejected(start, message):
    with pytest.raises(ValueError) as err:
        one_coin.fit(DATA, start)
    assert str(err.value) == message


@pytest.mark.parametrize("prior", [(0, 1), (1.0, -2.0), (1.0,), (1.0, float("nan")), "ab"])
def test_bad_priors_are_rejected_by_both_twins(prior):
    message = f"prior must be two positive numbers (a, b) for Beta(a, b); got {prior!r}."
    with pytest.raises(ValueError) as err:
        one_coin.posterior(DATA, prior)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        pm_one_coin.build_model(7, 10, prior=prior)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_true": 1.3}, "p_true must lie in [0, 1]; got 1.3."),
        ({"p_true": float("nan")}, "p_true must lie in [0, 1]; got nan."),
        ({"p_true": 0.7, "sizes": []}, "sizes is empty; give at least one number of tosses, e.g. [10, 100, 1000]."),
        ({"p_true": 0.7, "sizes": [10, 0]}, "sizes must be whole numbers >= 1; got [10, 0]."),
        ({"p_true": 0.7, "sizes": [10, 2.5]}, "sizes must be whole numbers >= 1; got [10, 2.5]."),
        ({"p_true": 0.7, "prior": (0, 0)}, "prior must be two positive numbers (a, b) for Beta(a, b); got (0, 0)."),
    ],
)
def test_bad_table_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as err:
        one_coin.bayes_vs_mle(**kwargs)
    assert str(err.value) == message


def test_bad_prior_is_rejected_by_compare_before_pymc_runs():
    with pytest.raises(ValueError) as err:
        emtwin.compare("one-coin", methods=["map"], model_options={"prior": (0.0, 1.0)})
    assert str(err.value) == "prior must be two positive numbers (a, b) for Beta(a, b); got (0.0, 1.0)."


# --------------------------------------------------------------------------- both twins


def test_registered_first_in_lecture_order():
    assert list(SCENARIOS)[:3] == ["one-coin", "interleaved-coins", "coin-sets"]
    assert SCENARIOS["one-coin"].components.params == ()


def test_twins_agree_on_the_mle(comparison):
    c = comparison
    assert c.verdict == "agree"
    assert c.failures == []
    assert c.identifiable
    assert [r.name for r in c.rows] == ["p"]
    assert c.row("p").em == 0.7
    assert c.row("p").map == pytest.approx(0.7, abs=5e-10)  # measured 5.5e-11
    by_hand = math.log(120) + 7 * math.log(0.7) + 3 * math.log(0.3)
    assert c.em.log_likelihood == pytest.approx(by_hand, rel=1e-13)
    assert c.map.log_likelihood == pytest.approx(by_hand, rel=1e-8)


def test_curvature_is_the_binomial_information_in_logodds(comparison):
    # d²/du² of h·u − N·log(1 + eᵘ) is −N p(1 − p) = −10·0.7·0.3 = −2.1 at p = 0.7.
    assert comparison.curvature.eigenvalues.tolist() == pytest.approx([2.1], rel=1e-8)


def test_nuts_matches_the_closed_form_within_monte_carlo_error(comparison):
    row = comparison.row("p")
    ess = comparison.nuts.diagnostics["min_ess_bulk"]
    assert abs(row.nuts_mean - EXACT_MEAN) < 4 * EXACT_SD / math.sqrt(ess)
    assert abs(row.nuts_sd / EXACT_SD - 1) < 4 / math.sqrt(2 * ess)
    # Bayesian vs MLE: the posterior mean sits below 0.7, (2/3 − 0.7)/0.1307 ≈ −0.255 SD.
    assert row.nuts_mean < row.em
    assert row.hdi_low < 0.7 < row.hdi_high


def test_advi_is_near_the_closed_form(comparison):
    row = comparison.row("p")
    assert abs(row.advi_mean - EXACT_MEAN) < 0.25 * EXACT_SD
    assert abs(row.advi_sd / EXACT_SD - 1) < 0.25


def test_closed_form_checks_ran_and_passed(comparison):
    checks = {c.name: c for c in comparison.checks}
    names = ["MAP = closed-form posterior mode", "NUTS mean = closed-form posterior mean",
             "NUTS SD = closed-form posterior SD", "ADVI mean = closed-form posterior mean",
             "ADVI SD = closed-form posterior SD"]
    for name in names:
        assert checks[name].passed, checks[name].detail
    assert checks["NUTS mean = closed-form posterior mean"].severity == "error"
    assert checks["ADVI mean = closed-form posterior mean"].severity == "warning"
    assert "Beta(1+7, 1+3) = Beta(8, 4)" in checks["MAP = closed-form posterior mode"].detail
    assert "= 0.6667" in checks["NUTS mean = closed-form posterior mean"].detail


def test_closed_form_checks_fail_on_a_wrong_posterior(comparison):
    # NUTS answering 0.75 ± 0.05 (0.64 posterior SD too high, far too narrow) must fail
    # both NUTS checks. (The MLE 0.7 itself is only 0.255 SD from the exact mean: with a
    # bulk ESS of a few hundred that is within 4 Monte-Carlo SEs, so it would pass.)
    wrong = dataclasses.replace(comparison.nuts, mean={"p": np.array(0.75)}, sd={"p": np.array(0.05)})
    checks = {c.name: c for c in scenario_one_coin.closed_form_checks(dataclasses.replace(comparison, fits={**comparison.fits, "nuts": wrong}))}
    assert not checks["NUTS mean = closed-form posterior mean"].passed
    assert checks["NUTS mean = closed-form posterior mean"].value == pytest.approx((0.75 - EXACT_MEAN) / EXACT_SD)
    assert not checks["NUTS SD = closed-form posterior SD"].passed
    assert checks["NUTS SD = closed-form posterior SD"].value == pytest.approx(1 - 0.05 / EXACT_SD)
    # ADVI answering 0.75 is a warning, not an error: ADVI is an approximation.
    wrong_advi = dataclasses.replace(comparison.advi, mean={"p": np.array(0.75)})
    checks = {c.name: c for c in scenario_one_coin.closed_form_checks(dataclasses.replace(comparison, fits={**comparison.fits, "advi": wrong_advi}))}
    advi_check = checks["ADVI mean = closed-form posterior mean"]
    assert not advi_check.passed and advi_check.severity == "warning"


def test_closed_form_reads_the_data_pymc_saw():
    # 3 heads in 4 tosses, Beta(2, 2) prior -> Beta(5, 3), mode 4/6: MAP is not the MLE 3/4.
    c = emtwin.compare("one-coin", data=Tosses.from_counts(3, 4), methods=["map"],
                       model_options={"prior": (2.0, 2.0)})
    check = next(ch for ch in c.checks if ch.name == "MAP = closed-form posterior mode")
    assert check.passed
    assert "Beta(2+3, 2+1) = Beta(5, 3)" in check.detail
    assert c.map.params["p"] == pytest.approx(4 / 6, abs=5e-10)
    assert c.row("p").em == 3 / 4
