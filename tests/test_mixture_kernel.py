"""The fast Gaussian-mixture EM (mixture_kernel, fused_step) against the slide's steps.

``gm.e_step``, ``gm.m_step`` and ``gm.log_likelihood`` are the reference; ``gm.fit`` runs the
chunked one-pass kernel. The checks run both from the same start and hold them to rounding:
parameters and log-likelihood at every iteration to 1e-12 relative (1e-11 through one
ill-conditioned stretch, see ILL_CONDITIONED), on 1-D, 2-D and 3-D data with k = 1..4,
points so far out that every density underflows to 0, and components that collapse onto
the variance floor. Small chunks (``CHUNK`` = 1, 7) make the small data sets span many
chunks, so the merge of per-chunk moments is exercised too.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from emtwin.em_reference import EMConvergenceWarning, run_em
from emtwin.em_reference import gaussian_mixture as gm
from emtwin.em_reference import mixture_kernel
from emtwin.em_reference.gaussian_mixture import MixtureData, VarianceCollapseWarning

RTOL = 1e-12
FAITHFUL = gm.old_faithful()


def _three_bumps(seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 80), rng.normal(5, 0.7, 50), rng.normal(12, 2, 70)])


def _blobs(d: int, seed: int) -> np.ndarray:
    """Three correlated Gaussian blobs in d dimensions, 250 points."""
    rng = np.random.default_rng(seed)
    parts = []
    for shift, n in ((0.0, 100), (4.0, 80), (-3.0, 70)):
        a = rng.normal(size=(d, d))
        parts.append(rng.normal(size=(n, d)) @ (0.5 * np.eye(d) + 0.3 * a) + shift * np.linspace(1, -1, d))
    return np.vstack(parts)


# Far-out points: N(x | μ_j, σ_j) underflows to 0.0 for every j (~39 SDs and beyond).
FAR = np.r_[np.random.default_rng(3).normal(0, 1, 150), np.random.default_rng(4).normal(6, 0.5, 50), 1e3, -5e3, 1e5]
# One point far from the rest: a component started on it collapses onto the variance floor.
COLLAPSE = np.r_[np.random.default_rng(0).normal(0.0, 1.0, 40), 8.0]
COLLAPSE_START = {"weights": np.array([0.9, 0.1]), "mu": np.array([0.0, 7.5]), "sigma": np.array([1.0, 0.5])}
# Started near the outlier but wide, it shrinks onto it over a few iterations.
COLLAPSING_START = {"weights": np.array([0.8, 0.2]), "mu": np.array([0.0, 4.0]), "sigma": np.array([1.0, 1.5])}
COLLAPSE_2D = np.vstack([FAITHFUL, [6.0, 150.0]])
COLLAPSE_2D_START = {
    "weights": np.array([1 - 1 / 273, 1 / 273]),
    "mu": np.array([[3.5, 70.0], [6.0, 150.0]]),
    "cov": np.array([np.cov(FAITHFUL, rowvar=False), np.diag([0.1, 1.0])]),
}
COLLAPSING_2D_START = {
    "weights": np.array([0.95, 0.05]),
    "mu": np.array([[3.5, 70.0], [4.5, 100.0]]),
    "cov": np.array([np.cov(FAITHFUL, rowvar=False), np.diag([1.0, 300.0])]),
}

# Before it collapses the 2-D component passes through covariances with correlation 0.9999
# (condition number ~1e7): a point's log-density is then only defined to ~eps × 1e7 of its
# Mahalanobis distance, and the two programs round it differently (the slide solves with
# the Cholesky factor, the kernel multiplies by its inverse). Measured: 1.5e-12.
ILL_CONDITIONED = {"2-D collapsing": 1e-11}

CASES = {
    "1-D k=1": (_three_bumps(), 1, None),
    "1-D k=2 faithful": (FAITHFUL[:, 1], 2, None),
    "1-D k=3": (_three_bumps(), 3, None),
    "1-D k=4": (_three_bumps(5), 4, None),
    "1-D far-out points k=2": (FAR, 2, None),
    "1-D far-out points k=3": (FAR, 3, None),
    "1-D collapsed": (COLLAPSE, 2, COLLAPSE_START),
    "1-D collapsing": (COLLAPSE, 2, COLLAPSING_START),
    "2-D k=2 faithful": (FAITHFUL, 2, None),
    "2-D k=3": (_blobs(2, 1), 3, None),
    "2-D k=4": (_blobs(2, 2), 4, None),
    "2-D collapsed": (COLLAPSE_2D, 2, COLLAPSE_2D_START),
    "2-D collapsing": (COLLAPSE_2D, 2, COLLAPSING_2D_START),
    "3-D k=2": (_blobs(3, 3), 2, None),
    "3-D k=3": (_blobs(3, 4), 3, None),
}


@pytest.fixture(params=[None, 7, 1], ids=["chunk=default", "chunk=7", "chunk=1"])
def chunk(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(mixture_kernel, "CHUNK", request.param)
    return request.param


def _runs(data: MixtureData, start: dict, max_iter: int):
    """The slide's EM and the fused one, same start, same number of iterations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EMConvergenceWarning)
        slide = run_em(data, start, gm.e_step, gm.m_step, gm.log_likelihood, tol=1e-300, max_iter=max_iter)
        fast = run_em(data, start, gm.fast_e_step, gm.m_step, gm.fast_log_likelihood, tol=1e-300,
                      max_iter=max_iter, step=gm.fused_step)
    return slide, fast


def assert_same_run(fast, slide, rtol: float = RTOL, same_stop: bool = True) -> None:
    """Every trace row equal to ``rtol`` of its own size (an array's entries are compared
    against its largest, so a covariance's near-zero off-diagonal entries are held to the
    scale of the matrix), and, with ``same_stop``, the same iteration count.

    Without ``same_stop`` only the rows both runs have are compared: with tol = 1e-300 a run
    stops only when an iteration changes nothing at all, and whether that happens one step
    earlier or later is rounding (k = 1 reaches its fixed point in one step).
    """
    if same_stop:
        assert fast.n_iter == slide.n_iter and fast.converged == slide.converged
        np.testing.assert_allclose(fast.responsibilities, slide.responsibilities, rtol=0, atol=1e-12)
    rows = min(fast.n_iter, slide.n_iter) + 1
    np.testing.assert_allclose(fast.loglik_trace[:rows], slide.loglik_trace[:rows], rtol=rtol, atol=0)
    for name, trace in slide.param_trace.items():
        for t, (a, b) in enumerate(zip(fast.param_trace[name][:rows], trace[:rows], strict=True)):
            assert a.shape == b.shape, name
            assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(b)), (name, t, a, b)


@pytest.mark.parametrize("case", list(CASES))
def test_fused_em_follows_the_slide_steps_iteration_by_iteration(case, chunk):
    x, k, start = CASES[case]
    data = MixtureData(x, k)
    start = gm.default_start(data) if start is None else start
    slide, fast = _runs(data, start, max_iter=40)
    assert_same_run(fast, slide, rtol=ILL_CONDITIONED.get(case, RTOL), same_stop=False)


@pytest.mark.parametrize("case", list(CASES))
def test_one_pass_gives_the_slide_moments_and_log_likelihood(case, chunk):
    x, k, start = CASES[case]
    data = MixtureData(x, k)
    params = gm.default_start(data) if start is None else gm.check_start(data, start)
    resp = gm.e_step(data, params)
    n_j, mu, scatter = gm._weighted_moments(data, resp)
    moments = mixture_kernel.em_pass(*gm._kernel_arguments(data, params))
    np.testing.assert_allclose(moments.counts, n_j, rtol=RTOL)
    np.testing.assert_allclose(moments.mean, mu, rtol=0, atol=RTOL * np.max(np.abs(mu)))
    for got, want in zip(moments.scatter, scatter, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * np.max(np.abs(want)))
        assert np.array_equal(got, got.T)
    assert moments.log_likelihood == pytest.approx(gm.log_likelihood(data, params), rel=RTOL)
    np.testing.assert_allclose(gm.fast_e_step(data, params), resp, rtol=0, atol=1e-13)


def test_points_where_every_density_underflows_still_get_responsibilities(chunk):
    # x = 1e5 is ~1e5 SDs from every component: each w_j N(x | μ_j, σ_j) is exp(−5e9) = 0.0,
    # so the slide's ratio is 0/0 without the log-space shift. The component fewer SDs away
    # takes the point: N(0, 1) for both 1e5 (1e5 SDs, against 2e5 from N(6, 0.5²)) and −5e3.
    data = MixtureData(FAR, 2)
    params = {"weights": np.array([0.7, 0.3]), "mu": np.array([0.0, 6.0]), "sigma": np.array([1.0, 0.5])}
    resp = gm.fast_e_step(data, params)
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-15)
    assert resp[-1].tolist() == [1.0, 0.0]
    assert resp[-2].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(resp, gm.e_step(data, params), rtol=0, atol=1e-13)
    assert np.isfinite(gm.fast_log_likelihood(data, params))
    assert gm.fast_log_likelihood(data, params) == pytest.approx(gm.log_likelihood(data, params), rel=RTOL)


def test_an_empty_component_raises_the_m_steps_error(chunk):
    # N(x | 10000, 1) = 0.0 for every waiting time: the slide's M-step would divide 0/0.
    data = MixtureData.old_faithful("waiting")
    start = {"weights": np.array([0.5, 0.5]), "mu": np.array([70.0, 1e4]), "sigma": np.array([10.0, 1.0])}
    with pytest.raises(FloatingPointError) as slide:
        gm.m_step(data, gm.e_step(data, start))
    with pytest.raises(FloatingPointError) as fast:
        gm.fused_step(data, start)
    assert str(fast.value) == str(slide.value)


@pytest.mark.parametrize(
    ("x", "start"), [(COLLAPSE, COLLAPSE_START), (COLLAPSE_2D, COLLAPSE_2D_START)], ids=["1-D", "2-D"]
)
def test_fit_reports_the_collapse_with_the_slides_numbers(x, start):
    # fit runs the kernel; the warning's numbers are the slide M-step's at the answer.
    data = MixtureData(x, 2)
    with pytest.warns(VarianceCollapseWarning) as record:
        result = gm.fit(data, start)
    warned = [(w.component, w.coordinate, w.variance, w.n_points)
              for w in (r.message for r in record) if isinstance(w, VarianceCollapseWarning)]
    n_j, _, scatter = gm._weighted_moments(data, gm.e_step(data, result.params))
    expected = []
    for j, scatter_j in enumerate(scatter):
        v = gm._regression_form(scatter_j, data.var_floor)[1]
        expected += [(j, int(c), v[c], n_j[j]) for c in np.flatnonzero(v < data.var_floor)]
    assert [(j, c) for j, c, _, _ in warned] == [(j, c) for j, c, _, _ in expected]
    for (_, _, v, n), (_, _, v_ref, n_ref) in zip(warned, expected, strict=True):
        assert abs(v - v_ref) <= 1e-20 and n == pytest.approx(n_ref, rel=RTOL)


def test_fit_reproduces_the_published_old_faithful_fit():
    # mixtools' normalmixEM fit of the waiting times (k = 2), as tests/test_gaussian_mixture.py
    # pins it, here to the digits the unequal-variance MLE has; the log-likelihood is the
    # slide EM's own at its answer, −1034.0017498 nats.
    result = gm.fit(MixtureData.old_faithful("waiting"))
    assert result.converged
    assert np.round(result.params["weights"], 4).tolist() == [0.3609, 0.6391]
    assert np.round(result.params["mu"], 3).tolist() == [54.615, 80.091]
    assert np.round(result.params["sigma"], 3).tolist() == [5.871, 5.868]
    assert round(result.log_likelihood, 7) == -1034.0017498


@pytest.mark.parametrize("column", ["waiting", None], ids=["1-D", "2-D"])
def test_fit_equals_the_slide_em_run_through_the_driver(column):
    data = MixtureData.old_faithful(column)
    fast = gm.fit(data)
    slide = run_em(data, gm.default_start(data), gm.e_step, gm.m_step, gm.log_likelihood)
    assert_same_run(fast, slide, rtol=1e-11)


def test_fit_needs_no_more_memory_than_the_data_and_two_responsibility_arrays():
    # The budget: the data plus two N × k float64 arrays. The slide's E-step alone
    # builds (N, k, d) temporaries several times that size.
    n, k = 200_000, 3
    x = np.concatenate([np.random.default_rng(1).normal(m, 1.0, n // 4) for m in (0.0, 4.0, 9.0, 9.5)])
    start = {"weights": np.full(k, 1 / k), "mu": np.array([-1.0, 3.0, 10.0]), "sigma": np.ones(k)}
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EMConvergenceWarning)
            gm.fit(x, start, max_iter=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= x.nbytes + 2 * n * k * 8, peak


def test_k_is_checked_against_distinct_points_without_sorting_them():
    # Many repeats of three values: k = 3 fits, k = 4 does not, and the count is exact.
    x = np.repeat([2.0, -1.0, 7.5], [5000, 3, 1])
    assert MixtureData(x, 3).k == 3
    with pytest.raises(ValueError) as err:
        MixtureData(x, 4)
    assert str(err.value) == "k = 4 components need at least 4 distinct data points; data has 3."
    rows = np.repeat([[1.0, 2.0], [1.0, 3.0], [0.0, 2.0]], [7, 1, 2], axis=0)
    with pytest.raises(ValueError) as err:
        MixtureData(rows, 4)
    assert str(err.value) == "k = 4 components need at least 4 distinct data points; data has 3."


def test_canonical_relabelling_permutes_the_responsibilities_in_place():
    data = MixtureData.old_faithful("waiting")
    swapped = {"weights": np.array([0.7, 0.3]), "mu": np.array([85.0, 50.0]), "sigma": np.array([6.0, 8.0])}
    result = gm.fit(data, swapped)
    assert result.params["mu"][0] < result.params["mu"][1]
    np.testing.assert_allclose(result.responsibilities, gm.e_step(data, result.params), rtol=0, atol=1e-13)
