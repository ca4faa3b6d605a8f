"""The same seed gives the same numbers: bit for bit for EM, identical posterior summaries
for MAP, ADVI and NUTS, within one process and across two.

Seeds flow through ``np.random.default_rng(seed)`` (EM's extra starts) and PyMC's
``random_seed`` (ADVI, NUTS); nothing reads a global random state, so neither the order of
calls nor ``PYTHONHASHSEED`` may change a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import emtwin
from emtwin.em_reference import coins, one_coin
from emtwin.em_reference import gaussian_means as gm
from emtwin.em_reference import gaussian_mixture as gmx
from emtwin.em_reference import interleaved_coins as ic

pytestmark = pytest.mark.filterwarnings("ignore::emtwin.em_reference.SymmetricFixedPointWarning")

# One EM run per scenario with several random starts, so the seed decides something.
EM_RUNS = {
    "coin-sets": lambda seed: coins.fit(coins.TossSets.from_strings(coins.DO_BATZOGLOU_SETS), n_starts=6, seed=seed),
    "interleaved-coins": lambda seed: ic.fit(ic.tosses_from_string(ic.LECTURE_SEQUENCE), n_starts=6, seed=seed),
    "one-coin": lambda seed: one_coin.fit(one_coin.Tosses.from_string(one_coin.DEFAULT_SEQUENCE), n_starts=6, seed=seed),
    "gaussian-means": lambda seed: gm.fit(gm.MixtureData.synthetic(k=3, true_means=None, seed=4), n_starts=6, seed=seed),
    "gaussian-mixture": lambda seed: gmx.fit(gmx.MixtureData.old_faithful("waiting"), n_starts=4, seed=seed),
    "gaussian-mixture-2d": lambda seed: gmx.fit(gmx.MixtureData.old_faithful(None), n_starts=4, seed=seed),
}


def em_digest(result) -> str:
    """SHA-1 of every array an EMResult holds, in a fixed order: equal digests, equal bits."""
    h = hashlib.sha1()
    for name in sorted(result.params):
        h.update(np.ascontiguousarray(result.params[name]).tobytes())
        h.update(np.ascontiguousarray(result.param_trace[name]).tobytes())
    h.update(result.loglik_trace.tobytes())
    h.update(np.ascontiguousarray(result.responsibilities).tobytes())
    for m in result.local_maxima:
        h.update(np.float64(m.log_likelihood).tobytes())
        h.update(np.int64(m.n_starts).tobytes())
        for name in sorted(m.params):
            h.update(np.ascontiguousarray(m.params[name], dtype=float).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("scenario", list(EM_RUNS))
def test_same_seed_gives_bit_identical_em_results(scenario):
    run = EM_RUNS[scenario]
    first, second = run(11), run(11)
    assert first.n_iter == second.n_iter
    for name in first.params:
        assert first.params[name].tobytes() == second.params[name].tobytes()
        assert first.param_trace[name].tobytes() == second.param_trace[name].tobytes()
    assert first.loglik_trace.tobytes() == second.loglik_trace.tobytes()
    assert first.responsibilities.tobytes() == second.responsibilities.tobytes()
    assert em_digest(first) == em_digest(second)


def test_other_seeds_draw_other_starts():
    # The seed is used: gaussian-means on three clusters with two means has two local maxima,
    # and which starts reach which depends on the seed.
    data = gm.MixtureData.from_array(np.r_[np.linspace(-6.4, -5.6, 9), np.linspace(-0.4, 0.4, 9),
                                           np.linspace(5.6, 6.4, 9)], k=2, sigma=1.0)
    counts = {seed: tuple(m.n_starts for m in gm.fit(data, [-6.0, 0.0], n_starts=8, seed=seed).local_maxima)
              for seed in range(6)}
    assert len(set(counts.values())) > 1, counts


def test_em_results_do_not_depend_on_the_process(tmp_path):
    script = tmp_path / "digests.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_reproducibility import EM_RUNS, em_digest
        print(json.dumps({{name: em_digest(run(11)) for name, run in EM_RUNS.items()}}))
    """))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    other = json.loads(done.stdout.strip().splitlines()[-1])
    here = {name: em_digest(run(11)) for name, run in EM_RUNS.items()}
    assert other == here


# --------------------------------------------------------------------------- posteriors

SMALL = {"nuts_options": {"draws": 300, "tune": 300, "chains": 2}, "advi_options": {"n": 2000, "draws": 500}}


def _summaries(c) -> dict:
    """Every posterior number a user reads: the table rows, the functionals, the checks."""
    return {
        "rows": [vars(r) for r in c.rows],
        "functionals": c.functionals,
        "checks": [(k.name, k.passed, k.value, k.detail) for k in c.checks],
    }


@pytest.fixture(scope="module")
def twice():
    return [emtwin.compare("coin-sets", seed=5, **SMALL) for _ in range(2)]


def test_same_seed_gives_identical_posterior_summaries(twice):
    first, second = twice
    assert _summaries(first) == _summaries(second)
    for fit in ("advi", "nuts"):
        a, b = getattr(first, fit), getattr(second, fit)
        assert a.idata.posterior["theta"].values.tobytes() == b.idata.posterior["theta"].values.tobytes(), fit
        assert a.diagnostics == b.diagnostics
    assert first.map.params["theta"].tobytes() == second.map.params["theta"].tobytes()


def test_another_seed_gives_other_draws(twice):
    other = emtwin.compare("coin-sets", seed=6, methods=["nuts"], nuts_options=SMALL["nuts_options"])
    assert other.nuts.idata.posterior["theta"].values.tobytes() != twice[0].nuts.idata.posterior["theta"].values.tobytes()


@pytest.mark.slow  # a second process imports PyMC and samples again
def test_posterior_summaries_do_not_depend_on_the_process(twice, tmp_path):
    script = tmp_path / "posterior.py"
    script.write_text(textwrap.dedent(f"""
        import json
        import emtwin
        c = emtwin.compare("coin-sets", seed=5, **{SMALL!r})
        print(json.dumps(c.to_dict()["rows"]))
    """))
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(twice[0].to_dict()["rows"]))


# --------------------------------------------------------------------------- across processes


@pytest.mark.slow  # compiles gaussian-means's MAP and NUTS graphs from an empty cache
def test_every_number_is_the_same_in_process_in_a_cold_subprocess_and_in_the_pool(tmp_path):
    """In-process, in a fresh interpreter whose PyTensor cache is empty (every graph compiled
    afresh) and in a spawned pool worker (graphs loaded from the disk cache): the same bits.
    With Numba's fast-math flags the freshly compiled and the cached MAP of this model
    differed in the last bits (log-likelihood -411.79130936410195 against -411.79130936410206;
    tests/_every_number.py)."""
    import _every_number
    from emtwin.comparisons.parallel import run_all

    here = json.loads(json.dumps(_every_number.every_number()))
    script = "import json, _every_number; print(json.dumps(_every_number.every_number()))"
    flags = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={tmp_path / 'cold'}") if f)
    env = {**os.environ, "PYTENSOR_FLAGS": flags, "PYTHONPATH": os.path.dirname(__file__)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    cold = json.loads(done.stdout.strip().splitlines()[-1])
    in_pool = json.loads(json.dumps(run_all(_every_number.every_number, [None, None], jobs=2, progress=False)))
    assert cold == here
    assert in_pool == [here, here]
