"""The Gamma mixture as an emtwin scenario whose EM twin is derived from the model.

    emtwin compare examples/gamma_mixture/gamma_scenario.py:make_scenario --methods map,advi,nuts
"""

from __future__ import annotations

from gamma_model import START, build_model, simulate_durations

import emtwin

# mu, alpha and weights have one entry per component; the model keeps mu ascending.
COMPONENTS = emtwin.Components(params=("mu", "alpha", "weights"), labels=("quick", "long"), order_by="mu")


def derived_em(durations, start, *, n_starts=1, seed=0):
    """The EM twin: derived from the PyMC model, from one start."""
    if n_starts != 1:
        raise ValueError(f"n_starts must be 1 for this example (one start, {START}); got {n_starts!r}.")
    return emtwin.derive_em(build_model, durations, start)


def make_scenario() -> emtwin.Scenario:
    return emtwin.Scenario(
        name="gamma-mixture",
        title="Two-component Gamma mixture of durations (EM derived from the PyMC model)",
        source="examples/gamma_mixture",
        make_data=simulate_durations,
        default_start=START,
        fit_em=derived_em,
        build_model=build_model,
        components=COMPONENTS,
    )
