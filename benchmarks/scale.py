"""``python -m benchmarks --only scale``: Gaussian-mixture EM past one machine (issue 18).

N = 10⁸ 1-D points (800 MB) written to a zarr store on disk in blocks of ``BLOCK`` points,
then one EM iteration timed four ways on the same numbers:

* the in-memory kernel (``mixture_kernel.em_pass`` on the array loaded into RAM);
* Dask's local threaded scheduler (2 threads, blocks read from the store);
* a ``LocalCluster`` of 1 and of 2 worker processes, one thread each, reading the store;

against the machine's streaming limit (max of 8·N bytes at main-memory copy bandwidth and
N·k exps + N logs at their in-cache cost: ``benchmarks.machine``), with each worker's resident
memory after the timed iterations. The store is read through the operating system's page cache (it was just
written), so "streamed from disk" here means from the cache; a cold disk adds its read time.

The extrapolation to 10¹⁰ points on 100 such machines: each machine holds 10⁸ points, so
its share of an iteration costs what the 2-worker iteration costs here; on top come the
scheduler's per-task overhead (measured here on empty tasks) for 10¹⁰ / BLOCK block tasks
plus the reduction's, and the reduction tree's latency (depth log_8 of the blocks, each
level one small message of ``sums_bytes``). The store is deleted at the end.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .data import K, draw_mixture, start_for
from .machine import copy_bandwidth, exp_log_cost
from .timing import say

__all__ = ["BLOCK", "run_scale", "scale_table"]

N = 10**8
BLOCK = 10**6  # points per zarr chunk and Dask block: 8 MB
REPEATS = 3
# For the extrapolation: a network round trip between machines in one data centre.
NETWORK_LATENCY_S = 5e-4


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unavailable"


def _write_store(path: Path, n: int, seed: int) -> None:
    import zarr

    store = zarr.create_array(str(path), shape=(n,), chunks=(BLOCK,), dtype="f8", overwrite=True)
    for i, start in enumerate(range(0, n, BLOCK)):
        stop = min(start + BLOCK, n)
        store[start:stop] = draw_mixture(stop - start, 1, seed + i)


def _best(repeats: int, run: Any) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def _rss_bytes() -> int:
    """This process's resident memory now. Not ru_maxrss: a forked worker inherits its
    parent's high-water mark (the parent here held the 800 MB array)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _task_overhead(client: Any, n_tasks: int = 2000) -> float:
    """Seconds the scheduler spends per (empty) task: a graph of ``n_tasks`` no-ops."""
    import dask

    tasks = [dask.delayed(int, pure=False)(i) for i in range(n_tasks)]
    total = dask.delayed(sum)(tasks)
    client.compute(total).result()  # warm up
    began = time.perf_counter()
    client.compute(dask.delayed(sum)([dask.delayed(int, pure=False)(i) for i in range(n_tasks)])).result()
    return (time.perf_counter() - began) / n_tasks


def run_scale(n: int = N, *, seed: int = 0, directory: str | None = None) -> dict[str, Any]:
    """Time one EM iteration at ``n`` points every way listed in the module docstring."""
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from emtwin.em_reference import gaussian_mixture as gm
    from emtwin.em_reference import mixture_dask, mixture_kernel

    record: dict[str, Any] = {"n": n, "block": BLOCK, "k": K, "uptime_start": _uptime()}
    tmp = Path(tempfile.mkdtemp(prefix="emtwin-scale-", dir=directory))
    path = tmp / "points.zarr"
    try:
        say(f"scale: writing {n:.0e} points ({8 * n / 1e6:.0f} MB) to {path}")
        began = time.perf_counter()
        _write_store(path, n, seed)
        record["write_s"] = time.perf_counter() - began
        record["store_bytes"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        start = start_for(1)
        w, mu, cov = start["weights"], start["mu"][:, None], start["sigma"][:, None, None] ** 2

        say("scale: the in-memory kernel on the same data (loaded into RAM)")
        x = da.from_zarr(str(path))
        memory_x = x.compute()[:, None]
        mixture_kernel.em_pass(memory_x[:BLOCK], w, mu, cov)  # compile / load the kernel
        record["in_memory_s"] = _best(REPEATS, lambda: mixture_kernel.em_pass(memory_x, w, mu, cov))
        reference = mixture_kernel.em_pass(memory_x, w, mu, cov)
        del memory_x

        say("scale: Dask, local threaded scheduler (2 threads), blocks from the store")
        with dask.config.set(scheduler="threads"):
            began = time.perf_counter()
            data = mixture_dask.check_data(x, K)
            record["check_pass_threads_s"] = time.perf_counter() - began
            params = gm._scheme(data, w, mu, cov)

            def one_iteration() -> Any:
                data.passes.clear()
                return mixture_dask.pass_sums(data, params)

            record["threads_s"] = _best(REPEATS, one_iteration)
        sums = one_iteration()
        record["max_rel_diff_vs_in_memory"] = float(
            abs(sums.log_likelihood - reference.log_likelihood) / abs(reference.log_likelihood))
        record["sums_bytes"] = len(pickle.dumps(sums))

        for workers in (1, 2):
            say(f"scale: LocalCluster, {workers} worker process(es), 1 thread each")
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              memory_limit="4GiB") as cluster, Client(cluster) as client:
                began = time.perf_counter()
                data = mixture_dask.check_data(x, K)
                check_s = time.perf_counter() - began
                one_iteration()  # workers compile / load the kernel
                seconds = _best(REPEATS, one_iteration)
                rss = client.run(_rss_bytes)  # after 1 + REPEATS iterations
                overhead = _task_overhead(client) if workers == 2 else None
            record[f"workers_{workers}"] = {"iteration_s": seconds, "check_pass_s": check_s,
                                            "rss_bytes": sorted(rss.values())}
            if overhead is not None:
                record["task_overhead_s"] = overhead
        say("scale: the machine's streaming limit")
        bandwidth = copy_bandwidth(2 * (1 << 30))
        cost = exp_log_cost(10**7)
        record["bandwidth_bytes_per_s"] = bandwidth
        record["limit_memory_s"] = 8 * n / bandwidth
        record["limit_compute_s"] = n * K * cost.exp_in_cache_s + n * cost.log_in_cache_s
        record["limit_s"] = max(record["limit_memory_s"], record["limit_compute_s"])
        record["extrapolation"] = [_extrapolate(record, block=block) for block in (BLOCK, 10 * BLOCK)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        record["store_deleted"] = not tmp.exists()
    record["uptime_end"] = _uptime()
    return record


def _extrapolate(record: dict[str, Any], *, block: int, n_total: int = 10**10, machines: int = 100) -> dict[str, Any]:
    """One iteration at ``n_total`` points on ``machines`` machines like this one, in blocks of
    ``block`` points (a block's cost taken as proportional to its points)."""
    per_machine_points = n_total / machines
    blocks = n_total / block
    # One worker's time per measured block, scaled to ``block`` points.
    per_block_s = record["workers_2"]["iteration_s"] / (record["n"] / BLOCK) * 2 * (block / BLOCK)
    compute_s = per_machine_points / block * per_block_s / 2  # 2 workers per machine
    reduce_tasks = sum(int(np.ceil(blocks / 8**level)) for level in range(1, 1 + int(np.ceil(np.log(blocks) / np.log(8)))))
    depth = int(np.ceil(np.log(blocks) / np.log(8)))
    scheduler_s = (blocks + reduce_tasks) * record["task_overhead_s"]
    reduction_s = depth * NETWORK_LATENCY_S
    return {"n": n_total, "machines": machines, "block": block, "blocks": int(blocks), "per_block_s": per_block_s,
            "compute_s": compute_s, "reduce_tasks": reduce_tasks, "tree_depth": depth, "scheduler_s": scheduler_s,
            "reduction_s": reduction_s, "bytes_reduced": int(blocks * record["sums_bytes"]),
            "iteration_s": compute_s + scheduler_s + reduction_s}


def scale_table(record: dict[str, Any]) -> str:
    """The section's figures as text."""
    mb = 1e6
    n = record["n"]
    lines = [
        f"Scale (issue 18): one EM iteration, N = {n:.0e} 1-D points, k = {record['k']}, blocks of {BLOCK:.0e}",
        f"  taken under load: {record['uptime_start']}",
        f"  zarr store {record['store_bytes'] / mb:.0f} MB on disk (written in {record['write_s']:.0f} s; read back "
        "through the page cache)",
        f"  in-memory kernel (em_pass, 1 thread)      {record['in_memory_s']:8.2f} s",
        f"  Dask threaded, 2 threads, from the store  {record['threads_s']:8.2f} s   (log-lik rel. diff "
        f"{record['max_rel_diff_vs_in_memory']:.1e})",
    ]
    for workers in (1, 2):
        r = record[f"workers_{workers}"]
        rss = ", ".join(f"{b / mb:.0f}" for b in r["rss_bytes"])
        lines.append(f"  LocalCluster, {workers} worker{'s' if workers > 1 else ' '} x 1 thread       "
                     f"{r['iteration_s']:8.2f} s   RSS per worker {rss} MB (checking pass {r['check_pass_s']:.1f} s)")
    lines += [
        f"  machine's streaming limit                 {record['limit_s']:8.2f} s   (8·N bytes at "
        f"{record['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s: {record['limit_memory_s']:.2f} s; N·k exp + N log: "
        f"{record['limit_compute_s']:.2f} s)",
        f"  sums per block {record['sums_bytes']} bytes pickled; scheduler overhead "
        f"{record['task_overhead_s'] * 1e3:.2f} ms per task",
    ]
    for e in record["extrapolation"]:
        lines += [
            f"  extrapolated: N = {e['n']:.0e} on {e['machines']} such machines (2 workers each), blocks of "
            f"{e['block']:.0e} ({e['blocks']} blocks):",
            f"    compute {e['compute_s']:.2f} s (per block {e['per_block_s'] * 1e3:.0f} ms) + scheduler "
            f"{e['scheduler_s']:.2f} s ({e['blocks'] + e['reduce_tasks']} tasks) + reduction tree "
            f"{e['reduction_s'] * 1e3:.1f} ms (depth {e['tree_depth']}, {e['bytes_reduced'] / mb:.2f} MB in all) "
            f"= {e['iteration_s']:.1f} s per iteration",
        ]
    lines += [
        f"  finished under load: {record['uptime_end']}; store deleted: {record['store_deleted']}",
    ]
    return "\n".join(lines)
