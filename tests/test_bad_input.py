"""Bad input at every public entry point: one ValueError whose whole message names the
argument, the value and what is allowed; on the command line one line and exit code 2.

Every case is written as the user would write it; the expected message is built from the
bad input, never copied from a run. Each case is recorded (``_records.py``) so that the
issue's note can list every input tried with the message it got. None of these cases
compiles a PyMC model: validation happens before anything expensive runs.
"""

from __future__ import annotations

import inspect
import math
import re
import textwrap

import numpy as np
import pytest

import emtwin
from emtwin.comparisons import SCENARIOS, cli
from emtwin.em_reference import coins, driver, one_coin
from emtwin.em_reference import gaussian_means as gm
from emtwin.em_reference import gaussian_mixture as gmx
from emtwin.em_reference import interleaved_coins as ic
from emtwin.models import coins as pm_coins
from emtwin.models import fitting
from emtwin.models import gaussian_means as pm_means

from _records import record_bad_input

SETS = coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS)
TOSSES = one_coin.Tosses.from_string(one_coin.DEFAULT_SEQUENCE)
MEANS_DATA = gm.MixtureData.synthetic()
NAMES = ", ".join(SCENARIOS)
MAX_SEED = 2**32 - 1
SYMMETRIC = "EM's symmetric fixed point"
# fit_nuts's keyword arguments, less the two compare sets itself (seed, progress).
NUTS_KEYS = ", ".join(n for n in inspect.signature(fitting.fit_nuts).parameters
                      if n not in {"model", "start", "seed", "progress"})


def _coin_scenario():
    """A step-form scenario built from the coin EM's own functions (nothing compiles)."""
    return emtwin.custom_scenario(
        "coins-again", data=SETS, start={"theta": [0.6, 0.5]},
        e_step=coins.e_step, m_step=coins.m_step, log_likelihood=coins.log_likelihood,
        build_model=lambda sets: pm_coins.build_model(sets.heads, sets.tosses),
        components=emtwin.Components(params=("theta",), labels=("A", "B"), order_by="theta", descending=True),
    )


def _coin_model():
    return pm_coins.build_model(SETS.heads, SETS.tosses)


def _lo_hi(z):
    return z.min() - 10.0, z.max() + 10.0  # the gaussian-means prior: data range ± 10 sigma (sigma = 1)


LO, HI = _lo_hi(MEANS_DATA.z)

# (entry point, the bad input as written, the call, the whole expected message)
API_CASES = [
    # ------------------------------------------------------------------ emtwin.compare: the run
    ("emtwin.compare", "'three-coins'", lambda: emtwin.compare("three-coins"),
     f"scenario must be one of {NAMES}; got 'three-coins'."),
    ("emtwin.compare", "scenario=None", lambda: emtwin.compare(None),
     "scenario must be a registered name (see `emtwin list`) or a Scenario from emtwin.custom_scenario(...); got NoneType."),
    ("emtwin.compare", "methods='map'", lambda: emtwin.compare("coin-sets", methods="map"),
     "methods must be a list drawn from map, advi, nuts, e.g. ['map', 'nuts']; got 'map'."),
    ("emtwin.compare", "methods=None", lambda: emtwin.compare("coin-sets", methods=None),
     "methods must be a list drawn from map, advi, nuts, e.g. ['map', 'nuts']; got None."),
    ("emtwin.compare", "methods=['map', 'mcmc']", lambda: emtwin.compare("coin-sets", methods=["map", "mcmc"]),
     "methods must be drawn from map, advi, nuts; got 'mcmc'."),
    ("emtwin.compare", "seed=-1", lambda: emtwin.compare("coin-sets", seed=-1),
     "seed must be a whole number in [0, 4294967295]; got -1."),
    ("emtwin.compare", "seed='7'", lambda: emtwin.compare("coin-sets", seed="7"),
     "seed must be a whole number in [0, 4294967295]; got '7'."),
    ("emtwin.compare", "seed=True", lambda: emtwin.compare("coin-sets", seed=True),
     "seed must be a whole number in [0, 4294967295]; got True."),
    ("emtwin.compare", "seed=2.5", lambda: emtwin.compare("coin-sets", seed=2.5),
     "seed must be a whole number in [0, 4294967295]; got 2.5."),
    ("emtwin.compare", "seed=2**32", lambda: emtwin.compare("coin-sets", seed=2**32),
     f"seed must be a whole number in [0, {MAX_SEED}]; got {2**32}."),
    ("emtwin.compare", "n_starts=0", lambda: emtwin.compare("coin-sets", n_starts=0, methods=["map"]),
     "n_starts must be a whole number >= 1; got 0."),
    ("emtwin.compare", "n_starts=2.5", lambda: emtwin.compare("coin-sets", n_starts=2.5, methods=["map"]),
     "n_starts must be a whole number >= 1; got 2.5."),
    ("emtwin.compare", "n_starts='3'", lambda: emtwin.compare("coin-sets", n_starts="3", methods=["map"]),
     "n_starts must be a whole number >= 1; got '3'."),
    # ------------------------------------------------------------------ emtwin.compare: start
    ("emtwin.compare", "start=[0.6, 0.5]", lambda: emtwin.compare("coin-sets", start=[0.6, 0.5]),
     "start must be a dict of parameter name -> value, e.g. {'theta': [0.6, 0.5]}; got [0.6, 0.5]."),
    ("emtwin.compare", "start={'p': [0.6, 0.5]}", lambda: emtwin.compare("coin-sets", start={"p": [0.6, 0.5]}),
     "start must give the coin-sets scenario's parameters ['theta']; got ['p'], without 'theta'."),
    ("emtwin.compare", "start={'theta': [0.6, 0.5], 'phi': 1.0}",
     lambda: emtwin.compare("coin-sets", start={"theta": [0.6, 0.5], "phi": 1.0}),
     "start names ['phi'], which the coin-sets scenario does not have; its parameters are ['theta']."),
    ("emtwin.compare", "start={'theta': [0.6, 1.2]}", lambda: emtwin.compare("coin-sets", start={"theta": [0.6, 1.2]}),
     "theta_B must lie in (0, 1); got 1.2."),
    ("emtwin.compare", "start={'theta': [0.0, 0.5]}", lambda: emtwin.compare("coin-sets", start={"theta": [0.0, 0.5]}),
     "theta_A must lie in (0, 1); got 0.0."),
    ("emtwin.compare", "start={'theta': [nan, 0.5]}",
     lambda: emtwin.compare("coin-sets", start={"theta": [math.nan, 0.5]}),
     "theta_A must lie in (0, 1); got nan."),
    ("emtwin.compare", "start={'theta': [0.5, 0.5]}", lambda: emtwin.compare("coin-sets", start={"theta": [0.5, 0.5]}),
     f"start = [0.5, 0.5] gives two coins the same start; that is {SYMMETRIC} (both coins stay equal "
     "forever). Start them at different values."),
    ("emtwin.compare", "start={'theta': ['a', 'b']}", lambda: emtwin.compare("coin-sets", start={"theta": ["a", "b"]}),
     "start must hold 2 numbers (theta_A, theta_B); got ['a', 'b']."),
    ("emtwin.compare", "start={'theta': [0.6, 0.5, 0.4]}",
     lambda: emtwin.compare("coin-sets", start={"theta": [0.6, 0.5, 0.4]}),
     "start must hold 2 values (theta_A, theta_B); got 3."),
    ("emtwin.compare", "'one-coin', start={'p': 1.5}", lambda: emtwin.compare("one-coin", start={"p": 1.5}),
     "p must lie in (0, 1); got 1.5."),
    ("emtwin.compare", "'interleaved-coins', start={'p': [0.3, 0.3]}",
     lambda: emtwin.compare("interleaved-coins", start={"p": [0.3, 0.3]}),
     f"start = [0.3, 0.3] gives two coins the same start; that is {SYMMETRIC} (both coins stay equal "
     "forever). Start them at different values."),
    ("emtwin.compare", "'gaussian-means', start={'mu': [1.0, 1.0]}",
     lambda: emtwin.compare("gaussian-means", start={"mu": [1.0, 1.0]}),
     f"start = [1.0, 1.0] gives mu1 and mu2 the same mean; that is {SYMMETRIC} (equal means get equal "
     "responsibilities and stay equal forever). Start them at different values."),
    ("emtwin.compare", "'gaussian-means', start={'mu': [0.0]}", lambda: emtwin.compare("gaussian-means", start={"mu": [0.0]}),
     "start must hold 2 means (mu1, mu2); got 1: [0.0]."),
    ("emtwin.compare", "'gaussian-means', start={'mu': [-1.0, 20.0]}",
     lambda: emtwin.compare("gaussian-means", start={"mu": [-1.0, 20.0]}),
     f"start mu2 = 20 lies outside the PyMC twin's flat prior on the means, ({LO:.6g}, {HI:.6g}) "
     "(the data's range ± 10 sigma); start inside it."),
    # ------------------------------------------------------------------ emtwin.compare: data
    ("emtwin.compare", "'coin-sets', data=[5, 9, 8, 4, 7]", lambda: emtwin.compare("coin-sets", data=[5, 9, 8, 4, 7]),
     "sets must be a TossSets, e.g. TossSets.from_strings(['HTTH', 'HHHT']) or TossSets.from_counts(heads, tosses); "
     "got list."),
    ("emtwin.compare", "'one-coin', data='HHTH'", lambda: emtwin.compare("one-coin", data="HHTH"),
     "tosses must be a Tosses, e.g. Tosses.from_string('HHTH') or Tosses.from_counts(heads, tosses); got str."),
    ("emtwin.compare", "'interleaved-coins', data='HTTH'", lambda: emtwin.compare("interleaved-coins", data="HTTH"),
     "tosses must be a TossSets of single tosses, e.g. tosses_from_string('HTTH'); got str."),
    ("emtwin.compare", "'gaussian-means', data=<ndarray>",
     lambda: emtwin.compare("gaussian-means", data=MEANS_DATA.z),
     "data must be a MixtureData (points, known sigma and k), e.g. MixtureData.from_array(z, k=2, sigma=1.0); got ndarray."),
    # ------------------------------------------------------------------ emtwin.compare: options
    ("emtwin.compare", "model_options=[('prior', (2, 2))]",
     lambda: emtwin.compare("coin-sets", model_options=[("prior", (2, 2))]),
     "model_options must be a dict of option name -> value; got [('prior', (2, 2))]."),
    ("emtwin.compare", "model_options={'priors': (2, 2)}",
     lambda: emtwin.compare("coin-sets", methods=["map"], model_options={"priors": (2, 2)}),
     "model_options ['priors'] are not all accepted by the coin-sets PyMC twin: build_model() got an unexpected "
     "keyword argument 'priors'."),
    ("emtwin.compare", "model_options={'prior': (0, 1)}",
     lambda: emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (0, 1)}),
     "prior must be two positive numbers (a, b) for Beta(a, b); got (0, 1)."),
    ("emtwin.compare", "model_options={'prior': (2, inf)}",
     lambda: emtwin.compare("coin-sets", methods=["map"], model_options={"prior": (2, math.inf)}),
     "prior must be two positive numbers (a, b) for Beta(a, b); got (2, inf)."),
    ("emtwin.compare", "'gaussian-means', model_options={'margin': -2.0}",
     lambda: emtwin.compare("gaussian-means", methods=["map"], model_options={"margin": -2.0}),
     "margin must be a positive finite number (in sigmas); got -2.0."),
    ("emtwin.compare", "nuts_options='fast'", lambda: emtwin.compare("coin-sets", nuts_options="fast"),
     "nuts_options must be a dict of option name -> value; got 'fast'."),
    ("emtwin.compare", "nuts_options={'seed': 3}", lambda: emtwin.compare("coin-sets", nuts_options={"seed": 3}),
     f"nuts_options may set {NUTS_KEYS}; got 'seed' (seed: pass to compare itself)."),
    ("emtwin.compare", "nuts_options={'samples': 500}", lambda: emtwin.compare("coin-sets", nuts_options={"samples": 500}),
     f"nuts_options may set {NUTS_KEYS}; got 'samples'."),
    ("emtwin.compare", "nuts_options={'draws': 0}", lambda: emtwin.compare("coin-sets", nuts_options={"draws": 0}),
     "draws must be a whole number >= 4 (NUTS draws per chain); got 0."),
    ("emtwin.compare", "nuts_options={'draws': 2.5}", lambda: emtwin.compare("coin-sets", nuts_options={"draws": 2.5}),
     "draws must be a whole number >= 4 (NUTS draws per chain); got 2.5."),
    ("emtwin.compare", "nuts_options={'tune': -1}", lambda: emtwin.compare("coin-sets", nuts_options={"tune": -1}),
     "tune must be a whole number >= 0 (NUTS tuning steps per chain); got -1."),
    ("emtwin.compare", "nuts_options={'chains': 0}", lambda: emtwin.compare("coin-sets", nuts_options={"chains": 0}),
     "chains must be a whole number >= 1; got 0."),
    ("emtwin.compare", "nuts_options={'target_accept': 1.0}",
     lambda: emtwin.compare("coin-sets", nuts_options={"target_accept": 1.0}),
     "target_accept must be a number in (0, 1); got 1.0."),
    ("emtwin.compare", "nuts_options={'sampler': 'stan'}", lambda: emtwin.compare("coin-sets", nuts_options={"sampler": "stan"}),
     "sampler must be one of pymc, nutpie; got 'stan'."),
    ("emtwin.compare", "advi_options={'n': 10}", lambda: emtwin.compare("coin-sets", advi_options={"n": 10}),
     "n must be a whole number >= 20 (ADVI iterations: the loss trend compares the last two tenths); got 10."),
    ("emtwin.compare", "advi_options={'draws': 1}", lambda: emtwin.compare("coin-sets", advi_options={"draws": 1}),
     "draws must be a whole number >= 2 (samples from the ADVI approximation, for an SD); got 1."),
    ("emtwin.compare", "advi_options={'method': 'fullrank'}",
     lambda: emtwin.compare("coin-sets", advi_options={"method": "fullrank"}),
     "advi_options may set n, draws, early_stop; got 'method'."),
    # ------------------------------------------------------------------ your own EM
    ("emtwin.compare (Scenario)", "start=[0.6, 0.5]", lambda: emtwin.compare(_coin_scenario(), start=[0.6, 0.5]),
     "start must be a dict of parameter name -> value; got [0.6, 0.5]."),
    ("emtwin.compare (Scenario)", "model_options='prior'",
     lambda: emtwin.compare(_coin_scenario(), model_options="prior"),
     "model_options must be a dict of option name -> value; got 'prior'."),
    ("emtwin.custom_scenario", "name=''",
     lambda: emtwin.custom_scenario("", data=SETS, start={"theta": [0.6, 0.5]}, e_step=coins.e_step,
                                    m_step=coins.m_step, log_likelihood=coins.log_likelihood, build_model=_coin_model),
     "name must be a non-empty string such as 'poisson-mixture'; got ''."),
    ("emtwin.custom_scenario", "e_step=5",
     lambda: emtwin.custom_scenario("x", data=SETS, start={"theta": [0.6, 0.5]}, e_step=5,
                                    m_step=coins.m_step, log_likelihood=coins.log_likelihood, build_model=_coin_model),
     "e_step must be a function; got int."),
    ("emtwin.custom_scenario", "start={}",
     lambda: emtwin.custom_scenario("x", data=SETS, start={}, e_step=coins.e_step,
                                    m_step=coins.m_step, log_likelihood=coins.log_likelihood, build_model=_coin_model),
     "start must be a non-empty dict of parameter name -> value; got {}."),
    ("emtwin.check_em", "components='theta'",
     lambda: emtwin.check_em({"theta": [0.8, 0.5]}, SETS, lambda s: _coin_model(), components="theta"),
     "components must be an emtwin.Components; got str."),
    ("emtwin.check_em", "starts='ab'",
     lambda: emtwin.check_em({"theta": [0.8, 0.5]}, SETS, lambda s: _coin_model(), starts="ab"),
     "starts must be a list of parameter dicts; got 'ab'."),
    ("emtwin.check_em", "n_starts=-1",
     lambda: emtwin.check_em({"theta": [0.8, 0.5]}, SETS, lambda s: _coin_model(), n_starts=-1),
     "n_starts must be a whole number >= 0; got -1."),
    ("emtwin.check_em", "build_model=5", lambda: emtwin.check_em({"theta": [0.8, 0.5]}, SETS, 5),
     "build_model must be a function (data) -> pm.Model; got int."),
    ("emtwin.load_scenario", "5", lambda: emtwin.load_scenario(5),
     "NAME must be a registered scenario or path/to/file.py:function; got 5."),
    ("emtwin.load_scenario", "'missing.py:make'", lambda: emtwin.load_scenario("missing.py:make"),
     "no file 'missing.py' (from 'missing.py:make'); give the path to a Python file."),
    # ------------------------------------------------------------------ data: coins
    ("TossSets.from_strings", "[]", lambda: coins.TossSets.from_strings([]),
     "sets is empty; give at least one set of tosses, e.g. ['HTTH']."),
    ("TossSets.from_strings", "'HTTH'", lambda: coins.TossSets.from_strings("HTTH"),
     "sets must be a list of strings of H and T, one per set; got the single string 'HTTH'. Wrap it in a list, "
     "e.g. ['HTTH']."),
    ("TossSets.from_strings", "None", lambda: coins.TossSets.from_strings(None),
     "sets must be a list of strings of H and T, one per set, e.g. ['HTTH', 'HHHT']; got None."),
    ("TossSets.from_strings", "['HTXH']", lambda: coins.TossSets.from_strings(["HTXH"]),
     "sets[0] = 'HTXH' contains 'X'; only H (heads) and T (tails) are allowed."),
    ("TossSets.from_strings", "['HT', '']", lambda: coins.TossSets.from_strings(["HT", ""]),
     "sets[1] is an empty set of tosses; every set needs at least one toss."),
    ("TossSets.from_counts", "heads=[], tosses=10", lambda: coins.TossSets.from_counts([], 10),
     "heads must be a non-empty 1-D list of head counts; got shape (0,)."),
    ("TossSets.from_counts", "heads=[5, 11], tosses=10", lambda: coins.TossSets.from_counts([5, 11], 10),
     "heads must lie between 0 and the set size; got heads [5, 11] for set sizes [10, 10]."),
    ("TossSets.from_counts", "heads=[1.5, 2], tosses=10", lambda: coins.TossSets.from_counts([1.5, 2], 10),
     "heads must hold whole numbers; got [1.5, 2.0]."),
    ("TossSets.from_counts", "heads=[1, nan], tosses=10", lambda: coins.TossSets.from_counts([1, math.nan], 10),
     "heads must hold whole numbers; got [1.0, nan]."),
    ("TossSets.from_counts", "heads=[True, False], tosses=1", lambda: coins.TossSets.from_counts([True, False], 1),
     "heads must hold whole numbers; got [True, False]."),
    ("TossSets.from_counts", "heads=[1, 2], tosses=[10]", lambda: coins.TossSets.from_counts([1, 2], [10]),
     "tosses must be one set size or one per set (2); got 1 sizes."),
    ("TossSets.from_counts", "heads=[1, 2], tosses=0", lambda: coins.TossSets.from_counts([1, 2], 0),
     "tosses must be at least 1 per set; got [0, 0]."),
    ("TossSets", "heads=[3, -1], tosses=[10, 10]", lambda: coins.TossSets(np.array([3, -1]), np.array([10, 10])),
     "heads must lie between 0 and the set size; got heads [3, -1] for set sizes [10, 10]."),
    ("Tosses.from_string", "''", lambda: one_coin.Tosses.from_string(""),
     "tosses is empty; give at least one toss, e.g. 'HHTH'."),
    ("Tosses.from_string", "'HHxT'", lambda: one_coin.Tosses.from_string("HHxT"),
     "tosses = 'HHxT' contains 'X'; only H (heads) and T (tails) are allowed."),
    ("Tosses.from_counts", "heads=11, tosses=10", lambda: one_coin.Tosses.from_counts(11, 10),
     "heads must be a whole number in [0, 10]; got 11."),
    ("Tosses.from_counts", "heads=3, tosses=0", lambda: one_coin.Tosses.from_counts(3, 0),
     "tosses must be a whole number >= 1; got 0."),
    ("Tosses.from_counts", "heads=3, tosses=inf", lambda: one_coin.Tosses.from_counts(3, math.inf),
     "tosses must be a whole number >= 1; got inf."),
    ("Tosses", "heads=2.5, tosses=10", lambda: one_coin.Tosses(2.5, 10),
     "heads must be a whole number in [0, 10]; got 2.5."),
    ("tosses_from_string", "'HT T'", lambda: ic.tosses_from_string("HT T"),
     "tosses = 'HT T' contains ' '; only H (heads) and T (tails) are allowed."),
    # ------------------------------------------------------------------ data: Gaussian means
    ("gaussian_means.MixtureData.from_array", "z=[], k=1, sigma=1.0", lambda: gm.MixtureData.from_array([], k=1, sigma=1.0),
     "z is empty; give at least one data point."),
    ("gaussian_means.MixtureData.from_array", "z=[1.0, nan, 2.0]",
     lambda: gm.MixtureData.from_array([1.0, math.nan, 2.0], k=2, sigma=1.0),
     "z must hold finite numbers; got nan at index 1 (1 non-finite value in all)."),
    ("gaussian_means.MixtureData.from_array", "z=[1.0, inf, -inf]",
     lambda: gm.MixtureData.from_array([1.0, math.inf, -math.inf], k=1, sigma=1.0),
     "z must hold finite numbers; got inf at index 1 (2 non-finite values in all)."),
    ("gaussian_means.MixtureData.from_array", "z=[[1.0], [1.0, 2.0]]",
     lambda: gm.MixtureData.from_array([[1.0], [1.0, 2.0]], k=1, sigma=1.0),
     "z must be a 1-D array of data points; got [[1.0], [1.0, 2.0]]."),
    ("gaussian_means.MixtureData.from_array", "z=[[1.0, 2.0], [3.0, 4.0]]",
     lambda: gm.MixtureData.from_array([[1.0, 2.0], [3.0, 4.0]], k=1, sigma=1.0),
     "z must be a 1-D array of data points; got an array of shape (2, 2)."),
    ("gaussian_means.MixtureData.from_array", "z=[1j, 2.0]", lambda: gm.MixtureData.from_array([1j, 2.0], k=1, sigma=1.0),
     "z must hold real numbers; got dtype complex128."),
    ("gaussian_means.MixtureData.from_array", "z=['a', 'b']", lambda: gm.MixtureData.from_array(["a", "b"], k=1, sigma=1.0),
     "z must hold real numbers; got dtype <U1."),
    ("gaussian_means.MixtureData.from_array", "sigma=0.0", lambda: gm.MixtureData.from_array([1.0, 2.0], k=2, sigma=0.0),
     "sigma must be a positive finite number (the known component SD); got 0.0."),
    ("gaussian_means.MixtureData.from_array", "sigma=-1.0", lambda: gm.MixtureData.from_array([1.0, 2.0], k=2, sigma=-1.0),
     "sigma must be a positive finite number (the known component SD); got -1.0."),
    ("gaussian_means.MixtureData.from_array", "sigma=nan", lambda: gm.MixtureData.from_array([1.0, 2.0], k=2, sigma=math.nan),
     "sigma must be a positive finite number (the known component SD); got nan."),
    ("gaussian_means.MixtureData.from_array", "k=0", lambda: gm.MixtureData.from_array([1.0, 2.0], k=0, sigma=1.0),
     "k must be a whole number >= 1 (the number of components); got 0."),
    ("gaussian_means.MixtureData.from_array", "k=1.5", lambda: gm.MixtureData.from_array([1.0, 2.0], k=1.5, sigma=1.0),
     "k must be a whole number >= 1 (the number of components); got 1.5."),
    ("gaussian_means.MixtureData.from_array", "z=[1.0, 2.0, 3.0], k=4",
     lambda: gm.MixtureData.from_array([1.0, 2.0, 3.0], k=4, sigma=1.0),
     "k = 4 components need at least 4 data points; got N = 3."),
    ("gaussian_means.MixtureData.from_array", "z=[1.0, 1.0, 2.0], k=3",
     lambda: gm.MixtureData.from_array([1.0, 1.0, 2.0], k=3, sigma=1.0),
     "k = 3 components need at least 3 distinct data points; z has 2 distinct values (1, 2)."),
    ("gaussian_means.MixtureData.synthetic", "seed=-1", lambda: gm.MixtureData.synthetic(seed=-1),
     f"seed must be a whole number in [0, {MAX_SEED}]; got -1."),
    ("gaussian_means.MixtureData.synthetic", "true_means=['a', 'b']",
     lambda: gm.MixtureData.synthetic(true_means=["a", "b"]),
     "true_means must hold k = 2 means; got ['a', 'b']."),
    ("gaussian_means.MixtureData.synthetic", "n=0", lambda: gm.MixtureData.synthetic(n=0),
     "n must be a whole number >= 1 (the number of data points); got 0."),
    # ------------------------------------------------------------------ data: Gaussian mixture
    ("gaussian_mixture.MixtureData", "x=[], k=1", lambda: gmx.MixtureData(np.array([]), 1),
     "data is empty; give at least one data point."),
    ("gaussian_mixture.MixtureData", "x=[1.0, nan], k=1", lambda: gmx.MixtureData(np.array([1.0, math.nan]), 1),
     "data must hold finite numbers; got nan at index 1 (1 non-finite value in all)."),
    ("gaussian_mixture.MixtureData", "x=[1.0, 1.0, 2.0], k=3", lambda: gmx.MixtureData(np.array([1.0, 1.0, 2.0]), 3),
     "k = 3 components need at least 3 distinct data points; data has 2."),
    # ------------------------------------------------------------------ the EM twins' fit
    ("coins.fit", "tol=0", lambda: coins.fit(SETS, tol=0),
     "tol must be a positive finite number; got 0."),
    ("coins.fit", "tol='1e-6'", lambda: coins.fit(SETS, tol="1e-6"),
     "tol must be a positive finite number; got '1e-6'."),
    ("coins.fit", "max_iter=0", lambda: coins.fit(SETS, max_iter=0),
     "max_iter must be a whole number >= 1; got 0."),
    ("coins.fit", "max_iter=None", lambda: coins.fit(SETS, max_iter=None),
     "max_iter must be a whole number >= 1; got None."),
    ("coins.fit", "max_iter=inf", lambda: coins.fit(SETS, max_iter=math.inf),
     "max_iter must be a whole number >= 1; got inf."),
    ("coins.fit", "n_starts=True", lambda: coins.fit(SETS, n_starts=True),
     "n_starts must be a whole number >= 1; got True."),
    ("coins.fit", "n_starts=2, seed=-5", lambda: coins.fit(SETS, n_starts=2, seed=-5),
     f"seed must be a whole number in [0, {MAX_SEED}]; got -5."),
    ("coins.fit", "start=None", lambda: coins.fit(SETS, None),
     "start must hold 2 values (theta_A, theta_B); got None."),
    ("one_coin.fit", "start='half'", lambda: one_coin.fit(TOSSES, "half"),
     "p must be one number in (0, 1); got 'half'."),
    ("one_coin.fit", "start=[0.2, 0.3]", lambda: one_coin.fit(TOSSES, [0.2, 0.3]),
     "p must be one number in (0, 1); got 2 values [0.2, 0.3]."),
    ("one_coin.bayes_vs_mle", "p_true='a'", lambda: one_coin.bayes_vs_mle("a"),
     "p_true must be a number in [0, 1]; got 'a'."),
    ("one_coin.bayes_vs_mle", "sizes=[10, 0]", lambda: one_coin.bayes_vs_mle(0.5, sizes=[10, 0]),
     "sizes must be whole numbers >= 1; got [10, 0]."),
    ("one_coin.bayes_vs_mle", "rng=5", lambda: one_coin.bayes_vs_mle(0.5, rng=5),
     "rng must be None or a numpy.random.Generator, e.g. np.random.default_rng(0); got int."),
    ("one_coin.posterior", "prior=(1, 0)", lambda: one_coin.posterior(TOSSES, (1, 0)),
     "prior must be two positive numbers (a, b) for Beta(a, b); got (1, 0)."),
    ("interleaved_coins.labelled_mle", "labels=5", lambda: ic.labelled_mle(ic.tosses_from_string("HTTH"), 5),
     "labels must name coin 1 or 2 for every toss, e.g. '1122' or [1, 1, 2, 2]; got 5."),
    ("gaussian_means.fit", "start={'mu': [-1.0, 1.0]}", lambda: gm.fit(MEANS_DATA, {"mu": [-1.0, 1.0]}),
     "start must hold one starting mean per component; got {'mu': [-1.0, 1.0]}."),
    ("gaussian_means.fit", "z=[1.0, 2.0, 3.0], start=[0, 1] (no sigma)", lambda: gm.fit([1.0, 2.0, 3.0], [0.0, 1.0]),
     "sigma is required when data is a plain array: this EM estimates the means only, so the components' SD must "
     "be known. Pass sigma=..., or a MixtureData."),
    ("gaussian_means.fit", "z=[1.0, 1.0, 1.0], start=[0, 2], sigma=1.0",
     lambda: gm.fit([1.0, 1.0, 1.0], [0.0, 2.0], sigma=1.0),
     "k = 2 components need at least 2 distinct data points; z has 1 distinct value (1)."),
    ("run_em", "tol=inf", lambda: driver.run_em(SETS, {"theta": [0.6, 0.5]}, coins.e_step, coins.m_step,
                                                coins.log_likelihood, tol=math.inf),
     "tol must be a positive finite number; got inf."),
    # ------------------------------------------------------------------ the PyMC twins
    ("models.coins.build_model", "prior=(1, 0)", lambda: pm_coins.build_model(SETS.heads, SETS.tosses, prior=(1, 0)),
     "prior must be two positive numbers (a, b) for Beta(a, b); got (1, 0)."),
    ("models.gaussian_means.build_model", "sigma=0.0", lambda: pm_means.build_model(MEANS_DATA.z, sigma=0.0, k=2),
     "sigma must be a positive finite number (the known component SD); got 0.0."),
    ("models.gaussian_means.build_model", "k=0", lambda: pm_means.build_model(MEANS_DATA.z, sigma=1.0, k=0),
     "k must be a whole number >= 1 (the number of components); got 0."),
    ("fitting.fit_map", "start=[0.6, 0.5]", lambda: fitting.fit_map(_coin_model(), [0.6, 0.5]),
     "start must be a dict of the model's free variables ['theta']; got list."),
    ("fitting.fit_map", "start={'theta': 'ab'}", lambda: fitting.fit_map(_coin_model(), {"theta": "ab"}),
     "start['theta'] must hold numbers; got 'ab'."),
    ("fitting.fit_nuts", "chains=0", lambda: fitting.fit_nuts(_coin_model(), {"theta": [0.6, 0.5]}, chains=0),
     "chains must be a whole number >= 1; got 0."),
    ("fitting.fit_nuts", "seed=-1", lambda: fitting.fit_nuts(_coin_model(), {"theta": [0.6, 0.5]}, seed=-1),
     f"seed must be a whole number in [0, {MAX_SEED}]; got -1."),
    ("fitting.fit_advi", "n=5", lambda: fitting.fit_advi(_coin_model(), {"theta": [0.6, 0.5]}, n=5),
     "n must be a whole number >= 20 (ADVI iterations: the loss trend compares the last two tenths); got 5."),
]


@pytest.mark.parametrize(("entry", "given", "call", "message"), API_CASES,
                         ids=[f"{e}:{g}" for e, g, _, _ in API_CASES])
def test_a_bad_input_gets_one_clear_error(entry, given, call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message
    assert "\n" not in str(err.value)
    record_bad_input(entry, given, str(err.value))


def test_the_support_check_names_the_start_outside_the_ordered_prior():
    # Built after the table because it compiles the model's forward transform (about a second).
    with pytest.raises(ValueError) as err:
        fitting.fit_map(_coin_model(), {"theta": [0.5, 0.5]})
    message = ("start['theta'] = [0.5, 0.5] lies outside the support of the model's prior on theta "
               "(its bounds, or an ordering with ties).")
    assert str(err.value) == message
    record_bad_input("fitting.fit_map", "start={'theta': [0.5, 0.5]}", message)


# --------------------------------------------------------------------------- the command line

USAGE = "emtwin compare: error: "
REPORT_USAGE = "emtwin report: error: "
PATH_SPEC_HINT = "or give path/to/file.py:function"

ARGPARSE_CASES = [
    (["compare", "coin-sets", "--n-starts", "1.5"], f"{USAGE}argument --n-starts: n_starts must be a whole number >= 1; got 1.5."),
    (["compare", "three-coins"],
     f"{USAGE}argument NAME: invalid choice: 'three-coins' (choose from {NAMES}, {PATH_SPEC_HINT})"),
    (["compare", "coin-sets", "--methods", "map,mcmc"],
     f"{USAGE}argument --methods: choose from map,advi,nuts (comma-separated); got 'map,mcmc'"),
    (["compare", "coin-sets", "--methods", ","],
     f"{USAGE}argument --methods: choose from map,advi,nuts (comma-separated); got ','"),
    (["compare", "coin-sets", "--seed", "-3"], f"{USAGE}argument --seed: seed must be a whole number in [0, 4294967295]; got -3."),
    (["compare", "coin-sets", "--seed", "abc"], f"{USAGE}argument --seed: seed must be a whole number in [0, 4294967295]; got 'abc'."),
    (["compare", "coin-sets", "--n-starts", "0"], f"{USAGE}argument --n-starts: n_starts must be a whole number >= 1; got 0."),
    (["compare"], f"{USAGE}one of the arguments NAME --all is required"),
    (["compare", "coin-sets", "--all"], f"{USAGE}argument --all: not allowed with argument NAME"),
    (["compare", "coin-sets", "--seed"], f"{USAGE}argument --seed: expected one argument"),
    (["compare", "coin-sets", "--bogus"], "emtwin: error: unrecognized arguments: --bogus"),
    (["compare", "--all", "--jobs", "0"], f"{USAGE}argument --jobs: jobs must be a whole number >= 1; got 0."),
    (["report", "--all", "--out", "r", "--jobs", "0"],
     f"{REPORT_USAGE}argument --jobs: jobs must be a whole number >= 1; got 0."),
]


@pytest.mark.parametrize(("argv", "last_line"), ARGPARSE_CASES, ids=[" ".join(a) for a, _ in ARGPARSE_CASES])
def test_bad_arguments_exit_2_with_the_error_on_the_last_line(argv, last_line, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == last_line
    record_bad_input("emtwin CLI (argparse)", "emtwin " + " ".join(argv), last_line)


def test_an_unknown_command_lists_the_commands(capsys):
    # The command list grows (`emtwin report`), so the line is checked piece by piece.
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    match = re.fullmatch(r"emtwin: error: argument (\S+): invalid choice: 'frobnicate' \(choose from (.+)\)", last)
    assert match, last
    assert {"'list'", "'compare'"} <= {c.strip() for c in match[2].split(",")}
    record_bad_input("emtwin CLI (argparse)", "emtwin frobnicate", last)


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _main_path_cases(tmp_path):
    """(argv, whole stderr line) for errors raised after parsing, by compare or the loader."""
    returns_int = _write(tmp_path, "returns_int.py", "def make():\n    return 5\n")
    raises = _write(tmp_path, "raises.py", '''
        def make():
            raise ValueError("first line\\n   second line")
    ''')
    imports = _write(tmp_path, "imports.py", "import nonexistent_module_xyz\n")
    builder = _write(tmp_path, "builder.py", '''
        import emtwin
        from emtwin.em_reference import coins

        def build(sets):
            raise ValueError("the model needs\\n  a second line")

        def make():
            return emtwin.custom_scenario(
                "broken", data=coins.TossSets.from_counts([5, 9], 10), start={"theta": [0.6, 0.5]},
                e_step=coins.e_step, m_step=coins.m_step, log_likelihood=coins.log_likelihood,
                build_model=build)
    ''')
    far_start = _write(tmp_path, "far_start.py", '''
        import dataclasses
        import emtwin
        from emtwin.em_reference import gaussian_means as gm
        from emtwin.models import gaussian_means as pm_means

        def make():
            # The means' EM on two points with one mean 60 sigma away from both, under a
            # prior wide enough (100 sigma) to allow that start.
            return dataclasses.replace(
                emtwin.SCENARIOS["gaussian-means"], name="far-start",
                make_data=lambda: gm.MixtureData.from_array([0.0, 1.0], k=2, sigma=1.0),
                default_start={"mu": [0.5, 60.0]},
                fit_em=lambda data, start, **options: gm.fit(data, start["mu"], **options),
                build_model=lambda data, **options: pm_means.build_model(data.z, sigma=1.0, k=2, margin=100.0))
    ''')
    return [
        (["compare", "missing.py:make"],
         "emtwin: error: no file 'missing.py' (from 'missing.py:make'); give the path to a Python file."),
        (["compare", f"{returns_int}:make"],
         f"emtwin: error: {returns_int}:make returned int, not a Scenario; build one with emtwin.custom_scenario(...)."),
        (["compare", f"{raises}:make"], f"emtwin: error: {raises}:make raised ValueError: first line second line"),
        (["compare", f"{imports}:make"],
         f"emtwin: error: could not import {str(imports)!r}: ModuleNotFoundError: No module named 'nonexistent_module_xyz'"),
        (["compare", f"{builder}:make", "--methods", "map"],
         "emtwin: error: build_model build(data) raised ValueError: the model needs a second line. Fix the model "
         "builder; it must return a pm.Model for the data it is given."),
        (["compare", f"{far_start}:make", "--methods", "map"],
         "emtwin: error: mu2 claims no data point: every responsibility c_i2 underflowed to 0, so its M-step "
         "Σ_i c_ij z_i / Σ_i c_ij is 0/0. Start mu2 nearer the data (the points span [0, 1], sigma = 1)."),
    ]


def test_errors_after_parsing_are_one_line_and_exit_2(tmp_path, capsys):
    for argv, line in _main_path_cases(tmp_path):
        code = cli.main([*argv, "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, argv
        assert err == line + "\n", argv
        shown = " ".join(argv).replace(str(tmp_path), "<tmp>")
        record_bad_input("emtwin CLI", f"emtwin {shown}", line.replace(str(tmp_path), "<tmp>"))
