"""One answer for one bad value, from every public entry point (em_reference/checks.py).

The project decided once what a seed and a number of starts may be: a Python or NumPy
integer (never a bool, never a float, even an integral one, never None), a seed in
[0, 2**32 − 1] (PyMC's samplers' range), n_starts >= 1. Each entry point below is handed
the same bad values and must answer with the same sentence, written here from the value.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import emtwin
from emtwin.comparisons import cli
from emtwin.comparisons import compare as comparisons_compare
from emtwin.comparisons.harness import compare_twins
from emtwin.comparisons.report.compute import ReportSettings
from emtwin.em_reference import coins, gaussian_means, gaussian_mixture, interleaved_coins, one_coin
from emtwin.em_reference.checks import RULES, Real, Whole, check
from emtwin.models import coins as pm_coins
from emtwin.models import fitting

SETS = coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS)
BAD_SEEDS = [3.0, 3.5, None, 2**40, 2**32, True, -1, "3", np.float64(3.0)]
BAD_N_STARTS = [0, -1, 2.0, 2.5, True, None, "3"]
# What the command line receives is text; these are the bad values that survive parsing
# as numbers ("3" is the valid seed 3 there, True and None cannot be typed).
CLI_BAD_SEEDS = [3.0, 3.5, 2**40, -1]
CLI_BAD_N_STARTS = [0, -1, 2.0, 2.5]


def seed_message(value):
    return f"seed must be a whole number in [0, 4294967295]; got {value!r}."


def n_starts_message(value):
    return f"n_starts must be a whole number >= 1; got {value!r}."


@pytest.fixture(scope="module")
def coin_model():
    return pm_coins.build_model(SETS.heads, SETS.tosses)


def _custom():
    """A user's scenario (the coin sets written through custom_scenario)."""
    return emtwin.custom_scenario(
        "my-coins", data=SETS, start={"theta": np.array([0.6, 0.5])},
        e_step=coins.e_step, m_step=lambda data, resp: {"theta": coins.m_step(data, resp)},
        log_likelihood=lambda data, p: coins.log_likelihood(data, p["theta"]),
        build_model=lambda data: pm_coins.build_model(data.heads, data.tosses),
        components=emtwin.Components(params=("theta",), labels=("A", "B"), order_by="theta", descending=True),
    )


SEED_ENTRIES = {
    "emtwin.compare": lambda seed: emtwin.compare("coin-sets", methods=["map"], seed=seed),
    "emtwin.comparisons.compare": lambda seed: comparisons_compare("coin-sets", methods=["map"], seed=seed),
    "harness.compare_twins": lambda seed: compare_twins("coin-sets", methods=["map"], seed=seed),
    "emtwin.compare(custom_scenario)": lambda seed: emtwin.compare(_custom(), methods=["map"], seed=seed),
    "custom_scenario fit_em": lambda seed: _custom().fit_em(SETS, {"theta": [0.6, 0.5]}, seed=seed),
    "emtwin.check_em": lambda seed: emtwin.check_em(
        {"theta": np.array([0.8, 0.52])}, SETS, lambda d: pm_coins.build_model(d.heads, d.tosses), seed=seed),
    "one_coin.fit": lambda seed: one_coin.fit(one_coin.Tosses(7, 10), seed=seed),
    "interleaved_coins.fit": lambda seed: interleaved_coins.fit(
        interleaved_coins.tosses_from_string(interleaved_coins.LECTURE_SEQUENCE), seed=seed),
    "coins.fit": lambda seed: coins.fit(SETS, seed=seed),
    "gaussian_means.fit": lambda seed: gaussian_means.fit(gaussian_means.MixtureData.synthetic(), seed=seed),
    "gaussian_means.MixtureData.synthetic": lambda seed: gaussian_means.MixtureData.synthetic(seed=seed),
    "gaussian_mixture.fit": lambda seed: gaussian_mixture.fit(gaussian_mixture.MixtureData.old_faithful("waiting", k=2),
                                                              seed=seed),
    "ReportSettings": lambda seed: ReportSettings(seed=seed),
}
MODEL_SEED_ENTRIES = {
    "fitting.fit_nuts": lambda model, seed: fitting.fit_nuts(model, {"theta": [0.8, 0.5]}, seed=seed),
    "fitting.fit_advi": lambda model, seed: fitting.fit_advi(model, {"theta": [0.8, 0.5]}, seed=seed),
}
N_STARTS_ENTRIES = {
    "emtwin.compare": lambda n: emtwin.compare("coin-sets", methods=["map"], n_starts=n),
    "emtwin.compare(custom_scenario)": lambda n: emtwin.compare(_custom(), methods=["map"], n_starts=n),
    "custom_scenario fit_em": lambda n: _custom().fit_em(SETS, {"theta": [0.6, 0.5]}, n_starts=n),
    "one_coin.fit": lambda n: one_coin.fit(one_coin.Tosses(7, 10), n_starts=n),
    "interleaved_coins.fit": lambda n: interleaved_coins.fit(
        interleaved_coins.tosses_from_string(interleaved_coins.LECTURE_SEQUENCE), n_starts=n),
    "coins.fit": lambda n: coins.fit(SETS, n_starts=n),
    "gaussian_means.fit": lambda n: gaussian_means.fit(gaussian_means.MixtureData.synthetic(), n_starts=n),
    "gaussian_mixture.fit": lambda n: gaussian_mixture.fit(gaussian_mixture.MixtureData.old_faithful("waiting", k=2),
                                                           n_starts=n),
    "ReportSettings": lambda n: ReportSettings(n_starts=n),
}


@pytest.mark.parametrize("value", BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("entry", SEED_ENTRIES)
def test_every_entry_point_answers_a_bad_seed_with_the_same_sentence(entry, value):
    with pytest.raises(ValueError) as err:
        SEED_ENTRIES[entry](value)
    assert str(err.value) == seed_message(value)


@pytest.mark.parametrize("value", BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("entry", MODEL_SEED_ENTRIES)
def test_the_fitting_functions_answer_a_bad_seed_with_the_same_sentence(coin_model, entry, value):
    with pytest.raises(ValueError) as err:
        MODEL_SEED_ENTRIES[entry](coin_model, value)
    assert str(err.value) == seed_message(value)


@pytest.mark.parametrize("value", BAD_N_STARTS, ids=repr)
@pytest.mark.parametrize("entry", N_STARTS_ENTRIES)
def test_every_entry_point_answers_a_bad_n_starts_with_the_same_sentence(entry, value):
    with pytest.raises(ValueError) as err:
        N_STARTS_ENTRIES[entry](value)
    assert str(err.value) == n_starts_message(value)


def _cli_error(argv):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    return stderr.getvalue().strip().splitlines()[-1]


@pytest.mark.parametrize("value", CLI_BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("command", [["compare", "coin-sets"], ["report", "coin-sets", "--out", "unused"]])
def test_the_command_line_answers_a_bad_seed_with_the_same_sentence(command, value):
    line = _cli_error([*command, "--seed", str(value)])
    assert line.endswith(f"error: argument --seed: {seed_message(value)}")


@pytest.mark.parametrize("value", CLI_BAD_N_STARTS, ids=repr)
@pytest.mark.parametrize("command", [["compare", "coin-sets"], ["report", "coin-sets", "--out", "unused"]])
def test_the_command_line_answers_a_bad_n_starts_with_the_same_sentence(command, value):
    line = _cli_error([*command, "--n-starts", str(value)])
    assert line.endswith(f"error: argument --n-starts: {n_starts_message(value)}")


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1, np.int64(5), np.uint32(2**32 - 1)], ids=repr)
def test_good_seeds_pass_as_python_ints(seed):
    value = check("seed", seed)
    assert value == int(seed) and type(value) is int


def test_the_rules_describe_themselves_in_one_shape():
    assert RULES["seed"].describe() == "a whole number in [0, 4294967295]"
    assert Whole(4).describe() == "a whole number >= 4"
    assert Real().describe() == "a positive finite number"
    assert Real(0.0, 1.0).describe() == "a number in (0, 1)"
    with pytest.raises(ValueError) as err:
        check("draws", 2, Whole(4), "NUTS draws per chain")
    assert str(err.value) == "draws must be a whole number >= 4 (NUTS draws per chain); got 2."
    # Data counts read from a file may be integral floats; arguments may not.
    assert check("heads", 7.0, Whole(0, floats=True)) == 7
    with pytest.raises(ValueError):
        check("heads", 7.5, Whole(0, floats=True))
