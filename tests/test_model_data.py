"""The PyMC twins hold their data as pm.Data: one compiled graph serves every data set.

As constants, each data size made a graph of its own, compiled afresh (measured on the coin
model: 10 s for MAP and 4-6 s for NUTS per new size, against 1.8 s and 1.1 s with pm.Data).
Shown here the direct way: a log-density compiled on one data set, given another of another
size with ``pm.set_data``, equals the log-density of a model built on that other set.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from emtwin.models import coins, fitting, gaussian_means, gaussian_mixture, one_coin
from emtwin.models.labels import observed_data
from emtwin.models.precision import exact_arithmetic

RNG = np.random.default_rng(7)
Z_SMALL, Z_LARGE = RNG.normal(size=6), RNG.normal(size=9) * 2

CASES = {
    "coin-sets": (lambda d: coins.build_model(*d), (np.array([5, 9, 8]), np.full(3, 10)),
                  (np.array([5, 9, 8, 4, 7]), np.array([10, 10, 10, 10, 12])),
                  lambda d: ({"heads_seen": d[0], "tosses": d[1]}, {"toss_set": np.arange(len(d[0]))}),
                  {"theta_chain__": np.array([0.4, -0.3])}),
    "one-coin": (lambda d: one_coin.build_model(*d), (9, 10), (3, 20),
                 lambda d: ({"heads_seen": np.int64(d[0]), "tosses": np.int64(d[1])}, None),
                 {"p_logodds__": np.array(0.2)}),
    # The mixtures' prior boxes come from the data: same data range for both sets here
    # (Z_LARGE rescaled into Z_SMALL's), so only the data change.
    "gaussian-mixture": (lambda z: gaussian_mixture.build_model(z, k=2, var_floor=1e-3),
                         Z_SMALL, np.interp(Z_LARGE, (Z_LARGE.min(), Z_LARGE.max()), (Z_SMALL.min(), Z_SMALL.max())),
                         lambda z: ({"x_seen": z}, {"obs_id": np.arange(len(z))}),
                         {"weights_simplex__": np.array([0.3]), "mu_chain__": np.array([0.1, 0.2]),
                          "sigma_interval__": np.array([0.1, -0.2])}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_compiled_log_density_serves_data_of_another_size(name):
    build, small, large, new_data, point = CASES[name]
    model = build(small)
    # Compiled as emtwin compiles (no fast-math): on a fresh machine the small kernels are
    # then the ones emtwin's own functions have compiled, not a second set with the flags.
    with exact_arithmetic():
        logp = model.compile_logp()
    point = model.initial_point() if point is None else point
    before = logp(point)
    values, coords = new_data(large)
    with model:
        pm.set_data(values, coords=coords)
    fresh = build(large)
    with exact_arithmetic():
        fresh_logp = fresh.compile_logp()
    assert logp(point) == pytest.approx(fresh_logp(point), rel=1e-13)
    assert logp(point) != pytest.approx(before, rel=1e-6)  # the new data were used
    np.testing.assert_array_equal(observed_data(model), observed_data(fresh))


def test_the_gaussian_means_twin_holds_its_data_as_pm_data():
    model = gaussian_means.build_model(Z_SMALL, sigma=1.0, k=2)
    np.testing.assert_array_equal(model["z_seen"].get_value(), Z_SMALL)
    assert observed_data(model).dtype == np.float64


# --------------------------------------------------------------------------- one compile per structure


def _fresh_compiles(monkeypatch):
    """Empty stores of compiled functions for the duration of a test (nothing to share)."""
    from emtwin.models import precision

    monkeypatch.setattr(precision, "_COMPILED", [])
    monkeypatch.setattr(fitting, "_POSTERIORS", [])


def _count_compiles(monkeypatch):
    calls = []
    own_compile, own_posterior = pm.Model.compile_fn, pm.Model.logp_dlogp_function
    monkeypatch.setattr(pm.Model, "compile_fn", lambda self, *a, **k: calls.append("fn") or own_compile(self, *a, **k))
    monkeypatch.setattr(pm.Model, "logp_dlogp_function",
                        lambda self, *a, **k: calls.append("posterior") or own_posterior(self, *a, **k))
    return calls


def test_a_model_on_other_data_runs_the_first_models_compiled_code_with_its_own_bits(monkeypatch):
    """The mixture's data and prior boxes are pm.Data, so a model built on another data set
    (another size, another range) is the same graph: its log-likelihood, gradient and
    posterior come from a copy of the first model's compiled functions, and equal, bit for
    bit, what a compile of their own gives. The first model keeps reading its own data."""
    _fresh_compiles(monkeypatch)
    point = {"weights": np.array([0.4, 0.6]), "mu": np.array([-0.5, 1.0]), "sigma": np.array([0.8, 1.3])}
    flat = np.array([0.3, -0.2, 0.4, -0.1, 0.2])
    first = gaussian_mixture.build_model(Z_SMALL, k=2, var_floor=1e-3)
    first_loglik = fitting.log_likelihood(first, point)
    first_posterior = fitting._value_grad(first)(flat)

    calls = _count_compiles(monkeypatch)
    other = gaussian_mixture.build_model(Z_LARGE, k=2, var_floor=1e-3)
    shared_loglik = fitting.log_likelihood(other, point)
    shared_posterior = fitting._value_grad(other)(flat)
    assert calls == []  # nothing compiled for the second data set

    _fresh_compiles(monkeypatch)
    alone = gaussian_mixture.build_model(Z_LARGE, k=2, var_floor=1e-3)
    assert fitting.log_likelihood(alone, point) == shared_loglik
    np.testing.assert_array_equal(fitting._value_grad(alone)(flat)[1], shared_posterior[1])
    assert fitting._value_grad(alone)(flat)[0] == shared_posterior[0]
    assert shared_loglik != pytest.approx(first_loglik, rel=1e-3)  # the other data were used
    assert fitting.log_likelihood(first, point) == first_loglik
    np.testing.assert_array_equal(fitting._value_grad(first)(flat)[1], first_posterior[1])


def test_another_structure_compiles_its_own(monkeypatch):
    """k = 3 is another graph (other shapes): it is compiled, not copied from k = 2."""
    _fresh_compiles(monkeypatch)
    fitting.log_likelihood(gaussian_mixture.build_model(Z_SMALL, k=2, var_floor=1e-3),
                           {"weights": np.array([0.5, 0.5]), "mu": np.array([-0.5, 1.0]), "sigma": np.array([1.0, 1.0])})
    calls = _count_compiles(monkeypatch)
    three = gaussian_mixture.build_model(Z_SMALL, k=3, var_floor=1e-3)
    loglik = fitting.log_likelihood(three, {"weights": np.full(3, 1 / 3), "mu": np.array([-1.0, 0.0, 1.0]),
                                            "sigma": np.ones(3)})
    assert "fn" in calls
    expected = np.sum(np.log(np.mean([np.exp(-0.5 * (Z_SMALL - m) ** 2) / np.sqrt(2 * np.pi) for m in (-1, 0, 1)],
                                     axis=0)))
    assert loglik == pytest.approx(expected, rel=1e-12)


def test_the_first_model_and_a_copy_run_one_program(monkeypatch):
    """Numba keys its disk cache on the program it generates from the compiled graph's node
    order. The 2-D mixture's log-likelihood, compiled fresh, ran two independent nodes in
    the other order from a copy for another model: two cold compiles (24 s each) of one
    graph. The first model's function and the copy now list the same program."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_ensure_cache

    _fresh_compiles(monkeypatch)
    x = RNG.normal(size=(12, 2))
    first = gaussian_mixture.build_model(x, k=2, var_floor=[1e-3, 1e-3])
    other = gaussian_mixture.build_model(x[::-1] * 0.9, k=2, var_floor=[1e-3, 1e-3])
    fns = [fitting._density_fn(first), fitting._density_fn(other)]
    assert fns[0] is not fns[1]
    programs = [[str(node) for node in fn.maker.fgraph.toposort()] for fn in fns]
    assert programs[0] == programs[1]
    keys = [numba_funcify_ensure_cache(fn.maker.fgraph)[1] for fn in fns]
    assert keys[0] == keys[1] is not None


def test_pm_sample_assigns_nuts_to_every_variable_as_pymc_does():
    """Inside fit_nuts, PyMC's step assignment skips its symbolic gradient per variable
    (the compiled posterior already has it); the assignment is PyMC's own."""
    import pymc.sampling.mcmc as pm_mcmc

    for model in (coins.build_model(np.array([5, 9, 8]), np.full(3, 10)),
                  gaussian_mixture.build_model(Z_SMALL, k=2, var_floor=1e-3)):
        own = pm_mcmc.assign_step_methods(model, None, methods=pm_mcmc.STEP_METHODS)
        with fitting._nuts_uses_the_compiled_posterior(model):
            ours = pm_mcmc.assign_step_methods(model, None, methods=pm_mcmc.STEP_METHODS)
        assert ours == own == ([], {pm.NUTS: model.value_vars})


def test_a_hyperprior_outside_the_likelihood_gets_a_zero_likelihood_gradient():
    """The likelihood and the prior are compiled together (fitting._density_fn); a value
    that reaches the likelihood only through another variable has likelihood gradient 0,
    and the MAP objective still has the prior's."""
    with pm.Model() as model:
        scale = pm.HalfNormal("scale", 1.0)
        mu = pm.Normal("mu", 0.0, scale)
        pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
    values = fitting._unconstrained(model, {"scale": np.array(1.0), "mu": np.array(0.8)})
    loglik, grad = fitting._loglik_fn(model)(*values)
    assert loglik == pytest.approx(stats.norm.logpdf([0.5, 1.5], 0.8).sum(), rel=1e-14)
    # value order (scale_log__, mu): d/dmu Σ log N(y | mu, 1) = Σ (y − mu) = 0.4
    np.testing.assert_allclose(grad, [0.0, 0.4], rtol=1e-14, atol=0)
    logp, _ = fitting._objective_fn(model)(*values)
    prior = stats.halfnorm.logpdf(1.0) + stats.norm.logpdf(0.8, 0.0, 1.0)
    assert logp == pytest.approx(loglik + prior, rel=1e-14)
