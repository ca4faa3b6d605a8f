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
from emtwin.comparisons import SCENARIOS
from emtwin.em_reference import gaussian_means as em_means
from emtwin.models import gaussian_means as pm_means
from emtwin.models.precision import explain_narrow_floats, narrow_float_computations

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
FIX = ("A Python number in a PyMC model becomes the narrowest type that holds it (197 is int16, 0.5 is float32), and "
       "operations on such a constant run in float32: pass 197 as np.int64(197)")


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


def test_a_python_float_sigma_is_named_with_its_float32_log():
    # 0.5 is exact in float32, so PyTensor makes it a float32 constant, and the Normal's
    # log(sigma) is then computed in float32: 1.9e-9 nats per point.
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10, shape=2)
        pm.NormalMixture("z", w=np.full(2, 0.5), mu=mu, sigma=0.5, observed=np.array([-1.0, 0.0, 2.0]))
    exact = math.log(0.5)
    assert explain_narrow_floats(model).startswith(
        "the PyMC twin computes in a float narrower than float64: Log on the constant 0.5 (float32) is computed in "
        f"float32 in the log-likelihood of 'z' ({float(np.log(np.float32(0.5)))!r} instead of {exact!r}, off by "
        f"{abs(float(np.log(np.float32(0.5))) - exact):.3g}). ")
    assert explain_narrow_floats(model).endswith("pass 0.5 as np.float64(0.5)")


def test_the_gaussian_means_twin_with_sigma_one_half_computes_in_float64():
    data = em_means.MixtureData.from_array(np.array([-5.1, -5.0, -4.9, 4.9, 5.0, 5.1]), k=2, sigma=0.5)
    model = pm_means.build_model(data.z, sigma=0.5, k=2)
    assert narrow_float_computations(model) == []
    # ... so its log-likelihood is SciPy's to rounding, not 1.9e-9 per point away.
    mu = np.array([-5.0, 5.0])
    scipy_ll = np.sum(np.log(0.5 * stats.norm.pdf(data.z, mu[0], 0.5) + 0.5 * stats.norm.pdf(data.z, mu[1], 0.5)))
    from emtwin.models import fitting

    assert abs(fitting.log_likelihood(model, {"mu": mu}) - scipy_ll) < 1e-13


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_built_in_twin_computes_its_log_likelihood_in_float64(name):
    sc = SCENARIOS[name]
    assert narrow_float_computations(sc.build_model(sc.make_data())) == []


# --------------------------------------------------------------------------- generated source


def test_functions_compiled_by_emtwin_leave_no_file_in_the_temporary_folder(tmp_path, monkeypatch):
    """PyTensor writes each compiled function's generated Python source to a file. By
    default a new one in the system's temporary folder on every compile, never removed (the
    suite left about 16 000 in /tmp); inside ``exact_arithmetic`` (every compile emtwin makes)
    one file per distinct source beside the compile cache."""
    import tempfile

    import pytensor
    import pytensor.tensor as pt

    from emtwin.models.precision import exact_arithmetic, generated_source_dir

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    x = pt.dvector("x")
    with exact_arithmetic():
        inside = pytensor.function([x], pt.exp(x * 2.5).sum())
    assert inside(np.array([0.0, 1.0])) == pytest.approx(1 + math.exp(2.5), rel=1e-15)
    assert list(temporary.iterdir()) == []
    assert any(generated_source_dir().glob("*.py"))
    # The same compile outside it is PyTensor's default: files in the temporary folder.
    pytensor.function([x], pt.exp(x * 2.5).sum())
    assert list(temporary.iterdir()) != []
