"""What this machine can do, and what it is.

The limit for one EM iteration at N points, k components, d coordinates is the larger of

* memory: stream the data and the N·k responsibilities once, 8·N·(d + k) bytes, at the
  read+write bandwidth measured on arrays of that size (in cache for small N);
* arithmetic: N·k evaluations of exp (the responsibilities) and N of log (the
  log-sum-exp per point), at NumPy's own cost per element measured in cache.

Both are for one core: NumPy's exp and log, and its copies, run on one thread. EM needs
more than this (the Mahalanobis terms, the M-step's weighted sums), so the limit is a
floor no EM can go below with these primitives, not a target one can reach.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ExpLogCost",
    "IterationLimit",
    "copy_bandwidth",
    "exp_log_cost",
    "iteration_limit",
    "machine_info",
    "working_set_bytes",
]

# Arrays this long (256 KiB in, 256 KiB out) stay in a core's L2 cache.
IN_CACHE_ELEMENTS = 32_768
PACKAGES = ("numpy", "scipy", "scikit-learn", "pymc", "pytensor", "nutpie", "numba", "arviz", "threadpoolctl", "emtwin")


def _seconds_per_call(call: Callable[[], Any], *, repeats: int, min_seconds: float = 0.02) -> float:
    """Shortest time of one ``call()``: each repeat runs it in a loop long enough
    (``min_seconds``) for the clock's resolution and Python's call overhead not to count."""
    call()  # first touch: page faults and cache warm-up are not what is measured
    loops = 1
    while True:
        t = time.perf_counter()
        for _ in range(loops):
            call()
        elapsed = time.perf_counter() - t
        if elapsed >= min_seconds:
            break
        loops *= 2
    best = elapsed / loops
    for _ in range(repeats - 1):
        t = time.perf_counter()
        for _ in range(loops):
            call()
        best = min(best, (time.perf_counter() - t) / loops)
    return best


def copy_bandwidth(total_bytes: int, *, repeats: int = 3) -> float:
    """Read+write bandwidth, bytes per second, copying one array into another.

    ``total_bytes`` is the two arrays together (the working set); the bytes counted per
    copy are the ones read plus the ones written, as in STREAM's copy.
    """
    n = max(total_bytes // 16, 1)
    source = np.ones(n)
    target = np.empty_like(source)
    seconds = _seconds_per_call(lambda: np.copyto(target, source), repeats=repeats)
    return 2 * source.nbytes / seconds


@dataclass(frozen=True)
class ExpLogCost:
    """Seconds per element of NumPy's exp and log, in cache and streaming a large array."""

    exp_in_cache_s: float
    log_in_cache_s: float
    exp_streaming_s: float
    log_streaming_s: float
    streaming_elements: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def exp_log_cost(streaming_elements: int, *, repeats: int = 3, seed: int = 0) -> ExpLogCost:
    """Time ``np.exp`` and ``np.log`` per element, into preallocated output.

    Arguments look like EM's: exp of log-joints minus their row maximum, in [−30, 0]; log
    of row sums of k terms in (0, 1] with one of them 1, in [1, 3].
    """
    rng = np.random.default_rng(seed)

    def per_element(function: np.ufunc, low: float, high: float, size: int) -> float:
        values = rng.uniform(low, high, size)
        out = np.empty_like(values)
        return _seconds_per_call(lambda: function(values, out=out), repeats=repeats) / size

    return ExpLogCost(
        exp_in_cache_s=per_element(np.exp, -30.0, 0.0, IN_CACHE_ELEMENTS),
        log_in_cache_s=per_element(np.log, 1.0, 3.0, IN_CACHE_ELEMENTS),
        exp_streaming_s=per_element(np.exp, -30.0, 0.0, streaming_elements),
        log_streaming_s=per_element(np.log, 1.0, 3.0, streaming_elements),
        streaming_elements=streaming_elements,
    )


def working_set_bytes(n: int, dim: int, k: int) -> int:
    """The data and the N·k responsibilities, float64: 8·N·(d + k) bytes."""
    return 8 * n * (dim + k)


@dataclass(frozen=True)
class IterationLimit:
    """The machine's limit for one EM iteration (seconds) at one (dim, N) and its parts."""

    dim: int
    n: int
    k: int
    bytes_moved: int
    bandwidth_bytes_per_s: float
    memory_s: float
    compute_s: float
    limit_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def iteration_limit(n: int, dim: int, k: int, *, bandwidth: float, cost: ExpLogCost) -> IterationLimit:
    """max(bytes moved / bandwidth, N·k·t_exp + N·t_log), with in-cache exp/log costs."""
    moved = working_set_bytes(n, dim, k)
    memory = moved / bandwidth
    compute = n * k * cost.exp_in_cache_s + n * cost.log_in_cache_s
    return IterationLimit(dim, n, k, moved, bandwidth, memory, compute, max(memory, compute))


# --------------------------------------------------------------------------- description


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _caches() -> dict[str, str]:
    """Cache sizes of CPU 0 as the kernel reports them, e.g. {"L2": "2048K", "L3": "491520K"}."""
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        out[f"L{level}" + ("d" if kind == "Data" else "i" if kind == "Instruction" else "")] = size
    return out


def _memory_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _blas() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "architecture")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """CPU, cores, caches, memory, load, Python and package versions, BLAS threads."""
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "caches": _caches(),
        "memory_bytes": _memory_total_bytes(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": _versions(),
        "blas": _blas(),
    }
