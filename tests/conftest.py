"""Shared fixtures. PyMC compiles each model once per session: fixtures run the
expensive comparisons once and many tests read their numbers."""

from __future__ import annotations

import pytest

import emtwin


@pytest.fixture(scope="session")
def coin_sets_comparison():
    """The headline comparison, every method, seed 0: the README's `emtwin compare coin-sets`."""
    return emtwin.compare("coin-sets", seed=0)
