"""A PyMC twin that computes part of its log-likelihood in float32 is named in the failing
check, with the operation, its input and the fix.

The model is the first EM example in Dempster, Laird & Rubin (1977): 197 animals in four
genetic categories, y = (125, 18, 20, 34), with cell probabilities
(1/2 + θ/4, (1 − θ)/4, (1 − θ)/4, θ/4). EM splits the first cell into its 1/2 and θ/4
parts. The MLE is the positive root of 197θ² − 15θ − 68 = 0 (the score equation times
θ(1 − θ)(2 + θ)), θ = (15 + √53809)/394 ≈ 0.6268.

``pm.Multinomial(n=197, ...)`` turns the Python int 197 into an int16 constant, and
``gammaln(197 + 1)`` of it is computed in float32: the model's log-likelihood is 1.38e-5
nats from SciPy's, while its maximiser is unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from scipy import stats

import emtwin

COUNTS = np.array([125, 18, 20, 34])
THETA_MLE = (15 + math.sqrt(53809)) / 394  # root of 197θ² − 15θ − 68


def cell_probabilities(theta):
    return [0.5 + theta / 4, (1 - theta) / 4, (1 - theta) / 4, theta / 4]


def e_step(y, params):
    """Pr(the first cell's animal is in its 1/2 part, its θ/4 part), shape (1, 2)."""
    theta = float(params["theta"])
    return np.array([[0.5, theta / 4]]) / (0.5 + theta / 4)


def m_step(y, resp):
    """θ = (x₂ + y₄) / (x₂ + y₂ + y₃ + y₄), x₂ = y₁'s expected θ/4 part."""
    x2 = y[0] * resp[0, 1]
    return {"theta": np.array((x2 + y[3]) / (x2 + y[1] + y[2] + y[3]))}


def log_likelihood(y, params):
    return float(stats.multinomial.logpmf(y, int(y.sum()), cell_probabilities(float(params["theta"]))))


def builder(n):
    def build_model(y):
        with pm.Model() as model:
            theta = pm.Uniform("theta", 0, 1)
            pm.Multinomial("y", n=n, p=pm.math.stack(cell_probabilities(theta)), observed=y)
        return model

    return build_model


def scenario(n):
    return emtwin.custom_scenario("genetic-linkage", data=COUNTS, start={"theta": np.array(0.5)}, e_step=e_step,
                                  m_step=m_step, log_likelihood=log_likelihood, build_model=builder(n))


EXPLANATION = (
    "the PyMC twin computes in a float narrower than float64: GammaLn on the int16 value 198 (from the constant 197) "
    "is computed in float32 in the log-likelihood of 'y' ("
)
FIX = ("A Python int in a PyMC model becomes the smallest integer type that holds it, and some operations on small "
       "integers run in float32: pass 197 as np.int64(197) (or as a float)")


@pytest.fixture(scope="module")
def with_python_int():
    return emtwin.compare(scenario(197), methods=["map"])


@pytest.fixture(scope="module")
def with_int64():
    return emtwin.compare(scenario(np.int64(197)), methods=["map"])


def _check(comparison, name):
    return next(c for c in comparison.checks if c.name == name)


def test_the_failing_likelihood_checks_name_the_float32_operation_and_the_fix(with_python_int):
    assert with_python_int.verdict == "disagree"
    same = _check(with_python_int, "same likelihood in both twins")
    assert not same.passed
    gap = abs(with_python_int.em.log_likelihood - log_likelihood(COUNTS, {"theta": THETA_MLE}))
    assert gap < 1e-9  # EM's own number is SciPy's
    assert EXPLANATION in same.detail and same.detail.endswith(FIX)
    # The error the check reports is float32's rounding of gammaln(198), measured here.
    exact = math.lgamma(198)
    assert f"off by {abs(float(np.float32(exact)) - exact):.3g})" in same.detail
    assert not _check(with_python_int, "EM vs MAP log-likelihood").passed
    assert FIX in _check(with_python_int, "EM vs MAP log-likelihood").detail
    # Only the constant is off: both twins still find the same θ.
    assert _check(with_python_int, "EM vs MAP parameters").passed


def test_the_black_box_check_says_the_same(with_python_int):
    bb = emtwin.check_em(lambda y: ({"theta": np.array(THETA_MLE)}, log_likelihood(y, {"theta": THETA_MLE})),
                         COUNTS, builder(197), n_starts=0)
    same = _check(bb, "same likelihood in both twins")
    assert not same.passed
    assert EXPLANATION in same.detail and same.detail.endswith(FIX)


def test_with_np_int64_the_twins_agree_on_the_closed_form_mle(with_int64):
    assert with_int64.verdict == "agree"
    assert abs(float(with_int64.em.params["theta"]) - THETA_MLE) < 1e-10
    assert abs(float(with_int64.map.params["theta"]) - THETA_MLE) < 1e-8
    assert _check(with_int64, "same likelihood in both twins").value < 1e-14
