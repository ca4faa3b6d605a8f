"""The harness on the headline scenario: both twins, DESIGN.md's checks, label alignment."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import integrate, stats

import emtwin
from emtwin.comparisons import Components, align, flatten, get_scenario
from emtwin.em_reference import coins

BY_HAND_MLE = {"theta_A": 0.7968, "theta_B": 0.5196}  # D&B's 0.80 / 0.52, four places


def test_em_and_map_land_on_the_headline_numbers(coin_sets_comparison):
    c = coin_sets_comparison
    for name, value in BY_HAND_MLE.items():
        assert c.row(name).em == pytest.approx(value, abs=1e-4)
        assert c.row(name).map == pytest.approx(value, abs=1e-4)


def test_map_equals_em_within_1e4_and_log_likelihoods_match(coin_sets_comparison):
    c = coin_sets_comparison
    for row in c.rows:
        assert abs(row.em - row.map) <= 1e-4
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-8)


def test_verdict_is_agree_with_every_error_check_passed(coin_sets_comparison):
    c = coin_sets_comparison
    assert c.verdict == "agree"
    assert c.failures == []
    names = {check.name for check in c.checks}
    assert {"EM vs MAP parameters", "EM vs MAP log-likelihood", "MLE inside NUTS 94% HDI",
            "ADVI vs NUTS means", "same likelihood in both twins"} <= names


def test_the_likelihood_is_strictly_peaked_at_the_mle(coin_sets_comparison):
    assert coin_sets_comparison.identifiable
    assert np.all(coin_sets_comparison.curvature.eigenvalues > 0.1)


def posterior_mean_by_quadrature(a_prior=1.0, b_prior=1.0):
    """Posterior mean of (θ_A, θ_B) under Beta priors restricted to θ_A > θ_B, by 2-D
    quadrature of the likelihood: an oracle that shares no code with either twin."""
    heads, n = np.array([5, 9, 8, 4, 7]), 10

    def density(b, a):
        like = np.prod(0.5 * stats.binom.pmf(heads, n, a) + 0.5 * stats.binom.pmf(heads, n, b))
        return like * stats.beta.pdf(a, a_prior, b_prior) * stats.beta.pdf(b, a_prior, b_prior)

    z = integrate.dblquad(density, 0, 1, 0, lambda a: a)[0]
    mean_a = integrate.dblquad(lambda b, a: a * density(b, a), 0, 1, 0, lambda a: a)[0] / z
    mean_b = integrate.dblquad(lambda b, a: b * density(b, a), 0, 1, 0, lambda a: a)[0] / z
    return mean_a, mean_b


def test_nuts_posterior_mean_matches_quadrature(coin_sets_comparison):
    c = coin_sets_comparison
    mean_a, mean_b = posterior_mean_by_quadrature()
    # 4 chains x 1000 draws: the Monte Carlo error of the mean is about 0.1 posterior SD.
    assert abs(c.row("theta_A").nuts_mean - mean_a) < 0.3 * c.row("theta_A").nuts_sd
    assert abs(c.row("theta_B").nuts_mean - mean_b) < 0.3 * c.row("theta_B").nuts_sd
    assert c.row("theta_A").hdi_low < BY_HAND_MLE["theta_A"] < c.row("theta_A").hdi_high


def test_z_score_is_posterior_mean_minus_mle_in_sds(coin_sets_comparison):
    row = coin_sets_comparison.row("theta_A")
    assert row.z_nuts == pytest.approx((row.nuts_mean - row.em) / row.nuts_sd)
    # The flat prior pulls θ_A's posterior below the MLE: the Bayesian-vs-ML lesson.
    assert row.nuts_mean < row.em


def test_align_undoes_a_label_swap():
    reference = {"theta": np.array([0.8, 0.52])}
    swapped = {"theta": np.array([0.52, 0.8])}
    aligned, order = align(reference, swapped, ["theta"])
    assert order.tolist() == [1, 0]
    assert aligned["theta"].tolist() == [0.8, 0.52]


def test_align_moves_every_component_parameter_together():
    reference = {"mu": np.array([-1.0, 0.0, 5.0]), "sigma": np.array([1.0, 2.0, 3.0]), "shared": np.array(7.0)}
    other = {"mu": np.array([5.1, -0.9, 0.1]), "sigma": np.array([3.0, 1.0, 2.0]), "shared": np.array(7.0)}
    aligned, order = align(reference, other, ["mu", "sigma"])
    assert order.tolist() == [1, 2, 0]
    assert aligned["mu"].tolist() == [-0.9, 0.1, 5.1]
    assert aligned["sigma"].tolist() == [1.0, 2.0, 3.0]
    assert float(aligned["shared"]) == 7.0


def test_flatten_names_rows_as_the_lecture_does():
    comp_letters = Components(params=("theta",), labels=("A", "B"), order_by="theta")
    assert flatten({"theta": np.array([0.8, 0.5])}, comp_letters) == {"theta_A": 0.8, "theta_B": 0.5}
    comp_numbers = Components(params=("p", "mu"), labels=("1", "2"), order_by="p")
    flat = flatten({"p": np.array([0.6, 0.4]), "mu": np.array([[1.0, 2.0], [3.0, 4.0]])}, comp_numbers)
    assert flat == {"p1": 0.6, "p2": 0.4, "mu1[0]": 1.0, "mu1[1]": 2.0, "mu2[0]": 3.0, "mu2[1]": 4.0}


def test_em_start_given_in_the_other_order_still_agrees():
    # EM from (0.5, 0.6) ends with coin A as the low coin; the harness relabels the whole
    # run (answer and trace) into the twin's order, theta_A > theta_B.
    c = emtwin.compare("coin-sets", start={"theta": [0.5, 0.6]}, methods=["map"])
    assert c.em.params["theta"][0] > c.em.params["theta"][1]
    assert c.em.param_trace["theta"][0].tolist() == [0.6, 0.5]
    assert c.verdict == "agree"
    assert c.row("theta_A").em == pytest.approx(0.7968, abs=1e-4)


def test_an_em_stopped_early_is_reported_as_disagreeing():
    scenario = get_scenario("coin-sets")
    early = dataclasses.replace(
        scenario, fit_em=lambda data, start, **kw: coins.fit(data, start["theta"], max_iter=3)
    )
    with pytest.warns(emtwin.em_reference.EMConvergenceWarning):
        c = emtwin.compare(early, methods=["map"])
    assert c.verdict == "disagree"
    failed = {check.name for check in c.failures}
    assert {"EM converged", "EM vs MAP parameters"} <= failed
    gap = next(check for check in c.failures if check.name == "EM vs MAP parameters")
    assert gap.value > 1e-2


def test_a_stronger_prior_shrinks_the_posterior_towards_one_half():
    c = emtwin.compare("coin-sets", methods=["nuts"], model_options={"prior": (20.0, 20.0)},
                       nuts_options={"draws": 500, "tune": 500, "chains": 2})
    assert c.row("theta_A").nuts_mean < 0.65
    assert c.row("theta_A").em == pytest.approx(0.7968, abs=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ["map", "mcmc"]}, "methods must be drawn from map, advi, nuts; got 'mcmc'."),
        ({"seed": -1}, "seed must be a whole number in [0, 4294967295]; got -1."),
        ({"start": {"theta": [0.6, 1.2]}}, "theta_B must lie in (0, 1); got 1.2."),
        ({"model_options": {"prior": (0.0, 1.0)}}, "prior must be two positive numbers (a, b) for Beta(a, b); got (0.0, 1.0)."),
    ],
)
def test_bad_arguments_are_rejected_before_pymc_runs(kwargs, message):
    with pytest.raises(ValueError) as err:
        emtwin.compare("coin-sets", **kwargs)
    assert str(err.value) == message


def test_unknown_scenario_names_the_choices():
    with pytest.raises(ValueError) as err:
        emtwin.compare("three-coins")
    assert str(err.value).startswith("scenario must be one of one-coin, interleaved-coins, coin-sets")
    assert str(err.value).endswith("got 'three-coins'.")


def test_same_seed_same_numbers():
    first = emtwin.compare("coin-sets", methods=["advi"], seed=7, advi_options={"n": 2000, "draws": 500})
    second = emtwin.compare("coin-sets", methods=["advi"], seed=7, advi_options={"n": 2000, "draws": 500})
    assert first.row("theta_A").advi_mean == second.row("theta_A").advi_mean
    assert first.row("theta_B").advi_sd == second.row("theta_B").advi_sd
