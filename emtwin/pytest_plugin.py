"""pytest plugin, installed with emtwin (entry point ``pytest11``: ``emtwin``).

It gives every test suite in the environment one fixture, ``em_twins``: a
:class:`emtwin.testing.TwinSession` shared by the whole test session, so each PyMC model
is built and compiled once however many tests use it::

    def test_my_em_agrees_with_pymc(em_twins):
        em_twins.assert_agree(make_scenario(), methods=["map"])

    def test_my_black_box_em(em_twins):
        em_twins.assert_em_agrees(my_em, data, build_model, components=COMPONENTS)

    def test_every_step_of_my_em(em_twins):
        em_twins.assert_steps_agree(e_step, m_step, data, build_model, start,
                                    log_likelihood=log_likelihood)

emtwin (and PyMC) are imported only when a test asks for the fixture, so suites that do
not use it start as fast as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from emtwin.testing import TwinSession

__all__ = ["em_twins"]


@pytest.fixture(scope="session")
def em_twins() -> Iterator[TwinSession]:
    """Compare EM twins with PyMC models built once per test session."""
    from emtwin.testing import TwinSession

    session = TwinSession()
    yield session
    session.clear()
