"""EM derived from a PyMC model alone (`emtwin.derive_em`): the label posterior as E-step,
the maximiser of Q as M-step, through the project's one driver.

Oracles: the lecture's exact numbers (110/164 and 55/136 after one step on the interleaved
coins; Do & Batzoglou's 0.71/0.58 and 0.80/0.52), closed-form MAP-EM steps under a Beta
prior, SciPy's optimiser on the Poisson likelihood, and the hand-written EM of the same
model. Models come from the `em_twins` session cache: each compiles once per session.
"""

from __future__ import annotations

import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytest
from scipy import optimize, stats
from scipy.special import expit, logsumexp

import emtwin
from emtwin.comparisons import get_scenario
from emtwin.em_reference.driver import EMConvergenceWarning, run_em
from emtwin.models import derived, fitting



@pytest.fixture(scope="module")
def poisson(poisson_example):
    return poisson_example


@pytest.fixture(scope="module")
def poisson_runs(poisson):
    derived_run = emtwin.derive_em(poisson.build, poisson.counts, poisson.start)
    hand = run_em(poisson.counts, poisson.start, poisson.em.e_step, poisson.em.m_step, poisson.em.log_likelihood)
    return derived_run, hand


def test_the_public_name_is_the_module_function():
    assert emtwin.derive_em is derived.derive_em


def test_derived_em_follows_the_hand_written_em_every_iteration(poisson_runs):
    got, hand = poisson_runs
    assert got.converged and got.n_iter == hand.n_iter
    for name in ("lam", "weights"):
        assert np.max(np.abs(got.param_trace[name] - hand.param_trace[name])) < 1e-10
    assert np.max(np.abs(got.loglik_trace - hand.loglik_trace) / np.abs(hand.loglik_trace)) < 1e-13
    np.testing.assert_allclose(got.responsibilities, hand.responsibilities, atol=1e-13)


def test_derived_em_reaches_scipys_maximum(poisson_runs, poisson):
    def nll(v):
        lam1, lam2, w1 = np.exp(v[0]), np.exp(v[1]), expit(v[2])
        return -np.log(w1 * stats.poisson.pmf(poisson.counts, lam1)
                       + (1 - w1) * stats.poisson.pmf(poisson.counts, lam2)).sum()

    rough = optimize.minimize(nll, [0.0, 2.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    fine = optimize.minimize(nll, rough.x, method="BFGS", options={"gtol": 1e-9})
    got, _ = poisson_runs
    np.testing.assert_allclose(got.params["lam"], np.exp(fine.x[:2]), atol=1e-6)
    assert got.params["weights"][0] == pytest.approx(expit(fine.x[2]), abs=1e-6)
    assert got.log_likelihood == pytest.approx(-fine.fun, abs=1e-8)


def test_each_m_step_polishes_the_gradient_of_q_below_1e_10(poisson, poisson_runs):
    model = poisson.build(poisson.counts)
    q = derived.mixture_q(model)
    got, _ = poisson_runs
    for t in (0, 1, 5, got.n_iter - 1):
        theta = {n: got.param_trace[n][t] for n in ("lam", "weights")}
        step = q.maximise(theta, derived.label_posterior(model)(theta))
        assert step.gradient < derived.GRADIENT_TOL
        for name in ("lam", "weights"):
            np.testing.assert_allclose(step.params[name], got.param_trace[name][t + 1], rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- lecture numbers


@pytest.fixture(scope="module")
def coin_sets(em_twins):
    sc = get_scenario("coin-sets")
    return SimpleNamespace(data=sc.make_data(), build=em_twins.models.wrap(sc.build_model), sc=sc)


def test_interleaved_coins_one_step_is_110_164_and_55_136(em_twins):
    sc = get_scenario("interleaved-coins")
    with pytest.warns(EMConvergenceWarning):  # one iteration asked for: not converged, and said so
        run = emtwin.derive_em(em_twins.models.wrap(sc.build_model), sc.make_data(), {"p": np.array([0.5, 0.25])},
                               max_iter=1)
    np.testing.assert_allclose(run.param_trace["p"][1], [float(Fraction(110, 164)), float(Fraction(55, 136))],
                               rtol=0, atol=1e-12)


def test_coin_sets_match_do_and_batzoglou(coin_sets):
    run = emtwin.derive_em(coin_sets.build, coin_sets.data, coin_sets.sc.default_start)
    assert np.round(run.param_trace["theta"][1], 2).tolist() == [0.71, 0.58]
    assert np.round(run.params["theta"], 2).tolist() == [0.80, 0.52]
    hand = coin_sets.sc.fit_em(coin_sets.data, coin_sets.sc.default_start)
    assert run.n_iter == hand.n_iter
    # |∂Q/∂u| < 1e-10 leaves each M-step ~1e-11 from the closed form (measured 2.8e-12).
    assert np.max(np.abs(run.param_trace["theta"] - hand.param_trace["theta"])) < 1e-10


def test_map_em_climbs_to_the_posterior_mode_under_a_beta_2_2_prior(em_twins, coin_sets):
    data = coin_sets.data
    model_22 = em_twins.models.build(coin_sets.sc.build_model, data, {"prior": (2.0, 2.0)})
    build_22 = lambda _data: model_22  # noqa: E731
    start = {"theta": np.array([0.6, 0.5])}
    run = emtwin.derive_em(build_22, data, start, priors=True)
    # One MAP-EM step in closed form: θ_c = (Σ r h + a − 1) / (Σ r n + a + b − 2).
    joint = stats.binom.logpmf(data.heads[:, None], data.tosses[:, None], start["theta"])
    r = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    one_step = (r.T @ data.heads + 1) / (r.T @ data.tosses + 2)
    np.testing.assert_allclose(run.param_trace["theta"][1], one_step, rtol=0, atol=1e-12)
    # Its end is the MAP; without the prior in Q, the MLE (0.797, 0.520): MAP ≠ MLE.
    mode = fitting.fit_map(model_22, start)
    np.testing.assert_allclose(run.params["theta"], mode.params["theta"], atol=1e-6)
    mle = emtwin.derive_em(build_22, data, start, priors=False)
    assert np.round(mle.params["theta"], 3).tolist() == [0.797, 0.520]
    assert abs(run.params["theta"][0] - mle.params["theta"][0]) > 0.03  # theta_A pulled towards 1/2


def test_fit_map_is_pm_find_map_run_to_convergence(em_twins, coin_sets):
    """emtwin's MAP is PyMC's: find_MAP's objective (log-density without the Jacobian) and
    L-BFGS-B, run to ftol 1e-14. Shown on the coin sets under a Beta(2, 2) prior, where the
    prior is in the objective; the 2-D mixture's MAP test relies on it."""
    model_22 = em_twins.models.build(coin_sets.sc.build_model, coin_sets.data, {"prior": (2.0, 2.0)})
    start = {"theta": np.array([0.6, 0.5])}
    ours = fitting.fit_map(model_22, start)
    theirs = pm.find_MAP(model=model_22, initvals=start, jitter=False, return_inferencedata=True,
                         progressbar=False, options={"ftol": 1e-14, "gtol": 1e-9})
    assert ours.success and bool(theirs.optimizer_result["success"])
    # Measured: 7.4e-12 apart (two compiles of one objective, both stopped by ftol 1e-14).
    np.testing.assert_allclose(ours.params["theta"], theirs.posterior["theta"].values[0, 0], rtol=0, atol=1e-10)
    assert ours.params["theta"][0] != pytest.approx(0.7968, abs=1e-3)  # the prior moved it off the MLE


def test_map_em_under_the_flat_prior_is_the_mle(coin_sets):
    start = coin_sets.sc.default_start
    flat_map = emtwin.derive_em(coin_sets.build, coin_sets.data, start, priors=True)
    mle = emtwin.derive_em(coin_sets.build, coin_sets.data, start)
    np.testing.assert_allclose(flat_map.params["theta"], mle.params["theta"], atol=1e-12)


# --------------------------------------------------------------------------- start


def test_start_none_uses_a_finite_initial_point(monkeypatch):
    # PyMC compiles the initial point's function: in emtwin's arithmetic, as every compile
    # (models/precision.py), or its bits could depend on a warm cache.
    import pytensor

    fast_math_when_compiled = []
    own = pm.Model.initial_point
    monkeypatch.setattr(pm.Model, "initial_point", lambda self, *a, **k: fast_math_when_compiled.append(
        pytensor.config.numba__fastmath) or own(self, *a, **k))
    rates = np.array([2.0, 9.0])  # fixed components: only the weights are free

    def known_rates(counts):
        with pm.Model() as model:
            weights = pm.Dirichlet("weights", a=np.ones(2))
            pm.Mixture("counts", w=weights, comp_dists=pm.Poisson.dist(mu=rates), observed=counts)
        return model

    counts = np.random.default_rng(3).poisson(np.where(np.random.default_rng(4).random(200) < 0.3, 9.0, 2.0))
    run = emtwin.derive_em(known_rates, counts)
    assert fast_math_when_compiled and not any(fast_math_when_compiled)
    np.testing.assert_allclose(run.param_trace["weights"][0], [0.5, 0.5])  # Dirichlet's initial point
    p = stats.poisson.pmf(counts[:, None], rates)
    best = optimize.minimize_scalar(lambda w: -np.log(w * p[:, 0] + (1 - w) * p[:, 1]).sum(), bounds=(0, 1),
                                    method="bounded", options={"xatol": 1e-12})
    assert run.params["weights"][0] == pytest.approx(best.x, abs=1e-8)


def test_start_none_with_an_ordered_variable_asks_for_a_start(poisson):
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(poisson.build, poisson.counts)
    assert str(err.value) == (
        "start=None uses the model's initial point, which is not finite for ['lam'] (an ordering transform's "
        "default point ties the components, log 0 = -inf); pass start={...} with a value for each of the "
        "model's free variables ['lam', 'weights'], components in the model's order."
    )


def test_start_outside_the_support(poisson):
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(poisson.build, poisson.counts, {"lam": np.array([5.0, 1.0]), "weights": np.array([0.5, 0.5])})
    assert str(err.value) == (
        "start['lam'] = [5.0, 1.0] lies outside the support of the model's prior on lam (its bounds, or an "
        "ordering with ties)."
    )


# --------------------------------------------------------------------------- bad input


def test_a_model_without_a_mixture_has_no_latent_label():
    sc = get_scenario("one-coin")
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(sc.build_model, sc.make_data(), {"p": 0.5})
    assert str(err.value).endswith(
        "has no observed pm.Mixture (its observed variables are ['heads']): no latent label to derive an E-step "
        "from. Write the likelihood as pm.Mixture(...) or pm.NormalMixture(...) to derive EM from the model."
    )
    assert str(err.value).startswith("the model built by ")


def test_a_model_object_instead_of_its_builder(poisson):
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(poisson.build(poisson.counts), poisson.counts, poisson.start)
    assert str(err.value) == (
        "build_model must be a function (data) -> pm.Model; got Model. Pass the function that builds the "
        "model, e.g. build_model=my_model, not its result."
    )


def test_priors_must_be_a_bool(poisson):
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(poisson.build, poisson.counts, poisson.start, priors="yes")
    assert str(err.value) == "priors must be one of True, False (whether the model's log-priors are in Q); got 'yes'."


# --------------------------------------------------------------------------- the third twin in compare

MIXTURE_SCENARIOS = [
    "interleaved-coins", "coin-sets", "gaussian-means",
    # Compiling the Gaussian-mixture twins (and their Q) costs tens of seconds cold.
    pytest.param("gaussian-mixture", marks=pytest.mark.slow),
    pytest.param("gaussian-mixture-2d", marks=pytest.mark.slow),
]
COIN_HEADS, COIN_TOSSES = np.array([5, 9, 8, 4, 7]), 10  # Do & Batzoglou's five sets


@pytest.mark.parametrize("name", MIXTURE_SCENARIOS)
def test_every_mixture_scenario_gets_a_derived_em_column(name):
    c = emtwin.compare(name, methods=["map"])
    column = c.derived.columns["derived_em"]
    assert [r.name for r in c.rows] == list(column)
    for r in c.rows:
        assert r.derived_em == column[r.name]
        # Measured: 1.6e-10 at most (gaussian-mixture-2d, whose hand-written EM stops two
        # iterations later, each twin measuring tol in its own units); 1.4e-14 elsewhere.
        assert abs(r.em_minus_derived) <= 2e-9, r
    assert c.derived.label == "derived EM" and not c.derived.priors


def test_a_model_without_a_mixture_has_no_derived_column():
    c = emtwin.compare("one-coin", methods=["map"])
    assert c.derived is None
    assert [r.derived_em for r in c.rows] == [None]


def _tie_log_posterior(theta, a, b):
    """log p(θ_A = θ_B = θ | data) up to a constant, Beta(a, b) on each coin: with the coins
    tied the mixture is one binomial, so the mode is (Σh + 2(a−1)) / (Σn + 2(a+b−2))."""
    return COIN_HEADS.sum() * np.log(theta) + (COIN_TOSSES * 5 - COIN_HEADS.sum()) * np.log1p(-theta) \
        + 2 * ((a - 1) * np.log(theta) + (b - 1) * np.log1p(-theta))


def _grid_mode(a, b, size=801):
    """The posterior mode over θ_A >= θ_B on a grid of the closed-form density (an oracle
    that shares no code with either twin), to the grid's spacing."""
    grid = np.linspace(0.001, 0.999, size)
    ta, tb = np.meshgrid(grid, grid, indexing="ij")
    like = 0.5 * stats.binom.pmf(COIN_HEADS, COIN_TOSSES, ta[..., None]) \
        + 0.5 * stats.binom.pmf(COIN_HEADS, COIN_TOSSES, tb[..., None])
    logp = np.log(like).sum(-1) + stats.beta.logpdf(ta, a, b) + stats.beta.logpdf(tb, a, b)
    logp[ta < tb] = -np.inf
    i, j = np.unravel_index(np.argmax(logp), logp.shape)
    return np.array([grid[i], grid[j]]), grid[1] - grid[0]


def test_map_under_a_beta_20_20_prior_is_held_to_map_em_and_the_mle_differs():
    c = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (20, 20)})
    assert c.verdict == "agree"
    checks = {check.name: check for check in c.checks}
    held, logp = checks["MAP-EM vs MAP parameters"], checks["MAP-EM vs MAP log-density"]
    assert held.severity == logp.severity == "error" and held.passed and logp.passed
    # Measured 3.8e-8 (MAP's own stop: the mode ties the coins, the boundary of the ordered
    # coordinates MAP climbs in) and a log-density 1.1e-14 relative.
    assert held.value <= 4e-7
    assert logp.value <= 1e-12
    assert c.derived.priors and c.derived.label == "MAP-EM" and c.derived.em.converged
    # The mode, two ways: a grid of the closed-form posterior puts it on the tie, where it
    # is 71/126 exactly. MAP-EM reaches it within 2e-10 (measured), MAP within 4e-8.
    mode, spacing = _grid_mode(20.0, 20.0)
    tie = (COIN_HEADS.sum() + 38) / (5 * COIN_TOSSES + 76)
    assert tie == pytest.approx(71 / 126, abs=1e-15)
    np.testing.assert_allclose(mode, [tie, tie], atol=spacing)
    theta = np.linspace(tie - 1e-3, tie + 1e-3, 2001)
    assert abs(theta[np.argmax(_tie_log_posterior(theta, 20.0, 20.0))] - tie) < 1e-6
    for name in ("theta_A", "theta_B"):
        assert c.row(name).derived_em == pytest.approx(tie, abs=2e-9)
        assert c.row(name).map == pytest.approx(tie, abs=4e-7)
    # The MLE is elsewhere, and EM vs MAP says so without failing.
    mle_check = checks["EM vs MAP parameters"]
    assert mle_check.severity == "info" and not mle_check.passed and mle_check.value > 0.2
    assert mle_check.detail.endswith(
        "(not failed: the prior is not flat, so MAP is not the MLE; MAP is held to MAP-EM below)")
    assert np.round([c.row("theta_A").em, c.row("theta_B").em], 2).tolist() == [0.80, 0.52]


def test_map_under_a_beta_2_2_prior_equals_map_em():
    c = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (2, 2)})
    assert c.verdict == "agree"
    held = next(check for check in c.checks if check.name == "MAP-EM vs MAP parameters")
    assert held.value <= 1e-8  # measured 1.05e-9
    # The same posterior mode as the direct MAP-EM run of this module (closed-form first step).
    assert np.round([c.row("theta_A").derived_em, c.row("theta_B").derived_em], 4).tolist() == [0.7632, 0.5199]


def test_map_em_that_forgets_the_prior_fails_the_map_check(monkeypatch):
    """A deliberately wrong prior handling: the derived twin asked for MAP-EM runs plain EM
    (no log-priors in Q). MAP is then held to the MLE and the check must fail."""
    from emtwin.comparisons import derived_twin

    real = derived_twin.derive_em
    monkeypatch.setattr(derived_twin, "derive_em", lambda *args, priors=False, **kw: real(*args, priors=False, **kw))
    c = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (20, 20)})
    assert c.verdict == "disagree"
    failed = {check.name: check for check in c.failures}
    assert set(failed) == {"MAP-EM vs MAP parameters", "MAP-EM vs MAP log-density"}
    # 0.7968 (the MLE the wrong MAP-EM returns) − 71/126 (MAP).
    assert failed["MAP-EM vs MAP parameters"].value == pytest.approx(0.7967890669 - 71 / 126, abs=1e-6)


def test_derived_false_skips_the_derived_twin_and_its_q_compile():
    before = derived.mixture_q.cache_info()
    c = emtwin.compare("coin-sets", methods=["map"], derived=False)
    assert derived.mixture_q.cache_info() == before  # Q was neither compiled nor looked up
    assert c.derived is None
    assert all(r.derived_em is None for r in c.rows)
    assert not [check.name for check in c.checks if check.name.startswith(("derived EM", "MAP-EM"))]
    assert "derived_em" not in c.timings and c.settings["derived"] is False
    assert c.verdict == "agree"


def test_derived_false_under_a_prior_reports_map_against_em_only():
    c = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (2, 2)}, derived=False)
    assert c.verdict == "agree"
    names = [check.name for check in c.checks]
    assert "MAP-EM vs MAP parameters" not in names
    detail = next(check.detail for check in c.checks if check.name == "EM vs MAP parameters")
    assert detail.endswith("(not failed: the prior is not flat, so MAP is not the MLE)")


def test_no_derived_on_the_command_line(capsys):
    from emtwin.comparisons import cli

    code = cli.main(["compare", "coin-sets", "--methods", "map", "--no-derived", "--json", "--no-cache"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["settings"]["derived"] is False
    assert not [check["name"] for check in payload["checks"] if check["name"].startswith(("derived EM", "MAP-EM"))]


@pytest.mark.parametrize("value", [1, "no", None, np.bool_(False)])
def test_derived_must_be_a_bool(value):
    with pytest.raises(ValueError) as err:
        emtwin.compare("coin-sets", methods=["map"], derived=value)
    assert str(err.value) == (
        f"derived must be one of True, False (whether to run the EM derived from the PyMC model); got {value!r}."
    )


def test_keep_order_must_be_a_bool(poisson):
    with pytest.raises(ValueError) as err:
        emtwin.derive_em(poisson.build, poisson.counts, poisson.start, keep_order=0)
    assert str(err.value) == "keep_order must be one of True, False (whether Q is maximised with the ordering transform); got 0."


def _header(comparison):
    return comparison.table().splitlines()[1].split()


def test_the_text_table_shows_the_derived_column_named_for_what_ran():
    assert _header(emtwin.compare("coin-sets", methods=["map"])) == ["parameter", "EM", "derived", "EM", "MAP", "EM−MAP"]
    prior = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (20, 20)})
    assert _header(prior) == ["parameter", "EM", "MAP-EM", "MAP", "EM−MAP"]
    theta_a = prior.table().splitlines()[3].split()
    # the MLE (D&B's 0.80), then MAP-EM beside MAP at the Beta(20, 20) mode 71/126 = 0.56349
    assert theta_a[:4] == ["theta_A", "0.7968", "0.5635", "0.5635"]
    assert _header(emtwin.compare("coin-sets", methods=["map"], derived=False)) == ["parameter", "EM", "MAP", "EM−MAP"]
    assert prior.to_dict()["rows"][0]["derived_em"] == prior.row("theta_A").derived_em


def test_a_failing_map_em_check_marks_its_rows(monkeypatch):
    from emtwin.comparisons import derived_twin

    real = derived_twin.derive_em
    monkeypatch.setattr(derived_twin, "derive_em", lambda *args, priors=False, **kw: real(*args, priors=False, **kw))
    c = emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (20, 20)})
    theta_a = next(line for line in c.table().splitlines() if line.startswith("theta_A"))
    gap = abs(c.row("theta_A").derived_em - c.row("theta_A").map)
    assert theta_a.endswith(f"◀ FAIL |MAP-EM−MAP| = {gap:.2e} > 1e-04")
