"""A user's EM checked step by step against its PyMC model (`emtwin.check_steps`).

The user is the Poisson example (`examples/poisson_mixture/`). Each classic slip is put into
its E-step, M-step or log-likelihood, and the check must name the first iteration, step and
parameter where it shows. Expected values come from SciPy's Poisson pmf, not from either twin.
The model is built once for the session (the `em_twins` fixture's cache), so PyTensor
compiles its label posterior, Q and log-likelihood once.
"""

from __future__ import annotations


import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln, logsumexp

import emtwin
from emtwin.em_reference.driver import run_em
from emtwin.models import steps



@pytest.fixture(scope="module")
def example(poisson_example):
    return poisson_example


def scipy_posterior(counts, params):
    """Pr(z_i = k | x_i) from scipy.stats.poisson, in log space."""
    joint = np.log(params["weights"]) + stats.poisson.logpmf(counts[:, None], params["lam"])
    return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


def scipy_m_step(counts, resp):
    """The closed-form M-step, written here: λ_k = Σ r x / Σ r, w_k = mean r."""
    return {"lam": resp.T @ counts / resp.sum(axis=0), "weights": resp.mean(axis=0)}


def scipy_loglik(counts, params):
    return float(logsumexp(np.log(params["weights"]) + stats.poisson.logpmf(counts[:, None], params["lam"]), axis=1).sum())


def run(example, e_step=None, m_step=None, log_likelihood="default", start=None, **options):
    return emtwin.check_steps(
        e_step or example.em.e_step, m_step or example.em.m_step, example.counts, example.build,
        example.start if start is None else start,
        log_likelihood=example.em.log_likelihood if log_likelihood == "default" else log_likelihood, **options,
    )


@pytest.fixture(scope="module")
def correct(example):
    return run(example)


@pytest.fixture(scope="module")
def buggy(example):
    return run(example, m_step=example.em.m_step_buggy)


# --------------------------------------------------------------------------- a correct EM


def test_the_public_names_are_the_module_functions():
    assert emtwin.check_steps is steps.check_steps
    assert emtwin.testing.assert_steps_agree.__module__ == "emtwin.testing"


def test_a_correct_em_agrees_at_every_step_until_it_converges(correct, example):
    assert correct.verdict == "agree"
    assert correct.first_failure is None and correct.warnings == [] and correct.notes == []
    assert correct.converged
    # As many iterations as the driver's run of the same EM (same stopping rule).
    driver = run_em(example.counts, example.start, example.em.e_step,
                     example.em.m_step, example.em.log_likelihood)
    assert correct.n_iter == driver.n_iter == len(correct.rows)
    assert max(r.e_gap for r in correct.rows) < 1e-13
    assert max(r.m_gap for r in correct.rows) < 1e-12
    assert max(r.loglik_gap for r in correct.rows) < 1e-13
    assert np.all(np.diff([r.loglik for r in correct.rows]) >= -1e-9)
    assert correct.rows[0].loglik == pytest.approx(
        scipy_loglik(example.counts, scipy_m_step(example.counts, scipy_posterior(example.counts, example.start))),
        rel=1e-12)


def test_the_table_has_one_row_per_iteration_and_no_marks(correct):
    lines = correct.table().splitlines()
    assert lines[1].split() == ["iter", "e_step", "max|r−r*|", "m_step", "max|θ−θ*|", "log-lik", "(model)",
                                "rel", "|ll−ll*|"]
    assert [int(line.split()[0]) for line in lines[3:3 + correct.n_iter]] == list(range(1, correct.n_iter + 1))
    assert "◀" not in correct.table()
    assert lines[-1] == "verdict: AGREE"


# --------------------------------------------------------------------------- section 3: bugs


def test_m_step_dividing_by_n_fails_at_iteration_1_on_lam(buggy, example):
    r = scipy_posterior(example.counts, example.start)
    right = scipy_m_step(example.counts, r)
    failure = buggy.first_failure
    assert (failure.iteration, failure.step, failure.parameter) == (1, "m_step", "lam")
    np.testing.assert_allclose(failure.expected, right["lam"], rtol=1e-10)
    np.testing.assert_allclose(failure.got, r.T @ example.counts / len(example.counts), rtol=1e-12)
    assert buggy.rows[0].m_gaps["weights"] < 1e-12  # weights are right: only lam fails
    assert buggy.verdict == "disagree"
    assert buggy.message.startswith(
        f"iteration 1, m_step, lam: expected [{right['lam'][0]:.8g}, {right['lam'][1]:.8g}], "
        f"got [{failure.got[0]:.8g}, {failure.got[1]:.8g}] (lowers Q from "
    )


def test_the_failing_cell_is_marked_in_the_table(buggy):
    lines = buggy.table().splitlines()
    row = lines[3]
    assert row.split()[:4] == ["1", f"{buggy.rows[0].e_gap:.2e}", f"{buggy.rows[0].m_gap:.2e}", "◀"]
    assert lines[-2] == f"first failure: {buggy.first_failure}"
    assert lines[-1] == "verdict: DISAGREE"


def test_e_step_without_the_weights_fails_where_the_weights_are_unequal(example):
    def e_step_no_weights(counts, params):  # r_ik ∝ Poisson(x_i | λ_k): the weights left out
        return scipy_posterior(counts, {"lam": params["lam"], "weights": np.array([0.5, 0.5])})

    unequal = {"lam": np.array([1.0, 5.0]), "weights": np.array([0.7, 0.3])}
    check = run(example, e_step=e_step_no_weights, start=unequal)
    f = check.first_failure
    assert (f.iteration, f.step, f.parameter) == (1, "e_step", "responsibilities")
    i = int(f.detail.split()[1].rstrip(","))
    np.testing.assert_allclose(f.expected, scipy_posterior(example.counts, unequal)[i], rtol=1e-12)
    # From the example's equal weights the first E-step is right; the M-step makes them unequal.
    later = run(example, e_step=e_step_no_weights)
    assert (later.first_failure.iteration, later.first_failure.step) == (2, "e_step")
    assert later.rows[0].status == {"e_step": "ok", "m_step": "ok", "log_likelihood": "ok"}


def test_e_step_whose_rows_do_not_sum_to_one(example):
    def e_step_unnormalised(counts, params):
        return np.exp(np.log(params["weights"]) + stats.poisson.logpmf(counts[:, None], params["lam"]))

    f = run(example, e_step=e_step_unnormalised).first_failure
    assert (f.iteration, f.step, f.parameter) == (1, "e_step", "responsibilities")
    assert "rows of the E-step must sum to one, this one sums to " in f.detail
    assert float(f.detail.rsplit(" ", 1)[1]) == pytest.approx(float(np.sum(f.got)), rel=1e-9)


def test_m_step_with_the_wrong_weight_denominator(example):
    def m_step_weights_over_n_minus_1(counts, resp):
        return {"lam": resp.T @ counts / resp.sum(axis=0), "weights": resp.sum(axis=0) / (len(counts) - 1)}

    f = run(example, m_step=m_step_weights_over_n_minus_1).first_failure
    assert (f.iteration, f.step, f.parameter) == (1, "m_step", "weights")
    np.testing.assert_allclose(f.expected, scipy_posterior(example.counts, example.start).mean(axis=0), rtol=1e-10)
    assert f.detail == "outside the model's support (its bounds or simplex)"


def test_log_likelihood_without_log_x_factorial(example):
    def loglik_no_factorial(counts, params):
        x = counts[:, None]
        return float(logsumexp(np.log(params["weights"]) + x * np.log(params["lam"]) - params["lam"], axis=1).sum())

    f = run(example, log_likelihood=loglik_no_factorial).first_failure
    assert (f.iteration, f.step, f.parameter) == (1, "log_likelihood", "log_likelihood")
    assert f.expected == pytest.approx(scipy_loglik(example.counts, example.start), rel=1e-12)
    # What it dropped is Σ log x_i!, exactly.
    assert f.got - f.expected == pytest.approx(gammaln(example.counts + 1).sum(), rel=1e-10)


def test_a_generalised_m_step_is_a_warning_and_reaches_the_same_mle(example, correct):
    def gem_m_step(counts, resp):
        # Half a Newton step on Q in each λ_k from the current λ (weights exact): raises Q,
        # does not maximise it. The current λ is read off the responsibilities' E-step.
        lam = gem_m_step.lam
        heads, totals = resp.T @ counts, resp.sum(axis=0)
        return {"lam": lam + 0.5 * lam**2 * (heads / lam - totals) / heads, "weights": resp.mean(axis=0)}

    def e_step(counts, params):
        gem_m_step.lam = params["lam"]
        return example.em.e_step(counts, params)

    check = run(example, e_step=e_step, m_step=gem_m_step)
    assert check.verdict == "agree" and check.ok and check.converged
    assert len(check.warnings) == 1
    assert check.warnings[0].startswith("m_step raises Q but does not maximise it at ")
    assert check.rows[0].status["m_step"] == "GEM"
    for name in ("lam", "weights"):
        np.testing.assert_allclose(check.params[name], correct.params[name], atol=1e-7)
    assert check.table().splitlines()[-1] == "verdict: AGREE (with 1 warning)"


def test_components_in_the_other_order_are_checked_in_the_users_order(example, correct):
    swapped = {k: v[::-1].copy() for k, v in example.start.items()}
    check = run(example, start=swapped)
    assert check.verdict == "agree"
    for name in ("lam", "weights"):
        np.testing.assert_allclose(check.params[name], correct.params[name][::-1], atol=1e-9)
    assert check.notes == [
        "the model keeps lam ascending for sampling; your EM has it out of that order from iteration 0 on. "
        "The step oracle maximises Q without the ordering, so each step is checked in your component order."
    ]


def test_assert_steps_agree_passes_and_fails_with_the_message(example, em_twins):
    sys_build = example.build
    check = em_twins.assert_steps_agree(example.em.e_step, example.em.m_step, example.counts, sys_build,
                                        example.start, log_likelihood=example.em.log_likelihood)
    assert check.ok
    with pytest.raises(AssertionError) as err:
        emtwin.testing.assert_steps_agree(example.em.e_step, example.em.m_step_buggy, example.counts, sys_build,
                                          example.start)
    first, table = str(err.value).split("\n\n", 1)
    assert first.startswith("iteration 1, m_step, lam: expected [")
    assert table.splitlines()[-1] == "verdict: DISAGREE"


def test_max_iter_caps_the_check(example):
    check = run(example, max_iter=3)
    assert (check.n_iter, check.converged, check.ok) == (3, False, True)


# --------------------------------------------------------------------------- section 5: bad input


def test_a_model_without_a_mixture_has_no_label(example):
    from emtwin.models import one_coin

    with pytest.raises(ValueError) as err:
        emtwin.check_steps(example.em.e_step, example.em.m_step, (7, 10),
                           lambda tosses: one_coin.build_model(*tosses), {"p": 0.5})
    assert str(err.value) == (
        "the model built by test_a_model_without_a_mixture_has_no_label.<locals>.<lambda> has no observed "
        "pm.Mixture (its observed variables are ['heads']): no latent label to derive an E-step from. Write "
        "the likelihood as pm.Mixture(...) or pm.NormalMixture(...) to derive EM from the model."
    )


def test_several_mixtures_and_no_observed(example):
    import pymc as pm

    def two_mixtures(counts):
        with pm.Model() as model:
            lam = pm.HalfFlat("lam", shape=2)
            w = pm.Dirichlet("weights", a=np.ones(2))
            pm.Mixture("a", w=w, comp_dists=pm.Poisson.dist(mu=lam), observed=counts)
            pm.Mixture("b", w=w, comp_dists=pm.Poisson.dist(mu=lam), observed=counts)
        return model

    with pytest.raises(ValueError) as err:
        emtwin.check_steps(example.em.e_step, example.em.m_step, example.counts, two_mixtures, example.start)
    assert str(err.value) == (
        "the model built by test_several_mixtures_and_no_observed.<locals>.two_mixtures has 2 observed "
        "pm.Mixture variables ['a', 'b']; pass observed=NAME to say whose labels the E-step infers."
    )


def test_e_step_of_the_wrong_shape(example):
    with pytest.raises(ValueError) as err:
        run(example, e_step=lambda counts, params: example.em.e_step(counts, params).T)
    assert str(err.value) == (
        f"e_step test_e_step_of_the_wrong_shape.<locals>.<lambda> returned responsibilities of shape "
        f"(2, {len(example.counts)}); the model's label posterior has shape ({len(example.counts)}, 2) "
        "(n_observations, n_components): one row per observation, one column per component."
    )


def test_m_step_naming_a_parameter_the_model_lacks(example):
    def m_step_rate(counts, resp):
        return {"rate": resp.T @ counts / resp.sum(axis=0), "weights": resp.mean(axis=0)}

    with pytest.raises(ValueError) as err:
        run(example, m_step=m_step_rate)
    assert str(err.value) == (
        "m_step test_m_step_naming_a_parameter_the_model_lacks.<locals>.m_step_rate names the parameters "
        "['rate', 'weights'] but the model built by build_model has the free variables ['lam', 'weights'] "
        "(unknown: ['rate'], missing: ['lam']). Name the parameters as the model's free variables."
    )


def test_m_step_returning_nan(example):
    def m_step_nan(counts, resp):
        return {"lam": np.array([np.nan, 1.0]), "weights": resp.mean(axis=0)}

    with pytest.raises(ValueError) as err:
        run(example, m_step=m_step_nan)
    assert str(err.value) == (
        "m_step test_m_step_returning_nan.<locals>.m_step_nan returned non-finite parameters: lam=[nan, 1]. "
        "Look for a division by a zero total or a log of 0."
    )


def test_start_outside_the_support(example):
    with pytest.raises(ValueError) as err:
        run(example, start={"lam": np.array([-1.0, 5.0]), "weights": np.array([0.5, 0.5])})
    assert str(err.value) == (
        "start (lam=[-1, 5], weights=[0.5, 0.5]) lies outside the support of the model built by build_model: "
        "no finite log-likelihood there, or a value its priors exclude (a negative rate, weights not summing "
        "to 1, a bound crossed). Give a start inside the support."
    )
