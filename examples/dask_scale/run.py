"""Past one machine: Gaussian-mixture EM on a zarr store with a Dask LocalCluster, compared
with the Bayesian twin by minibatch ADVI.

    pip install -e ".[scale]"                      # dask[distributed], zarr
    python examples/dask_scale/run.py              # N = 10⁶ points, about a minute
    python examples/dask_scale/run.py --n 1e8      # 800 MB on disk; EM ~1 min per 20 iterations here

What it does:
1. draws N points from three Gaussians block by block and writes them to a zarr store
   (never all in memory at once);
2. starts a LocalCluster (2 worker processes) and runs EM on ``da.from_zarr(store)``:
   each iteration maps the one-pass kernel over the blocks where they are read, and only
   the per-block sums travel (emtwin.em_reference.mixture_dask);
3. compares EM's MLE with minibatch ADVI on the same store, and MAP with EM on a random
   subsample (emtwin.comparisons.at_scale), and prints the table;
4. deletes the store (``--keep`` keeps it).

For a real cluster replace the LocalCluster with ``Client("tcp://scheduler:8786")`` and
the local path with one every worker can read (e.g. ``s3://bucket/points.zarr``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from distributed import Client, LocalCluster

from emtwin.comparisons.at_scale import compare_at_scale

WEIGHTS, MEANS, SDS = np.array([0.3, 0.5, 0.2]), np.array([-4.0, 0.0, 5.0]), np.array([1.0, 0.7, 1.5])


def write_store(path: Path, n: int, block: int, seed: int) -> None:
    """N points in blocks of ``block``, block i drawn from default_rng([seed, i])."""
    store = zarr.create_array(str(path), shape=(n,), chunks=(block,), dtype="f8", overwrite=True)
    for i, start in enumerate(range(0, n, block)):
        rng = np.random.default_rng([seed, i])
        size = min(block, n - start)
        labels = rng.choice(3, size=size, p=WEIGHTS)
        store[start:start + size] = rng.normal(MEANS[labels], SDS[labels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e6, help="points (default 1e6; 1e8 for the big run)")
    parser.add_argument("--block", type=float, default=1e5, help="points per zarr chunk / Dask block")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the zarr store")
    args = parser.parse_args()
    n, block = int(args.n), int(min(args.block, args.n))
    directory = Path(tempfile.mkdtemp(prefix="emtwin-dask-example-"))
    path = directory / "points.zarr"
    try:
        began = time.perf_counter()
        write_store(path, n, block, args.seed)
        print(f"wrote {n:,} points to {path} in {time.perf_counter() - began:.1f} s")
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster):
            began = time.perf_counter()
            comparison = compare_at_scale(da.from_zarr(str(path)), k=3, seed=args.seed)
            print(f"EM: {comparison.em.n_iter} iterations, converged {comparison.em.converged}; "
                  f"everything in {time.perf_counter() - began:.1f} s\n")
            print(comparison.table())
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
