"""The benchmark's five sections; each returns its records and prints nothing but progress."""

from __future__ import annotations

from typing import Any

from .data import K
from .em_vs_sklearn import Problem, per_iteration, to_convergence, warm_up
from .isolated import WorkerError
from .machine import copy_bandwidth, exp_log_cost, iteration_limit, working_set_bytes
from .memory import IMPLEMENTATIONS, peak_memory
from .nuts import nuts_comparison
from .pymc_map import map_vs_em
from .settings import Settings
from .timing import say

__all__ = ["run_em", "run_limit", "run_map", "run_memory", "run_nuts"]

DIMS = (1, 2)


def run_em(settings: Settings) -> dict[str, list[Any]]:
    """emtwin vs scikit-learn per iteration (``em_sizes``) and to convergence
    (``convergence_sizes``), 1-D then 2-D."""
    iterations, convergence = [], []
    for dim in DIMS:
        warm_up(dim)
        for n in sorted(set(settings.em_sizes) | set(settings.convergence_sizes)):
            say(f"em: {dim}-D N={n:.0e} drawing data")
            problem = Problem.make(n, dim, settings.seed)
            if n in settings.em_sizes:
                n_iter, repeats = settings.iterations_for(n), settings.repeats_for(n)
                say(f"em: {dim}-D N={n:.0e} per iteration ({n_iter} and 1 iterations, best of {repeats})")
                iterations.append(per_iteration(problem, n_iter=n_iter, repeats=repeats))
            if n in settings.convergence_sizes:
                say(f"em: {dim}-D N={n:.0e} to convergence")
                convergence.append(to_convergence(problem, ours_tol=settings.em_tol, sklearn_tol=settings.sklearn_tol))
            del problem
    return {"per_iteration": iterations, "to_convergence": convergence}


def run_limit(settings: Settings) -> dict[str, Any]:
    """Bandwidth at each working-set size and in main memory, exp/log cost, the limit."""
    say(f"limit: main-memory copy bandwidth (2 × {settings.dram_bytes / 1e6:.0f} MB)")
    dram = copy_bandwidth(2 * settings.dram_bytes)
    say("limit: exp and log per element, in cache and streaming")
    cost = exp_log_cost(max(settings.em_sizes) * K)
    per_size = []
    for dim in DIMS:
        for n in settings.em_sizes:
            size = working_set_bytes(n, dim, K)
            say(f"limit: {dim}-D N={n:.0e} copy bandwidth at the working set ({size / 1e6:.1f} MB)")
            per_size.append(iteration_limit(n, dim, K, bandwidth=copy_bandwidth(size), cost=cost))
    return {"dram_bytes": settings.dram_bytes, "dram_bandwidth_bytes_per_s": dram, "exp_log": cost,
            "per_size": per_size}


def run_memory(settings: Settings, errors: list[str]) -> list[Any]:
    """Peak memory of each implementation, each (dim, N) in a fresh process."""
    records = []
    for n in settings.memory_sizes:
        for dim in DIMS:
            for impl in IMPLEMENTATIONS:
                say(f"memory: {impl} {dim}-D N={n:.0e} ({settings.memory_iterations} iterations), fresh process")
                try:
                    records.append(peak_memory(impl, dim, n, seed=settings.seed, n_iter=settings.memory_iterations))
                except WorkerError as err:
                    errors.append(f"memory {impl} {dim}-D N={n}: {err}")
                    say(f"memory: FAILED {err}")
    return records


def run_map(settings: Settings, errors: list[str]) -> list[Any]:
    """PyMC MAP (cold and warm compile cache) against EM, 1-D, at ``map_sizes``."""
    records = []
    for n in settings.map_sizes:
        try:
            records.append(map_vs_em(n, seed=settings.seed, em_tol=settings.em_tol, say=say))
        except WorkerError as err:
            errors.append(f"map N={n}: {err}")
            say(f"map: FAILED {err}")
    return records


def run_nuts(settings: Settings) -> dict[str, Any]:
    """PyMC's NUTS and nutpie on coin-sets and gaussian-mixture."""
    return nuts_comparison(draws=settings.nuts_draws, tune=settings.nuts_tune, chains=settings.nuts_chains,
                           seed=settings.seed, say=say)

