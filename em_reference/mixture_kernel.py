"""The Gaussian-mixture E-step, log-likelihood and M-step moments in one pass over the data.

:mod:`gaussian_mixture` writes EM as on the slide: the E-step builds the N × k matrix of
responsibilities c_ij, the M-step reads it back, and the log-likelihood is a third sweep.
That is the reference. This module computes the same numbers for large N, chunk by chunk,
so each chunk is read once while it sits in cache and no N × k array is built per
iteration::

    for each chunk of CHUNK points:
        ℓ_ij = log w_j + log N(x_i | μ_j, Σ_j) − max_l ℓ_il    z = L_j⁻¹(x_i − μ_j), Σ_j = L_j L_jᵀ
        p_ij = exp(ℓ_ij)                                        NumPy's vectorised exp
        c_ij = p_ij / Σ_l p_il, and per component j
              Σ_i c_ij,  Σ_i c_ij x_i,  Σ_i c_ij (x_i − m_j)(x_i − m_j)ᵀ    m_j: this chunk's weighted mean
        log Σ_j w_j N(x_i | μ_j, Σ_j) = max_l ℓ_il + log Σ_l p_il    NumPy's vectorised log
    merge the chunks' moments into the M-step's weighted mean and scatter

The scatter is accumulated about each chunk's own weighted mean and the chunks are merged
with the pairwise update of Chan, Golub & LeVeque (1979):
S = Σ_chunks [S_c + n_c (m_c − μ)(m_c − μ)ᵀ]. That is the slide's two-pass formula
Σ_i c_ij (x_i − μ_j)(x_i − μ_j)ᵀ rearranged, and as accurate: the one-pass shortcut
Σ c x xᵀ − n μ μᵀ cancels catastrophically exactly when a component collapses onto a point,
which is the case the variance floor exists for.

Why Numba. In NumPy every arithmetic operation is its own sweep over the chunk: a
chunked one-pass E-step with moments (one-pass scatter, so even less work than here) takes
~15 ufunc calls per chunk and measured 15.0 ms per pass at N = 10⁶, k = 3, 1-D, against
10.8 ms for this module and 3.8 ms for NumPy's exp of the N·k terms plus log of the N
sums, the floor under any implementation (2-core AVX-512 machine, best of 15). The small
loops below fuse those sweeps; exp and log stay NumPy's, whose SIMD versions are faster
than anything Numba compiles without Intel's SVML. ``cache=True`` keeps the compiled code
on disk: the first call on a machine compiles (~1.5 s), later processes load it (~0.2 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["CHUNK", "BlockSums", "Moments", "block_sums", "em_pass", "merge", "moments", "responsibilities"]

# Points per chunk. The working set, (k + d + 3) × CHUNK floats (≈ 0.5 MB for k = 3,
# d = 1), stays in a core's L2 cache; much larger chunks spill, much smaller ones pay more
# per-call overhead (2 MB L2, N = 10⁶: 4096 to 32768 within 5% of each other, 2048 and
# 65536 10-25% slower).
CHUNK = 8192


@dataclass(frozen=True)
class Moments:
    """What one pass computes at parameters (w, μ, Σ).

    Attributes
    ----------
    log_likelihood : float
        Σ_i log Σ_j w_j N(x_i | μ_j, Σ_j), total, nats, Normal constants included.
    counts : ndarray, shape (k,)
        Σ_i c_ij: each component's share of the points (points' worth, 0 ≤ · ≤ N).
    mean : ndarray, shape (k, d)
        Σ_i c_ij x_i / Σ_i c_ij, data units (NaN where the count is 0).
    scatter : ndarray, shape (k, d, d)
        Σ_i c_ij (x_i − mean_j)(x_i − mean_j)ᵀ / Σ_i c_ij, squared data units, symmetric.
    """

    log_likelihood: float
    counts: np.ndarray
    mean: np.ndarray
    scatter: np.ndarray


@dataclass(frozen=True)
class BlockSums:
    """The sums one pass takes over a block of points, in the form blocks merge in.

    :func:`merge` combines any number of them (associatively), so a block can be one
    chunk, a Dask block or a whole machine's share; :func:`moments` turns the total into
    the M-step's quantities.

    Attributes
    ----------
    log_likelihood : float
        Σ_i log Σ_j w_j N(x_i | μ_j, Σ_j) over the block, nats.
    counts : ndarray, shape (k,)
        Σ_i c_ij over the block.
    sums : ndarray, shape (k, d)
        Σ_i c_ij x_i over the block, data units.
    scatter : ndarray, shape (k, d, d)
        Σ_i c_ij (x_i − m_j)(x_i − m_j)ᵀ about the block's weighted mean m_j = sums_j / counts_j,
        not divided by the count.
    """

    log_likelihood: float
    counts: np.ndarray
    sums: np.ndarray
    scatter: np.ndarray


# --------------------------------------------------------------------------- compiled loops
# Loops run over the points of one chunk innermost, so the compiler vectorises them; loops
# over components and coordinates (k, d small) stay outside. nogil: they hold no Python
# objects, so threads (Dask's threaded scheduler, mixture_dask) run blocks at once.


@numba.njit(cache=True, nogil=True)
def _chunk_columns(x, start, n, xt):
    """The chunk x[start:start + n] as d contiguous rows, shape (d, ≥ n): 1-D data in place,
    d > 1 copied transposed into xt (d, ≥ n).

    Slicing matters: indexing x[start + i] would stop the compiler vectorising the loops
    (it cannot rule out a negative index).
    """
    d = x.shape[1]
    if d == 1:
        return x.reshape(x.shape[0])[start:start + n].reshape(1, n)
    chunk = x[start:start + n]
    for a in range(d):
        for i in range(n):
            xt[a, i] = chunk[i, a]
    return xt


@numba.njit(cache=True, nogil=True)
def _shifted_log_joint(cols, n, mu, prec, const, z, out, row_max):
    """out[j, i] = log w_j + log N(x_i | μ_j, Σ_j) − row_max[i] for the chunk's points.

    cols (d, ≥ n): the chunk's coordinates, points 0..n−1; mu (k, d); prec (k, d, d) holds L_j⁻¹ (lower
    triangular, Σ_j = L_j L_jᵀ); const (k,) holds log w_j − log det L_j − (d/2) log 2π;
    row_max (≥ n,) gets max_j of the unshifted values; z (≥ n,) is scratch.
    """
    d = cols.shape[0]
    k = mu.shape[0]
    for j in range(k):
        lj = out[j]
        # |z|² with z = L_j⁻¹ (x − μ_j), L_j⁻¹ lower triangular: z_a needs coordinates 0..a.
        for a in range(d):
            if a == 0:
                p00, m0 = prec[j, 0, 0], mu[j, 0]
                for i in range(n):
                    u = p00 * (cols[0, i] - m0)
                    lj[i] = u * u
                continue
            for i in range(n):
                z[i] = prec[j, a, 0] * (cols[0, i] - mu[j, 0])
            for b in range(1, a):
                for i in range(n):
                    z[i] += prec[j, a, b] * (cols[b, i] - mu[j, b])
            paa, ma = prec[j, a, a], mu[j, a]
            for i in range(n):
                u = z[i] + paa * (cols[a, i] - ma)
                lj[i] += u * u
        c = const[j]
        if j == 0:
            for i in range(n):
                lj[i] = c - 0.5 * lj[i]
                row_max[i] = lj[i]
        else:
            for i in range(n):
                lj[i] = c - 0.5 * lj[i]
                row_max[i] = max(row_max[i], lj[i])
    # Subtracting each point's largest term puts it at exp(0) = 1, so a point far from
    # every component (all terms below exp(−745) = 0.0) still has a defined ratio.
    for j in range(k):
        lj = out[j]
        for i in range(n):
            lj[i] -= row_max[i]


# reassoc lets the compiler split each sum into vector lanes (a different summation order,
# not a different formula); nothing else is relaxed.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _chunk_moments(p, cols, n, row_max, row_total, inverse, counts, sums, scatter):
    """Normalise p (k, ≥ n) into responsibilities in place and take this chunk's moments.

    cols (d, ≥ n): the chunk's coordinates, points 0..n−1. row_total[i] gets Σ_j p[j, i] (the normaliser,
    for the log-likelihood); inverse (≥ n,) is scratch. counts (k,), sums (k, d) and
    scatter (k, d, d) get Σ c, Σ c x and Σ c (x − m)(x − m)ᵀ about this chunk's weighted
    mean m = Σ c x / Σ c (m = 0 where Σ c = 0). Returns Σ_i row_max[i].
    """
    d = cols.shape[0]
    k = p.shape[0]
    # Σ_j p_ij, then one division per point and k products: a division costs about as
    # much as an exp. The last component's sweep also takes the reciprocal.
    p0 = p[0]
    for i in range(n):
        row_total[i] = p0[i]
    for j in range(1, k - 1):
        pj = p[j]
        for i in range(n):
            row_total[i] += pj[i]
    last = p[k - 1]
    if k == 1:
        for i in range(n):
            inverse[i] = 1.0 / row_total[i]
    else:
        for i in range(n):
            row_total[i] += last[i]
            inverse[i] = 1.0 / row_total[i]
    for j in range(k):
        c = p[j]
        total = 0.0
        s = 0.0
        for i in range(n):
            c[i] *= inverse[i]
            total += c[i]
            s += c[i] * cols[0, i]
        counts[j] = total
        sums[j, 0] = s
        for a in range(1, d):
            s = 0.0
            for i in range(n):
                s += c[i] * cols[a, i]
            sums[j, a] = s
        for a in range(d):
            ma = sums[j, a] / total if total > 0.0 else 0.0
            for b in range(a + 1):
                mb = sums[j, b] / total if total > 0.0 else 0.0
                s = 0.0
                for i in range(n):
                    s += c[i] * (cols[a, i] - ma) * (cols[b, i] - mb)
                scatter[j, a, b] = s
                scatter[j, b, a] = s
    shift = 0.0
    for i in range(n):
        shift += row_max[i]
    return shift


@numba.njit(cache=True, nogil=True)
def _chunk_responsibilities(p, n, start, out):
    """out[start + i, j] = p[j, i] / Σ_l p[l, i] for i < n: the E-step's rows."""
    k = p.shape[0]
    rows = out[start:start + n]
    for i in range(n):
        total = 0.0
        for j in range(k):
            total += p[j, i]
        for j in range(k):
            rows[i, j] = p[j, i] / total


# --------------------------------------------------------------------------- the passes


def _components(weights: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L_j⁻¹ shape (k, d, d), log w_j − log det L_j − (d/2) log 2π shape (k,)), Σ_j = L_j L_jᵀ."""
    k, d = mu.shape
    chol = np.linalg.cholesky(cov)
    # L_j⁻¹ by forward substitution, row by row: exactly lower triangular (the loops read
    # only entries b <= a). Not scipy's solve_triangular: the threads of its BLAS stayed
    # busy after the call and slowed the pass that followed up to 3× on a 2-core machine.
    prec = np.zeros((k, d, d))
    for a in range(d):
        prec[:, a, a] = 1.0 / chol[:, a, a]
        for b in range(a):
            prec[:, a, b] = -np.einsum("jc,jc->j", chol[:, a, b:a], prec[:, b:a, b]) / chol[:, a, a]
    log_det_chol = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    const = np.log(weights) - log_det_chol - 0.5 * d * np.log(2 * np.pi)
    return prec, const


def _check(x: np.ndarray, weights: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arguments as contiguous float arrays of matching shapes (the loops assume both)."""
    x = np.ascontiguousarray(x, dtype=float)
    k, d = np.shape(mu)
    if x.ndim != 2 or x.shape[1] != d or np.shape(weights) != (k,) or np.shape(cov) != (k, d, d):
        raise ValueError(
            f"expected x (N, d), weights (k,), mu (k, d), cov (k, d, d); got x {x.shape}, weights "
            f"{np.shape(weights)}, mu {np.shape(mu)}, cov {np.shape(cov)}."
        )
    return (x, np.asarray(weights, dtype=float), np.ascontiguousarray(mu, dtype=float),
            np.ascontiguousarray(cov, dtype=float))


def em_pass(x: np.ndarray, weights: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> Moments:
    """One pass: the log-likelihood at (w, μ, Σ) and the moments of the E-step's
    responsibilities there, without storing the responsibilities.

    Parameters
    ----------
    x : ndarray, shape (N, d)
        The points, data units.
    weights : ndarray, shape (k,)
    mu : ndarray, shape (k, d)
        Data units.
    cov : ndarray, shape (k, d, d)
        Positive definite, squared data units.

    Returns
    -------
    Moments
        ``counts``, ``mean`` and ``scatter`` are what the slide's M-step computes from the
        responsibilities, before the variance floor; ``log_likelihood`` is at (w, μ, Σ).
    """
    return moments(block_sums(x, weights, mu, cov))


def block_sums(x: np.ndarray, weights: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> BlockSums:
    """The pass of :func:`em_pass` over the points ``x`` (N, d), chunk by chunk, with the
    chunks merged by :func:`merge` but not yet divided by the counts. Same arguments."""
    x, weights, mu, cov = _check(x, weights, mu, cov)
    (n_points, d), k = x.shape, len(weights)
    prec, const = _components(weights, mu, cov)
    size = min(CHUNK, n_points)
    n_chunks = -(-n_points // size)
    xt, z = np.empty((d, size)), np.empty(size)
    p, row_max, row_total = np.empty((k, size)), np.empty(size), np.empty(size)
    counts, sums = np.empty((n_chunks, k)), np.empty((n_chunks, k, d))
    scatter, log_lik = np.empty((n_chunks, k, d, d)), np.empty(n_chunks)
    for chunk in range(n_chunks):
        start = chunk * size
        n = min(size, n_points - start)
        cols = _chunk_columns(x, start, n, xt)
        _shifted_log_joint(cols, n, mu, prec, const, z, p, row_max)
        np.exp(p[:, :n], out=p[:, :n])
        shift = _chunk_moments(p, cols, n, row_max, row_total, z, counts[chunk], sums[chunk], scatter[chunk])
        # log Σ_j w_j N(x_i | ...) = row max + log Σ_j p_ij, summed over the chunk.
        log_lik[chunk] = shift + np.log(row_total[:n], out=row_total[:n]).sum()
    return _merge_stacked(log_lik, counts, sums, scatter)


def merge(parts: Sequence[BlockSums]) -> BlockSums:
    """The sums over the union of the blocks: what one pass over all their points gives,
    up to rounding. The merge between a pass's chunks; associative, so blocks can be
    merged in a tree (mixture_dask)."""
    if len(parts) == 1:
        return parts[0]
    return _merge_stacked(
        np.array([part.log_likelihood for part in parts]),
        np.stack([part.counts for part in parts]),
        np.stack([part.sums for part in parts]),
        np.stack([part.scatter for part in parts]),
    )


def _merge_stacked(log_lik: np.ndarray, counts: np.ndarray, sums: np.ndarray, scatter: np.ndarray) -> BlockSums:
    """Chan, Golub & LeVeque over blocks stacked on axis 0: the scatter about the overall mean
    is each block's scatter about its own mean plus n_c (m_c − μ)(m_c − μ)ᵀ."""
    n_j = counts.sum(axis=0)
    total_sums = sums.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty component: NaN, the caller says so
        mean = total_sums / n_j[:, None]
        # A block holding none of component j (c_ij all 0.0) adds nothing: offset 0, and
        # never its 0/0 mean (which would make the merged scatter NaN).
        block_mean = sums / np.where(counts > 0, counts, 1.0)[..., None]
        offset = np.where(counts[..., None] > 0, block_mean - mean, 0.0)
        total = scatter.sum(axis=0) + np.einsum("cj,cja,cjb->jab", counts, offset, offset)
    return BlockSums(float(log_lik.sum()), n_j, total_sums, total)


def moments(sums: BlockSums) -> Moments:
    """The M-step's quantities from merged sums: weighted means and scatters per point."""
    n_j = sums.counts
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty component: NaN, the caller says so
        mean = sums.sums / n_j[:, None]
        total = sums.scatter / n_j[:, None, None]
    # The merge term sums (a, b) and (b, a) in different orders; make it exactly symmetric.
    return Moments(sums.log_likelihood, n_j, mean, 0.5 * (total + total.transpose(0, 2, 1)))


def responsibilities(x: np.ndarray, weights: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """The E-step: c_ij = w_j N(x_i | μ_j, Σ_j) / Σ_l w_l N(x_i | μ_l, Σ_l), shape (N, k),
    rows sum to 1. Same arguments as :func:`em_pass`."""
    x, weights, mu, cov = _check(x, weights, mu, cov)
    (n_points, d), k = x.shape, len(weights)
    prec, const = _components(weights, mu, cov)
    size = min(CHUNK, n_points)
    xt, z = np.empty((d, size)), np.empty(size)
    p, row_max = np.empty((k, size)), np.empty(size)
    out = np.empty((n_points, k))
    for start in range(0, n_points, size):
        n = min(size, n_points - start)
        _shifted_log_joint(_chunk_columns(x, start, n, xt), n, mu, prec, const, z, p, row_max)
        np.exp(p[:, :n], out=p[:, :n])
        _chunk_responsibilities(p, n, start, out)
    return out
