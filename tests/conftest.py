"""Shared fixtures. PyMC compiles each model once per session: fixtures run the
expensive comparisons once and many tests read their numbers."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import settings as hypothesis_settings

# A result cache of its own for this test session (comparisons/result_cache.py): the
# command line caches by default, and a cache left by an earlier run, or by the user's own
# `emtwin compare`, must not answer a test. Set before anything runs, so subprocesses
# (the CLI tests) inherit it.
_CACHE_DIR = tempfile.mkdtemp(prefix="emtwin-test-cache-")
os.environ["EMTWIN_CACHE_DIR"] = _CACHE_DIR

import emtwin  # noqa: E402

# Hypothesis draws the same cases in every run, so `make test` on a fresh machine and CI pass or
# fail alike, and a failure reruns as it was. (A clean clone has no example database: drawing
# new cases each run, a fresh machine's `make test` failed on 2026-12-04 on a case no earlier
# run had drawn; it is now an @example in tests/test_gaussian_mixture.py.)
# EMTWIN_HYPOTHESIS=explore draws new cases each run, to look for more.
hypothesis_settings.register_profile("fixed", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)


def pytest_configure(config):
    profile = os.environ.get("EMTWIN_HYPOTHESIS", "fixed")
    if profile not in ("fixed", "explore"):
        raise pytest.UsageError(f"EMTWIN_HYPOTHESIS must be 'fixed' (the default) or 'explore'; got {profile!r}.")
    hypothesis_settings.load_profile(profile)


@pytest.fixture(scope="session")
def coin_sets_comparison():
    """The headline comparison, every method, seed 0: the README's `emtwin compare coin-sets`."""
    return emtwin.compare("coin-sets", seed=0)


@pytest.fixture(scope="session")
def poisson_example(em_twins):
    """examples/poisson_mixture's EM module, its counts, start, and its model builder with
    each model compiled once per session."""
    import importlib
    from pathlib import Path
    from types import SimpleNamespace

    folder = Path(__file__).resolve().parents[1] / "examples" / "poisson_mixture"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(folder))
        em = importlib.import_module("counts_em")
        model = importlib.import_module("counts_model")
        yield SimpleNamespace(em=em, counts=em.simulate_counts(), build=em_twins.models.wrap(model.build_model),
                              start=em.START)


# --------------------------------------------------------------------------- records for issue 5

import _records  # noqa: E402  (tests/ is on sys.path: this conftest's folder)

_WRITTEN: list = []


def pytest_sessionfinish(session, exitstatus):
    _WRITTEN.extend(_records.write())
    shutil.rmtree(_CACHE_DIR, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if _WRITTEN:
        terminalreporter.write_sep("-", "emtwin robustness records")
        terminalreporter.write_line(
            f"{len(_records.BAD_INPUTS)} bad inputs, {sum(_records.CASES.values())} generated cases "
            f"over {len(_records.CASES)} properties"
        )
        for path in _WRITTEN:
            terminalreporter.write_line(f"  {path}")


# --------------------------------------------------------------------------- running on two workers

# The long runs that start first, in this order: `emtwin report --all` in a subprocess (270 s
# on a fresh machine, 180 s warm) on one worker; on the other, the mixtures' derived-EM
# columns, which compile the 2-D mixture's largest graphs (MAP objective, log-likelihood, Q:
# 20-50 s each cold) into the disk cache before the report reaches that scenario, its last,
# instead of both processes compiling them at once; then the cold-cache subprocess and pool
# bit check (cold by design), queued behind the report.
LONGEST = ("test_report_all_from_the_command_line",
           "test_every_mixture_scenario_gets_a_derived_em_column",
           "test_every_number_is_the_same_in_process_in_a_cold_subprocess_and_in_the_pool")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The order in which `make test` hands modules to pytest-xdist's workers.

    `make test` runs ``--dist loadscope --no-loadscope-reorder``: a module's tests stay
    together on one worker, so its module- and session-scoped fixtures (the compiled models,
    the comparisons many tests read) are computed once, as in one process, and modules go to
    the workers in the order of their first test here. The long self-contained runs (marked
    ``slow``, with no fixture wider than the test: a report or a pool in a subprocess, an ADVI
    sweep) come first, so the workers start on their modules and the short ones fill in
    around them instead of one long module ending the run alone. Without xdist this only
    reorders.

    (``--dist loadgroup`` with an ``xdist_group`` per module did not group: under pytest 9.2
    pytest-xdist 3.8's ``@group`` suffix no longer reaches the node ids, so every test was a
    unit of its own and each worker computed the module fixtures again, e.g. the report
    fixture's 78 s twice.)
    """
    def self_contained_slow(item):
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        # pytest's own session fixtures (tmp_path_factory) hold no model
        return item.get_closest_marker("slow") is not None and all(
            d[-1].scope == "function" or d[-1].func.__module__.startswith("_pytest") for d in defs.values())

    def rank(item):
        return LONGEST.index(item.originalname) if item.originalname in LONGEST else len(LONGEST)

    first = sorted((item for item in items if self_contained_slow(item)), key=rank)
    items[:] = first + [item for item in items if not self_contained_slow(item)]
