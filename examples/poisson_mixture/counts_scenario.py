"""Both twins of the Poisson mixture as an emtwin scenario (public API only).

    emtwin compare examples/poisson_mixture/counts_scenario.py:make_scenario --methods map
"""

from __future__ import annotations

import counts_em
from counts_model import build_model

import emtwin

# lam and weights have one entry per component; the PyMC twin keeps lam ascending.
COMPONENTS = emtwin.Components(params=("lam", "weights"), labels=("1", "2"), order_by="lam")


def make_scenario(m_step=counts_em.m_step, name: str = "poisson-mixture") -> emtwin.Scenario:
    return emtwin.custom_scenario(
        name,
        data=counts_em.simulate_counts(),
        start=counts_em.START,
        e_step=counts_em.e_step,
        m_step=m_step,
        log_likelihood=counts_em.log_likelihood,
        build_model=build_model,
        components=COMPONENTS,
        title="Two-component Poisson mixture of counts",
    )


def make_buggy_scenario() -> emtwin.Scenario:
    return make_scenario(counts_em.m_step_buggy, name="poisson-mixture-buggy")
