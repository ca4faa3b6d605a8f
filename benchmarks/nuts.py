"""NUTS on two registered scenarios: PyMC's own sampler against nutpie.

Each (scenario, sampler) pair runs in a fresh process on PyTensor's usual compile cache,
with the scenario's data, model, start and NUTS defaults as ``emtwin compare`` uses
them. ``fit_nuts`` is called twice with the same seed: the first call's wall time
includes compiling the model (for nutpie, also its own Numba build), the second's is
sampling alone. Effective samples per second use the smallest bulk ESS over the free
variables. The two samplers' posterior means are set side by side, their difference in
posterior SDs, to show whether they sampled the same posterior.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .isolated import WorkerError, run_isolated

__all__ = ["SAMPLERS", "SCENARIOS", "NutsRecord", "nuts_comparison", "nuts_in_this_process", "same_posterior"]

SCENARIOS = ("coin-sets", "gaussian-mixture")
SAMPLERS = ("pymc", "nutpie")
TIMEOUT_S = 1800.0


def nuts_in_this_process(scenario: str, sampler: str, draws: int, tune: int, chains: int, seed: int) -> dict[str, Any]:
    """In this (fresh) process: the scenario's model and start, ``fit_nuts`` twice.

    Returns
    -------
    dict
        ``first_s``, ``second_s`` (wall seconds), ``import_s``, ``diagnostics`` of each call
        (divergences, max R-hat, min bulk ESS), posterior ``mean`` and ``sd`` per variable.
    """
    t = time.perf_counter()
    import pytensor

    from emtwin.comparisons.registry import get_scenario
    from emtwin.models.fitting import fit_nuts

    import_s = time.perf_counter() - t
    sc = get_scenario(scenario)
    data = sc.make_data()
    model = sc.build_model(data)
    start = sc.to_model(sc.components.canonical(sc.default_start))
    options = {**sc.nuts_defaults, "draws": draws, "tune": tune, "chains": chains, "seed": seed, "sampler": sampler}

    t = time.perf_counter()
    first = fit_nuts(model, start, **options)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    second = fit_nuts(model, start, **options)
    second_s = time.perf_counter() - t
    return {
        "scenario": scenario,
        "sampler": sampler,
        "compiledir": str(pytensor.config.compiledir),
        "options": options,
        "import_s": import_s,
        "first_s": first_s,
        "second_s": second_s,
        "first_diagnostics": first.diagnostics,
        "second_diagnostics": second.diagnostics,
        "mean": {name: np.asarray(value).tolist() for name, value in first.mean.items()},
        "sd": {name: np.asarray(value).tolist() for name, value in first.sd.items()},
    }


@dataclass(frozen=True)
class NutsRecord:
    """One sampler on one scenario, or why it did not run (``error``)."""

    scenario: str
    sampler: str
    error: str | None = None
    first_s: float | None = None
    second_s: float | None = None
    min_ess_bulk: float | None = None
    divergences: int | None = None
    max_rhat: float | None = None
    mean: dict[str, Any] = field(default_factory=dict)
    sd: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ess_per_s_first(self) -> float | None:
        return None if self.error else self.min_ess_bulk / self.first_s

    @property
    def ess_per_s_second(self) -> float | None:
        return None if self.error else self.raw["second_diagnostics"]["min_ess_bulk"] / self.second_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ess_per_s_first": self.ess_per_s_first, "ess_per_s_second": self.ess_per_s_second}


def nutpie_available() -> bool:
    return importlib.util.find_spec("nutpie") is not None


def _run(scenario: str, sampler: str, *, draws: int, tune: int, chains: int, seed: int) -> NutsRecord:
    if sampler == "nutpie" and not nutpie_available():
        return NutsRecord(scenario, sampler, error="nutpie not installed (pip install -e '.[bench]')")
    try:
        got = run_isolated("nuts", timeout=TIMEOUT_S, scenario=scenario, sampler=sampler, draws=draws, tune=tune,
                           chains=chains, seed=seed)
    except WorkerError as err:
        return NutsRecord(scenario, sampler, error=str(err))
    diagnostics = got["first_diagnostics"]
    return NutsRecord(
        scenario=scenario,
        sampler=sampler,
        first_s=got["first_s"],
        second_s=got["second_s"],
        min_ess_bulk=diagnostics["min_ess_bulk"],
        divergences=diagnostics["divergences"],
        max_rhat=diagnostics["max_rhat"],
        mean=got["mean"],
        sd=got["sd"],
        raw=got,
    )


def same_posterior(a: NutsRecord, b: NutsRecord) -> list[dict[str, Any]]:
    """Posterior means of both samplers, entry by entry, and (b − a) in posterior SDs
    (the two SDs' root mean square). Empty when either did not run."""
    if a.error or b.error:
        return []
    rows = []
    for name in a.mean:
        mean_a, mean_b = np.ravel(a.mean[name]), np.ravel(b.mean[name])
        sd = np.sqrt((np.ravel(a.sd[name]) ** 2 + np.ravel(b.sd[name]) ** 2) / 2)
        for i, (x, y, s) in enumerate(zip(mean_a, mean_b, sd)):
            label = name if mean_a.size == 1 else f"{name}[{i}]"
            rows.append({"parameter": label, a.sampler: float(x), b.sampler: float(y),
                         "difference_in_sd": float((y - x) / s) if s > 0 else 0.0})
    return rows


def nuts_comparison(*, draws: int, tune: int, chains: int, seed: int, say: Any = lambda message: None
                    ) -> dict[str, Any]:
    """Both samplers on both scenarios; records and the side-by-side posterior means."""
    records: list[NutsRecord] = []
    for scenario in SCENARIOS:
        for sampler in SAMPLERS:
            say(f"nuts: {scenario} with {sampler} ({chains} chains × {draws} draws, {tune} tuning), fresh process")
            records.append(_run(scenario, sampler, draws=draws, tune=tune, chains=chains, seed=seed))
    comparisons = {
        scenario: same_posterior(*[r for r in records if r.scenario == scenario]) for scenario in SCENARIOS
    }
    return {"records": records, "same_posterior": comparisons,
            "settings": {"draws": draws, "tune": tune, "chains": chains, "seed": seed}}
