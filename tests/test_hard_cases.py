"""Hard cases: bad luck and hard data, each detected and reported with its numbers.

- a component collapsing onto one point (the variance floor holds it; a warning says so);
- EM's symmetric fixed point reached from distinct starts (warned, and a failed check, never
  "converged" success);
- a posterior that stays bimodal after the ordering constraint (mirror-image maxima);
- EM stopping at its iteration cap (the warning carries the last change);
- NUTS divergences and R-hat above 1.01, ADVI whose loss has not settled: all reported next to
  the verdict, never hidden.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import emtwin
from emtwin.comparisons import get_scenario
from emtwin.comparisons.harness import RHAT_MAX, posterior_modes
from emtwin.em_reference import EMConvergenceWarning, SymmetricFixedPointWarning, coins
from emtwin.em_reference import gaussian_means as gm
from emtwin.em_reference import gaussian_mixture as gmx

SETS = coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS)


def _check(comparison, name):
    return next(c for c in comparison.checks if c.name == name)


def _mirrored_three_clusters(centre: float, per_cluster: int) -> np.ndarray:
    """Three clusters at −centre, 0, +centre, exactly symmetric about 0.

    Two means on three clusters have two maxima, one splitting the left pair of clusters
    off, one the right; with the data symmetric they are mirror images with equal
    likelihood, and mirroring keeps μ1 < μ2: the ordering cannot remove the second one.
    """
    side = np.r_[np.linspace(-0.4, 0.4, per_cluster) + centre, np.linspace(0.05, 0.4, per_cluster // 2)]
    return np.r_[side, -side]


# --------------------------------------------------------------------------- collapse


COLLAPSE_X = np.r_[np.random.default_rng(0).normal(0.0, 1.0, 40), 8.0]  # one point far from the rest
COLLAPSE_START = {"weights": [0.9, 0.1], "mu": [0.0, 7.5], "sigma": [1.0, 0.5]}


# EM alone collapsing onto the floor: tests/test_gaussian_mixture.py (1-D and 2-D). Here: what
# the harness reports about it.


@pytest.mark.slow  # compiles the Gaussian-mixture model (cold: tens of seconds)
def test_the_harness_reports_the_collapse_and_both_twins_sit_on_the_same_floor():
    data = gmx.MixtureData(COLLAPSE_X, 2)
    with pytest.warns(gmx.VarianceCollapseWarning):
        c = emtwin.compare("gaussian-mixture", data=data, start=COLLAPSE_START, methods=["map"])
    collapse = _check(c, "EM variances above the floor")
    assert not collapse.passed and collapse.severity == "warning"
    assert collapse in c.warnings
    assert collapse.value == pytest.approx(1.0, rel=1e-9)  # smallest variance / floor
    assert collapse.detail.endswith("(component 2): that component collapsed onto the floor")
    # PyMC bounds sigma below by √var_floor, so MAP finds the same collapsed maximum.
    assert abs(c.row("sigma2").map - math.sqrt(1e-6 * COLLAPSE_X.var())) < 1e-6
    assert _check(c, "EM vs MAP log-likelihood").passed


# --------------------------------------------------------------------------- symmetric fixed point

# Every set comes up heads half the time, so the first M-step gives both coins
# Σ r h / Σ r n = 1/2 whatever the responsibilities: the fixed point, exactly.
SAME_RATE = coins.TossSets.from_counts([3, 5, 8], [6, 10, 16])


def test_em_reaching_the_symmetric_fixed_point_from_distinct_starts_is_warned():
    with pytest.warns(SymmetricFixedPointWarning) as caught:
        result = coins.fit(SAME_RATE, (0.6, 0.5))
    (warning,) = [w.message for w in caught if isinstance(w.message, SymmetricFixedPointWarning)]
    assert warning.components == ("theta_A", "theta_B")
    assert warning.difference == 0.0
    assert str(warning) == (
        "EM ended at its symmetric fixed point: components theta_A and theta_B are equal (largest parameter "
        "difference 0, below 0.0001), so this is not a fit with distinct components. Start elsewhere, or use "
        "fewer components if the data hold fewer groups."
    )
    np.testing.assert_array_equal(result.params["theta"], [0.5, 0.5])
    assert result.n_iter == 2 and result.converged  # one step there, one to see nothing move


def test_the_harness_fails_the_symmetric_fixed_point_instead_of_calling_it_converged():
    with pytest.warns(SymmetricFixedPointWarning):
        c = emtwin.compare("coin-sets", data=SAME_RATE, methods=["map"])
    distinct = _check(c, "EM components distinct")
    assert not distinct.passed and distinct.severity == "error"
    assert distinct.detail == (
        "theta_A and theta_B ended equal (largest difference 0, below 0.0001): EM's symmetric fixed point, "
        "where equal components get equal responsibilities and stay equal. This is not a fit with distinct "
        "components: start elsewhere, or use fewer components"
    )
    assert c.verdict == "disagree" and not c.ok
    assert c.table().splitlines()[-1] == "verdict: DISAGREE"


def test_known_sigma_wider_than_the_data_merges_the_means_and_is_reported():
    # Sample variance below σ² = 2.25: the likelihood's maximum puts both means at z̄.
    z = np.random.default_rng(1).normal(0.0, 1.0, 100)
    assert z.var() < 1.5**2
    data = gm.MixtureData.from_array(z, k=2, sigma=1.5)
    with pytest.warns(SymmetricFixedPointWarning) as caught:
        result = gm.fit(data, [-1.0, 1.0])
    warning = next(w.message for w in caught if isinstance(w.message, SymmetricFixedPointWarning))
    assert warning.components == ("mu1", "mu2")
    np.testing.assert_allclose(result.params["mu"], [z.mean(), z.mean()], atol=1e-8)
    with pytest.warns(SymmetricFixedPointWarning):
        c = emtwin.compare("gaussian-means", data=data, start={"mu": [-1.0, 1.0]}, methods=["map"])
    distinct = _check(c, "EM components distinct")
    assert not distinct.passed
    assert distinct.detail.startswith(f"mu1 and mu2 ended equal (largest difference {distinct.value:.3g}, below 0.0001)")
    assert distinct.value < 1e-8
    assert c.verdict == "disagree"


def test_distinct_components_pass_the_check_with_their_gap():
    c = emtwin.compare("coin-sets", methods=[])
    gap = abs(c.em.params["theta"][0] - c.em.params["theta"][1])
    distinct = _check(c, "EM components distinct")
    assert distinct.passed
    assert distinct.detail == f"the closest pair, theta_A and theta_B, differ by {gap:.3g}"


# --------------------------------------------------------------------------- bimodal after ordering


def test_posterior_modes_counts_the_modes_of_known_shapes():
    rng = np.random.default_rng(0)
    assert len(posterior_modes(rng.normal(0.0, 1.0, 2000))) == 1
    assert len(posterior_modes(rng.gamma(2.0, 1.0, 2000))) == 1  # skewed, one mode
    assert len(posterior_modes(rng.uniform(0.0, 1.0, 2000))) == 1  # flat, no spurious modes
    two = posterior_modes(np.r_[rng.normal(-2.0, 0.5, 1500), rng.normal(2.0, 0.5, 500)])
    assert len(two) == 2
    np.testing.assert_allclose(two, [-2.0, 2.0], atol=0.2)


@pytest.fixture(scope="module")
def hopping():
    """Mirror-image maxima close enough that both NUTS chains visit both (centre 3.5)."""
    data = gm.MixtureData.from_array(_mirrored_three_clusters(3.5, 10), k=2, sigma=1.0)
    em = gm.fit(data, [-3.0, 2.0], n_starts=10, seed=0)
    c = emtwin.compare("gaussian-means", data=data, start={"mu": [-3.0, 2.0]}, methods=["nuts"], seed=1,
                       nuts_options={"draws": 1000, "tune": 500, "chains": 2})
    return em, c


def test_the_ordering_leaves_two_mirror_image_maxima_of_equal_likelihood(hopping):
    em, _ = hopping
    assert len(em.local_maxima) >= 2
    first, second = em.local_maxima[:2]
    assert first.log_likelihood == pytest.approx(second.log_likelihood, abs=1e-9)
    # Mirroring z → −z maps (μ1, μ2) to (−μ2, −μ1), which is still ordered.
    np.testing.assert_allclose(second.params["mu"], -first.params["mu"][::-1], atol=1e-6)


def test_a_bimodal_posterior_is_reported_even_when_r_hat_sees_nothing(hopping):
    em, c = hopping
    diagnostics = _check(c, "NUTS diagnostics")
    assert diagnostics.passed, diagnostics.detail  # both chains hop between the modes: R-hat is fine
    unimodal = _check(c, "NUTS posterior unimodal")
    assert not unimodal.passed and unimodal.severity == "warning"
    maxima_mu1 = sorted(m.params["mu"][0] for m in em.local_maxima[:2])
    modes_mu1 = posterior_modes(c.nuts.idata.posterior["mu"].values[..., 0])
    assert len(modes_mu1) == 2
    # The posterior's modes sit near the two maxima (the flat prior adds little here).
    np.testing.assert_allclose(modes_mu1, maxima_mu1, atol=0.3)
    assert unimodal.detail.startswith(f"mu1 has 2 modes, at {modes_mu1[0]:.4g}, {modes_mu1[1]:.4g}; mu2 has 2 modes")
    assert c.verdict == "agree"
    assert c.table().splitlines()[-1] == f"verdict: AGREE (with {len(c.warnings)} warning{'s' if len(c.warnings) > 1 else ''})"


@pytest.fixture(scope="module")
def stuck():
    """Mirror-image maxima farther apart (centre 4): the two chains settle in different ones."""
    data = gm.MixtureData.from_array(_mirrored_three_clusters(4.0, 20), k=2, sigma=1.0)
    return emtwin.compare("gaussian-means", data=data, start={"mu": [-4.0, 2.0]}, methods=["nuts"], seed=0,
                          nuts_options={"draws": 300, "tune": 300, "chains": 2})


def test_chains_stuck_in_different_modes_show_r_hat_above_1_01_next_to_the_verdict(stuck):
    d = stuck.nuts.diagnostics
    chain_means = stuck.nuts.idata.posterior["mu"].values[..., 0].mean(axis=1)
    assert abs(chain_means[0] - chain_means[1]) > 1.0  # one chain per mode
    assert d["max_rhat"] > RHAT_MAX
    check = _check(stuck, "NUTS diagnostics")
    assert not check.passed and check in stuck.warnings
    assert check.detail == (f"{d['divergences']} divergences, max R-hat {d['max_rhat']:.3f}, min bulk ESS "
                            f"{d['min_ess_bulk']:.0f} (2 chains × 300 draws, pymc)")
    assert f"[warn] NUTS diagnostics: {check.detail}" in stuck.table().splitlines()
    reported = {c["name"]: c for c in stuck.to_dict()["checks"]}
    assert reported["NUTS diagnostics"]["passed"] is False


# --------------------------------------------------------------------------- sampler and optimiser trouble


@pytest.fixture(scope="module")
def rushed():
    """NUTS with almost no tuning and a large step size target; ADVI stopped after 200 steps."""
    return emtwin.compare("coin-sets", methods=["advi", "nuts"], seed=0,
                          nuts_options={"draws": 300, "tune": 30, "chains": 2, "target_accept": 0.5},
                          advi_options={"n": 200, "draws": 500})


def test_divergences_are_reported_with_their_count(rushed):
    d = rushed.nuts.diagnostics
    assert d["divergences"] == int(rushed.nuts.idata.sample_stats["diverging"].sum()) > 0
    check = _check(rushed, "NUTS diagnostics")
    assert not check.passed and check.severity == "warning"
    assert check.detail.startswith(f"{d['divergences']} divergences, max R-hat {d['max_rhat']:.3f}")
    assert f"[warn] NUTS diagnostics: {check.detail}" in rushed.table().splitlines()


def test_advi_whose_loss_has_not_settled_is_reported(rushed):
    d = rushed.advi.diagnostics
    assert d["n_iter"] == 200 and d["relative_loss_change"] > 0.01 and not d["converged"]
    check = _check(rushed, "ADVI loss settled")
    assert not check.passed and check in rushed.warnings
    assert check.detail == f"loss changed {d['relative_loss_change']:.2%} over the last tenth of 200 iterations"
    assert rushed.table().splitlines()[-1].startswith("verdict: ")
    assert f"(with {len(rushed.warnings)} warnings)" in rushed.table().splitlines()[-1]


def test_em_at_the_iteration_cap_warns_with_the_last_change():
    with pytest.warns(EMConvergenceWarning) as caught:
        result = coins.fit(SETS, (0.6, 0.5), max_iter=3)
    warning = next(w.message for w in caught if isinstance(w.message, EMConvergenceWarning))
    theta = result.param_trace["theta"]
    last = float(np.max(np.abs(theta[3] - theta[2])))
    assert (warning.n_iter, warning.tol) == (3, 1e-10)
    assert warning.last_change == last
    assert str(warning) == (f"EM did not converge in 3 iterations: the last parameter change was {last:.3g}, "
                            "above tol=1e-10. Raise max_iter or loosen tol.")
    assert not result.converged


def test_the_harness_fails_em_at_the_cap_and_shows_the_last_change():
    capped = dataclasses.replace(
        get_scenario("coin-sets"), fit_em=lambda data, start, **kw: coins.fit(data, start["theta"], max_iter=3, **kw)
    )
    with pytest.warns(EMConvergenceWarning):
        c = emtwin.compare(capped, methods=[])
    theta = c.em.param_trace["theta"]
    last = float(np.max(np.abs(theta[-1] - theta[-2])))
    check = _check(c, "EM converged")
    assert not check.passed and check.severity == "error"
    assert check.detail == f"stopped at the cap of 3 iterations; the last parameter change was {last:.3g}, above tol = 1e-10"
    assert c.verdict == "disagree"


def test_a_parameter_fixed_in_every_draw_has_no_r_hat_and_no_warning():
    # One component: its weight is 1 in every draw, and R-hat of a constant is 0/0 (ArviZ
    # warns "invalid value encountered in scalar divide" and returns NaN). It is left out of
    # the diagnostics instead of failing them; the mean and SD still converge.
    import warnings

    from emtwin.models import fitting
    from emtwin.models.gaussian_mixture import build_model

    data = gmx.MixtureData.old_faithful("waiting", k=1)
    model = build_model(data.x, k=1, var_floor=data.var_floor)
    start = {"weights": np.array([1.0]), "mu": np.array([data.x.mean()]), "sigma": np.array([data.x.std()])}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = fitting.fit_nuts(model, start, draws=200, tune=200, chains=2, seed=1)
    assert np.all(fit.idata.posterior["weights"].values == 1.0)
    d = fit.diagnostics
    # Both left parameters are near-Gaussian with ~400 pooled draws: R-hat near 1, finite.
    assert math.isfinite(d["max_rhat"]) and d["max_rhat"] < 1.05
    assert math.isfinite(d["min_ess_bulk"]) and d["min_ess_bulk"] > 50
