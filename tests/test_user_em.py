"""Your own EM in step form (`emtwin.custom_scenario`), through the lecture's harness.

The worked example is `examples/poisson_mixture/` (a two-component Poisson mixture, in no
lecture). Its maximum-likelihood estimate is checked against an oracle that shares no code
with either twin: SciPy's Poisson pmf, maximised by SciPy's optimisers.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytest
from pymc.distributions.transforms import Ordered
from scipy import optimize, stats
from scipy.special import expit

import emtwin
from emtwin.comparisons import SCENARIOS, cli, flatten, get_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "poisson_mixture"


@pytest.fixture(scope="module")
def example():
    """The example's modules, imported as a user's test would import them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE))
        yield SimpleNamespace(
            em=importlib.import_module("counts_em"),
            model=importlib.import_module("counts_model"),
            scenario=importlib.import_module("counts_scenario"),
        )


def scipy_mle(counts):
    """Oracle: maximise Σ log(w Poisson(x|λ1) + (1−w) Poisson(x|λ2)) with SciPy, in
    log / logit coordinates. Returns ((λ1, λ2), (w1, w2), log-likelihood), λ1 < λ2."""

    def nll(v):
        lam1, lam2, w1 = np.exp(v[0]), np.exp(v[1]), expit(v[2])
        return -np.log(w1 * stats.poisson.pmf(counts, lam1) + (1 - w1) * stats.poisson.pmf(counts, lam2)).sum()

    rough = optimize.minimize(nll, [0.0, 2.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    fine = optimize.minimize(nll, rough.x, method="BFGS", options={"gtol": 1e-9})
    lam, w1 = np.exp(fine.x[:2]), expit(fine.x[2])
    order = np.argsort(lam)
    return lam[order], np.array([w1, 1 - w1])[order], -fine.fun


@pytest.fixture(scope="module")
def oracle(example):
    return scipy_mle(example.em.simulate_counts())


@pytest.fixture(scope="module")
def twins(em_twins):
    """The plugin's session-wide TwinSession: the Poisson model is compiled once for all files."""
    return em_twins


@pytest.fixture(scope="module")
def good(example, twins):
    return twins.compare(example.scenario.make_scenario(), methods=["map"], n_starts=4, seed=1)


@pytest.fixture(scope="module")
def buggy(example, twins):
    return twins.compare(example.scenario.make_buggy_scenario(), methods=["map"])


# --------------------------------------------------------------------------- the example


def test_step_form_em_and_map_reach_the_independent_mle(good, oracle):
    lam, w, loglik = oracle
    assert good.verdict == "agree"
    assert good.failures == []
    for k, label in enumerate(("1", "2")):
        assert good.row(f"lam{label}").em == pytest.approx(lam[k], abs=1e-6)
        assert good.row(f"weights{label}").em == pytest.approx(w[k], abs=1e-6)
        assert good.row(f"lam{label}").map == pytest.approx(lam[k], abs=1e-6)
        assert abs(good.row(f"lam{label}").map - good.row(f"lam{label}").em) <= 2e-8  # measured 2.0e-9
    assert good.em.log_likelihood == pytest.approx(loglik, abs=1e-7)


def test_the_driver_ran_several_starts_and_kept_the_best(good, oracle):
    # Default extra starts: the M-step on random responsibilities. Every start must end at
    # a maximum no higher than the oracle's, and the best must be it.
    assert good.settings["n_starts"] == 4
    assert sum(m.n_starts for m in good.em.local_maxima) == 4
    assert max(m.log_likelihood for m in good.em.local_maxima) == pytest.approx(oracle[2], abs=1e-7)
    assert all(m.log_likelihood <= oracle[2] + 1e-7 for m in good.em.local_maxima)


def test_identifiability_check_comes_with_the_harness(good):
    check = next(c for c in good.checks if c.name == "identifiable")
    assert check.passed
    assert good.identifiable
    assert np.all(good.curvature.eigenvalues > 1.0)


def buggy_fixed_point(counts, start, n_iter=2000):
    """The wrong M-step's fixed point, by this test's own loop (λ_k = Σ r_ik x_i / n)."""
    lam, w = np.array(start["lam"], float), np.array(start["weights"], float)
    for _ in range(n_iter):
        joint = w * stats.poisson.pmf(counts[:, None], lam)
        r = joint / joint.sum(axis=1, keepdims=True)
        lam, w = r.T @ counts / len(counts), r.mean(axis=0)
    return lam, w


def test_wrong_m_step_disagrees_and_the_message_points_at_the_parameter(buggy, example, oracle):
    lam_bug, _ = buggy_fixed_point(example.em.simulate_counts(), example.em.START)
    gap = abs(lam_bug[1] - oracle[0][1])  # the busy rate is off the most
    assert buggy.verdict == "disagree"
    # First the step check (issue 14) names the step, then the end points disagree, and the EM
    # derived from the model leaves the buggy trajectory.
    assert [c.name for c in buggy.failures] == [
        "EM steps vs the model", "EM vs MAP parameters", "EM vs MAP log-likelihood",
        "derived EM: same parameters every iteration", "derived EM: same log-likelihood every iteration",
    ]
    assert next(c for c in buggy.failures if c.name == "EM vs MAP parameters").detail == (
        f"largest difference {gap:.2e} at lam2")
    counts, start = example.em.simulate_counts(), example.em.START
    joint = start["weights"] * stats.poisson.pmf(counts[:, None], start["lam"])
    r = joint / joint.sum(axis=1, keepdims=True)
    right, wrong = r.T @ counts / r.sum(axis=0), r.T @ counts / len(counts)
    with pytest.raises(AssertionError) as err:
        emtwin.testing.assert_twins_agree(buggy)
    message = str(err.value)
    first, table = message.split("\n\n", 1)
    assert first.startswith(
        "poisson-mixture-buggy: the twins disagree. EM steps vs the model: iteration 1, m_step, lam: "
        f"expected [{right[0]:.8g}, {right[1]:.8g}], got [{wrong[0]:.8g}, {wrong[1]:.8g}] (lowers Q from "
    )
    assert first.endswith("(and 4 more failed checks)")
    lam2_row = next(line for line in table.splitlines() if line.startswith("lam2 "))
    assert lam2_row.endswith(f"◀ FAIL |EM−MAP| = {gap:.2e} > 1e-04")
    assert f"{lam_bug[1]:.4f}" in lam2_row.split()
    assert table.splitlines()[-1] == "verdict: DISAGREE"


def test_passing_rows_carry_no_mark(good):
    assert "◀" not in good.table()


def test_assert_twins_agree_returns_the_comparison_when_they_agree(good):
    assert emtwin.testing.assert_twins_agree(good) is good


# --------------------------------------------------------------------------- non-identifiable


TOSSES = np.array([1 if c == "H" else 0 for c in
                   "HTTTHHTHTH" "HHHHTHHHHH" "HTHHHHHTHH" "HTHTTTHHTT" "THHHTHHHTH"])  # 33 heads of 50


def coin_e_step(x, params):
    joint = 0.5 * np.where(x[:, None] == 1, params["p"], 1 - params["p"])
    return joint / joint.sum(axis=1, keepdims=True)


def coin_m_step(x, resp):
    return {"p": resp.T @ x / resp.sum(axis=0)}


def coin_log_likelihood(x, params):
    return float(np.log(0.5 * np.where(x[:, None] == 1, params["p"], 1 - params["p"]).sum(axis=1)).sum())


def build_interleaved(x):
    with pm.Model(coords={"coin": ["1", "2"]}) as model:
        p = pm.Beta("p", 1.0, 1.0, dims="coin", transform=Ordered(ascending=False))
        pm.Mixture("tosses", w=np.array([0.5, 0.5]), comp_dists=pm.Bernoulli.dist(p=p), observed=x)
    return model


COIN_COMPONENTS = emtwin.Components(params=("p",), labels=("1", "2"), order_by="p", descending=True)


@pytest.fixture(scope="module")
def interleaved(twins):
    scenario = emtwin.custom_scenario(
        "my-interleaved-coins", data=TOSSES, start={"p": [0.6, 0.5]}, e_step=coin_e_step,
        m_step=coin_m_step, log_likelihood=coin_log_likelihood, build_model=build_interleaved,
        components=COIN_COMPONENTS, functionals={"(p1+p2)/2": lambda q: (q["p"][0] + q["p"][1]) / 2},
    )
    return twins.compare(scenario, methods=["map"])


def test_a_user_model_with_a_ridge_is_non_identifiable_with_its_flat_direction(interleaved):
    # Each toss is heads with probability (p1 + p2)/2: the likelihood is flat along p1 − p2.
    assert interleaved.verdict == "non-identifiable"
    assert interleaved.ok
    (direction,) = interleaved.curvature.flat_directions
    np.testing.assert_allclose(direction["p"], [2**-0.5, -(2**-0.5)], atol=1e-6)
    assert interleaved.functionals["(p1+p2)/2"]["em"] == pytest.approx(33 / 50, abs=1e-8)
    assert interleaved.functionals["(p1+p2)/2"]["map"] == pytest.approx(33 / 50, abs=1e-6)
    check = next(c for c in interleaved.checks if c.name == "identifiable")
    assert "flat along +0.707·p1 -0.707·p2" in check.detail


def test_same_verdict_and_flat_direction_as_the_lectures_interleaved_coins(interleaved, twins):
    lecture = twins.compare("interleaved-coins", methods=["map"])
    assert lecture.verdict == interleaved.verdict == "non-identifiable"
    (ours,) = interleaved.curvature.flat_directions
    (theirs,) = lecture.curvature.flat_directions
    ours = flatten(ours, COIN_COMPONENTS)
    theirs = flatten(theirs, get_scenario("interleaved-coins").components)
    assert ours.keys() == theirs.keys() == {"p1", "p2"}
    for name in ours:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-6)


# --------------------------------------------------------------------------- bad input


def broken_model(counts):
    raise KeyError("counts")


def m_step_nan(counts, resp):
    return {"lam": np.array([np.nan, 9.0]), "weights": resp.mean(axis=0)}


def test_parameter_names_that_are_not_the_models_free_variables(example):
    sc = example.scenario.make_scenario()
    renamed = dataclasses.replace(
        sc, default_start={"rate": [1.0, 5.0], "weights": [0.5, 0.5]},
        components=emtwin.Components(params=("rate", "weights"), labels=("1", "2"), order_by="rate"),
    )
    with pytest.raises(ValueError) as err:
        emtwin.compare(renamed, methods=["map"])
    assert str(err.value) == (
        "start names the parameters ['rate', 'weights'] but the PyMC model built by build_model has the "
        "free variables ['lam', 'weights'] (unknown: ['rate'], missing: ['lam']). Name the parameters as "
        "the model's free variables."
    )


def test_shapes_that_disagree_with_the_model(example):
    sc = emtwin.custom_scenario(
        "three-rates", data=example.em.simulate_counts(), start={"lam": [1.0, 3.0, 5.0], "weights": [0.3, 0.3, 0.4]},
        e_step=example.em.e_step, m_step=example.em.m_step, log_likelihood=example.em.log_likelihood,
        build_model=example.model.build_model,
        components=emtwin.Components(params=("lam", "weights"), labels=("1", "2", "3"), order_by="lam"),
    )
    with pytest.raises(ValueError) as err:
        emtwin.compare(sc, methods=["map"])
    assert str(err.value) == (
        "start['lam'] has shape (3,) but the model's 'lam' has shape (2,); give one value per entry of 'lam'."
    )


def test_a_model_builder_that_raises_is_named(example):
    sc = dataclasses.replace(example.scenario.make_scenario(), build_model=broken_model)
    with pytest.raises(ValueError) as err:
        emtwin.compare(sc, methods=["map"])
    assert str(err.value) == (
        "build_model broken_model(data) raised KeyError: 'counts'. Fix the model builder; it must return "
        "a pm.Model for the data it is given."
    )
    assert isinstance(err.value.__cause__, KeyError)


def test_an_m_step_returning_nan_stops_em_with_the_step_named(example, twins):
    counts = example.em.simulate_counts()
    sc = example.scenario.make_scenario(m_step=m_step_nan)
    # The M-step gets the responsibilities of the first E-step, at the start.
    totals = example.em.e_step(counts, {k: np.asarray(v) for k, v in example.em.START.items()}).sum(axis=0)
    with pytest.raises(ValueError) as err:
        twins.compare(sc, methods=["map"])
    assert str(err.value) == (
        f"m_step m_step_nan returned non-finite parameters: lam=[nan, 9.0], from responsibilities whose "
        f"column totals are [{totals[0]:.6g}, {totals[1]:.6g}]. Look for a division by a zero total or a log of 0."
    )


def test_components_must_name_parameters_of_the_start(example):
    with pytest.raises(ValueError) as err:
        emtwin.custom_scenario(
            "x", data=example.em.simulate_counts(), start={"lam": [1.0, 5.0], "weights": [0.5, 0.5]},
            e_step=example.em.e_step, m_step=example.em.m_step, log_likelihood=example.em.log_likelihood,
            build_model=example.model.build_model,
            components=emtwin.Components(params=("rates",), labels=("1", "2"), order_by="rates"),
        )
    assert str(err.value) == "components refers to ['rates'], which start does not name; start has ['lam', 'weights']."


# --------------------------------------------------------------------------- command line


def test_cli_runs_a_scenario_from_a_file_without_registering_it(capsys):
    spec = f"{EXAMPLE / 'counts_scenario.py'}:make_scenario"
    assert cli.main(["compare", spec, "--methods", "map", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "poisson-mixture: EM vs PyMC (map), seed 0"
    assert out.splitlines()[-1] == "verdict: AGREE"


def test_cli_exits_1_for_the_buggy_m_step(capsys):
    spec = f"{EXAMPLE / 'counts_scenario.py'}:make_buggy_scenario"
    assert cli.main(["compare", spec, "--methods", "map", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] EM vs MAP parameters: largest difference" in out
    assert out.splitlines()[-1] == "verdict: DISAGREE"


def test_cli_file_errors_exit_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.py"
    assert cli.main(["compare", f"{missing}:make_scenario", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"emtwin: error: no file {str(missing)!r} (from '{missing}:make_scenario'); give the path to a Python file.\n"
    )

    spec = f"{EXAMPLE / 'counts_scenario.py'}:make_scenarios"
    assert cli.main(["compare", spec, "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"emtwin: error: {str(EXAMPLE / 'counts_scenario.py')!r} defines no function 'make_scenarios'; "
        "functions defined there: make_buggy_scenario, make_scenario.\n"
    )

    not_a_scenario = tmp_path / "wrong.py"
    not_a_scenario.write_text("def make():\n    return 42\n")
    assert cli.main(["compare", f"{not_a_scenario}:make", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"emtwin: error: {not_a_scenario}:make returned int, not a Scenario; build one with emtwin.custom_scenario(...).\n"
    )


def test_cli_rejects_a_name_that_is_neither_registered_nor_a_file(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "poisson-mixture"])
    assert exit_info.value.code == 2
    assert (
        f"argument NAME: invalid choice: 'poisson-mixture' (choose from {', '.join(SCENARIOS)}, "
        "or give path/to/file.py:function)"
    ) in capsys.readouterr().err
