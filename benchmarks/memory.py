"""Peak memory of one EM fit, emtwin's or scikit-learn's, each in a fresh process.

The data are drawn (and, for emtwin, checked into a ``MixtureData``) before tracing
starts; the peak is tracemalloc's over the ``fit`` call alone, i.e. the memory the fit
needs on top of the data it was given, result included (emtwin keeps the last N·k
responsibilities in it). NumPy reports its array buffers to tracemalloc; BLAS's own
work buffers are not traced. The process's maximum resident size (``ru_maxrss``, which
includes the interpreter, the libraries and drawing the data; VmHWM on Linux) is kept for
reference.

Budget (the issue's): the data plus two N·k float64 arrays, 8·N·d + 2·8·N·k bytes, held
against the data plus the fit's traced peak; that is, the fit may use two N·k arrays.
"""

from __future__ import annotations

import gc
import resource
import sys
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .data import K, data_bytes, draw_mixture, sklearn_view, start_for
from .isolated import run_isolated

__all__ = ["IMPLEMENTATIONS", "MemoryRecord", "budget_bytes", "measure_peak", "peak_memory"]

IMPLEMENTATIONS = ("emtwin", "sklearn")


def budget_bytes(n: int, dim: int, k: int = K) -> int:
    """The data plus two N·k float64 arrays."""
    return data_bytes(n, dim) + 2 * 8 * n * k


def _max_rss_bytes() -> int:
    """This process's peak resident size. On Linux VmHWM from /proc: ``ru_maxrss`` of a
    child started by a large parent reports the parent's peak (it survives fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def measure_peak(impl: str, dim: int, n: int, seed: int, n_iter: int) -> dict[str, Any]:
    """In this process: draw the data, then trace the peak of ``n_iter`` EM iterations.

    Meant for a fresh child process (:func:`peak_memory`); in a used one the reading of
    ``ru_maxrss`` means nothing.
    """
    from .em_vs_sklearn import fit_ours, fit_sklearn, warm_up

    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {', '.join(IMPLEMENTATIONS)}; got {impl!r}.")
    x = draw_mixture(n, dim, seed)
    start = start_for(dim)
    if impl == "emtwin":
        from emtwin.em_reference.gaussian_mixture import MixtureData

        data = MixtureData(x, K)
        del x  # MixtureData holds its own float64 copy

        def run() -> Any:
            return fit_ours(data, start, max_iter=n_iter)
    else:
        x_2d = sklearn_view(x)

        def run() -> Any:
            return fit_sklearn(x_2d, start, max_iter=n_iter)

    warm_up(dim)  # compiling kernels is not what the peak should measure
    gc.collect()
    tracemalloc.start()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return {"impl": impl, "dim": dim, "n": n, "n_iter": n_iter, "peak_bytes": peak, "max_rss_bytes": _max_rss_bytes()}


@dataclass(frozen=True)
class MemoryRecord:
    """Peak memory of one fit (bytes) against the budget (the data plus two N·k arrays).

    ``peak_bytes`` is what the fit allocated on top of the data at its peak;
    ``total_bytes`` = data + that, the number held against ``budget_bytes``.
    """

    impl: str
    dim: int
    n: int
    n_iter: int
    peak_bytes: int
    max_rss_bytes: int
    data_bytes: int
    budget_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.peak_bytes

    @property
    def within_budget(self) -> bool:
        return self.total_bytes <= self.budget_bytes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_bytes": self.total_bytes, "within_budget": self.within_budget}


def peak_memory(impl: str, dim: int, n: int, *, seed: int, n_iter: int) -> MemoryRecord:
    """:func:`measure_peak` in a fresh process."""
    got = run_isolated("memory", impl=impl, dim=dim, n=n, seed=seed, n_iter=n_iter)
    return MemoryRecord(
        impl=impl,
        dim=dim,
        n=n,
        n_iter=n_iter,
        peak_bytes=int(got["peak_bytes"]),
        max_rss_bytes=int(got["max_rss_bytes"]),
        data_bytes=data_bytes(n, dim),
        budget_bytes=budget_bytes(n, dim),
    )
