"""Smoke tests of the benchmark's pieces (``python -m benchmarks``) at tiny sizes.

They check that the numbers the benchmark reports are the right numbers (the two EMs do
the same work step by step, the limit is the formula it claims, the memory budget is the
issue's), not how fast anything is. No PyMC model is compiled here.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

# scikit-learn is in the `test` extra: a missing one must fail this module, not skip it.
import sklearn  # noqa: E402, F401

from benchmarks import cli, report  # noqa: E402  (repository root is on sys.path under `python -m pytest`)
from benchmarks.data import START, TRUE, draw_mixture, sklearn_init  # noqa: E402
from benchmarks.em_vs_sklearn import (  # noqa: E402
    IterationRecord,
    Problem,
    fit_ours,
    fit_sklearn,
    per_iteration,
    to_convergence,
    trajectory_difference,
)
from benchmarks.machine import copy_bandwidth, exp_log_cost, iteration_limit  # noqa: E402
from benchmarks.memory import budget_bytes, peak_memory  # noqa: E402

N = 2000


@pytest.fixture(scope="module", params=[1, 2], ids=["1-D", "2-D"])
def problem(request):
    return Problem.make(N, request.param, seed=0)


def test_data_are_seeded_and_shaped():
    assert draw_mixture(100, 1, 3).shape == (100,)
    assert draw_mixture(100, 2, 3).shape == (100, 2)
    np.testing.assert_array_equal(draw_mixture(100, 2, 3), draw_mixture(100, 2, 3))


def test_sklearn_start_is_ours():
    """precisions_init is the inverse of the start's covariance: 1/σ² in 1-D."""
    init = sklearn_init(START[1])
    np.testing.assert_allclose(init["precisions_init"][:, 0, 0], 1 / START[1]["sigma"] ** 2, rtol=1e-15)
    np.testing.assert_allclose(sklearn_init(START[2])["precisions_init"] @ START[2]["cov"], np.broadcast_to(np.eye(2), (3, 2, 2)),
                               atol=1e-14)
    # Starts ordered by the first coordinate of mu, as emtwin's fit returns components.
    for dim in (1, 2):
        first = np.asarray(START[dim]["mu"]).reshape(3, -1)[:, 0]
        assert np.all(np.diff(first) > 0) and np.all(np.diff(np.asarray(TRUE[dim]["mu"]).reshape(3, -1)[:, 0]) > 0)


def test_same_trajectory_and_parameters(problem):
    record = per_iteration(problem, n_iter=4, repeats=1)
    assert record.n_iter == 4
    assert record.trajectory_max_rel_diff <= 1e-9
    assert record.params_max_abs_diff <= 1e-9
    assert record.ours_loglik == pytest.approx(record.sklearn_loglik, rel=1e-12)
    # Timings only exist and relate as stated: at this size an iteration costs about what the
    # noise of a shared machine does, so their values are not checked.
    assert record.ours_total_s > 0 and record.sklearn_total_s > 0
    assert record.speedup == record.sklearn_per_iter_s / record.ours_per_iter_s


def test_trajectory_check_sees_an_off_by_one():
    """Compared one iteration out of step, the trajectories differ: the check is not vacuous."""
    problem = Problem.make(N, 1, seed=0)
    ours = fit_ours(problem.data, problem.start, max_iter=5)
    theirs = fit_sklearn(problem.x_sklearn, problem.start, max_iter=5)
    shifted = dataclasses.replace(ours, loglik_trace=ours.loglik_trace[1:])
    assert trajectory_difference(ours, theirs, N) <= 1e-12
    assert trajectory_difference(shifted, theirs, N) > 1e-6


def test_both_converge_to_the_same_log_likelihood():
    record = to_convergence(Problem.make(N, 1, seed=0), ours_tol=1e-8, sklearn_tol=1e-12)
    assert record.ours_converged and record.sklearn_converged
    assert record.loglik_rel_diff < 1e-10
    assert record.params_max_abs_diff < 1e-5


def test_limit_is_the_stated_formula():
    cost = exp_log_cost(4096, repeats=1)
    assert all(value > 0 for value in (cost.exp_in_cache_s, cost.log_in_cache_s, cost.exp_streaming_s))
    bandwidth = copy_bandwidth(1 << 16, repeats=1)
    assert bandwidth > 0
    limit = iteration_limit(1000, 2, 3, bandwidth=1e10, cost=cost)
    assert limit.bytes_moved == 8 * 1000 * (2 + 3)
    assert limit.memory_s == pytest.approx(40_000 / 1e10, rel=1e-15)
    assert limit.compute_s == pytest.approx(3000 * cost.exp_in_cache_s + 1000 * cost.log_in_cache_s, rel=1e-15)
    assert limit.limit_s == max(limit.memory_s, limit.compute_s)


def test_peak_memory_in_a_fresh_process():
    n = 20_000  # large enough that the fixed overhead (~60 kB) does not dominate
    record = peak_memory("emtwin", 1, n, seed=0, n_iter=2)
    # The issue-6 goal, measured: EM's peak beyond the data stays within the budget of the
    # data plus two N × k arrays (measured 0.85 of it at N = 20 000), and above the
    # N × k responsibilities the result must hold.
    assert 8 * n * 3 <= record.peak_bytes <= record.budget_bytes == budget_bytes(n, 1)
    assert record.total_bytes == record.data_bytes + record.peak_bytes
    assert record.max_rss_bytes > record.peak_bytes


def test_targets_pass_miss_and_not_run():
    assert {t.status for t in report.evaluate_targets({})} == {"NOT RUN"}
    # 5.5× and 4.5× faster per iteration at N = 1e6, the same trajectory to 1e-12.
    fast = IterationRecord(1, 10**6, 3, 20, 3, 0.01, 0.055, 5.5, 0.2, 1.1, 0.01, 0.06, -2e6, -2e6, 1e-12, 1e-12)
    slow = dataclasses.replace(fast, sklearn_per_iter_s=0.045, speedup=4.5)
    speed, trajectory, *_ = report.evaluate_targets({"em": {"per_iteration": [fast]}})
    assert (speed.status, speed.value, trajectory.status) == ("PASS", 5.5, "PASS")
    assert report.evaluate_targets({"em": {"per_iteration": [slow]}})[0].status == "MISS"


def test_command_line_prints_tables_and_writes_json(tmp_path, capsys, monkeypatch):
    # --quick made smaller still: 3 iterations, one repeat.
    monkeypatch.setattr(cli, "QUICK", dataclasses.replace(cli.QUICK, iterations={1: 3}, repeats={1: 1}))
    out = tmp_path / "results.json"
    assert cli.main(["--quick", "--only", "em", "--sizes", "1000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "EM per iteration" in printed and "Issue 6 targets" in printed
    saved = json.loads(out.read_text())
    assert {"date", "command", "settings", "machine", "em", "targets", "elapsed_s"} <= set(saved)
    assert saved["machine"]["versions"]["numpy"] == np.__version__
    rows = saved["em"]["per_iteration"]
    assert [(r["dim"], r["n"], r["n_iter"]) for r in rows] == [(1, 1000, 3), (2, 1000, 3)]
    assert all(r["trajectory_max_rel_diff"] <= 1e-9 for r in rows), rows
    assert all(r["ours_total_s"] > 0 and r["sklearn_total_s"] > 0 for r in rows), rows
    assert len(saved["targets"]) == 5


def test_command_line_rejects_an_unknown_section(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--only", "em,gpu"])
    assert "--only takes em, limit, memory, map, nuts, scale, twin; got gpu" in capsys.readouterr().err


def test_twin_tables_show_overheads_and_the_targets_status():
    from benchmarks.twin import ScenarioSpeed, twin_tables

    speed = ScenarioSpeed("coin-sets", gradient_us=10.0, advi_steps=1000, advi_budget=20_000, advi_s=0.15,
                          nuts_gradients=10_000, nuts_s=2.0, load=1.5)
    assert speed.advi_step_us == pytest.approx(150.0) and speed.nuts_gradient_us == pytest.approx(200.0)
    text = twin_tables({"scenarios": [speed], "targets": [
        {"target": "fast", "status": "PASS", "median_s": 1.0, "limit_s": 2.0, "baseline_median_s": 4.0, "load": [1.5]},
        {"target": "slow", "status": "MISS", "median_s": 9.0, "limit_s": 8.0, "load": [2.0]}]})
    assert "1000 of 20000" in text and "140 µs" in text and "190 µs" in text  # overheads: 150 − 10, 200 − 10
    assert "PASS" in text and "4.0 s before, 0.25×" in text and "MISS" in text and "no baseline" in text
