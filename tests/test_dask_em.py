"""Gaussian-mixture EM on Dask arrays (issue 18): the same trajectory as in memory whatever
the chunking, on the threaded scheduler and on a LocalCluster; bad input and a lost cluster
give clear errors."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")  # the `scale` extra; installed by `.[test]`, so CI runs these
distributed = pytest.importorskip("distributed")

from emtwin.em_reference import gaussian_mixture as gm  # noqa: E402
from emtwin.em_reference import mixture_dask  # noqa: E402
from emtwin.em_reference.gaussian_mixture import MixtureData, VarianceCollapseWarning  # noqa: E402

# Measured: at most 1.8e-13 relative (7 and uneven blocks regroup the kernel's sums).
RTOL = 1e-12


def _three_groups(n: int, rng: np.random.Generator) -> np.ndarray:
    labels = rng.choice(3, size=n, p=[0.3, 0.5, 0.2])
    return rng.normal(np.array([-4.0, 0.0, 5.0])[labels], np.array([1.0, 0.7, 1.5])[labels])


X1 = _three_groups(5000, np.random.default_rng(0))
X2 = np.column_stack([X1, 0.5 * X1 + np.random.default_rng(1).normal(size=len(X1))])
CHUNKINGS = {"1 block": 5000, "7 blocks": 715, "uneven": (1000, 17, 2983, 1000)}


def _assert_same_run(result, reference):
    assert result.n_iter == reference.n_iter
    assert result.converged == reference.converged
    assert set(result.param_trace) == set(reference.param_trace)
    for name, trace in reference.param_trace.items():
        np.testing.assert_allclose(result.param_trace[name], trace, rtol=RTOL, atol=0, err_msg=name)
    np.testing.assert_allclose(result.loglik_trace, reference.loglik_trace, rtol=RTOL, atol=0)
    for name, value in reference.params.items():
        np.testing.assert_allclose(result.params[name], value, rtol=RTOL, atol=0, err_msg=name)


@pytest.mark.parametrize("chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_1d_trajectory_equals_the_in_memory_one(chunks):
    reference = gm.fit(X1, k=3)
    result = gm.fit(da.from_array(X1, chunks=chunks), k=3)
    _assert_same_run(result, reference)
    assert isinstance(result.responsibilities, da.Array)  # the final E-step stays lazy
    assert result.responsibilities.chunks[0] == da.from_array(X1, chunks=chunks).chunks[0]
    np.testing.assert_allclose(result.responsibilities.compute(), reference.responsibilities, rtol=0, atol=1e-13)


@pytest.mark.parametrize("chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_2d_trajectory_with_several_starts_equals_the_in_memory_one(chunks):
    reference = gm.fit(X2, k=3, n_starts=3, seed=4)
    result = gm.fit(da.from_array(X2, chunks=(chunks, 2)), k=3, n_starts=3, seed=4)
    _assert_same_run(result, reference)
    assert len(result.local_maxima) == len(reference.local_maxima)
    for got, want in zip(result.local_maxima, reference.local_maxima):
        assert got.n_starts == want.n_starts
        assert got.log_likelihood == pytest.approx(want.log_likelihood, rel=RTOL)


def test_an_explicit_start_gives_the_in_memory_trajectory():
    start = {"weights": np.array([0.2, 0.3, 0.5]), "mu": np.array([-1.0, 0.5, 2.0]), "sigma": np.ones(3)}
    _assert_same_run(gm.fit(da.from_array(X1, chunks=715), start), gm.fit(X1, start))


def test_the_default_start_means_come_from_an_evenly_spaced_sample_when_n_is_large(monkeypatch):
    monkeypatch.setattr(mixture_dask, "START_SAMPLE", 1000)
    data = mixture_dask.check_data(da.from_array(X1, chunks=715), 3)
    np.testing.assert_array_equal(data.sample, X1[::5])  # ⌈5000 / 1000⌉ = every 5th point
    np.testing.assert_allclose(data.covariance, [[np.var(X1)]], rtol=1e-14)
    np.testing.assert_allclose(data.var_floor, [1e-6 * np.var(X1)], rtol=1e-14)


def test_a_collapse_warns_as_in_memory():
    # As test_gaussian_mixture: one far point owned by a narrow component (floor reached).
    x = np.append(MixtureData.old_faithful("waiting").x, 150.0)
    start = {"weights": np.array([1 - 1 / 273, 1 / 273]), "mu": np.array([70.0, 150.0]), "sigma": np.array([14.0, 1.0])}
    with pytest.warns(VarianceCollapseWarning) as expected:
        reference = gm.fit(x, start)
    with pytest.warns(VarianceCollapseWarning) as record:
        result = gm.fit(da.from_array(x, chunks=50), start)
    [want] = [r.message for r in expected if isinstance(r.message, VarianceCollapseWarning)]
    [got] = [r.message for r in record if isinstance(r.message, VarianceCollapseWarning)]
    assert (got.component, got.coordinate) == (want.component, want.coordinate) == (1, 0)
    assert got.floor == pytest.approx(1e-6 * np.var(x), rel=1e-12)
    assert got.n_points == pytest.approx(want.n_points, rel=1e-9)
    assert result.params["sigma"][1] == pytest.approx(np.sqrt(got.floor), rel=1e-12)
    _assert_same_run(result, reference)


def test_em_reference_imports_without_dask():
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
        "from emtwin.em_reference import gaussian_mixture as gm\n"
        "print(round(gm.fit([0.0, 1.0, 5.0, 6.0], k=2).params['mu'][1], 6))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "5.5"


# --------------------------------------------------------------------------- bad input


class _CountingReads:
    """An array Dask reads through ``__getitem__``; records the first row of every read."""

    def __init__(self, values: np.ndarray, on_read=None):
        self.values, self.on_read = values, on_read
        self.shape, self.dtype, self.ndim = values.shape, values.dtype, values.ndim
        self.reads: list[int] = []
        self.lock = threading.Lock()

    def __getitem__(self, key):
        block = self.values[key]
        if block.size:
            with self.lock:
                self.reads.append(key[0].start or 0)
            if self.on_read is not None:
                self.on_read(len(self.reads))
        return block


def test_nan_in_a_late_block_is_found_with_its_block_reading_each_block_once():
    x = X1.copy()
    x[4321] = np.nan
    x[4400] = np.inf
    source = _CountingReads(x)
    data = da.from_array(source, chunks=500, meta=np.empty(0))  # 10 blocks; the NaN is in block 8
    with pytest.raises(ValueError) as err:
        gm.fit(data, k=3)
    assert str(err.value) == (
        "data must hold finite numbers; got nan at index 4321 (block 8 of 10, rows 4000..4499; "
        "2 non-finite values in all)."
    )
    assert sorted(source.reads) == list(range(0, 5000, 500))  # one read per block, no second pass


def test_nan_in_2d_data_names_row_and_column():
    x = X2.copy()
    x[3999, 1] = np.nan
    with pytest.raises(ValueError) as err:
        gm.fit(da.from_array(x, chunks=(1000, 2)), k=3)
    assert str(err.value) == (
        "data must hold finite numbers; got nan at index (3999, 1) (block 3 of 5, rows 3000..3999; "
        "1 non-finite value in all)."
    )


def test_chunks_along_the_feature_axis_are_refused():
    with pytest.raises(ValueError) as err:
        gm.fit(da.from_array(X2, chunks=(1000, 1)), k=3)
    assert str(err.value) == (
        "data is chunked along its feature axis (chunks[1] = (1, 1)): each block must hold whole points, all 2 "
        "coordinates. Rechunk with x.rechunk({1: -1})."
    )


def test_too_few_distinct_points_across_blocks_are_counted_exactly():
    # Each block holds one repeated value: no block alone has 3 distinct points, the data have.
    x = np.repeat([1.0, 2.0, 3.0], 100)
    data = mixture_dask.check_data(da.from_array(x, chunks=100), 3)
    assert data.k == 3
    with pytest.raises(ValueError) as err:
        mixture_dask.check_data(da.from_array(x, chunks=100), 4)
    assert str(err.value) == "k = 4 components need at least 4 distinct data points; data has 3."


# --------------------------------------------------------------------------- a distributed cluster


@pytest.fixture
def cluster():
    """One in-process worker, two threads: small, and gone when the test ends."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as local:
        yield local


def test_a_local_cluster_gives_the_in_memory_trajectory(cluster):
    reference = gm.fit(X1, k=3)
    with distributed.Client(cluster, timeout=10):
        result = gm.fit(da.from_array(X1, chunks=715), k=3)
    _assert_same_run(result, reference)


def _slowly(block: np.ndarray) -> np.ndarray:
    """A block read from slow storage (module level: the cluster pickles it)."""
    time.sleep(0.02)
    return block


def test_a_cluster_that_goes_away_mid_fit_is_a_clear_error(cluster, monkeypatch):
    passes = mixture_dask.pass_sums
    closer = threading.Thread(target=cluster.close)
    iterations: list[str] = []

    def close_during_iteration_3(data, params, what="a pass"):
        if what.startswith("an EM iteration"):
            iterations.append(what)
            if len(iterations) == 3:
                closer.start()  # while the pass is submitted and its blocks run
        return passes(data, params, what)

    monkeypatch.setattr(mixture_dask, "pass_sums", close_during_iteration_3)
    x = da.from_array(X1, chunks=715).map_blocks(_slowly, dtype=float)
    began = time.monotonic()
    with distributed.Client(cluster, timeout=10), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own shutdown chatter
        with pytest.raises(mixture_dask.ClusterLostError) as err:
            gm.fit(x, k=3)
    closer.join(timeout=30)
    assert time.monotonic() - began < 30  # an error, not a hang
    error = err.value
    assert error.what == iterations[2]
    # The parameters it carries are those after two completed iterations (the default
    # start's components stay in order here, so no relabelling).
    reference = gm.fit(X1, k=3)
    for name, trace in reference.param_trace.items():
        np.testing.assert_allclose(error.params[name], trace[2], rtol=RTOL, atol=0, err_msg=name)
    assert str(error).startswith(f"the Dask cluster was lost during {error.what} after ")
    assert str(error).endswith(
        f": {error.reason}. Restart from the last completed iteration with start=error.params."
    )


def test_a_cluster_left_without_workers_is_an_error_after_the_grace_period(cluster, monkeypatch):
    monkeypatch.setattr(mixture_dask, "WORKER_GRACE", 1.0)
    passes = mixture_dask.pass_sums
    retire = threading.Thread(target=lambda: cluster.scale(0))

    def lose_the_worker_in_the_first_iteration(data, params, what="a pass"):
        if what.startswith("an EM iteration") and retire.ident is None:
            retire.start()
        return passes(data, params, what)

    monkeypatch.setattr(mixture_dask, "pass_sums", lose_the_worker_in_the_first_iteration)
    x = da.from_array(X1, chunks=715).map_blocks(_slowly, dtype=float)
    began = time.monotonic()
    with distributed.Client(cluster, timeout=10):
        with pytest.raises(mixture_dask.ClusterLostError) as err:
            gm.fit(x, k=3)
    retire.join(timeout=30)
    assert time.monotonic() - began < 20
    assert err.value.reason == "the cluster has had no worker for 1 s"
    assert err.value.params is not None


def _very_slowly(block: np.ndarray) -> np.ndarray:
    time.sleep(0.3)
    return block


def test_a_pass_longer_than_the_timeout_is_an_error(cluster):
    x = da.from_array(X1, chunks=715).map_blocks(_very_slowly, dtype=float)
    with distributed.Client(cluster, timeout=10):
        with pytest.raises(mixture_dask.ClusterLostError) as err:
            mixture_dask.fit(x, k=3, timeout=0.5)
    assert err.value.what == "the checking pass"
    assert err.value.reason == "the pass took longer than timeout = 0.5 s"
    assert err.value.params is None
