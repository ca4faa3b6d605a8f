"""The same test with the wrong M-step (``counts_em.m_step_buggy``). It FAILS, on purpose:
it shows what the harness says when an M-step is wrong."""

from counts_scenario import make_buggy_scenario


def test_buggy_em_agrees_with_pymc(em_twins):
    em_twins.assert_agree(make_buggy_scenario(), methods=["map"])
