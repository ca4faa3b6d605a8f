"""The generic EM driver: stopping rule, traces, warnings, several starts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emtwin.em_reference import EMConvergenceWarning, run_em, run_em_multistart


# A one-parameter "EM" whose step maps x -> x/2 + 1 (fixed point 2). Its "E-step" hands x
# to the "M-step" through the responsibilities; the objective -(x - 2)^2 rises every
# step. It exercises the driver's bookkeeping without any model.
def halving_e_step(data, params):
    return np.array([[params["x"]]])


def halving_m_step(data, resp):
    return {"x": resp[0, 0] / 2 + 1}


def quadratic_loglik(data, params):
    return -float((params["x"] - 2.0) ** 2)


def run_halving(start=0.0, **kw):
    return run_em(None, {"x": start}, halving_e_step, halving_m_step, quadratic_loglik, **kw)


def test_stops_when_parameter_change_is_below_tol():
    # From 0 the change at step t is 2^-(t-1): 1, 1/2, 1/4, ... The first change below
    # 1e-3 is 2^-10 (step 11), so exactly 11 iterations run.
    result = run_halving(tol=1e-3)
    assert result.converged
    assert result.n_iter == 11
    assert result.params["x"] == pytest.approx(2 - 2.0**-10)


def test_traces_have_start_row_and_one_row_per_iteration():
    result = run_halving(tol=1e-3)
    assert result.param_trace["x"].shape == (12,)
    assert result.param_trace["x"][0] == 0.0
    assert result.param_trace["x"][1] == 1.0
    assert result.loglik_trace.shape == (12,)
    assert result.loglik_trace[0] == -4.0
    assert result.log_likelihood == result.loglik_trace[-1]


def test_iteration_cap_warns_with_the_last_change():
    with pytest.warns(EMConvergenceWarning) as record:
        result = run_halving(tol=1e-12, max_iter=3)
    assert not result.converged
    assert result.n_iter == 3
    w = record[0].message
    assert w.last_change == 0.25  # 1.5 -> 1.75
    assert w.tol == 1e-12
    assert str(w) == (
        "EM did not converge in 3 iterations: the last parameter change was 0.25, "
        "above tol=1e-12. Raise max_iter or loosen tol."
    )


@pytest.mark.parametrize("tol", [0.0, -1.0, float("nan")])
def test_bad_tol_is_rejected(tol):
    with pytest.raises(ValueError, match=f"tol must be a positive finite number; got {tol!r}"):
        run_halving(tol=tol)


def test_bad_max_iter_is_rejected():
    with pytest.raises(ValueError, match="max_iter must be a whole number >= 1; got 0"):
        run_halving(max_iter=0)


def test_multistart_keeps_distinct_maxima_best_first():
    # Every point is a fixed point here, so each start is its own "maximum".
    def e_step(data, p):
        return np.array([[p["x"]]])

    def m_step(data, resp):
        return {"x": resp[0, 0]}

    def loglik(data, p):
        return -abs(float(p["x"]) - 1.0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_em_multistart(None, [{"x": 3.0}, {"x": 1.0}, {"x": 3.0}], e_step, m_step, loglik)
    assert result.params["x"] == 1.0
    assert [m.params["x"] for m in result.local_maxima] == [1.0, 3.0]
    assert [m.n_starts for m in result.local_maxima] == [1, 2]


def test_multistart_needs_a_start():
    with pytest.raises(ValueError, match="starts must hold at least one"):
        run_em_multistart(None, [], halving_e_step, halving_m_step, quadratic_loglik)


def test_a_fused_step_gives_the_same_result_as_the_three_functions():
    # The optional `step` hook: one iteration and the log-likelihood of the parameters it
    # started from, computed together. It must reproduce the plain loop exactly, with the
    # E-step and log-likelihood called once, at the end (the last row and responsibilities).
    calls = {"e_step": 0, "m_step": 0, "loglik": 0}

    def counted(name, f):
        def wrapped(*args):
            calls[name] += 1
            return f(*args)
        return wrapped

    def step(data, params):
        return halving_m_step(data, halving_e_step(data, params)), quadratic_loglik(data, params)

    plain = run_halving(tol=1e-3)
    fused = run_em(None, {"x": 0.0}, counted("e_step", halving_e_step), counted("m_step", halving_m_step),
                   counted("loglik", quadratic_loglik), tol=1e-3, step=step)
    assert calls == {"e_step": 1, "m_step": 0, "loglik": 1}
    assert (fused.n_iter, fused.converged) == (plain.n_iter, plain.converged) == (11, True)
    assert fused.loglik_trace.tolist() == plain.loglik_trace.tolist()
    assert fused.param_trace["x"].tolist() == plain.param_trace["x"].tolist()
    assert fused.responsibilities.tolist() == plain.responsibilities.tolist() == [[2 - 2.0**-10]]


def test_a_fused_step_hitting_the_cap_warns_and_keeps_one_loglik_row_per_iteration():
    def step(data, params):
        return halving_m_step(data, halving_e_step(data, params)), quadratic_loglik(data, params)

    with pytest.warns(EMConvergenceWarning):
        result = run_em(None, {"x": 0.0}, halving_e_step, halving_m_step, quadratic_loglik,
                        tol=1e-12, max_iter=3, step=step)
    assert result.loglik_trace.tolist() == [-4.0, -1.0, -0.25, -0.0625]
    assert result.param_trace["x"].tolist() == [0.0, 1.0, 1.5, 1.75]


def test_multistart_prefers_the_earliest_start_within_rounding_of_the_best():
    # Fixed points everywhere again. Start 2 beats start 1 by less than 1e-9 (rounding): start
    # 1 is kept. Start 3 is better by more: it wins, though it comes last.
    def e_step(data, p):
        return np.array([[p["x"]]])

    def m_step(data, resp):
        return {"x": resp[0, 0]}

    def loglik(data, p):
        return {1.0: -10.0, 2.0: -10.0 + 5e-9, 3.0: -9.0}[float(p["x"])]

    result = run_em_multistart(None, [{"x": 1.0}, {"x": 2.0}], e_step, m_step, loglik)
    assert result.params["x"] == 1.0
    result = run_em_multistart(None, [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}], e_step, m_step, loglik)
    assert result.params["x"] == 3.0
    assert [m.params["x"] for m in result.local_maxima] == [3.0, 2.0, 1.0]
