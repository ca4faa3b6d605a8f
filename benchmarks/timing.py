"""Wall-clock timing and progress lines."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["best_of", "say", "timed"]

T = TypeVar("T")
_START = time.perf_counter()


def say(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since the benchmark began."""
    print(f"[{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


def best_of(repeats: int, run: Callable[[], T]) -> tuple[float, T]:
    """Run ``run()`` ``repeats`` times; the shortest wall time in seconds and the last result.

    The shortest, not the mean: on a shared machine every disturbance only adds time.
    Garbage is collected before each run so one run's leftovers do not land in the next.
    """
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t)
    return best, result  # type: ignore[return-value]


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    """One run of ``run()``: its wall time in seconds and its result."""
    return best_of(1, run)
