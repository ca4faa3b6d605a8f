"""Black-box form (`emtwin.check_em`): someone's EM, any code, checked by its answer only.

Oracles share no code with the harness: SciPy's Poisson pmf for the log-likelihood, its
optimisers for the maximum, and central finite differences for the gradient.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

import emtwin
from emtwin.em_reference import run_em

from test_user_em import (  # the same oracle, user-side coin model and example fixture
    COIN_COMPONENTS,
    TOSSES,
    build_interleaved,
    coin_e_step,
    coin_log_likelihood,
    coin_m_step,
    example,  # noqa: F401  (a pytest fixture, used by name)
    scipy_mle,
)



@pytest.fixture(scope="module")
def counts(example):
    return example.em.simulate_counts()


@pytest.fixture(scope="module")
def oracle(counts):
    return scipy_mle(counts)


@pytest.fixture(scope="module")
def twins(em_twins):
    """The plugin's session-wide TwinSession: the Poisson model is compiled once for all files."""
    return em_twins


def check(twins, example, em, **options):
    return twins.check_em(em, example.em.simulate_counts(), example.model.build_model,
                          components=example.scenario.COMPONENTS, **options)


@pytest.fixture(scope="module")
def exact(twins, example):
    return check(twins, example, example.em.my_em)


@pytest.fixture(scope="module")
def stopped_at_10(twins, example):
    return check(twins, example, lambda data: example.em.my_em(data, max_iter=10), name="my_em stopped at 10")


@pytest.fixture(scope="module")
def stopped_at_20(twins, example):
    return check(twins, example, lambda data: example.em.my_em(data, max_iter=20), name="my_em stopped at 20")


def scipy_loglik(counts, lam, w):
    return float(np.log(w[0] * stats.poisson.pmf(counts, lam[0]) + w[1] * stats.poisson.pmf(counts, lam[1])).sum())


def finite_difference_gradient(counts, lam, w, h=1e-6):
    """∂ℓ/∂(λ1, λ2, w1, w2) by central differences, the weights' part projected onto
    w1 + w2 = 1 (subtract the mean): the gradient along the simplex."""
    point = np.r_[lam, w]
    grad = np.empty(4)
    for i in range(4):
        up, down = point.copy(), point.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (scipy_loglik(counts, up[:2], up[2:]) - scipy_loglik(counts, down[:2], down[2:])) / (2 * h)
    grad[2:] -= grad[2:].mean()
    return grad


# --------------------------------------------------------------------------- exact vs early


def test_an_exact_em_passes_every_check(exact, oracle):
    lam, w, loglik = oracle
    assert exact.verdict == "agree"
    assert exact.failures == []
    np.testing.assert_allclose(exact.params["lam"], lam, atol=1e-6)
    np.testing.assert_allclose(exact.params["weights"], w, atol=1e-6)
    assert exact.log_likelihood == pytest.approx(loglik, abs=1e-7)
    assert exact.stationarity.max_step < 1e-8
    assert exact.higher_maxima == []
    assert exact.settings["n_starts"] == 8


def test_an_em_stopped_early_is_caught_by_the_gradient(stopped_at_10, counts):
    c = stopped_at_10
    assert c.verdict == "disagree"
    assert "stationary point" in {f.name for f in c.failures}
    expected = finite_difference_gradient(counts, c.params["lam"], c.params["weights"])
    got = np.r_[c.stationarity.gradient["lam"], c.stationarity.gradient["weights"]]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(expected)) > 0.1  # clearly not a stationary point


def test_the_newton_step_says_how_far_the_maximum_is(stopped_at_10, oracle):
    lam, w, _ = oracle
    c = stopped_at_10
    distance = np.r_[lam - c.params["lam"], w - c.params["weights"]]
    step = np.r_[c.stationarity.newton_step["lam"], c.stationarity.newton_step["weights"]]
    # One Newton step from 7e-3 away lands within O(distance²) of the maximum.
    np.testing.assert_allclose(step, distance, rtol=0.05)
    assert c.row("lam2").newton_step == pytest.approx(lam[1] - c.params["lam"][1], rel=0.05)


def test_other_starts_report_the_higher_maximum_they_find(stopped_at_10, oracle):
    (higher,) = stopped_at_10.higher_maxima
    assert higher.log_likelihood == pytest.approx(oracle[2], abs=1e-6)
    detail = next(c.detail for c in stopped_at_10.checks if c.name == "no higher maximum from other starts")
    assert f"found 1 higher: {higher.log_likelihood:.10g} (+" in detail
    assert detail.endswith("(where MAP from your estimate went)")


def test_only_the_gradient_catches_an_em_a_hair_short_of_the_maximum(stopped_at_20, oracle):
    lam, w, _ = oracle
    c = stopped_at_20
    off = max(np.max(np.abs(c.params["lam"] - lam)), np.max(np.abs(c.params["weights"] - w)))
    assert 1e-6 < off < 1e-4  # inside the MAP tolerance: a parameter comparison alone passes it
    assert [f.name for f in c.failures] == ["stationary point"]
    assert c.stationarity.max_step == pytest.approx(off, rel=0.05)


def test_the_table_marks_the_rows_that_are_not_stationary(stopped_at_10, exact):
    lines = stopped_at_10.table().splitlines()
    lam2 = next(line for line in lines if line.startswith("lam2 "))
    step = abs(stopped_at_10.row("lam2").newton_step)
    gap = abs(stopped_at_10.row("lam2").em_minus_map)
    assert lam2.endswith(f"◀ FAIL Newton step {step:.2e} > 1e-06; |yours−MAP| = {gap:.2e} > 1e-04")
    assert lines[-1] == "verdict: DISAGREE"
    assert "◀" not in exact.table()
    assert exact.table().splitlines()[-1] == "verdict: AGREE"


def test_assert_twins_agree_raises_with_the_first_failure_and_the_table(stopped_at_10):
    with pytest.raises(AssertionError) as err:
        emtwin.testing.assert_twins_agree(stopped_at_10)
    first = str(err.value).splitlines()[0]
    stat = next(c for c in stopped_at_10.checks if c.name == "stationary point")
    assert first == f"my_em stopped at 10: the twins disagree. stationary point: {stat.detail} (and 2 more failed checks)"
    assert stopped_at_10.table() in str(err.value)


def test_the_result_serialises_to_json_with_its_numbers(stopped_at_10):
    payload = json.loads(json.dumps(stopped_at_10.to_dict()))
    assert payload["kind"] == "black-box"
    assert payload["verdict"] == "disagree"
    rows = {r["parameter"]: r for r in payload["rows"]}
    assert rows["lam2"]["newton_step"] == stopped_at_10.row("lam2").newton_step
    assert [c["name"] for c in payload["checks"] if not c["passed"]] == [
        "stationary point", "MAP from your estimate stays there", "no higher maximum from other starts",
    ]


# --------------------------------------------------------------------------- reported log-likelihood


def test_a_reported_log_likelihood_missing_a_constant_is_caught(twins, example, counts, oracle):
    # A user's EM that leaves log x! out of its log-likelihood.
    def em_without_log_factorial(data):
        params, loglik = example.em.my_em(data)
        return params, loglik + gammaln(data + 1).sum()

    c = check(twins, example, em_without_log_factorial)
    assert [f.name for f in c.failures] == ["same likelihood in both twins"]
    offset = gammaln(counts + 1).sum()
    detail = c.failures[0].detail
    assert f"(difference {offset:+.3g} nats; a constant left out, such as log x!, or a different model?)" in detail


def test_parameters_and_an_em_result_are_accepted_as_well_as_a_function(twins, example, counts, oracle):
    params, loglik = example.em.my_em(counts)
    direct = check(twins, example, params, log_likelihood=loglik)
    assert direct.verdict == "agree"
    assert direct.reported_log_likelihood == loglik
    result = run_em(counts, example.em.START, example.em.e_step, example.em.m_step, example.em.log_likelihood)
    from_result = check(twins, example, result)
    assert from_result.verdict == "agree"
    assert from_result.reported_log_likelihood == result.log_likelihood


def test_labels_in_the_other_order_are_put_in_the_models_order(twins, example, counts, oracle):
    params, _ = example.em.my_em(counts)
    swapped = {"lam": params["lam"][::-1], "weights": params["weights"][::-1]}
    c = check(twins, example, swapped)
    assert c.verdict == "agree"
    np.testing.assert_allclose(c.params["lam"], oracle[0], atol=1e-6)


# --------------------------------------------------------------------------- non-identifiable


def test_a_black_box_em_on_a_ridge_gets_the_non_identifiable_verdict(twins):
    result = run_em(TOSSES, {"p": [0.6, 0.5]}, coin_e_step, coin_m_step, coin_log_likelihood)
    c = twins.check_em(result, TOSSES, build_interleaved, components=COIN_COMPONENTS)
    assert c.verdict == "non-identifiable"
    assert c.failures == []
    (direction,) = c.curvature.flat_directions
    np.testing.assert_allclose(direction["p"], [2**-0.5, -(2**-0.5)], atol=1e-6)
    assert c.log_likelihood == pytest.approx(33 * np.log(0.66) + 17 * np.log(0.34), abs=1e-9)


# --------------------------------------------------------------------------- bad input


def rate_em(data):
    return {"rate": np.array([2.0, 9.0]), "weights": np.array([0.6, 0.4])}


def three_rates_em(data):
    return {"lam": np.array([1.0, 2.0, 9.0]), "weights": np.array([0.6, 0.4])}


def nan_em(data):
    return {"lam": np.array([np.nan, 9.0]), "weights": np.array([0.6, 0.4])}


def negative_rate_em(data):
    return {"lam": np.array([-2.0, 9.0]), "weights": np.array([0.6, 0.4])}


def tied_em(data):
    # The symmetric fixed point: both components equal, which the ordered model excludes.
    return {"lam": np.array([5.0, 5.0]), "weights": np.array([0.6, 0.4])}


def broken_model(data):
    raise RuntimeError("no counts column")


@pytest.mark.parametrize(
    ("em", "message"),
    [
        (rate_em, "rate_em(data) names the parameters ['rate', 'weights'] but the PyMC model built by build_model "
                  "has the free variables ['lam', 'weights'] (unknown: ['rate'], missing: ['lam']). Name the "
                  "parameters as the model's free variables."),
        (three_rates_em, "three_rates_em(data)['lam'] has shape (3,) but the model's 'lam' has shape (2,); give "
                         "one value per entry of 'lam'."),
        (nan_em, "nan_em(data)['lam'] = [nan, 9.0] is not finite; parameters must be finite numbers (look for a "
                 "division by a zero total or a log of 0)."),
        (negative_rate_em, "negative_rate_em(data) (lam=[-2.0, 9.0], weights=[0.6, 0.4]) lies outside the support "
                           "of the PyMC model built by build_model: no finite log-likelihood or no finite unconstrained "
                           "value (e.g. a negative rate, weights not summing to 1, or two components tied under the "
                           "model's ordering)."),
        (tied_em, "tied_em(data) (lam=[5.0, 5.0], weights=[0.6, 0.4]) lies outside the support of the PyMC model "
                  "built by build_model: no finite log-likelihood or no finite unconstrained value (e.g. a negative "
                  "rate, weights not summing to 1, or two components tied under the model's ordering)."),
        ([1.0, 2.0], "em must return the parameters as a dict (name -> array), a tuple (params, log_likelihood), "
                     "or an object with .params and .log_likelihood; got list."),
    ],
    ids=["names", "shapes", "nan", "outside-support", "tied", "not-a-dict"],
)
def test_bad_em_output_gets_one_clear_error(twins, example, em, message):
    with pytest.raises(ValueError) as err:
        check(twins, example, em)
    assert str(err.value) == message


def test_a_model_builder_that_raises_is_named(example, counts):
    with pytest.raises(ValueError) as err:
        emtwin.check_em(example.em.my_em, counts, broken_model, components=example.scenario.COMPONENTS)
    assert str(err.value) == (
        "build_model broken_model(data) raised RuntimeError: no counts column. Fix the model builder; it must "
        "return a pm.Model for the data it is given."
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_starts": -1}, "n_starts must be a whole number >= 0; got -1."),
        ({"seed": 1.5}, "seed must be a whole number in [0, 4294967295]; got 1.5."),
        ({"stationary_tol": 0}, "stationary_tol must be a positive finite number; got 0."),
    ],
)
def test_bad_options_are_rejected_before_anything_runs(example, counts, options, message):
    with pytest.raises(ValueError) as err:
        emtwin.check_em(example.em.my_em, counts, example.model.build_model, **options)
    assert str(err.value) == message
