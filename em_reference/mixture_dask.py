"""Gaussian-mixture EM past one machine: the one-pass kernel as a map-reduce over a Dask array.

EM's E-step and M-step need the data only through sums over the points, so one iteration
is a map-reduce::

    map      each block b, where it lives:   mixture_kernel.block_sums(x_b, w, μ, Σ)
             -> Σ_i c_ij, Σ_i c_ij x_i, Σ_i c_ij (x_i − m_bj)(x_i − m_bj)ᵀ, Σ_i log p(x_i)
    reduce   mixture_kernel.merge, in a tree of fan-in SPLIT_EVERY (Chan, Golub & LeVeque:
             the same merge the kernel uses between the chunks of one block)
    M-step   gaussian_mixture's, floor included, on the merged totals

Only k(1 + d + d²) + 1 numbers per block travel; the data are never gathered. Blocks can
come from anything Dask reads lazily (``da.from_zarr``, a memory-map, Parquet columns via
``dask.dataframe``), and run on Dask's local threaded scheduler (the kernel's loops release
the GIL) or on a ``dask.distributed`` cluster when a ``Client`` is active: Dask's own rule,
so ``Client("tcp://scheduler:8786")`` is all a user adds.

Same answer as in memory. The per-block sums are those of :func:`.mixture_kernel.em_pass`
and the merge is its merge, so only the grouping of the additions differs: on data that fit
in memory the trajectory equals :func:`.gaussian_mixture.fit`'s to rounding (1e-12 relative
in the tests, whatever the chunking). What needs the whole data in one place is done once,
in a checking pass that reads every block once (``check_data``):

* finite values, with the first bad value's index and block; each coordinate's variance
  (the default floor, the start's spread); at least k distinct points (each block keeps
  its first k distinct rows: the union of those has k distinct rows exactly when the
  data have);
* the start. In memory it is built from all distinct points, sorted; at scale that sort
  would cost more than EM. The means come from an evenly spaced sample of at most
  ``START_SAMPLE`` points, gathered in the same pass (all points when N <= START_SAMPLE,
  so the start is the in-memory start there); the spread from the whole data. k-means++
  starts draw from the same sample with the same generator.

``EMResult.responsibilities`` is a lazy Dask array, shape (N, k), chunked as the data: the
final E-step is computed only for the blocks someone asks for.

A cluster that goes away is an error, not a hang: while a pass runs, the client is watched
(``POLL`` seconds); a closed client, a cluster without workers for ``WORKER_GRACE`` seconds,
a lost or killed worker, or a pass longer than ``timeout`` raise :class:`ClusterLostError`,
which carries the parameters of the last completed iteration so the fit can be restarted
from them.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import gaussian_mixture as gm
from . import mixture_kernel
from .checks import Real, check
from .components import component_order, order_components, permute_components, warn_if_tied
from .driver import EMResult, Params, run_em_multistart

try:  # An optional extra: the rest of em_reference never needs it.
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Gaussian-mixture EM on Dask arrays needs the `scale` extra: pip install 'emtwin[scale]' "
        "(dask[distributed] and zarr)."
    ) from error

__all__ = ["POLL", "SPLIT_EVERY", "START_SAMPLE", "WORKER_GRACE", "ClusterLostError", "DaskMixtureData",
           "check_data", "fit", "pass_sums"]

# Blocks merged per reduction task: a tree of depth log_8(blocks), each task a few µs.
SPLIT_EVERY = 8
# Points the start's means are chosen from (module docstring): a sort of 10⁵ points, ~10 ms.
START_SAMPLE = 100_000
# Seconds between checks that the cluster is still there while a pass runs.
POLL = 0.5
# Seconds a cluster may have no worker before the pass is given up (a restarting worker
# reconnects within a few seconds).
WORKER_GRACE = 30.0


class ClusterLostError(RuntimeError):
    """The Dask cluster stopped answering during a pass over the data.

    Attributes
    ----------
    what : str
        The pass that was running (e.g. ``"EM iteration 7"``).
    reason : str
        What went wrong, in words.
    params : dict or None
        The parameters the pass started from (those of the last completed iteration),
        ready for ``fit(..., start=params)``; None for the checking pass.
    elapsed : float
        Seconds the pass had run.
    """

    def __init__(self, what: str, reason: str, params: Params | None, elapsed: float):
        self.what, self.reason, self.params, self.elapsed = what, reason, params, elapsed
        resume = (" Restart from the last completed iteration with start=error.params." if params is not None
                  else "")
        super().__init__(f"the Dask cluster was lost during {what} after {elapsed:.1f} s: {reason}.{resume}")


# --------------------------------------------------------------------------- the data


@dataclasses.dataclass(frozen=True)
class DaskMixtureData:
    """A Dask array of points checked for EM, with what the checking pass learned.

    Duck-types :class:`.gaussian_mixture.MixtureData` for its M-step and start helpers
    (``k``, ``var_floor``, ``n``, ``d``, ``spread_name``, ``param_names``, ``x.ndim``).

    Attributes
    ----------
    x : dask.array.Array, shape (N,) or (N, d)
        The points, chunked along N only.
    k : int
    var_floor : ndarray, shape (d,)
        Squared data units (default 1e-6 × each coordinate's variance).
    covariance : ndarray, shape (d, d)
        The whole data's covariance (divided by N), squared data units.
    sample : ndarray, shape (≤ START_SAMPLE,) or (≤ START_SAMPLE, d)
        Every ⌈N / START_SAMPLE⌉-th point (all of them when N <= START_SAMPLE), for starts.
    timeout : float or None
        Longest a pass may run on a cluster, seconds; None for no limit.
    """

    x: Any
    k: int
    var_floor: np.ndarray
    covariance: np.ndarray
    sample: np.ndarray
    timeout: float | None = None
    # One Delayed per block of x as (N_b, d), built once; the passes' results by parameters.
    blocks: tuple = dataclasses.field(default=(), repr=False, compare=False)
    passes: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return 1 if self.x.ndim == 1 else int(self.x.shape[1])

    @property
    def spread_name(self) -> str:
        return "sigma" if self.x.ndim == 1 else "cov"

    @property
    def param_names(self) -> tuple[str, str, str]:
        return ("weights", "mu", self.spread_name)

    def sample_data(self) -> gm.MixtureData:
        """The sample as an in-memory MixtureData (for the start helpers), or a ValueError."""
        try:
            return gm.MixtureData(self.sample, self.k, self.var_floor)
        except ValueError as error:
            raise ValueError(
                f"the start is chosen from {len(self.sample)} evenly spaced points of the data, and they do "
                f"not support k = {self.k} components ({error}) although the whole data do. Pass start= "
                "explicitly."
            ) from None


@dataclasses.dataclass(frozen=True)
class _BlockCheck:
    """What the checking pass learns from one block (or a merged run of blocks)."""

    n_rows: int
    first_bad: tuple[int, int, int, float] | None  # (block, row in block, column, value)
    n_bad: int
    spread: mixture_kernel.BlockSums | None  # one component holding every point
    distinct: np.ndarray  # the first k distinct rows, (≤ k, d)
    sample: np.ndarray  # the rows whose global index is a multiple of the stride, (·, d)


def _check_block(block: np.ndarray, index: int, first_row: int, k: int, stride: int) -> _BlockCheck:
    cols = np.asarray(block, dtype=float).reshape(len(block), -1)
    sample = cols[(-first_row) % stride::stride]
    bad = ~np.isfinite(cols)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        return _BlockCheck(len(cols), (index, row, column, float(cols[row, column])), int(bad.sum()), None,
                           cols[:0], sample)
    n = len(cols)
    total = cols.sum(axis=0)
    deviation = cols - total / n
    spread = mixture_kernel.BlockSums(0.0, np.array([float(n)]), total[None], (deviation.T @ deviation)[None])
    return _BlockCheck(n, None, 0, spread, gm._distinct_rows(cols, k), sample)


def _merge_checks(parts: Sequence[_BlockCheck], k: int) -> _BlockCheck:
    """The blocks' checks merged in block order (parts arrive in that order)."""
    bad = [part.first_bad for part in parts if part.first_bad is not None]
    spreads = [part.spread for part in parts if part.spread is not None]
    return _BlockCheck(
        sum(part.n_rows for part in parts),
        bad[0] if bad else None,
        sum(part.n_bad for part in parts),
        mixture_kernel.merge(spreads) if spreads and not bad else None,
        gm._distinct_rows(np.concatenate([part.distinct for part in parts]), k),
        np.concatenate([part.sample for part in parts]),
    )


def _as_dask_columns(x: Any) -> Any:
    return x[:, None] if x.ndim == 1 else x


def check_data(x: Any, k: int, var_floor: ArrayLike | None = None, *, timeout: float | None = None) -> DaskMixtureData:
    """``x`` checked as :class:`.gaussian_mixture.MixtureData` checks in-memory data, in one
    pass that reads each block once (module docstring); the same messages, with the block
    named where a value is bad.

    Parameters
    ----------
    x : dask.array.Array, shape (N,) or (N, d)
        Chunked along N only.
    k : int
        Number of components.
    var_floor : float or array_like, shape (d,), optional
        As for :func:`.gaussian_mixture.fit`.
    timeout : float, optional
        Longest a pass may run on a distributed cluster, seconds.

    Returns
    -------
    DaskMixtureData
    """
    if not isinstance(x, da.Array):
        raise ValueError(f"x must be a dask.array.Array; got {type(x).__name__}.")
    if x.ndim not in (1, 2):
        raise ValueError(f"data must be a 1-D array of N points or a 2-D array of shape (N, d); got shape {x.shape}.")
    if any(np.isnan(size) for size in x.shape):
        raise ValueError(f"data has unknown chunk sizes (shape {x.shape}); call x.compute_chunk_sizes() first.")
    if x.shape[0] == 0:
        raise ValueError("data is empty; give at least one data point.")
    if x.ndim == 2 and x.shape[1] == 0:
        raise ValueError(f"data has no coordinates (shape {x.shape}); give at least one column.")
    if x.ndim == 2 and len(x.chunks[1]) > 1:
        raise ValueError(
            f"data is chunked along its feature axis (chunks[1] = {x.chunks[1]}): each block must hold whole "
            f"points, all {x.shape[1]} coordinates. Rechunk with x.rechunk({{1: -1}})."
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"data must hold real numbers; got dtype {x.dtype}.")
    k = check("k", k, meaning="the number of components")
    d = 1 if x.ndim == 1 else int(x.shape[1])
    floor = None if var_floor is None else gm._check_floor(var_floor, d)
    if timeout is not None:
        timeout = check("timeout", timeout, Real(0.0), "seconds a pass may run")

    n = int(x.shape[0])
    stride = -(-n // START_SAMPLE)
    blocks = tuple(_as_dask_columns(x).to_delayed().ravel())
    starts = np.concatenate([[0], np.cumsum(x.chunks[0])[:-1]]).astype(int)
    checks = [dask.delayed(_check_block, pure=True)(block, i, int(starts[i]), k, stride)
              for i, block in enumerate(blocks)]
    summary = _compute(_tree(checks, functools.partial(_merge_checks, k=k)), "the checking pass", None, timeout)

    if summary.first_bad is not None:
        block, row, column, value = summary.first_bad
        index = int(starts[block]) + row
        where = index if x.ndim == 1 else (index, column)
        raise ValueError(
            f"data must hold finite numbers; got {value} at index {where} (block {block} of {len(blocks)}, rows "
            f"{starts[block]}..{starts[block] + x.chunks[0][block] - 1}; {summary.n_bad} non-finite "
            f"value{'s' if summary.n_bad > 1 else ''} in all)."
        )
    covariance = summary.spread.scatter[0] / n
    covariance = 0.5 * (covariance + covariance.T)
    spread = np.diagonal(covariance).copy()
    if np.any(spread == 0):
        j = int(np.argmax(spread == 0))
        where = "" if x.ndim == 1 else f" in column {j}"
        raise ValueError(
            f"data has no spread{where}: every value is {summary.distinct[0, j]:g}. A Gaussian mixture needs "
            "positive variance in every coordinate."
        )
    if len(summary.distinct) < k:
        raise ValueError(
            f"k = {k} components need at least {k} distinct data points; data has {len(summary.distinct)}."
        )
    sample = summary.sample[:START_SAMPLE]
    return DaskMixtureData(
        x, k, gm.RELATIVE_VAR_FLOOR * spread if floor is None else floor, covariance,
        sample[:, 0] if x.ndim == 1 else sample, timeout, blocks,
    )


# --------------------------------------------------------------------------- one pass, mapped and reduced


def _tree(parts: list, merge: Callable[[list], Any]) -> Any:
    """The parts merged ``SPLIT_EVERY`` at a time, level by level, as Delayed tasks; order kept."""
    while len(parts) > 1:
        parts = [dask.delayed(merge, pure=True)(parts[i:i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple((name, np.asarray(value, dtype=float).tobytes()) for name, value in sorted(params.items()))


def pass_sums(data: DaskMixtureData, params: Params, what: str = "a pass") -> mixture_kernel.BlockSums:
    """:func:`.mixture_kernel.block_sums` over every block of ``data.x``, merged: the sums one
    in-memory pass computes. Only the merged sums come back to the caller."""
    key = _params_key(params)
    if key not in data.passes:
        w, mu, cov = gm._triple(data, params)
        parts = [dask.delayed(mixture_kernel.block_sums, pure=False)(block, w, mu, cov) for block in data.blocks]
        data.passes[key] = _compute(_tree(parts, mixture_kernel.merge), what, params, data.timeout)
    return data.passes[key]


def _fused_step(data: DaskMixtureData, params: Params) -> tuple[Params, float]:
    """:func:`.gaussian_mixture.fused_step` with the pass mapped over the blocks."""
    moments = mixture_kernel.moments(pass_sums(data, params, f"an EM iteration from {_brief(params)}"))
    gm._check_nonempty(moments.counts)
    return gm._maximiser(data, moments.counts, moments.mean, moments.scatter), moments.log_likelihood


def _log_likelihood(data: DaskMixtureData, params: Params) -> float:
    return pass_sums(data, params, "the log-likelihood pass").log_likelihood


def _responsibilities(data: DaskMixtureData, params: Params) -> Any:
    """The E-step as a lazy Dask array, shape (N, k), chunked as the data along N."""
    w, mu, cov = gm._triple(data, params)
    cols = _as_dask_columns(data.x)
    return cols.map_blocks(
        mixture_kernel.responsibilities, w, mu, cov,
        chunks=(cols.chunks[0], (data.k,)), dtype=float, meta=np.empty((0, 0)),
    )


def _unused_m_step(data: DaskMixtureData, resp: Any) -> Params:  # pragma: no cover - run_em calls step instead
    raise NotImplementedError("the Dask EM runs the fused step; it never builds the N × k responsibilities")


def _brief(params: Params) -> str:
    return "mu = " + np.array2string(np.asarray(params["mu"]).ravel(), precision=4, separator=", ")


# --------------------------------------------------------------------------- the cluster


def _distributed_client(collection: Any) -> Any:
    """The ``dask.distributed`` Client that would run ``collection``, or None (local scheduler)."""
    scheduler = dask.base.get_scheduler(collections=[collection])
    client = getattr(scheduler, "__self__", None)
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - the extra installs it
        return None
    return client if isinstance(client, Client) else None


def _compute(collection: Any, what: str, params: Params | None, timeout: float | None) -> Any:
    """``collection`` computed, on a distributed cluster watched so that losing it raises
    :class:`ClusterLostError` instead of waiting for ever (module docstring)."""
    client = _distributed_client(collection)
    if client is None:
        return dask.compute(collection)[0]
    from distributed import TimeoutError as DistributedTimeout
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    started = time.monotonic()
    no_workers_since = None
    if client.status != "running":
        raise ClusterLostError(what, f"the client is {client.status}, not connected to a scheduler", params, 0.0)
    future = client.compute(collection)
    try:
        while True:
            elapsed = time.monotonic() - started
            try:
                return future.result(timeout=POLL)
            except (DistributedTimeout, TimeoutError):
                pass
            except FutureCancelledError:
                raise ClusterLostError(what, "the scheduler cancelled the work (the cluster was closed)",
                                       params, elapsed) from None
            except KilledWorker as error:
                raise ClusterLostError(what, f"workers died while running a block ({error})", params,
                                       elapsed) from None
            except OSError as error:  # CommClosedError and other lost connections
                raise ClusterLostError(what, f"the connection to the scheduler closed ({error})", params,
                                       elapsed) from None
            if client.status != "running":
                raise ClusterLostError(what, f"the client is {client.status}, no longer connected to the scheduler",
                                       params, elapsed)
            if timeout is not None and elapsed > timeout:
                raise ClusterLostError(what, f"the pass took longer than timeout = {timeout:g} s", params, elapsed)
            if client.scheduler_info()["workers"]:
                no_workers_since = None
            elif no_workers_since is None:
                no_workers_since = time.monotonic()
            elif time.monotonic() - no_workers_since > WORKER_GRACE:
                raise ClusterLostError(what, f"the cluster has had no worker for {WORKER_GRACE:g} s", params,
                                       elapsed)
    finally:
        future.release()


# --------------------------------------------------------------------------- fit


def fit(
    x: Any,
    start: Mapping[str, Any] | None = None,
    *,
    k: int | None = None,
    var_floor: ArrayLike | None = None,
    n_starts: int = 1,
    seed: int | None = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    timeout: float | None = None,
) -> EMResult:
    """:func:`.gaussian_mixture.fit` for points in a Dask array, one map-reduce per iteration.

    Parameters
    ----------
    x : dask.array.Array, shape (N,) or (N, d)
        The points, chunked along N only (``x.rechunk({1: -1})`` otherwise).
    start, k, var_floor, n_starts, seed, tol, max_iter
        As for :func:`.gaussian_mixture.fit`; the default and k-means++ starts take their
        means from ``DaskMixtureData.sample`` (module docstring).
    timeout : float, optional
        Longest one pass may run on a distributed cluster, seconds (a lost cluster is
        detected without it).

    Returns
    -------
    EMResult
        As in memory, except ``responsibilities``: a lazy Dask array, shape (N, k).

    Raises
    ------
    ClusterLostError
        When the distributed cluster goes away during a pass.
    """
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    if k is None:
        weights = start.get("weights") if isinstance(start, Mapping) else None
        if weights is None or np.ndim(weights) != 1:
            raise ValueError("k is required when start gives no 1-D weights to count.")
        k = len(weights)
    data = check_data(x, k, var_floor, timeout=timeout)

    def with_means(params: Params) -> Params:
        mu = np.asarray(params["mu"]).reshape(data.k, data.d)
        return gm._start_with_means(data, mu, whole_cov=data.covariance)

    starts = [with_means(gm.default_start(data.sample_data())) if start is None else gm.check_start(data, start)]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        sample = data.sample_data()
        starts += [with_means(gm._kmeans_pp_start(sample, rng)) for _ in range(n_starts - 1)]
    names = list(data.param_names)
    result = run_em_multistart(
        data, starts, _responsibilities, _unused_m_step, _log_likelihood,
        canonical=lambda p: order_components(p, names, "mu"),
        tol=tol, max_iter=max_iter, step=_fused_step,
    )
    order = component_order(result.params, "mu")
    final = mixture_kernel.moments(pass_sums(data, result.params))  # cached: run_em's last pass
    params = permute_components(result.params, order, names)
    result = dataclasses.replace(
        result,
        params=params,
        param_trace={name: trace[:, order] for name, trace in result.param_trace.items()},
        responsibilities=_responsibilities(data, params),
    )
    data.passes.clear()
    for j, sigma in enumerate(final.scatter[order]):
        v = gm._regression_form(sigma, data.var_floor)[1]
        for c in np.flatnonzero(v < data.var_floor):
            warnings.warn(
                gm.VarianceCollapseWarning(j, int(c), float(v[c]), float(data.var_floor[c]),
                                           float(final.counts[order][j])),
                stacklevel=3,
            )
    warn_if_tied(result.params, names)
    return result
