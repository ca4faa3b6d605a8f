"""A fit in a process of its own (``fitting.fit_in_background``): the harness's NUTS runs
there while MAP, ADVI and the derived EM run in the caller's process. Its numbers must be
the ones the same call gives in the caller's process, and whatever goes wrong there must
reach the caller as a clear error, not a hang or a missing result."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings

import numpy as np
import pytest

import emtwin
from emtwin.comparisons.model_memo import shared_model
from emtwin.comparisons.registry import get_scenario
from emtwin.models import fitting

# Short chains: what is compared is the draws' bits, not the posterior.
SHORT = {"draws": 150, "tune": 150, "chains": 2}


@pytest.fixture(scope="module")
def coin_sets():
    """The coin-sets PyMC twin (the one the harness builds for the lecture's data) and its start."""
    sc = get_scenario("coin-sets")
    data = sc.make_data()
    return shared_model(sc.build_model, data, {}), sc.to_model(sc.start_for(data, data_given=False))


def _every_draw(fit) -> dict[str, np.ndarray]:
    groups = {"posterior": fit.idata.posterior, "sample_stats": fit.idata.sample_stats}
    return {f"{group}/{name}": np.asarray(tree[name].values)
            for group, tree in groups.items() for name in tree.data_vars}


def test_nuts_in_the_background_gives_the_draws_of_nuts_here_bit_for_bit(coin_sets):
    model, start = coin_sets
    running = fitting.fit_in_background(fitting.fit_nuts, model, start, seed=11, **SHORT)
    here = fitting.fit_nuts(model, start, seed=11, **SHORT)
    there = running.result()
    drawn, expected = _every_draw(there), _every_draw(here)
    # Wall-clock stats differ between any two runs; every other draw and statistic must not.
    timed = {"sample_stats/process_time_diff", "sample_stats/perf_counter_diff", "sample_stats/perf_counter_start"}
    assert set(drawn) == set(expected)
    assert "posterior/theta" in drawn and drawn["posterior/theta"].shape == (2, 150, 2)
    for key in sorted(set(expected) - timed):
        assert np.array_equal(drawn[key], expected[key], equal_nan=True), key
    assert there.diagnostics == here.diagnostics
    assert running.seconds > 0


def test_the_harness_nuts_is_fit_nuts_here_with_the_scenarios_defaults(coin_sets):
    model, _ = coin_sets
    comparison = emtwin.compare("coin-sets", methods=["nuts"], seed=5, derived=False)
    sc = get_scenario("coin-sets")
    # The harness's start: EM's first iterate, in the model's component order.
    start = sc.to_model(sc.components.canonical({n: trace[0] for n, trace in comparison.em.param_trace.items()}))
    here = fitting.fit_nuts(model, start, seed=5, **sc.nuts_defaults)
    assert np.array_equal(comparison.nuts.idata.posterior["theta"].values, here.idata.posterior["theta"].values)
    assert comparison.timings["nuts"] > 0


def test_an_error_there_is_raised_here_with_its_message(coin_sets):
    model, _ = coin_sets
    bad_start = {"theta": np.array([1.5, 0.5])}
    with pytest.raises(ValueError) as here:
        fitting.fit_nuts(model, bad_start, **SHORT)
    running = fitting.fit_in_background(fitting.fit_nuts, model, bad_start, **SHORT)
    with pytest.raises(ValueError) as there:
        running.result()
    assert str(there.value) == str(here.value)
    assert "theta" in str(there.value)


def _killed(model):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_process_that_dies_gives_an_error_naming_its_signal(coin_sets):
    model, _ = coin_sets
    running = fitting.fit_in_background(_killed, model)
    with pytest.raises(RuntimeError, match=r"ended without a result \(exit code -9"):
        running.result()


def _unpicklable(model):
    return lambda: model


def test_a_result_that_does_not_pickle_is_an_error_saying_so(coin_sets):
    model, _ = coin_sets
    with pytest.raises(RuntimeError, match="result does not pickle"):
        fitting.fit_in_background(_unpicklable, model).result()


class _Finding(UserWarning):
    pass


def _warns(model):
    warnings.warn("a finding of the fit", _Finding)
    return 42


class _Unpicklable(UserWarning):
    def __reduce__(self):
        raise TypeError("this warning does not pickle")


def _warns_unpicklably(model):
    warnings.warn(_Unpicklable("a finding that does not pickle"))
    return 42


# A warning that does not pickle arrives as its text, beside the result.
@pytest.mark.parametrize("warns, category, text", [(_warns, _Finding, "a finding of the fit"),
                                                   (_warns_unpicklably, UserWarning, "a finding that does not pickle")])
def test_the_fits_warnings_are_issued_here_with_its_result(coin_sets, warns, category, text):
    model, _ = coin_sets
    running = fitting.fit_in_background(warns, model)
    with pytest.warns(category, match=text):
        assert running.result() == 42


def _sleeps(model):
    time.sleep(120)


def test_cancel_ends_the_process(coin_sets):
    model, _ = coin_sets
    running = fitting.fit_in_background(_sleeps, model)
    running.cancel()
    assert not running._process.is_alive()
    assert running._process.exitcode == -signal.SIGTERM  # ended, not the sleep's end


def test_fits_side_by_side_are_the_fits_here_in_order(coin_sets):
    model, start = coin_sets
    seeds = [1, 2, 3]
    running = fitting.fits_side_by_side((fitting.fit_nuts, model, start, {"seed": s, **SHORT}) for s in seeds)
    for seed, fit in zip(seeds, running):
        here = fitting.fit_nuts(model, start, seed=seed, **SHORT)
        assert np.array_equal(fit.result().idata.posterior["theta"].values, here.idata.posterior["theta"].values)


def _posterior_found_there(model, start, **options):
    """A background "fit" saying what its process found of ``model``'s posterior: how many
    it compiled (PyTensor's function), and the overloads of its machine code (Numba
    compiles at the first call) before any call there."""
    misses = fitting._value_grad.cache_info().misses
    machine_code = fitting._value_grad(model)._pytensor_function.vm.jit_fn
    return fitting._value_grad.cache_info().misses - misses, len(machine_code.signatures)


def test_the_fork_inherits_the_posterior_this_process_compiled_before_it(coin_sets):
    # A model of its own: nothing is compiled for it yet, here or in a fork.
    sc = get_scenario("coin-sets")
    _, start = coin_sets
    model = sc.build_model(sc.make_data())
    assert fitting.fit_in_background(_posterior_found_there, model, start).result() == (0, 1)
    misses = fitting._value_grad.cache_info().misses
    fitting._value_grad(model)  # ADVI's, here: compiled already
    assert fitting._value_grad.cache_info().misses == misses
    # nutpie compiles its own log-density: nothing is compiled here for it.
    other = sc.build_model(sc.make_data())
    assert fitting.fit_in_background(_posterior_found_there, other, start, sampler="nutpie").result() == (1, 0)


def _when(model, pause):
    began = time.time()
    time.sleep(pause)
    return began, time.time()


def test_at_most_at_once_fits_run_at_a_time(coin_sets):
    model, _ = coin_sets
    running = fitting.fits_side_by_side(((_when, model, 0.3, {}) for _ in range(3)), at_once=1)
    spans = [fit.result() for fit in running]
    for (_, ended), (began, _) in zip(spans, spans[1:]):
        assert began >= ended  # each started after the one before had ended
    together = fitting.fits_side_by_side(((_when, model, 1.0, {}) for _ in range(2)), at_once=2)
    (first_began, first_ended), (second_began, _) = (fit.result() for fit in together)
    assert second_began < first_ended  # two at once


def test_a_failure_building_a_later_fit_ends_the_earlier_ones(coin_sets):
    model, _ = coin_sets
    started = []

    def fits():
        yield _sleeps, model, {}
        started.append(True)
        raise ValueError("the second fit's data are bad")

    with pytest.raises(ValueError, match="second fit's data"):
        fitting.fits_side_by_side(fits())
    assert started == [True]
    # The sleeping child was ended: no child of this process is left running it.
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]
