"""Run independent scenarios side by side, one process per core.

A scenario's compile, ADVI, L-BFGS-B and EM run on one core; its NUTS runs beside them in
a forked process, its chains on every core but one (``fitting.fit_in_background``).
``emtwin compare --all --jobs N`` runs N scenarios at once, for machines with cores to
spare (on 2 cores, before NUTS ran beside the other fits, it was slower: 101 s against 83 s
for one at a time).
Each scenario is seeded on its own, so the results do not depend on the number of workers
or their order. Workers are spawned, not forked: the parent holds BLAS and compiler
threads, and forking a threaded process can deadlock the child. A spawned worker imports
PyMC again (about 2 s, once per worker, not per scenario).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

__all__ = ["run_all"]

T = TypeVar("T")
R = TypeVar("R")


def run_all(
    work: Callable[[T], R],
    tasks: Sequence[T],
    *,
    jobs: int,
    label: Callable[[T], str] = str,
    describe: Callable[[R], str] = lambda result: "done",
    progress: bool = True,
) -> list[R]:
    """``[work(t) for t in tasks]``, in ``jobs`` processes when ``jobs > 1``.

    ``work`` and the tasks must pickle (a module-level function, names rather than objects
    holding lambdas).

    Results come back in the order of ``tasks``. With ``progress``, one line per finished
    task goes to stderr (``[2/6] coin-sets: agree (9.8 s)``): the tasks' own progress bars
    would interleave, so callers turn those off when ``jobs > 1``. An exception in a task
    is raised here, after the other running tasks finish.
    """
    if jobs <= 1 or len(tasks) <= 1:
        return [work(task) for task in tasks]
    started = time.perf_counter()
    results: dict[int, R] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(work, task): i for i, task in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            results[i] = future.result()
            if progress:
                seconds = time.perf_counter() - started
                print(f"[{done}/{len(tasks)}] {label(tasks[i])}: {describe(results[i])} ({seconds:.1f} s)",
                      file=sys.stderr, flush=True)
    return [results[i] for i in range(len(tasks))]
