"""Mixture of k Gaussians, weights, means and variances unknown: EM against independent
oracles (a loop-over-points EM, scipy.stats, scikit-learn, mixtools' published Old Faithful
fit), the collapse guard, input validation, and the PyMC twin (MAP, NUTS, harness)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.mixture import GaussianMixture

import emtwin
from emtwin.comparisons import harness
from emtwin.comparisons.scenarios.gaussian_mixture import SCENARIO_2D
from emtwin.em_reference import EMConvergenceWarning, run_em
from emtwin.em_reference import gaussian_mixture as gm
from emtwin.em_reference.gaussian_mixture import MixtureData, VarianceCollapseWarning
from emtwin.models import fitting
from emtwin.models import gaussian_mixture as pm_gm

FAITHFUL = gm.old_faithful()
WAITING = MixtureData.old_faithful("waiting")
BOTH = MixtureData.old_faithful(None)

# mixtools' normalmixEM man page (Old Faithful waiting times, k = 2), as quoted in its
# documentation and teaching notes: λ ≈ (0.361, 0.639), μ ≈ (54.61, 80.09), σ ≈ (5.87, 5.87).
# The man page runs arbvar = FALSE (one shared σ) with epsilon = 1e-3; the unequal-variance
# MLE has σ = 5.871, 5.868, so both round to these figures. Checked independently below
# (scipy stationary point, scikit-learn).
MIXTOOLS_WAITING = {"weights": ([0.361, 0.639], 3), "mu": ([54.61, 80.09], 2), "sigma": ([5.87, 5.87], 2)}


# --------------------------------------------------------------------------- independent oracles


def scipy_loglik(x: np.ndarray, params: dict) -> float:
    """Σ_i log Σ_j w_j N(x_i | μ_j, Σ_j) straight from scipy.stats, one component at a time."""
    w = params["weights"]
    if x.ndim == 1:
        dens = sum(w[j] * stats.norm.pdf(x, params["mu"][j], params["sigma"][j]) for j in range(len(w)))
    else:
        dens = sum(
            w[j] * stats.multivariate_normal.pdf(x, params["mu"][j], params["cov"][j]) for j in range(len(w))
        )
    return float(np.sum(np.log(dens)))


def one_step_by_loops(x: np.ndarray, params: dict) -> tuple[np.ndarray, dict]:
    """The slide's E-step and M-step point by point, with scipy densities and plain sums:
    the slow oracle for the vectorised EM twin (no floor; data where it does not bind)."""
    k, n = len(params["weights"]), len(x)
    resp = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            if x.ndim == 1:
                dens = stats.norm.pdf(x[i], params["mu"][j], params["sigma"][j])
            else:
                dens = stats.multivariate_normal.pdf(x[i], params["mu"][j], params["cov"][j])
            resp[i, j] = params["weights"][j] * dens
        resp[i] /= resp[i].sum()
    new = {"weights": np.zeros(k), "mu": [], "spread": []}
    for j in range(k):
        credit = sum(resp[i, j] for i in range(n))
        new["weights"][j] = credit / n
        mu = sum(resp[i, j] * x[i] for i in range(n)) / credit
        scatter = sum(resp[i, j] * np.outer(x[i] - mu, x[i] - mu) for i in range(n)) / credit
        new["mu"].append(mu)
        new["spread"].append(np.sqrt(scatter[0, 0]) if x.ndim == 1 else scatter)
    out = {"weights": new["weights"], "mu": np.array(new["mu"])}
    out["sigma" if x.ndim == 1 else "cov"] = np.array(new["spread"])
    return resp, out


START_1D = {"weights": np.array([0.3, 0.7]), "mu": np.array([50.0, 85.0]), "sigma": np.array([8.0, 6.0])}
START_2D = {
    "weights": np.array([0.4, 0.6]),
    "mu": np.array([[2.0, 55.0], [4.5, 80.0]]),
    "cov": np.array([[[0.3, 1.0], [1.0, 40.0]], [[0.3, 0.5], [0.5, 30.0]]]),
}


@pytest.mark.parametrize(("data", "start"), [(WAITING, START_1D), (BOTH, START_2D)], ids=["1-D", "2-D"])
def test_one_iteration_equals_the_loop_over_points_oracle(data, start):
    resp_oracle, params_oracle = one_step_by_loops(data.x, start)
    np.testing.assert_allclose(gm.e_step(data, start), resp_oracle, rtol=1e-10, atol=1e-14)
    result = run_em(data, start, gm.e_step, gm.m_step, gm.log_likelihood, max_iter=1, tol=1e6)
    for name, value in params_oracle.items():
        np.testing.assert_allclose(result.params[name], value, rtol=1e-10, err_msg=name)


@pytest.mark.parametrize(("data", "start"), [(WAITING, START_1D), (BOTH, START_2D)], ids=["1-D", "2-D"])
def test_log_likelihood_matches_scipy(data, start):
    assert gm.log_likelihood(data, start) == pytest.approx(scipy_loglik(data.x, start), rel=1e-12)


def test_old_faithful_ships_with_the_package():
    assert FAITHFUL.shape == (272, 2)
    assert FAITHFUL[0].tolist() == [3.6, 79.0]  # first row of R's datasets::faithful
    assert FAITHFUL[-1].tolist() == [4.467, 74.0]
    # R: mean(faithful$eruptions) = 3.487783, mean(faithful$waiting) = 70.89706
    np.testing.assert_allclose(FAITHFUL.mean(axis=0), [3.487783, 70.89706], atol=5e-7)
    assert WAITING.x.tolist() == FAITHFUL[:, 1].tolist()


# --------------------------------------------------------------------------- Old Faithful, 1-D


@pytest.fixture(scope="module")
def waiting_em():
    return gm.fit(WAITING)


def test_waiting_times_reproduce_the_published_mixtools_fit(waiting_em):
    assert waiting_em.converged
    for name, (published, digits) in MIXTOOLS_WAITING.items():
        assert np.round(waiting_em.params[name], digits).tolist() == published, name


def test_waiting_fit_is_a_stationary_point_of_the_scipy_likelihood(waiting_em):
    # An oracle that shares no code with EM: the scipy log-likelihood's gradient vanishes
    # at EM's answer in every free direction (weights move along the simplex).
    p = waiting_em.params
    base = {"weights": p["weights"].copy(), "mu": p["mu"].copy(), "sigma": p["sigma"].copy()}
    directions = [("weights", np.array([1.0, -1.0]))] + [
        (name, np.eye(2)[j]) for name in ("mu", "sigma") for j in range(2)
    ]
    eps = 1e-6
    for name, direction in directions:
        up = {**base, name: base[name] + eps * direction}
        down = {**base, name: base[name] - eps * direction}
        grad = (scipy_loglik(WAITING.x, up) - scipy_loglik(WAITING.x, down)) / (2 * eps)
        assert abs(grad) < 1e-4, (name, direction, grad)
    assert waiting_em.log_likelihood == pytest.approx(scipy_loglik(WAITING.x, p), rel=1e-12)


def test_em_starts_all_reach_the_same_waiting_maximum():
    result = gm.fit(WAITING, n_starts=8, seed=2)
    assert len(result.local_maxima) == 1
    assert result.local_maxima[0].n_starts == 8


# --------------------------------------------------------------------------- scikit-learn


# Three well-separated bumps (seeded): on Old Faithful's waiting times a third component
# makes EM crawl (9345 iterations), and then the two programs' stopping rules, not their
# EM steps, decide the last digits.
_rng = np.random.default_rng(11)
THREE_BUMPS = MixtureData(np.concatenate([_rng.normal(0, 1, 80), _rng.normal(5, 0.7, 50), _rng.normal(12, 2, 70)]), 3)


def sklearn_fit(x: np.ndarray, start: dict) -> GaussianMixture:
    """scikit-learn's EM from the same start; reg_covar=0 (no added variance, our floor
    does not bind here); its tol is on the change of the *mean* per-point log-likelihood."""
    cols = x[:, None] if x.ndim == 1 else x
    k, d = len(start["weights"]), cols.shape[1]
    cov = start["cov"] if "cov" in start else np.asarray(start["sigma"])[:, None, None] ** 2
    return GaussianMixture(
        n_components=k, covariance_type="full", tol=1e-15, reg_covar=0.0, max_iter=100_000,
        weights_init=start["weights"], means_init=np.asarray(start["mu"]).reshape(k, d),
        precisions_init=np.linalg.inv(cov), init_params="random_from_data", random_state=0,
    ).fit(cols)


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (WAITING, START_1D),
        (THREE_BUMPS, {"weights": np.full(3, 1 / 3), "mu": np.array([-1.0, 3.0, 10.0]),
                       "sigma": np.array([1.0, 1.0, 1.0])}),
        (BOTH, START_2D),
    ],
    ids=["1-D k=2", "1-D k=3", "2-D k=2"],
)
def test_em_agrees_with_scikit_learn_from_the_same_start(data, start):
    ours = gm.fit(data, start)
    theirs = sklearn_fit(data.x, start)
    assert ours.converged and theirs.converged_
    assert ours.log_likelihood == pytest.approx(theirs.score(data.x.reshape(data.n, -1)) * data.n, rel=1e-10)
    order = np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours.params["weights"], theirs.weights_[order], atol=1e-6)
    np.testing.assert_allclose(ours.params["mu"], theirs.means_[order].reshape(ours.params["mu"].shape), atol=1e-5)
    if "sigma" in ours.params:
        np.testing.assert_allclose(ours.params["sigma"], np.sqrt(theirs.covariances_[order, 0, 0]), atol=1e-5)
    else:
        np.testing.assert_allclose(ours.params["cov"], theirs.covariances_[order], atol=1e-5)


# --------------------------------------------------------------------------- properties


@st.composite
def mixtures(draw):
    """A small random data set (1-D or 2-D, N from 3 to 40) with a valid random start."""
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.sampled_from([None, 2]))
    n = draw(st.integers(3, 40))
    k = draw(st.integers(1, 3))
    rng = np.random.default_rng(seed)
    shape = (n,) if d is None else (n, d)
    x = rng.normal(size=shape) * rng.uniform(0.1, 10) + rng.choice([0.0, 5.0], size=shape)
    data = MixtureData(x, k)
    means = x[rng.choice(n, size=k, replace=False)]
    spread = rng.uniform(0.2, 2.0, size=k)
    w = rng.dirichlet(np.ones(k) * 2)
    start = {"weights": w, "mu": means}
    if d is None:
        start["sigma"] = spread * x.std()
    else:
        start["cov"] = np.array([np.diag(s * x.var(axis=0)) for s in spread])
    return data, start


# Found by Hypothesis on a fresh machine (2026-12-04): a component on two points whose
# coordinate 1, given coordinate 0, sits on the floor while its plain variance is 180. The
# floor holds in exact arithmetic; v recomputed from Σ lost 0.13 ulp of Σ_11 (1.5e-9 of the floor).
FLOOR_UNDER_A_WIDE_VARIANCE = (
    MixtureData(np.array([[4.7461429, 3.49382329], [0.08709872, -0.18419951], [6.07294884, -2.48070508],
                          [6.07240932, -0.81176779], [-3.54139875, 1.46143814], [-4.28737419, 1.11772414]]), 3),
    {"weights": np.array([0.45056494, 0.08552368, 0.46391138]),
     "mu": np.array([[6.07240932, -0.81176779], [4.7461429, 3.49382329], [-3.54139875, 1.46143814]]),
     "cov": np.array([np.diag([27.20415423, 5.11983155]), np.diag([20.43649238, 3.84615517]),
                      np.diag([9.83157577, 1.85030607])])},
)


@settings(max_examples=60, deadline=None)
@given(mixtures())
@example(FLOOR_UNDER_A_WIDE_VARIANCE)
def test_log_likelihood_never_decreases_and_responsibilities_are_probabilities(case):
    data, start = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EMConvergenceWarning)
        result = run_em(data, start, gm.e_step, gm.m_step, gm.log_likelihood, max_iter=60)
    trace = result.loglik_trace
    # EM's ascent property; with tiny N components collapse onto points and the floored
    # M-step is the constrained maximiser, so the property still holds.
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:])), trace
    resp = result.responsibilities
    assert np.all((resp >= 0) & (resp <= 1))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.params["weights"].sum(), 1.0, rtol=1e-12)
    variances = gm.conditional_variances(data, result.params)
    # The floor holds exactly; v_c = Σ_cc − (regression on the earlier coordinates), computed
    # again from the floored Σ, carries the rounding of that subtraction: a few ulps of Σ_cc,
    # which is far more than an ulp of v_c where the regression explains most of Σ_cc.
    cov = result.params["cov"] if data.x.ndim == 2 else result.params["sigma"][:, None, None] ** 2
    rounding = 4 * np.finfo(float).eps * np.diagonal(cov, axis1=1, axis2=2)  # (k, d), as variances
    assert np.all(variances >= data.var_floor * (1 - 1e-9) - rounding)


def test_more_starts_never_do_worse():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, 60), rng.normal(4, 0.5, 30), rng.normal(9, 2, 40)])
    data = MixtureData(x, 3)
    one = gm.fit(data, n_starts=1)
    many = gm.fit(data, n_starts=12, seed=1)
    assert many.log_likelihood >= one.log_likelihood - 1e-9
    assert many.local_maxima[0].log_likelihood == many.log_likelihood


def test_result_is_in_canonical_order_with_traces_and_responsibilities_relabelled():
    swapped = {"weights": START_1D["weights"][::-1], "mu": START_1D["mu"][::-1], "sigma": START_1D["sigma"][::-1]}
    result = gm.fit(WAITING, swapped)
    assert result.params["mu"][0] < result.params["mu"][1]
    # Row 0 of the trace is the start, relabelled the same way as the answer.
    assert result.param_trace["mu"][0].tolist() == [50.0, 85.0]
    # Component 0 (mean ≈ 54.6) owns the short waits: the 43-minute wait is all its.
    assert result.responsibilities[np.argmin(WAITING.x), 0] > 0.999


def test_tiny_values_do_not_underflow():
    # exp(-(x - μ)²/2σ²) is 0.0 in float64 for every component once the point is ~39 SDs
    # away; the log-space E-step still gives the nearer component the point.
    data = MixtureData(np.array([0.0, 0.1, 0.2, 100.0, 100.1, 500.0]), 2)
    params = {"weights": np.array([0.5, 0.5]), "mu": np.array([0.1, 100.05]), "sigma": np.array([0.1, 0.1])}
    resp = gm.e_step(data, params)
    assert np.all(np.isfinite(resp))
    assert resp[-1].tolist() == [0.0, 1.0]  # 500 is nearer 100.05 than 0.1


# --------------------------------------------------------------------------- the collapse guard


def test_a_component_started_on_an_outlier_collapses_onto_the_floor_and_warns():
    x = np.append(FAITHFUL[:, 1], 150.0)  # one waiting time far beyond the others (max 96)
    data = MixtureData(x, 2)
    expected_floor = 1e-6 * np.var(x)  # the documented default, computed here independently
    start = {"weights": np.array([1 - 1 / 273, 1 / 273]), "mu": np.array([70.0, 150.0]), "sigma": np.array([14.0, 1.0])}
    with pytest.warns(VarianceCollapseWarning) as record:
        result = gm.fit(data, start)
    [w] = [r.message for r in record if isinstance(r.message, VarianceCollapseWarning)]
    assert (w.component, w.coordinate) == (1, 0)
    assert w.floor == pytest.approx(expected_floor, rel=1e-12)
    # It holds exactly one point, so the slide's variance formula gives 0 (up to rounding).
    assert 0.0 <= w.variance < 1e-20
    assert w.n_points == pytest.approx(1.0, abs=1e-6)
    assert str(w) == (
        f"component 2 (index 1) collapsed: the M-step gives coordinate 0 variance {w.variance:.3g} (given the "
        f"coordinates before it), below var_floor = {w.floor:.3g} (squared data units), so it is held "
        f"at the floor. The component holds {w.n_points:.3g} points' worth of responsibility. The "
        "likelihood grows without bound as a variance goes to 0, so this maximum is an artefact of "
        "the floor: start elsewhere or use fewer components."
    )
    assert result.params["mu"][1] == pytest.approx(150.0, abs=1e-9)
    assert result.params["sigma"][1] == pytest.approx(np.sqrt(expected_floor), rel=1e-12)
    assert np.all(np.isfinite(result.loglik_trace))


def test_a_collapsed_2d_component_is_held_at_the_floor_in_every_coordinate():
    x = np.vstack([FAITHFUL, [6.0, 150.0]])
    data = MixtureData(x, 2)
    start = {
        "weights": np.array([1 - 1 / 273, 1 / 273]),
        "mu": np.array([[3.5, 70.0], [6.0, 150.0]]),
        "cov": np.array([np.cov(FAITHFUL, rowvar=False), np.diag([0.1, 1.0])]),
    }
    with pytest.warns(VarianceCollapseWarning) as record:
        result = gm.fit(data, start)
    collapsed = [r.message for r in record if isinstance(r.message, VarianceCollapseWarning)]
    assert sorted((w.component, w.coordinate) for w in collapsed) == [(1, 0), (1, 1)]
    # One point has zero scatter: nothing to regress, so the floored covariance is diagonal.
    np.testing.assert_allclose(result.params["cov"][1], np.diag(1e-6 * np.var(x, axis=0)), rtol=1e-12, atol=0)


def test_an_explicit_floor_is_respected():
    data = MixtureData(np.array([0.0, 1.0, 2.0, 10.0]), 2, var_floor=0.25)
    with pytest.warns(VarianceCollapseWarning):
        result = gm.fit(data, {"weights": [0.75, 0.25], "mu": [1.0, 10.0], "sigma": [1.0, 1.0]})
    assert result.params["sigma"][1] == 0.5  # √0.25: one point, held at the floor


def test_a_component_far_from_every_point_is_reported_not_turned_into_nan():
    # N(x | 10000, 1) = exp(-5e7) == 0.0 for every waiting time: component 2 holds nothing.
    start = {"weights": [0.5, 0.5], "mu": [70.0, 1e4], "sigma": [10.0, 1.0]}
    with pytest.raises(FloatingPointError) as err:
        gm.fit(WAITING, start)
    assert str(err.value) == (
        "component 2 holds no data point: every responsibility c_i2 underflowed to 0, so its M-step "
        "Σ_i c_ij x_i / Σ_i c_ij is 0/0. Start it nearer the data."
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("x", "k", "message"),
    [
        ([], 1, "data is empty; give at least one data point."),
        (np.zeros((2, 2, 2)), 1, "data must be a 1-D array of N points or a 2-D array of shape (N, d); got shape (2, 2, 2)."),
        ([1.0, float("nan"), 3.0], 1, "data must hold finite numbers; got nan at index 1 (1 non-finite value in all)."),
        ([[1.0, 2.0], [3.0, float("inf")], [float("-inf"), 0.0]], 1,
         "data must hold finite numbers; got inf at index (1, 1) (2 non-finite values in all)."),
        (["a", "b"], 1, "data must hold real numbers; got dtype <U1."),
        ([3.0, 3.0, 3.0], 1, "data has no spread: every value is 3. A Gaussian mixture needs positive variance in every coordinate."),
        ([[1.0, 2.0], [3.0, 2.0]], 1, "data has no spread in column 1: every value is 2. A Gaussian mixture needs positive variance in every coordinate."),
        ([1.0, 2.0, 3.0], 0, "k must be a whole number >= 1 (the number of components); got 0."),
        ([1.0, 2.0, 3.0], 2.5, "k must be a whole number >= 1 (the number of components); got 2.5."),
        ([1.0, 2.0], 3, "k = 3 components need at least 3 distinct data points; data has 2."),
        ([1.0, 1.0, 2.0, 2.0], 3, "k = 3 components need at least 3 distinct data points; data has 2."),
    ],
)
def test_bad_data_is_rejected_with_a_clear_message(x, k, message):
    with pytest.raises(ValueError) as err:
        MixtureData(np.asarray(x), k)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("var_floor", "message"),
    [
        (-1.0, "var_floor must be a positive finite number or one per coordinate (variances, in squared data units); got -1.0."),
        ([1.0, 2.0, 3.0], "var_floor must be a positive finite number or one per coordinate (variances, in squared data units); "
                          "got [1.0, 2.0, 3.0] for data with 2 coordinates."),
    ],
)
def test_bad_floor_is_rejected(var_floor, message):
    with pytest.raises(ValueError) as err:
        MixtureData(FAITHFUL, 2, var_floor=var_floor)
    assert str(err.value) == message


def _with(start: dict, **changes) -> dict:
    return {**{k: np.asarray(v) for k, v in start.items()}, **{k: np.asarray(v) for k, v in changes.items()}}


@pytest.mark.parametrize(
    ("data", "start", "message"),
    [
        (WAITING, _with(START_1D, weights=[0.5, 0.6]), "weights must sum to 1; got [0.5, 0.6], which sum to 1.1."),
        (WAITING, _with(START_1D, weights=[1.0, 0.0]), "weights must all be > 0; got [1.0, 0.0]."),
        (WAITING, _with(START_1D, weights=[1.2, -0.2]), "weights must all be > 0; got [1.2, -0.2]."),
        (WAITING, _with(START_1D, sigma=[5.0, -1.0]), "sigma must all be > 0 (standard deviations, data units); got [5.0, -1.0]."),
        (WAITING, _with(START_1D, sigma=[5.0, 0.0]), "sigma must all be > 0 (standard deviations, data units); got [5.0, 0.0]."),
        (WAITING, _with(START_1D, mu=[50.0, 60.0, 70.0]), "start['mu'] must have shape (2,) (k = 2); got shape (3,)."),
        (WAITING, _with(START_1D, mu=[50.0, float("nan")]), "start['mu'] must hold finite numbers; got [50.0, nan]."),
        (WAITING, {"weights": [0.5, 0.5], "mu": [50.0, 80.0], "cov": np.ones((2, 1, 1))},
         "start must give exactly weights, mu, sigma for 1-D data; unknown ['cov'], missing ['sigma']."),
        (WAITING, {"weights": [0.5, 0.5], "mu": [60.0, 60.0], "sigma": [5.0, 5.0]},
         "start gives components 1 and 2 identical weight, mean and spread; that is EM's symmetric fixed point "
         "(they get equal responsibilities and stay equal forever). Start them apart."),
        (WAITING, [0.5, 0.5], "start must be a dict with keys weights, mu, sigma; got list."),
        (BOTH, _with(START_2D, cov=[[1.0, 0.0], [0.0, 1.0]]), "start['cov'] must have shape (2, 2, 2) (k = 2, d = 2); got shape (2, 2)."),
        (BOTH, _with(START_2D, cov=[[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
         "cov[0] must be symmetric; got [[1.0, 0.5], [0.0, 1.0]]."),
        (BOTH, _with(START_2D, cov=[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]]),
         "cov[1] must be positive definite; got [[1.0, 0.0], [0.0, 0.0]] with eigenvalues [0.0, 1.0]."),
        (BOTH, _with(START_2D, mu=[2.0, 4.0]), "start['mu'] must have shape (2, 2) (k = 2, d = 2); got shape (2,)."),
        (BOTH, {"weights": [0.5, 0.5], "mu": [[2.0, 55.0], [4.5, 80.0]], "sigma": [1.0, 1.0]},
         "start must give exactly weights, mu, cov for data of shape (N, 2); unknown ['sigma'], missing ['cov']."),
    ],
)
def test_bad_starts_are_rejected_with_a_clear_message(data, start, message):
    with pytest.raises(ValueError) as err:
        gm.fit(data, start)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gm.fit(WAITING, n_starts=0), "n_starts must be a whole number >= 1; got 0."),
        (lambda: gm.fit(WAITING, k=3), "k = 3 conflicts with data.k = 2; give k only when data is a plain array."),
        (lambda: gm.fit(WAITING, var_floor=1.0),
         f"var_floor = 1.0 conflicts with data.var_floor = [{float(WAITING.var_floor[0])!r}]; "
         "give var_floor only when data is a plain array."),
        (lambda: gm.fit(FAITHFUL[:, 1]), "k is required when data is a plain array and start gives no 1-D weights to count."),
        (lambda: gm.fit(FAITHFUL[:, 1], k=300), "k = 300 components need at least 300 distinct data points; data has 51."),
        (lambda: gm.fit(FAITHFUL[:, 1], START_1D, k=3), "start['weights'] must have shape (3,) (k = 3); got shape (2,)."),
    ],
)
def test_bad_fit_arguments_are_rejected(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_plain_arrays_are_accepted_with_k_from_the_start():
    result = gm.fit(FAITHFUL[:, 1], START_1D)
    np.testing.assert_allclose(result.params["mu"], [54.6149, 80.0911], atol=1e-4)


def test_the_harness_rejects_an_unorderable_start_before_pymc_runs():
    start = {"weights": [0.5, 0.5], "mu": [60.0, 60.0], "sigma": [5.0, 9.0]}
    with pytest.raises(ValueError) as err:
        emtwin.compare("gaussian-mixture", start=start, methods=["map"])
    assert str(err.value) == (
        "start['mu'] = [60.0, 60.0] has equal values; the PyMC twin orders components by the first "
        "coordinate of their means, so those must differ."
    )


@pytest.mark.parametrize(
    ("scenario", "data", "message"),
    [
        ("gaussian-mixture", BOTH,
         "the gaussian-mixture scenario fits 1-D data, shape (N,); got data of shape (272, 2). Use gaussian-mixture-2d."),
        (SCENARIO_2D, WAITING,
         "the gaussian-mixture-2d scenario fits data of shape (N, d); got data of shape (272,). Use gaussian-mixture."),
        ("gaussian-mixture", FAITHFUL[:, 1],
         "data must be a MixtureData (points, k, var_floor); got ndarray. Build one with MixtureData(x, k)."),
    ],
)
def test_the_harness_rejects_data_of_the_wrong_kind(scenario, data, message):
    # The harness itself: emtwin.compare builds a Scenario object's model before EM runs.
    with pytest.raises(ValueError) as err:
        harness.compare_twins(scenario, data=data, methods=["map"])
    assert str(err.value) == message


def test_the_harness_rejects_model_options():
    with pytest.raises(ValueError) as err:
        emtwin.compare("gaussian-mixture", methods=["map"], model_options={"prior": (2.0, 2.0)})
    assert str(err.value) == (
        "model_options are not used by the Gaussian-mixture twin (its priors are fixed by the data); "
        "got ['prior']. Set k and var_floor on the MixtureData."
    )


def test_gaussian_mixture_is_registered_after_the_coin_scenarios():
    names = list(emtwin.SCENARIOS)
    assert emtwin.SCENARIOS["gaussian-mixture"].make_data().x.tolist() == FAITHFUL[:, 1].tolist()
    assert names.index("gaussian-mixture") > names.index("coin-sets")


# --------------------------------------------------------------------------- the PyMC twin, 1-D


@pytest.fixture(scope="module")
def waiting_comparison():
    """The registered scenario, MAP and a short NUTS run (one 1-D model compile)."""
    return emtwin.compare("gaussian-mixture", methods=["map", "nuts"], seed=0,
                          nuts_options={"draws": 500, "tune": 500, "chains": 2})


def test_twins_agree_on_the_waiting_times(waiting_comparison):
    # Needs fit_map to run L-BFGS-B past scipy's default stop (an iteration gaining less
    # than 2.2e-9 × |log posterior|, ~2.3e-6 nats here), which leaves the means 1e-5 to
    # 5e-4 minutes from the maximum depending on the start.
    c = waiting_comparison
    assert c.verdict == "agree", c.table()
    assert c.failures == []
    for row in c.rows:
        assert abs(row.em - row.map) <= 1e-4, row
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-8)
    assert [r.name for r in c.rows] == ["weights1", "weights2", "mu1", "mu2", "sigma1", "sigma2"]


def test_map_reproduces_the_published_fit(waiting_comparison):
    for name, (published, digits) in MIXTOOLS_WAITING.items():
        values = [waiting_comparison.row(f"{name}{j}").map for j in (1, 2)]
        assert np.round(values, digits).tolist() == published, name


def test_the_pymc_likelihood_is_the_scipy_likelihood(waiting_comparison):
    em = waiting_comparison.em.params
    model = pm_gm.build_model(WAITING.x, k=2, var_floor=WAITING.var_floor)
    assert fitting.log_likelihood(model, em) == pytest.approx(scipy_loglik(WAITING.x, em), rel=1e-12)


def test_nuts_posterior_contains_the_mle(waiting_comparison):
    c = waiting_comparison
    d = c.nuts.diagnostics
    assert (d["draws"], d["tune"], d["chains"]) == (500, 500, 2)
    assert d["divergences"] == 0
    for row in c.rows:
        assert row.hdi_low <= row.em <= row.hdi_high, row
        assert abs(row.z_nuts) < 1.0, row
    # Flat prior on σ and a right-skewed likelihood in σ: the posterior mean sits above the
    # MLE (the mode), the Bayesian-vs-ML lesson of this scenario.
    assert c.row("sigma1").nuts_mean > c.row("sigma1").em


# --------------------------------------------------------------------------- the PyMC twin, d-D


@pytest.fixture(scope="module")
def model_2d():
    return pm_gm.build_model(BOTH.x, k=2, var_floor=BOTH.var_floor, columns=BOTH.columns)


def test_2d_model_exposes_the_em_names(model_2d):
    assert fitting.free_names(model_2d) == ["weights", "mu_first", "chol_log_diag", "mu_rest", "chol_offdiag"]
    assert [d.name for d in model_2d.deterministics] == ["mu", "cov"]


def test_2d_likelihoods_agree_at_ems_answer(model_2d):
    em = gm.fit(BOTH).params
    point = pm_gm.free_values(em)
    ll_pymc = fitting.log_likelihood(model_2d, point)
    assert ll_pymc == pytest.approx(scipy_loglik(BOTH.x, em), rel=1e-12)
    assert ll_pymc == pytest.approx(gm.log_likelihood(BOTH, em), rel=1e-12)


def test_2d_map_is_the_mle_when_the_optimiser_runs_to_convergence(model_2d):
    # PyMC's default L-BFGS-B stops on a relative change of the objective of 2.2e-9 (about
    # 2.5e-6 nats here), which leaves the covariances ~5e-4 from the maximum; fit_map runs
    # find_MAP's objective and optimiser to ftol 1e-14 (tests/test_derived_em.py shows it is
    # find_MAP's answer) to show the model's maximiser is EM's. Through fit_map, the objective
    # is the one compiled graph every 2-D MAP shares: find_MAP's own was a 65 s compile of
    # its own on a fresh machine.
    em = gm.fit(BOTH)
    start = pm_gm.free_values(gm.default_start(BOTH))
    result = fitting.fit_map(model_2d, start)
    assert result.success, result.message
    for name in ("weights", "mu", "cov"):
        np.testing.assert_allclose(result.params[name], em.params[name], atol=1e-4, rtol=0, err_msg=name)
    assert result.log_likelihood == pytest.approx(em.log_likelihood, rel=1e-12)


def test_2d_scenario_maps_ems_covariances_to_the_cholesky_variables():
    em = gm.fit(BOTH).params
    swapped = {name: value[::-1] for name, value in em.items()}
    # The one ordering (Components, by mu[:, 0]) puts the swapped labels back; to_model
    # only translates to the model's variables.
    point = SCENARIO_2D.to_model(SCENARIO_2D.components.canonical(swapped))
    chol = np.linalg.cholesky(em["cov"][0])
    assert point["mu_first"].tolist() == em["mu"][:, 0].tolist()
    np.testing.assert_allclose(point["chol_log_diag"][0], np.log(np.diag(chol)), rtol=1e-14)
    assert point["chol_offdiag"][0, 0] == pytest.approx(chol[1, 0], rel=1e-14)


@pytest.mark.slow
def test_2d_twins_agree_via_the_harness():
    # Same stopping-rule dependence as the 1-D harness test (see there).
    c = emtwin.compare(SCENARIO_2D, methods=["map"])
    assert c.verdict == "agree", c.table()
    assert {r.name for r in c.rows} >= {"weights1", "mu2[1]", "cov1[0,1]", "cov2[1,1]"}
    assert c.map.log_likelihood == pytest.approx(c.em.log_likelihood, rel=1e-8)
    floor_check = next(check for check in c.checks if check.name == "EM variances above the floor")
    assert floor_check.passed and floor_check.value > 1e4
