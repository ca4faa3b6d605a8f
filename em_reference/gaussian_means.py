"""k Gaussians with one shared, known σ and equal weights 1/k: EM estimates the means only.

The lecture's first continuous mixture. Each point z_i came from one of k Normal
distributions N(μ_j, σ²), picked with probability 1/k; σ is known, so the slide's EM is

    E-step   Pr(z_i | μ_j) ∝ exp(−(z_i − μ_j)² / 2σ²),   c_ij = Pr(z_i | μ_j) / Σ_k Pr(z_i | μ_k)
    M-step   μ_j = Σ_i c_ij z_i / Σ_i c_ij

Parameters are ``{"mu": array([μ_1, ..., μ_k])}`` in the units of the data. Log-likelihoods
are the total observed-data log-likelihood in nats *with* the Normal constant
−½ log(2πσ²) and the pick probability log(1/k), the quantity PyMC reports, so the two
twins' numbers can be compared.

The default data set (:meth:`MixtureData.synthetic`) is k = 2, N = 200 points, true means
(−2, 2), σ = 1, seed 0: two bumps four σ apart, separated well enough that EM's answer is
near the truth, close enough that the bumps' tails overlap and responsibilities are not
all 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from .checks import Real, Whole, check, float_array
from .components import order_components, warn_if_tied
from .driver import EMResult, Params, run_em_multistart

__all__ = [
    "DEFAULT_SIGMA",
    "DEFAULT_TRUE_MEANS",
    "MixtureData",
    "check_start",
    "e_step",
    "fit",
    "log_likelihood",
    "m_step",
]

DEFAULT_TRUE_MEANS = (-2.0, 2.0)
DEFAULT_SIGMA = 1.0
DEFAULT_N = 200


def _check_sigma(sigma: object) -> float:
    return check("sigma", sigma, Real(0.0), "the known component SD")


def _as_points(z: object) -> np.ndarray:
    """``z`` as an array; ragged nested lists get this module's message, not NumPy's."""
    try:
        return np.asarray(z)
    except ValueError:
        raise ValueError(f"z must be a 1-D array of data points; got {z!r}.") from None


@dataclass(frozen=True)
class MixtureData:
    """Points z_i from a mixture of ``k`` Gaussians with known, shared ``sigma``.

    Attributes
    ----------
    z : ndarray of float, shape (N,)
        The data points, in the data's units.
    sigma : float
        The known standard deviation of every component, same units as ``z``; > 0.
    k : int
        Number of components, 1 <= k <= number of distinct points.
    true_means : ndarray of float, shape (k,), or None
        The means that generated ``z`` (synthetic data only), for teaching comparisons.

    Construction validates everything, so bad input fails here with a clear message and
    never inside EM or PyMC.
    """

    z: np.ndarray
    sigma: float
    k: int
    true_means: np.ndarray | None = None

    def __post_init__(self) -> None:
        z = _as_points(self.z)
        if z.ndim != 1:
            raise ValueError(f"z must be a 1-D array of data points; got an array of shape {z.shape}.")
        if z.size == 0:
            raise ValueError("z is empty; give at least one data point.")
        if not np.issubdtype(z.dtype, np.number) or np.issubdtype(z.dtype, np.complexfloating):
            raise ValueError(f"z must hold real numbers; got dtype {z.dtype}.")
        bad = np.flatnonzero(~np.isfinite(z))
        if bad.size:
            raise ValueError(
                f"z must hold finite numbers; got {z[bad[0]]} at index {bad[0]} "
                f"({bad.size} non-finite value{'s' if bad.size > 1 else ''} in all)."
            )
        _check_sigma(self.sigma)
        check("k", self.k, meaning="the number of components")
        if self.k > z.size:
            raise ValueError(
                f"k = {int(self.k)} components need at least {int(self.k)} data points; got N = {z.size}."
            )
        distinct = np.unique(z)
        if self.k > distinct.size:
            # Components on repeated values start, and stay, equal: EM's symmetric fixed point.
            raise ValueError(
                f"k = {int(self.k)} components need at least {int(self.k)} distinct data points; z has "
                f"{distinct.size} distinct value{'s' if distinct.size > 1 else ''} ({', '.join(f'{v:g}' for v in distinct[:5])}"
                f"{', ...' if distinct.size > 5 else ''})."
            )
        object.__setattr__(self, "z", z.astype(float))
        object.__setattr__(self, "sigma", float(self.sigma))
        object.__setattr__(self, "k", int(self.k))
        if self.true_means is not None:
            object.__setattr__(self, "true_means", np.asarray(self.true_means, dtype=float))

    @property
    def n(self) -> int:
        """Number of data points N."""
        return int(self.z.size)

    @classmethod
    def from_array(cls, z: ArrayLike, *, k: int, sigma: float) -> MixtureData:
        """The user's own 1-D data, to be fitted with ``k`` components of known SD ``sigma``."""
        return cls(_as_points(z), sigma, k)

    @classmethod
    def synthetic(
        cls,
        k: int = len(DEFAULT_TRUE_MEANS),
        n: int = DEFAULT_N,
        true_means: Sequence[float] | None = DEFAULT_TRUE_MEANS,
        sigma: float = DEFAULT_SIGMA,
        seed: int = 0,
    ) -> MixtureData:
        """A seeded sample from the model itself: each of ``n`` points picks a component
        with probability 1/k, then is drawn from N(true_means[j], sigma²).

        ``true_means`` defaults to (−2, 2) for k = 2; for another k give them (or pass
        ``None`` for k means spaced 4σ apart, centred on 0).
        """
        k = check("k", k, meaning="the number of components")
        n = check("n", n, Whole(1), "the number of data points")
        _check_sigma(sigma)
        seed = check("seed", seed)
        if true_means is None:
            true_means = 4.0 * sigma * (np.arange(k) - (k - 1) / 2)
        means = float_array(true_means, "true_means", f"k = {int(k)} means")
        if means.shape != (int(k),):
            raise ValueError(f"true_means must hold k = {int(k)} means; got {means.size} ({means.tolist()}).")
        if not np.all(np.isfinite(means)):
            raise ValueError(f"true_means must be finite numbers; got {means.tolist()}.")
        rng = np.random.default_rng(seed)
        labels = rng.integers(int(k), size=int(n))
        z = rng.normal(means[labels], sigma)
        return cls(z, float(sigma), int(k), means)


def check_start(start: ArrayLike, *, k: int, argument: str = "start") -> np.ndarray:
    """Starting means as a float array of shape (k,), finite and pairwise distinct."""
    names = ", ".join(f"mu{j + 1}" for j in range(k))
    mu = float_array(start, argument, f"{k} means ({names})")
    if mu.ndim != 1:
        raise ValueError(f"{argument} must be a 1-D list of {k} means ({names}); got an array of shape {mu.shape}.")
    if mu.size != k:
        raise ValueError(f"{argument} must hold {k} means ({names}); got {mu.size}: {mu.tolist()}.")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{argument} must hold finite numbers; got {mu.tolist()}.")
    values, counts = np.unique(mu, return_counts=True)
    if np.any(counts > 1):
        tied = " and ".join(f"mu{j + 1}" for j in np.flatnonzero(mu == values[np.argmax(counts > 1)]))
        raise ValueError(
            f"{argument} = {mu.tolist()} gives {tied} the same mean; that is EM's symmetric fixed "
            "point (equal means get equal responsibilities and stay equal forever). "
            "Start them at different values."
        )
    return mu


def _log_joint(data: MixtureData, mu: np.ndarray) -> np.ndarray:
    """log[(1/k) N(z_i | μ_j, σ²)], shape (N, k): pick probability times component density."""
    sigma = data.sigma
    return (
        -np.log(data.k)
        - 0.5 * np.log(2 * np.pi * sigma**2)
        - (data.z[:, None] - mu[None, :]) ** 2 / (2 * sigma**2)
    )


def e_step(data: MixtureData, params: Params) -> np.ndarray:
    """c_ij = Pr(z_i | μ_j) / Σ_k Pr(z_i | μ_k); shape (N, k), rows sum to 1.

    The 1/k and the Normal constant are the same for every j, so they cancel in c_ij.
    """
    log_joint = _log_joint(data, params["mu"])
    # exp(−(z_i − μ_j)²/2σ²) underflows to 0.0 for every j once z_i is ~39σ from all
    # the means (exp(−745) == 0.0), and 0/0 is NaN. Normalising in log space subtracts the
    # largest term first, so the nearest component always gets a finite share.
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def m_step(data: MixtureData, resp: np.ndarray) -> Params:
    """μ_j = Σ_i c_ij z_i / Σ_i c_ij: each mean is the responsibility-weighted average of the points."""
    credit = resp.sum(axis=0)  # Σ_i c_ij: how many points component j claims, shape (k,)
    # Guard: in exact arithmetic Σ_i c_ij > 0, because every Gaussian gives every point
    # some weight. In floating point a mean that is, for every point, ~39σ farther away
    # than some other mean gets c_ij == 0.0 for all i, and its update is 0/0. Say so
    # instead of returning NaN.
    empty = np.flatnonzero(credit == 0.0)
    if empty.size:
        j = int(empty[0])
        raise FloatingPointError(
            f"mu{j + 1} claims no data point: every responsibility c_i{j + 1} underflowed to 0, "
            f"so its M-step Σ_i c_ij z_i / Σ_i c_ij is 0/0. Start mu{j + 1} nearer the data "
            f"(the points span [{data.z.min():.6g}, {data.z.max():.6g}], sigma = {data.sigma:g})."
        )
    return {"mu": (resp.T @ data.z) / credit}


def log_likelihood(data: MixtureData, params: Params) -> float:
    """Σ_i log Σ_j (1/k) N(z_i | μ_j, σ²), in nats, Normal constant included."""
    return float(logsumexp(_log_joint(data, params["mu"]), axis=1).sum())


def _as_data(data: MixtureData | ArrayLike, k: int | None, sigma: float | None) -> MixtureData:
    if isinstance(data, MixtureData):
        if sigma is not None and sigma != data.sigma:
            raise ValueError(
                f"sigma = {sigma!r} conflicts with data.sigma = {data.sigma!r}; "
                "give sigma only when data is a plain array."
            )
        return data
    if sigma is None:
        raise ValueError(
            "sigma is required when data is a plain array: this EM estimates the means only, "
            "so the components' SD must be known. Pass sigma=..., or a MixtureData."
        )
    z = _as_points(data)
    if z.ndim != 1:
        raise ValueError(f"z must be a 1-D array of data points; got an array of shape {z.shape}.")
    if k is None:
        raise ValueError("start is required when data is a plain array: its length sets k, the number of components.")
    if k == 0:
        raise ValueError("start is empty; give k >= 1 starting means, one per component.")
    return MixtureData(z, sigma, k)


def fit(
    data: MixtureData | ArrayLike,
    start: ArrayLike | None = None,
    *,
    sigma: float | None = None,
    n_starts: int = 1,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> EMResult:
    """EM for the means μ_1..μ_k of a mixture of k Gaussians with known σ, equal weights.

    Parameters
    ----------
    data : MixtureData or array_like, shape (N,)
        The points z_i. A plain array needs ``sigma`` and ``start`` (whose length is k).
    start : array_like, shape (k,), optional
        Starting means, distinct. Default (MixtureData only): the (j − ½)/k quantiles of z.
    sigma : float, optional
        The known component SD, in the data's units; only for a plain-array ``data``.
    n_starts : int
        Total number of EM runs. The extra ``n_starts − 1`` starts are k distinct data
        points drawn without replacement by ``np.random.default_rng(seed)``; ``start`` is
        always the first.
    seed : int
        Seeds the extra starts.
    tol : float
        Stop when no mean moves by more than ``tol`` (data units) in one iteration.
    max_iter : int
        Iteration cap per run; reaching it emits ``EMConvergenceWarning``.

    Returns
    -------
    EMResult
        The best run; ``local_maxima`` lists every distinct end point (means sorted
        ascending), highest log-likelihood first.
    """
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    k = None if start is None else int(float_array(start, "start", "one starting mean per component").size)
    data = _as_data(data, k, sigma)
    if start is None:
        start = np.quantile(data.z, (np.arange(data.k) + 0.5) / data.k)
    mu0 = check_start(start, k=data.k)
    starts = [{"mu": mu0}]
    if n_starts > 1:
        # Data points as starts: every start mean then sits on a point, so it claims that
        # point and never starts empty (see the guard in m_step).
        # MixtureData guarantees k <= the number of distinct points, so a draw always exists.
        distinct = np.unique(data.z)
        rng = np.random.default_rng(seed)
        starts += [{"mu": rng.choice(distinct, size=data.k, replace=False)} for _ in range(n_starts - 1)]
    result = run_em_multistart(
        data, starts, e_step, m_step, log_likelihood,
        canonical=lambda p: order_components(p, ["mu"], "mu"),
        tol=tol, max_iter=max_iter,
    )
    # With σ² above the data's variance the likelihood's maximum has every mean at z̄.
    warn_if_tied(result.params, ["mu"], labels=[f"mu{j + 1}" for j in range(data.k)])
    return result
