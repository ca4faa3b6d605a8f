"""Gaussian means (k Gaussians, known shared σ, equal weights): EM against hand-worked values,
an independent scipy.stats likelihood, and the PyMC twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import emtwin
from emtwin.em_reference import gaussian_means as gm, run_em
from emtwin.em_reference.gaussian_means import MixtureData
from emtwin.models import gaussian_means as pm_means

TINY = MixtureData.from_array([-1.0, 0.0, 3.0], k=2, sigma=1.0)
DEFAULT = MixtureData.synthetic()


# --------------------------------------------------------------------------- oracles


def one_step_by_loop(z, mu, sigma):
    """The slide's E-step and M-step one point at a time with math.exp: the slow oracle
    for the vectorised code. Pr(z_i | μ_j) ∝ exp(−(z_i − μ_j)²/2σ²); the 1/k and the
    Normal constant cancel in c_ij."""
    k = len(mu)
    weighted_sum = [0.0] * k
    credit = [0.0] * k
    for zi in z:
        like = [math.exp(-((zi - mj) ** 2) / (2 * sigma**2)) for mj in mu]
        total = sum(like)
        for j in range(k):
            c_ij = like[j] / total
            weighted_sum[j] += c_ij * zi
            credit[j] += c_ij
    return [weighted_sum[j] / credit[j] for j in range(k)]


def independent_loglik(mu, z, sigma):
    """Σ_i log Σ_j (1/k) N(z_i | μ_j, σ²) straight from scipy.stats densities (no log-space
    code shared with the EM twin)."""
    mu = np.asarray(mu, dtype=float)
    return float(np.sum(np.log(np.mean(stats.norm.pdf(np.asarray(z)[:, None], mu[None, :], sigma), axis=1))))


def fd_gradient(f, x, eps=1e-5):
    x = np.asarray(x, dtype=float)
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)])


def fd_hessian(f, x, eps=1e-3):
    x = np.asarray(x, dtype=float)
    basis = np.eye(x.size)
    return np.array([
        [(f(x + eps * a + eps * b) - f(x + eps * a - eps * b) - f(x - eps * a + eps * b) + f(x - eps * a - eps * b))
         / (4 * eps**2) for b in basis]
        for a in basis
    ])


# --------------------------------------------------------------------------- one step by hand


def test_one_step_on_three_points_equals_the_hand_computation():
    # z = (−1, 0, 3), μ = (−1, 2), σ = 1. By hand, with c_i1 = 1 / (1 + exp(−((z_i−2)² − (z_i+1)²)/2)):
    #   c_11 = 1/(1 + e^−4.5) = 1/1.011109 = 0.989013
    #   c_21 = 1/(1 + e^−1.5) = 1/1.223130 = 0.817574
    #   c_31 = 1/(1 + e^+7.5) = 1/1809.04  = 0.000553
    #   μ1 = (−0.989013 + 0 + 3·0.000553) / (0.989013 + 0.817574 + 0.000553) = −0.987355 / 1.807140 = −0.54636
    #   μ2 = (−0.010987 + 0 + 3·0.999447) / (0.010987 + 0.182426 + 0.999447) =  2.987354 / 1.192860 =  2.50436
    resp = gm.e_step(TINY, {"mu": np.array([-1.0, 2.0])})
    np.testing.assert_allclose(resp[:, 0], [0.989013, 0.817574, 0.000553], atol=1e-6)
    mu = gm.m_step(TINY, resp)["mu"]
    np.testing.assert_allclose(mu, [-0.54636, 2.50436], atol=1e-5)
    np.testing.assert_allclose(mu, one_step_by_loop([-1.0, 0.0, 3.0], [-1.0, 2.0], 1.0), rtol=0, atol=1e-14)


def test_one_step_on_a_symmetric_pair_is_exact():
    # z = (0, 1), μ = (0, 1), σ = 1: by symmetry c_11 = c_22 = 1/(1 + e^−½) and c_21 = 1 − c_11,
    # so Σ_i c_i1 = 1 and μ1 = 0·c_11 + 1·c_21 = 1/(1 + e^½); μ2 = 1 − μ1.
    data = MixtureData.from_array([0.0, 1.0], k=2, sigma=1.0)
    result = run_em(data, {"mu": [0.0, 1.0]}, gm.e_step, gm.m_step, gm.log_likelihood, max_iter=1, tol=1.0)
    expected = 1 / (1 + math.exp(0.5))
    np.testing.assert_allclose(result.params["mu"], [expected, 1 - expected], rtol=0, atol=1e-15)


def test_several_steps_and_components_match_the_loop_oracle():
    z = DEFAULT.z[:40]
    data = MixtureData.from_array(z, k=3, sigma=0.7)
    mu = [-3.0, 0.1, 2.5]
    for _ in range(5):
        expected = one_step_by_loop(z.tolist(), mu, 0.7)
        mu = gm.m_step(data, gm.e_step(data, {"mu": np.array(mu)}))["mu"]
        np.testing.assert_allclose(mu, expected, rtol=1e-12)
        mu = mu.tolist()


def test_log_likelihood_matches_scipy_including_the_normal_constant():
    # By hand at μ = (−1, 2), σ = 1: Σ_i log(½ φ(z_i + 1) + ½ φ(z_i − 2)) with φ(x) = e^{−x²/2}/√(2π).
    by_hand = sum(
        math.log(0.5 * math.exp(-((z + 1) ** 2) / 2) / math.sqrt(2 * math.pi)
                 + 0.5 * math.exp(-((z - 2) ** 2) / 2) / math.sqrt(2 * math.pi))
        for z in (-1.0, 0.0, 3.0)
    )
    assert gm.log_likelihood(TINY, {"mu": np.array([-1.0, 2.0])}) == pytest.approx(by_hand, rel=1e-14)
    mu = np.array([-1.3, 0.4, 2.2])
    data = MixtureData.from_array(DEFAULT.z, k=3, sigma=1.7)
    assert gm.log_likelihood(data, {"mu": mu}) == pytest.approx(independent_loglik(mu, DEFAULT.z, 1.7), rel=1e-12)


# --------------------------------------------------------------------------- properties

# Responsibilities are probabilities on generated data, and the log-likelihood never falls:
# tests/test_properties.py (the means' and the mixture's EM alike).


def test_a_point_thousands_of_sigmas_away_gets_a_finite_responsibility():
    # exp(−(1000 − μ)²/2) is 0.0 in float64 for both means; in log space the nearer mean wins.
    data = MixtureData.from_array([1000.0, 0.0], k=2, sigma=1.0)
    resp = gm.e_step(data, {"mu": np.array([0.0, 1.0])})
    np.testing.assert_array_equal(resp[0], [0.0, 1.0])


# --------------------------------------------------------------------------- the fixed point


def test_convergence_is_a_stationary_point_of_an_independent_likelihood():
    result = gm.fit(DEFAULT, [-1.0, 1.0])
    assert result.converged
    mu = result.params["mu"]

    def f(m):
        return independent_loglik(m, DEFAULT.z, 1.0)

    gradient = fd_gradient(f, mu)
    # The likelihood's curvature here is ~100 per unit of μ, so a gradient of 1e-5 means
    # μ is within ~1e-7 of the stationary point.
    assert np.all(np.abs(gradient) < 1e-5), gradient
    assert np.all(np.linalg.eigvalsh(fd_hessian(f, mu)) < 0)  # a maximum, not a saddle
    assert result.log_likelihood == pytest.approx(f(mu), rel=1e-12)


def test_the_tolerance_is_on_the_largest_change_of_a_mean():
    result = gm.fit(DEFAULT, [-1.0, 1.0], tol=1e-3)
    changes = np.abs(np.diff(result.param_trace["mu"], axis=0)).max(axis=1)
    assert changes[-1] < 1e-3 <= changes[-2]


def test_well_separated_clusters_give_means_near_the_truth():
    data = MixtureData.synthetic(k=3, n=600, true_means=(-10.0, 0.0, 10.0), sigma=1.0, seed=3)
    result = gm.fit(data, [-1.0, 0.0, 1.0])
    assert result.converged
    # Clusters 10σ apart: every point's responsibility is 0 or 1 to within e^−12, so the MLE
    # is each cluster's own sample mean, found here by cutting halfway between true means.
    cluster = np.digitize(data.z, [-5.0, 5.0])
    sample_means = [data.z[cluster == j].mean() for j in range(3)]
    np.testing.assert_allclose(result.params["mu"], sample_means, atol=1e-4)
    sizes = np.bincount(cluster)
    np.testing.assert_allclose(result.params["mu"], [-10.0, 0.0, 10.0], atol=4 / np.sqrt(sizes.min()))


def test_default_data_is_the_documented_sample():
    assert (DEFAULT.k, DEFAULT.n, DEFAULT.sigma) == (2, 200, 1.0)
    assert DEFAULT.true_means.tolist() == [-2.0, 2.0]
    # Seeded: the same call gives the same points; another seed, other points.
    np.testing.assert_array_equal(MixtureData.synthetic().z, DEFAULT.z)
    assert not np.array_equal(MixtureData.synthetic(seed=1).z, DEFAULT.z)


def test_a_plain_array_with_sigma_gives_the_same_fit():
    from_array = gm.fit(DEFAULT.z, [-1.0, 1.0], sigma=1.0)
    from_data = gm.fit(DEFAULT, [-1.0, 1.0])
    np.testing.assert_array_equal(from_array.params["mu"], from_data.params["mu"])


# --------------------------------------------------------------------------- local maxima

THREE_CLUSTERS = MixtureData.synthetic(k=3, n=300, true_means=(-8.0, 0.0, 8.0), seed=0)


def two_means_by_hard_split(z, start):
    means = np.asarray(start, dtype=float)
    for _ in range(100):
        cut = means.mean()
        means = np.array([z[z < cut].mean(), z[z >= cut].mean()])
    return means


def test_several_starts_find_both_local_maxima_of_two_means_on_three_clusters():
    # Two means for three clusters 8σ apart: one mean takes an outer cluster, the other
    # sits between the remaining two. Either outer cluster can be the lone one: two local
    # maxima, with different likelihoods because the clusters' sizes differ.
    data = MixtureData.from_array(THREE_CLUSTERS.z, k=2, sigma=1.0)
    result = gm.fit(data, [-9.0, 1.0], n_starts=20, seed=0)
    maxima = result.local_maxima
    assert len(maxima) == 2
    assert sum(m.n_starts for m in maxima) == 20
    assert maxima[0].log_likelihood > maxima[1].log_likelihood
    # The best run keeps its own labels; local maxima are listed with means ascending.
    np.testing.assert_array_equal(np.sort(result.params["mu"]), maxima[0].params["mu"])

    z = data.z
    found = sorted((m.params["mu"] for m in maxima), key=lambda mu: mu[0])  # lone left first
    # Oracle: hard-assignment EM (1-D k-means: split at the midpoint of the two means, take
    # each side's average) from a lone-left and a lone-right start. Soft responsibilities
    # share the points near the midpoint, so EM's means differ by a fraction of σ.
    np.testing.assert_allclose(found[0], two_means_by_hard_split(z, [-9.0, 1.0]), atol=0.15)
    np.testing.assert_allclose(found[1], two_means_by_hard_split(z, [-1.0, 9.0]), atol=0.15)
    assert found[0][0] < -7 and found[1][1] > 7

    def f(m):
        return independent_loglik(m, z, 1.0)

    for m in maxima:
        assert np.all(np.abs(fd_gradient(f, m.params["mu"])) < 1e-4)
        assert np.all(np.linalg.eigvalsh(fd_hessian(f, m.params["mu"])) < 0), "a saddle, not a maximum"
        assert m.log_likelihood == pytest.approx(f(m.params["mu"]), rel=1e-12)


def test_extra_starts_are_distinct_data_points_and_seeded():
    data = MixtureData.from_array(THREE_CLUSTERS.z, k=2, sigma=1.0)
    # From (−9, 1) EM climbs to the lower maximum (lone left cluster) ...
    alone = gm.fit(data, [-9.0, 1.0])
    assert alone.params["mu"][0] < -7.0
    # ... so with extra starts the best run is one of them, and its start is two data points.
    result = gm.fit(data, [-9.0, 1.0], n_starts=5, seed=4)
    assert result.log_likelihood > alone.log_likelihood
    start = result.param_trace["mu"][0]
    assert np.all(np.isin(start, data.z)) and start[0] != start[1]
    again = gm.fit(data, [-9.0, 1.0], n_starts=5, seed=4)
    np.testing.assert_array_equal(again.param_trace["mu"], result.param_trace["mu"])
    assert [m.n_starts for m in again.local_maxima] == [m.n_starts for m in result.local_maxima]


# --------------------------------------------------------------------------- the PyMC twin


def test_the_model_names_its_axes_with_words_and_its_prior_from_the_data():
    model = pm_means.build_model(TINY.z, sigma=1.0, k=2)
    assert model.named_vars_to_dims == {"mu": ("component",), "z": ("obs_id",), "z_seen": ("obs_id",)}
    assert list(model.coords["component"]) == ["1", "2"]
    mu = model["mu"]
    lower, upper = (np.asarray(v.eval()).item() for v in mu.owner.inputs[-2:])
    # Data range [−1, 3] widened by 10σ on each side.
    assert (lower, upper) == (-11.0, 13.0)


@pytest.fixture(scope="module")
def comparison():
    """The registered scenario, every method, seed 0; short NUTS to keep the suite fast."""
    return emtwin.compare("gaussian-means", seed=0, nuts_options={"draws": 500, "tune": 500, "chains": 2})


def test_twins_agree_map_equals_em(comparison):
    c = comparison
    assert c.verdict == "agree"
    assert c.failures == []
    assert [r.name for r in c.rows] == ["mu1", "mu2"]
    for row in c.rows:
        assert abs(row.em - row.map) <= 5e-10  # measured 3.2e-11
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-13)  # measured 2.8e-16
    # Both equal the independent scipy.stats likelihood at EM's answer.
    mu = c.em.params["mu"]
    assert c.em.log_likelihood == pytest.approx(independent_loglik(mu, DEFAULT.z, 1.0), rel=1e-12)


def test_em_lands_near_the_true_means(comparison):
    # N = 200 from (−2, 2): each mean has standard error ≈ σ/√100 = 0.1.
    np.testing.assert_allclose(comparison.em.params["mu"], [-2.0, 2.0], atol=0.3)


def test_nuts_posterior_sd_matches_the_laplace_approximation(comparison):
    # With a flat prior and N = 200 the posterior is close to Normal around the MLE with
    # covariance (−H)⁻¹, H the log-likelihood Hessian: here from finite differences of
    # the scipy.stats likelihood, sharing no code with either twin.
    c = comparison
    mu = c.em.params["mu"]
    laplace_sd = np.sqrt(np.diag(np.linalg.inv(-fd_hessian(lambda m: independent_loglik(m, DEFAULT.z, 1.0), mu))))
    np.testing.assert_allclose(c.nuts.sd["mu"], laplace_sd, rtol=0.15)
    assert np.all(np.abs(c.nuts.mean["mu"] - mu) < 0.5 * laplace_sd)
    d = c.nuts.diagnostics
    assert d["divergences"] == 0 and d["max_rhat"] < 1.01


@pytest.mark.slow  # a second model to compile (k = 3, N = 300): 4 s warm, ~15 s cold
def test_three_components_read_mu1_to_mu3_and_agree():
    c = emtwin.compare("gaussian-means", data=THREE_CLUSTERS, start={"mu": [-1.0, 0.0, 1.0]}, methods=["map"])
    assert [r.name for r in c.rows] == ["mu1", "mu2", "mu3"]
    assert c.verdict == "agree"
    # Measured: |EM − MAP| 1.9e-8 at most (mu2), log-likelihood 8.9e-16 relative. EM is at
    # its fixed point to 1e-13; MAP stops at L-BFGS-B's ftol (1e-14 of |f| ≈ 760 nats), which
    # with ~100 points per mean allows a few 1e-7: the data and start are fixed, so 10x headroom.
    for row in c.rows:
        assert abs(row.em - row.map) <= 2e-7
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-13)
    z = THREE_CLUSTERS.z
    # Clusters 8σ apart: a hard split halfway is the MLE to within 0.01 (only the few points
    # 3-4σ out, near a cut, are shared between two means).
    cluster = np.digitize(z, [-4.0, 4.0])
    np.testing.assert_allclose(c.em.params["mu"], [z[cluster == j].mean() for j in range(3)], atol=0.01)


def test_mle_inside_the_nuts_hdi(comparison):
    for row in comparison.rows:
        assert row.hdi_low < row.em < row.hdi_high


def test_the_likelihood_is_strictly_peaked(comparison):
    assert comparison.identifiable
    assert np.all(comparison.curvature.eigenvalues > 1.0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("z", "k", "sigma", "message"),
    [
        ([], 1, 1.0, "z is empty; give at least one data point."),
        ([[1.0, 2.0], [3.0, 4.0]], 2, 1.0, "z must be a 1-D array of data points; got an array of shape (2, 2)."),
        ([1.0, float("nan"), 2.0], 2, 1.0, "z must hold finite numbers; got nan at index 1 (1 non-finite value in all)."),
        ([1.0, float("inf"), -float("inf")], 2, 1.0,
         "z must hold finite numbers; got inf at index 1 (2 non-finite values in all)."),
        (["a", "b"], 1, 1.0, "z must hold real numbers; got dtype <U1."),
        ([1.0, 2.0], 2, 0.0, "sigma must be a positive finite number (the known component SD); got 0.0."),
        ([1.0, 2.0], 2, -1.5, "sigma must be a positive finite number (the known component SD); got -1.5."),
        ([1.0, 2.0], 2, float("inf"), "sigma must be a positive finite number (the known component SD); got inf."),
        ([1.0, 2.0], 0, 1.0, "k must be a whole number >= 1 (the number of components); got 0."),
        ([1.0, 2.0], 1.5, 1.0, "k must be a whole number >= 1 (the number of components); got 1.5."),
        ([1.0, 2.0, 3.0], 4, 1.0, "k = 4 components need at least 4 data points; got N = 3."),
    ],
)
def test_bad_data_is_rejected_with_a_clear_message(z, k, sigma, message):
    with pytest.raises(ValueError) as err:
        MixtureData.from_array(z, k=k, sigma=sigma)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be a whole number >= 1 (the number of data points); got 0."),
        ({"k": 0}, "k must be a whole number >= 1 (the number of components); got 0."),
        ({"k": 3}, "true_means must hold k = 3 means; got 2 ([-2.0, 2.0])."),
        ({"sigma": -1.0}, "sigma must be a positive finite number (the known component SD); got -1.0."),
        ({"true_means": (0.0, float("nan"))}, "true_means must be finite numbers; got [0.0, nan]."),
    ],
)
def test_bad_synthetic_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as err:
        MixtureData.synthetic(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ([1.0], "start must hold 2 means (mu1, mu2); got 1: [1.0]."),
        ([1.0, 2.0, 3.0], "start must hold 2 means (mu1, mu2); got 3: [1.0, 2.0, 3.0]."),
        ([[1.0, 2.0]], "start must be a 1-D list of 2 means (mu1, mu2); got an array of shape (1, 2)."),
        ([1.0, float("nan")], "start must hold finite numbers; got [1.0, nan]."),
        ([0.5, 0.5], "start = [0.5, 0.5] gives mu1 and mu2 the same mean; that is EM's symmetric fixed point "
                     "(equal means get equal responsibilities and stay equal forever). Start them at different values."),
    ],
)
def test_bad_starts_are_rejected_with_a_clear_message(start, message):
    with pytest.raises(ValueError) as err:
        gm.fit(DEFAULT, start)
    assert str(err.value) == message


def test_a_symmetric_start_among_three_names_the_tied_means():
    data = MixtureData.from_array(DEFAULT.z, k=3, sigma=1.0)
    with pytest.raises(ValueError) as err:
        gm.fit(data, [2.0, -1.0, 2.0])
    assert str(err.value) == (
        "start = [2.0, -1.0, 2.0] gives mu1 and mu3 the same mean; that is EM's symmetric fixed point "
        "(equal means get equal responsibilities and stay equal forever). Start them at different values."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gm.fit([1.0, 2.0, 3.0], [1.0, 2.0]),
         "sigma is required when data is a plain array: this EM estimates the means only, so the "
         "components' SD must be known. Pass sigma=..., or a MixtureData."),
        (lambda: gm.fit([1.0, 2.0, 3.0], sigma=1.0),
         "start is required when data is a plain array: its length sets k, the number of components."),
        (lambda: gm.fit([1.0, 2.0, 3.0], [], sigma=1.0),
         "start is empty; give k >= 1 starting means, one per component."),
        (lambda: gm.fit(DEFAULT, [-1.0, 1.0], sigma=2.0),
         "sigma = 2.0 conflicts with data.sigma = 1.0; give sigma only when data is a plain array."),
        (lambda: gm.fit(DEFAULT, [-1.0, 1.0], n_starts=0), "n_starts must be a whole number >= 1; got 0."),
        # Three copies of one value cannot hold two components (nor give two distinct extra starts).
        (lambda: gm.fit([1.0, 1.0, 1.0], [0.0, 2.0], sigma=1.0, n_starts=2),
         "k = 2 components need at least 2 distinct data points; z has 1 distinct value (1)."),
    ],
)
def test_bad_fit_arguments_are_rejected_with_a_clear_message(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_a_mean_that_claims_no_point_is_reported_not_turned_into_nan():
    # 60σ from both points: exp(−60²/2 + ...) underflows against the mean at 0, so c_i2 = 0.0.
    data = MixtureData.from_array([0.0, 1.0], k=2, sigma=1.0)
    with pytest.raises(FloatingPointError) as err:
        gm.fit(data, [0.5, 60.0])
    assert str(err.value) == (
        "mu2 claims no data point: every responsibility c_i2 underflowed to 0, so its M-step "
        "Σ_i c_ij z_i / Σ_i c_ij is 0/0. Start mu2 nearer the data (the points span [0, 1], sigma = 1)."
    )


def test_the_harness_needs_the_data_object_not_a_bare_array():
    with pytest.raises(ValueError) as err:
        emtwin.compare("gaussian-means", data=DEFAULT.z, methods=["map"])
    assert str(err.value) == (
        "data must be a MixtureData (points, known sigma and k), e.g. "
        "MixtureData.from_array(z, k=2, sigma=1.0); got ndarray."
    )


def test_the_harness_rejects_a_start_outside_the_pymc_prior_before_either_twin_runs():
    # Default data span [−4.936, 4.756] (seed 0); the flat prior reaches 10σ beyond.
    lower, upper = DEFAULT.z.min() - 10.0, DEFAULT.z.max() + 10.0
    with pytest.raises(ValueError) as err:
        emtwin.compare("gaussian-means", start={"mu": [-1.0, 20.0]}, methods=["map"])
    assert str(err.value) == (
        f"start mu2 = 20 lies outside the PyMC twin's flat prior on the means, ({lower:.6g}, {upper:.6g}) "
        "(the data's range ± 10 sigma); start inside it."
    )
