"""Shared fixtures. PyMC compiles each model once per session: fixtures run the
expensive comparisons once and many tests read their numbers."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# A result cache of its own for this test session (comparisons/result_cache.py): the
# command line caches by default, and a cache left by an earlier run, or by the user's own
# `emtwin compare`, must not answer a test. Set before anything runs, so subprocesses
# (the CLI tests) inherit it.
_CACHE_DIR = tempfile.mkdtemp(prefix="emtwin-test-cache-")
os.environ["EMTWIN_CACHE_DIR"] = _CACHE_DIR

import emtwin  # noqa: E402


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
