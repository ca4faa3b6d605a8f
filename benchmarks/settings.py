"""How big and how often: the full benchmark and the ``--quick`` one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["FULL", "OPTIONAL_SECTIONS", "QUICK", "SECTIONS", "Settings"]

# The benchmark's sections, in the order they run (``--only`` picks some).
SECTIONS = ("em", "limit", "memory", "map", "nuts")
# Run only when asked: `--only scale` (800 MB on disk and the `scale` extra, issue 18);
# `--only twin` (the Bayesian twin's speed and issue 17's targets, ~15 min with --baseline).
OPTIONAL_SECTIONS = ("scale", "twin")


@dataclass(frozen=True)
class Settings:
    """Everything that sets the benchmark's size.

    Attributes
    ----------
    name : str
        ``"full"`` or ``"quick"``.
    em_sizes : tuple of int
        N for EM per iteration and for the machine's limit.
    convergence_sizes : tuple of int
        N for EM to convergence (a subset of the above is enough in a quick run).
    memory_sizes : tuple of int
        N for peak memory, each measured in a fresh process.
    memory_iterations : int
        EM iterations run while memory is traced (the peak is reached in the first).
    map_sizes : tuple of int
        N for PyMC MAP against EM (1-D data).
    iterations : dict of int to int
        EM iterations per timed run, by N (the largest key not above N applies).
    repeats : dict of int to int
        Timed repeats per run (best is kept), by N, the same way.
    dram_bytes : int
        Size of each of the two arrays streamed to measure main-memory bandwidth.
    nuts_draws, nuts_tune, nuts_chains : int
        NUTS settings for both samplers.
    em_tol : float
        emtwin's tolerance to convergence: largest absolute parameter change per
        iteration, parameter units (data units for μ and σ).
    sklearn_tol : float
        scikit-learn's: change of the mean log-likelihood per point per iteration, nats.
    seed : int
        Seeds the data (``np.random.default_rng``) and NUTS.
    """

    name: str
    em_sizes: tuple[int, ...]
    convergence_sizes: tuple[int, ...]
    memory_sizes: tuple[int, ...]
    memory_iterations: int
    map_sizes: tuple[int, ...]
    iterations: dict[int, int]
    repeats: dict[int, int]
    dram_bytes: int
    nuts_draws: int
    nuts_tune: int
    nuts_chains: int
    # Both stop within ~1e-13 relative of the same log-likelihood on these data: a
    # parameter change of 1e-8 leaves a log-likelihood change far below 1e-12 per point.
    em_tol: float = 1e-8
    sklearn_tol: float = 1e-12
    seed: int = 0

    def iterations_for(self, n: int) -> int:
        return _by_size(self.iterations, n)

    def repeats_for(self, n: int) -> int:
        return _by_size(self.repeats, n)

    def with_sizes(self, sizes: tuple[int, ...]) -> Settings:
        """These settings with ``sizes`` for EM per iteration, to convergence and the limit."""
        return dataclasses.replace(self, em_sizes=sizes, convergence_sizes=sizes)


def _by_size(table: dict[int, int], n: int) -> int:
    """The value of the largest key not above ``n`` (the smallest key's below all keys)."""
    keys = sorted(table)
    return table[max([k for k in keys if k <= n], default=keys[0])]


FULL = Settings(
    name="full",
    em_sizes=(10**4, 10**5, 10**6, 10**7),
    convergence_sizes=(10**4, 10**5, 10**6, 10**7),
    memory_sizes=(10**6, 10**7),
    memory_iterations=3,
    map_sizes=(10**4, 10**5, 10**6),
    iterations={1: 30, 10**6: 20, 10**7: 5},
    repeats={1: 5, 10**5: 3, 10**7: 2},
    dram_bytes=1 << 30,
    nuts_draws=1000,
    nuts_tune=1000,
    nuts_chains=4,
)

QUICK = Settings(
    name="quick",
    em_sizes=(10**4, 10**5, 10**6),
    convergence_sizes=(10**4, 10**5),
    memory_sizes=(10**6,),
    memory_iterations=2,
    map_sizes=(10**4,),
    iterations={1: 10, 10**6: 5},
    repeats={1: 3, 10**6: 2},
    dram_bytes=1 << 29,
    nuts_draws=200,
    nuts_tune=200,
    nuts_chains=2,
)
