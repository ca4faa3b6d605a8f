"""The harness on the headline scenario: both twins, DESIGN.md's checks, label alignment."""

from __future__ import annotations

import dataclasses
import functools

import arviz as az
import numpy as np
import pytest
from scipy import integrate, optimize, stats
from scipy.special import expit, logit

import emtwin
from emtwin.comparisons import Components, align, flatten, get_scenario
from emtwin.em_reference import coins

# Tolerances are what the code achieves with ~10x headroom (measured: EM 4.1e-11 and MAP
# 2.5e-11 from the independent MLE, |EM − MAP| 4.7e-11), far below the harness's 1e-4 verdict.
EM_ATOL = 5e-10
MAP_ATOL = 5e-10
HEADS, SET_SIZE = np.array([5, 9, 8, 4, 7]), 10  # Do & Batzoglou, Fig. 1b


def closed_form_loglik(theta_a, theta_b):
    """log Π_i (½ Bin(h_i | 10, θ_A) + ½ Bin(h_i | 10, θ_B)), written from the paper."""
    return float(np.sum(np.log(0.5 * stats.binom.pmf(HEADS, SET_SIZE, theta_a)
                               + 0.5 * stats.binom.pmf(HEADS, SET_SIZE, theta_b))))


def closed_form_score(theta):
    """∂/∂θ of :func:`closed_form_loglik`: Σ_i ½ f_c(h_i)(h_i/θ_c − (n − h_i)/(1 − θ_c)) / L_i."""
    f = np.array([stats.binom.pmf(HEADS, SET_SIZE, t) for t in theta])  # (coin, set)
    slope = np.array([HEADS / t - (SET_SIZE - HEADS) / (1 - t) for t in theta])
    return (0.5 * f * slope / (0.5 * f.sum(axis=0))).sum(axis=1)


@functools.cache
def independent_mle():
    """The MLE from the closed-form likelihood alone, an oracle sharing no code with either
    twin: Nelder-Mead on it (θ_A > θ_B) to ~1e-8, where its rounding stops any value-only
    search, then the root of its score, written out above, to ~1e-15."""
    def nll(t):
        return np.inf if not 0 < t[1] < t[0] < 1 else -closed_form_loglik(*t)

    rough = optimize.minimize(nll, [0.6, 0.5], method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-15})
    root = optimize.root(closed_form_score, rough.x, tol=1e-15)
    assert rough.success and root.success and np.max(np.abs(root.x - rough.x)) < 1e-6
    return root.x


def test_the_independent_mle_is_the_papers_0_80_and_0_52():
    assert np.round(independent_mle(), 2).tolist() == [0.80, 0.52]


def test_em_and_map_land_on_the_independent_mle(coin_sets_comparison):
    c = coin_sets_comparison
    for name, value in zip(["theta_A", "theta_B"], independent_mle()):
        # EM stops when a step moves < 1e-10; it lands within 2e-11 of the optimum.
        assert c.row(name).em == pytest.approx(value, abs=EM_ATOL)
        assert c.row(name).map == pytest.approx(value, abs=MAP_ATOL)


def test_map_equals_em_and_log_likelihoods_match(coin_sets_comparison):
    c = coin_sets_comparison
    for row in c.rows:
        assert abs(row.em - row.map) <= MAP_ATOL
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-13)
    assert c.em.log_likelihood == pytest.approx(closed_form_loglik(*independent_mle()), rel=1e-13)


def test_verdict_is_agree_with_every_error_check_passed(coin_sets_comparison):
    c = coin_sets_comparison
    assert c.verdict == "agree"
    assert c.failures == []
    names = {check.name for check in c.checks}
    assert {"EM vs MAP parameters", "EM vs MAP log-likelihood", "MLE inside NUTS 94% HDI",
            "ADVI vs NUTS means", "same likelihood in both twins"} <= names


def fd_hessian(f, x, eps=1e-4):
    """Central-difference Hessian of f at x."""
    x = np.asarray(x, dtype=float)
    n = x.size
    h = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            h[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (4 * eps**2)
    return h


def test_curvature_eigenvalues_are_the_finite_difference_hessians(coin_sets_comparison):
    # The twin's unconstrained coordinates, written here from PyMC's transforms (log-odds,
    # then a descending ordering): u0 = logit θ_B, u1 = log(logit θ_A − logit θ_B).
    def theta(u):
        low = u[0]
        return expit(low + np.exp(u[1])), expit(low)

    a, b = independent_mle()
    u_hat = np.array([logit(b), np.log(logit(a) - logit(b))])
    hessian = fd_hessian(lambda u: closed_form_loglik(*theta(u)), u_hat)
    expected = np.sort(np.linalg.eigvalsh(-hessian))
    c = coin_sets_comparison
    assert c.identifiable
    # Finite differences with eps = 1e-4 are good to ~1e-6 relative here; EM's point is
    # 1e-11 from the oracle's.
    np.testing.assert_allclose(c.curvature.eigenvalues, expected, rtol=1e-6)  # measured 1.3e-7


def posterior_by_quadrature(a_prior=1.0, b_prior=1.0):
    """Posterior mean and SD of (θ_A, θ_B) under Beta priors restricted to θ_A > θ_B, by
    2-D quadrature of the likelihood: an oracle that shares no code with either twin."""
    heads, n = np.array([5, 9, 8, 4, 7]), 10

    def density(b, a):
        like = np.prod(0.5 * stats.binom.pmf(heads, n, a) + 0.5 * stats.binom.pmf(heads, n, b))
        return like * stats.beta.pdf(a, a_prior, b_prior) * stats.beta.pdf(b, a_prior, b_prior)

    def moment(f):
        return integrate.dblquad(lambda b, a: f(a, b) * density(b, a), 0, 1, 0, lambda a: a)[0]

    z = moment(lambda a, b: 1.0)
    mean = np.array([moment(lambda a, b: a), moment(lambda a, b: b)]) / z
    second = np.array([moment(lambda a, b: a * a), moment(lambda a, b: b * b)]) / z
    return mean, np.sqrt(second - mean**2)


def mcse(comparison, name):
    """Monte-Carlo standard error of a NUTS posterior mean: posterior SD / sqrt(bulk ESS)."""
    draws = comparison.nuts.idata.posterior["theta"].values[..., ["theta_A", "theta_B"].index(name)]
    return comparison.row(name).nuts_sd / np.sqrt(float(az.ess(draws)))


def test_nuts_posterior_mean_matches_quadrature(coin_sets_comparison):
    c = coin_sets_comparison
    mean, sd = posterior_by_quadrature()
    mle = independent_mle()
    for j, name in enumerate(["theta_A", "theta_B"]):
        row, error = c.row(name), mcse(c, name)
        # Four Monte-Carlo standard errors (ESS ≈ 1000-2000 of 4000 draws: ≈ 0.1 SD).
        assert abs(row.nuts_mean - mean[j]) < 4 * error
        assert row.nuts_sd == pytest.approx(sd[j], rel=0.1)  # SD's MC error ≈ 1/sqrt(2 ESS)
        # The headline's Bayes-vs-MLE gap, its size: (posterior mean − MLE) in SDs.
        assert row.z_nuts == pytest.approx((mean[j] - mle[j]) / sd[j], abs=4 * error / sd[j] + 0.1 * abs(row.z_nuts))
    assert c.row("theta_A").hdi_low < mle[0] < c.row("theta_A").hdi_high


def test_z_score_is_posterior_mean_minus_mle_in_sds(coin_sets_comparison):
    row = coin_sets_comparison.row("theta_A")
    assert row.z_nuts == pytest.approx((row.nuts_mean - row.em) / row.nuts_sd, rel=1e-12)
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
    assert c.row("theta_A").em == pytest.approx(independent_mle()[0], abs=EM_ATOL)


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
    mean, sd = posterior_by_quadrature(20.0, 20.0)
    for j, name in enumerate(["theta_A", "theta_B"]):
        # The exact posterior mean under Beta(20, 20) priors (quadrature), to four MC errors.
        assert abs(c.row(name).nuts_mean - mean[j]) < 4 * mcse(c, name)
    # Shrunk towards 1/2 by far more than the Monte-Carlo error: the prior is felt.
    assert mean[0] < independent_mle()[0] - 10 * mcse(c, "theta_A")
    assert c.row("theta_A").em == pytest.approx(independent_mle()[0], abs=EM_ATOL)


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
