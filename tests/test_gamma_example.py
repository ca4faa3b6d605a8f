"""The example whose M-step has no closed form (`examples/gamma_mixture/`): a two-component
Gamma mixture written only as a PyMC model, its EM derived from the model.

Oracle: SciPy's Gamma log-density maximised by SciPy's optimiser from the simulation's truth,
sharing no code with the model or the derived EM. The example's own tests run here too.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit, logsumexp

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gamma_mixture"


@pytest.fixture(scope="module")
def example():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE))
        yield SimpleNamespace(
            model=importlib.import_module("gamma_model"),
            scenario=importlib.import_module("gamma_scenario"),
            tests=importlib.import_module("test_gamma"),
        )


def scipy_mle(x):
    """Maximise Σ log Σ_k w_k Gamma(x | shape α_k, mean μ_k) in log/logit coordinates, from the
    simulation's truth. Returns (μ, α, w, log-likelihood), μ ascending."""

    def nll(v):
        mu, alpha, w1 = np.exp(v[:2]), np.exp(v[2:4]), expit(v[4])
        logpdf = stats.gamma.logpdf(x[:, None], alpha, scale=mu / alpha)
        return -logsumexp(logpdf + np.log([w1, 1 - w1]), axis=1).sum()

    truth = np.r_[np.log([1.5, 6.0]), np.log([2.0, 8.0]), np.log(0.4 / 0.6)]
    fit = optimize.minimize(nll, truth, method="BFGS", options={"gtol": 1e-8})
    fit = optimize.minimize(nll, fit.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    mu, alpha, w1 = np.exp(fit.x[:2]), np.exp(fit.x[2:4]), expit(fit.x[4])
    return mu, alpha, np.array([w1, 1 - w1]), -fit.fun


@pytest.fixture(scope="module")
def derived(example, em_twins):
    return em_twins.derive_em(example.model.build_model, example.model.simulate_durations(), example.model.START)


def test_derived_em_finds_scipys_maximum(derived, example):
    mu, alpha, w, loglik = scipy_mle(example.model.simulate_durations())
    assert derived.converged
    np.testing.assert_allclose(derived.params["mu"], mu, rtol=1e-5)
    np.testing.assert_allclose(derived.params["alpha"], alpha, rtol=1e-4)
    np.testing.assert_allclose(derived.params["weights"], w, atol=1e-5)
    assert derived.log_likelihood == pytest.approx(loglik, abs=1e-7)
    assert derived.log_likelihood >= loglik - 1e-9  # EM's maximum is no lower than SciPy's


def test_the_examples_own_tests(example, em_twins):
    example.tests.test_derived_em_converges(em_twins)
    example.tests.test_derived_em_agrees_with_map(em_twins)


def test_map_agrees_with_the_derived_em(example, em_twins):
    result = em_twins.compare(example.scenario.make_scenario(), methods=["map"])
    assert result.verdict == "agree", result.table()
    assert result.row("mu_long").em == pytest.approx(result.row("mu_long").map, abs=1e-4)


@pytest.mark.slow
def test_advi_and_nuts_against_the_derived_em(example, em_twins):
    result = em_twins.compare(example.scenario.make_scenario(), methods=["map", "advi", "nuts"])
    assert result.ok, result.table()
    hdi = next(c for c in result.checks if c.name == "MLE inside NUTS 94% HDI")
    assert hdi.passed
