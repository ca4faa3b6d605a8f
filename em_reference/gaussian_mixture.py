"""k Gaussian components with unknown weights, means and variances: the lecture's last slides.

Each point x_i came from component j with probability w_j, then from N(μ_j, Σ_j). EM
alternates, as on the slide,

    E-step   c_ij = w_j N(x_i | μ_j, Σ_j) / Σ_l w_l N(x_i | μ_l, Σ_l)
    M-step   w_j = (1/N) Σ_i c_ij
             μ_j = Σ_i c_ij x_i / Σ_i c_ij
             Σ_j = Σ_i c_ij (x_i − μ_j)(x_i − μ_j)ᵀ / Σ_i c_ij

Parameters, one scheme per shape of the data:

===========  ================================  =====================================
data         1-D, shape (N,)                   d-D, shape (N, d) (also for d = 1)
===========  ================================  =====================================
``weights``  (k,), > 0, sum 1                  (k,), > 0, sum 1
``mu``       (k,), data units                  (k, d), data units
spread       ``sigma`` (k,): standard          ``cov`` (k, d, d): full covariance
             deviations, data units            matrices, squared data units
===========  ================================  =====================================

Log-likelihoods are the total observed-data log-likelihood Σ_i log Σ_j w_j N(x_i | μ_j, Σ_j)
in nats, Normal constants included: the number PyMC reports.

The known failure, and the guard
--------------------------------
The likelihood is unbounded: put μ_j on one data point and let σ_j → 0, and
N(x_i | μ_j, σ_j) → ∞. EM walks into this whenever a component ends up owning a single
point (or, in d-D, points on a line): its weighted scatter is singular and the next E-step
divides by zero. scikit-learn guards with ``reg_covar`` (default 1e-6, squared data units,
whatever the data's scale), which it *adds* to every diagonal entry at every M-step, so its
answer is never exactly the MLE. We keep variances away from zero with a *floor* instead:
the M-step keeps

* 1-D: σ_j² ≥ var_floor;
* d-D: the variance of coordinate c given coordinates 0..c−1, which is L_j,cc² for the
  Cholesky factor Σ_j = L_j L_jᵀ, at least var_floor[c], for every c. That bounds
  det Σ_j = Π_c L_j,cc² away from 0, which is exactly what keeps the likelihood bounded.

``var_floor`` is a variance, in squared data units (one per coordinate, or one number for
all); its default is 1e-6 × each coordinate's variance over the whole data, i.e. 1e-3 of
the data's SD in that coordinate, whatever the units. A floor that is not reached changes
nothing, so on data with a proper maximum EM's answer is the unconstrained MLE; a floor that
is reached is reported by :class:`VarianceCollapseWarning`, with the numbers. The PyMC twin
bounds the same quantities (σ_j, the diagonal of L_j) by √var_floor, so both twins
maximise the same likelihood over the same set.

Why the floored M-step is still an M-step: write coordinate c of x − μ_j as a regression on
the earlier coordinates plus noise of variance L_j,cc². The weighted Gaussian log-likelihood
splits into one term per coordinate; the regression coefficients that maximise each term
(weighted least squares) do not depend on L_j,cc, and the best L_j,cc² is the residual
variance, or the floor if that is smaller. Keeping the coefficients and raising the residual
variances is therefore the exact maximiser under the floor, so the floored EM's
log-likelihood still never decreases.

Old Faithful (R's ``datasets::faithful``, 272 eruptions of the geyser; columns
``eruptions``, the eruption time, and ``waiting``, the time to the next eruption, both in
minutes) ships with the package: :func:`old_faithful`.

The same steps, fast
--------------------
:func:`e_step`, :func:`m_step` and :func:`log_likelihood` are the slide, and the reference.
:func:`fit` runs the same formulas through :mod:`.mixture_kernel`, which does the E-step,
the log-likelihood and the M-step's weighted sums in one pass over the data, chunk by
chunk, without building the N × k responsibilities each iteration (:func:`fused_step`,
:func:`fast_e_step`, :func:`fast_log_likelihood`). Both agree to rounding; the tests hold
them to it.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from . import mixture_kernel
from .checks import check
from .components import component_order, order_components, permute_components, warn_if_tied
from .driver import EMResult, Params, run_em_multistart

__all__ = [
    "FAITHFUL_COLUMNS",
    "MixtureData",
    "VarianceCollapseWarning",
    "check_start",
    "conditional_variances",
    "default_start",
    "e_step",
    "fast_e_step",
    "fast_log_likelihood",
    "fit",
    "fused_step",
    "log_likelihood",
    "m_step",
    "old_faithful",
]

FAITHFUL_COLUMNS = ("eruptions", "waiting")
# Default floor: this fraction of each coordinate's variance over the whole data.
RELATIVE_VAR_FLOOR = 1e-6
# Scatter below this fraction of the floor is rounding noise, not a direction to regress on.
NOISE_FRACTION = 1e-10
# |Σ w_j − 1| allowed in a start: rounding, not a different distribution.
WEIGHTS_SUM_ATOL = 1e-8


def old_faithful() -> np.ndarray:
    """Old Faithful, R's ``datasets::faithful``: shape (272, 2), columns ``eruptions``
    (eruption time, minutes) and ``waiting`` (minutes to the next eruption).

    Read from the copy that ships with the package (``em_reference/data/faithful.csv``).
    """
    text = resources.files(__package__).joinpath("data", "faithful.csv").read_text(encoding="utf-8")
    header, *rows = text.strip().splitlines()
    if tuple(header.split(",")) != FAITHFUL_COLUMNS:
        raise RuntimeError(f"faithful.csv has header {header!r}; expected {','.join(FAITHFUL_COLUMNS)}.")
    return np.array([[float(v) for v in row.split(",")] for row in rows])


class VarianceCollapseWarning(UserWarning):
    """A component of EM's answer sits on the variance floor: it collapsed towards a point
    (or, in d-D, towards a lower-dimensional set).

    Attributes
    ----------
    component : int
        Index of the component in the returned parameters, 0-based (components are ordered
        by the first coordinate of ``mu``). Messages name it 1-based, as the harness's rows
        do (``sigma2`` is index 1).
    coordinate : int
        The coordinate c whose variance (given coordinates 0..c−1) is on the floor; 0 in 1-D.
    variance : float
        That variance as the slide's M-step formula gives it at the answer, before the
        floor: squared data units, possibly 0.
    floor : float
        ``var_floor[coordinate]``, the value it is held at, squared data units.
    n_points : float
        Σ_i c_ij: how many points' worth of responsibility the component holds.
    """

    def __init__(self, component: int, coordinate: int, variance: float, floor: float, n_points: float):
        self.component = component
        self.coordinate = coordinate
        self.variance = variance
        self.floor = floor
        self.n_points = n_points
        super().__init__(
            f"component {component + 1} (index {component}) collapsed: the M-step gives coordinate "
            f"{coordinate} variance "
            f"{variance:.3g} (given the coordinates before it), below var_floor = {floor:.3g} (squared "
            f"data units), so it is held at the floor. The component holds {n_points:.3g} points' worth "
            "of responsibility. The likelihood grows without bound as a variance goes to 0, so this "
            "maximum is an artefact of the floor: start elsewhere or use fewer components."
        )


# --------------------------------------------------------------------------- the data


def _check_floor(var_floor: object, d: int) -> np.ndarray:
    """``var_floor`` as shape (d,), every entry a positive finite variance."""
    allowed = "a positive finite number or one per coordinate (variances, in squared data units)"
    try:
        floor = np.asarray(var_floor, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"var_floor must be {allowed}; got {var_floor!r}.") from None
    if isinstance(var_floor, bool) or floor.ndim > 1 or (floor.ndim == 1 and floor.size != d):
        raise ValueError(f"var_floor must be {allowed}; got {var_floor!r} for data with {d} coordinate"
                         f"{'s' if d > 1 else ''}.")
    if not np.all(np.isfinite(floor) & (floor > 0)):
        raise ValueError(f"var_floor must be {allowed}; got {var_floor!r}.")
    return np.broadcast_to(floor, (d,)).astype(float)


def _as_columns(x: np.ndarray) -> np.ndarray:
    """Data as shape (N, d): 1-D data is one column."""
    return x[:, None] if x.ndim == 1 else x


def _count_distinct(cols: np.ndarray, up_to: int) -> int:
    """How many distinct rows ``cols`` (N, d) has, counting no further than ``up_to``.

    Enough to check k <= distinct points: ``up_to`` sweeps of the data rather than the sort
    of all N points that counting every distinct row needs (~1 s at N = 10⁶).
    """
    return len(_distinct_rows(cols, up_to))


def _distinct_rows(cols: np.ndarray, up_to: int) -> np.ndarray:
    """The first ``up_to`` distinct rows of ``cols`` (N, d), in order of appearance (all
    of them if there are fewer): shape (≤ up_to, d)."""
    unseen = np.ones(len(cols), dtype=bool)  # rows equal to none of those found so far
    found = []
    while len(found) < up_to and unseen.any():
        row = cols[np.argmax(unseen)]  # the first unseen row
        unseen &= np.any(cols != row, axis=1)
        found.append(row)
    return np.array(found).reshape(len(found), cols.shape[1])


@dataclass(frozen=True)
class MixtureData:
    """Points x_i to be fitted with ``k`` Gaussian components, and the variance floor.

    Attributes
    ----------
    x : ndarray of float, shape (N,) or (N, d)
        The data. Shape (N,) fits the 1-D scheme (``sigma``); shape (N, d) the full-
        covariance scheme (``cov``), even for d = 1.
    k : int
        Number of components, 1 <= k <= number of distinct points.
    var_floor : ndarray of float, shape (d,)
        Smallest variance a component may have in each coordinate (given the coordinates
        before it), squared data units; see the module docstring. Give one number for all
        coordinates, one per coordinate, or None for 1e-6 × each coordinate's variance.
    columns : tuple of str, optional
        Names of the d coordinates (for labelled PyMC output).

    Construction validates everything, so bad input fails here with a clear message and
    never inside EM or PyMC.
    """

    x: np.ndarray
    k: int
    var_floor: ArrayLike | None = None
    columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.x)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"data must be a 1-D array of N points or a 2-D array of shape (N, d); got shape {x.shape}."
            )
        if x.shape[0] == 0:
            raise ValueError("data is empty; give at least one data point.")
        if x.ndim == 2 and x.shape[1] == 0:
            raise ValueError(f"data has no coordinates (shape {x.shape}); give at least one column.")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"data must hold real numbers; got dtype {x.dtype}.")
        x = x.astype(float)
        bad = np.argwhere(~np.isfinite(x))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            count = f"{len(bad)} non-finite value{'s' if len(bad) > 1 else ''} in all"
            raise ValueError(
                f"data must hold finite numbers; got {x[where]} at index "
                f"{where[0] if x.ndim == 1 else where} ({count})."
            )
        cols = _as_columns(x)
        spread = cols.var(axis=0)
        if np.any(spread == 0):
            j = int(np.argmax(spread == 0))
            where = "" if x.ndim == 1 else f" in column {j}"
            raise ValueError(
                f"data has no spread{where}: every value is {cols[0, j]:g}. A Gaussian mixture needs "
                "positive variance in every coordinate."
            )
        check("k", self.k, meaning="the number of components")
        n_distinct = _count_distinct(cols, int(self.k))
        if self.k > n_distinct:
            raise ValueError(
                f"k = {int(self.k)} components need at least {int(self.k)} distinct data points; "
                f"data has {n_distinct}."
            )
        if self.var_floor is None:
            floor = RELATIVE_VAR_FLOOR * spread
        else:
            floor = _check_floor(self.var_floor, cols.shape[1])
        if self.columns is not None and len(self.columns) != cols.shape[1]:
            raise ValueError(
                f"columns must name the {cols.shape[1]} coordinate{'s' if cols.shape[1] > 1 else ''}; "
                f"got {len(self.columns)}: {list(self.columns)}."
            )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "var_floor", floor)
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def n(self) -> int:
        """Number of data points N."""
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        """Number of coordinates (1 for 1-D data)."""
        return 1 if self.x.ndim == 1 else int(self.x.shape[1])

    @property
    def spread_name(self) -> str:
        """``"sigma"`` for 1-D data, ``"cov"`` for (N, d) data."""
        return "sigma" if self.x.ndim == 1 else "cov"

    @property
    def param_names(self) -> tuple[str, str, str]:
        return ("weights", "mu", self.spread_name)

    @classmethod
    def old_faithful(cls, column: str | None = "waiting", *, k: int = 2) -> MixtureData:
        """Old Faithful: one column (1-D data) by name, or both (``column=None``, shape (272, 2))."""
        table = old_faithful()
        if column is None:
            return cls(table, k, columns=FAITHFUL_COLUMNS)
        if column not in FAITHFUL_COLUMNS:
            raise ValueError(f"column must be one of {', '.join(FAITHFUL_COLUMNS)} or None; got {column!r}.")
        return cls(table[:, FAITHFUL_COLUMNS.index(column)], k)


# --------------------------------------------------------------------------- parameters


def _triple(data: MixtureData, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, μ, Σ) with shapes (k,), (k, d), (k, d, d), whatever the scheme."""
    w = np.asarray(params["weights"], dtype=float)
    mu = np.asarray(params["mu"], dtype=float).reshape(data.k, data.d)
    if data.spread_name == "sigma":
        cov = np.asarray(params["sigma"], dtype=float).reshape(data.k, 1, 1) ** 2
    else:
        cov = np.asarray(params["cov"], dtype=float)
    return w, mu, cov


def _scheme(data: MixtureData, w: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> Params:
    """(w, μ, Σ) in the data's parameter scheme (see the module docstring)."""
    if data.spread_name == "sigma":
        return {"weights": w, "mu": mu[:, 0], "sigma": np.sqrt(cov[:, 0, 0])}
    return {"weights": w, "mu": mu, "cov": cov}


def check_start(data: MixtureData, start: Mapping[str, Any], *, argument: str = "start") -> Params:
    """Starting parameters as float arrays in ``data``'s scheme, or a ValueError that names
    the argument, the value and what is allowed."""
    k, d, names = data.k, data.d, data.param_names
    if not isinstance(start, Mapping):
        raise ValueError(f"{argument} must be a dict with keys {', '.join(names)}; got {type(start).__name__}.")
    unknown, missing = sorted(set(start) - set(names)), [n for n in names if n not in start]
    if unknown or missing:
        scheme = "1-D data" if data.x.ndim == 1 else f"data of shape (N, {d})"
        raise ValueError(
            f"{argument} must give exactly {', '.join(names)} for {scheme}; unknown {unknown}, missing {missing}."
        )
    shapes = {"weights": (k,), "mu": (k,) if data.x.ndim == 1 else (k, d), "sigma": (k,), "cov": (k, d, d)}
    out = {}
    for name in names:
        try:
            value = np.asarray(start[name], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{argument}['{name}'] must hold numbers; got {start[name]!r}.") from None
        if value.shape != shapes[name]:
            raise ValueError(
                f"{argument}['{name}'] must have shape {shapes[name]} (k = {k}"
                + ("" if data.x.ndim == 1 or name == "weights" else f", d = {d}")
                + f"); got shape {value.shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{argument}['{name}'] must hold finite numbers; got {value.tolist()}.")
        out[name] = value
    w = out["weights"]
    if np.any(w <= 0):
        raise ValueError(f"weights must all be > 0; got {w.tolist()}.")
    if abs(w.sum() - 1.0) > WEIGHTS_SUM_ATOL:
        raise ValueError(f"weights must sum to 1; got {w.tolist()}, which sum to {float(w.sum())!r}.")
    if "sigma" in out and np.any(out["sigma"] <= 0):
        raise ValueError(f"sigma must all be > 0 (standard deviations, data units); got {out['sigma'].tolist()}.")
    if "cov" in out:
        for j, c in enumerate(out["cov"]):
            if not np.allclose(c, c.T, rtol=1e-12, atol=0.0):
                raise ValueError(f"cov[{j}] must be symmetric; got {c.tolist()}.")
            eig = np.linalg.eigvalsh(c)
            if eig[0] <= 0:
                raise ValueError(
                    f"cov[{j}] must be positive definite; got {c.tolist()} with eigenvalues {eig.tolist()}."
                )
    for a in range(k):
        for b in range(a + 1, k):
            if all(np.array_equal(out[n][a], out[n][b]) for n in names):
                raise ValueError(
                    f"{argument} gives components {a + 1} and {b + 1} identical weight, mean and spread; that is "
                    "EM's symmetric fixed point (they get equal responsibilities and stay equal "
                    "forever). Start them apart."
                )
    return out


# --------------------------------------------------------------------------- E-step, M-step


def _log_joint(data: MixtureData, params: Params) -> np.ndarray:
    """log w_j + log N(x_i | μ_j, Σ_j), shape (N, k)."""
    w, mu, cov = _triple(data, params)
    chol = np.linalg.cholesky(cov)  # Σ_j = L_j L_jᵀ, shape (k, d, d)
    diff = _as_columns(data.x)[:, None, :] - mu[None, :, :]  # x_i − μ_j, shape (N, k, d)
    # (x_i − μ_j)ᵀ Σ_j⁻¹ (x_i − μ_j) = |z|² with L_j z = x_i − μ_j: a solve with the
    # Cholesky factor, never an explicit inverse; log det Σ_j = 2 Σ log diag L_j.
    z = np.linalg.solve(chol[None], diff[..., None])[..., 0]
    mahalanobis = np.sum(z**2, axis=-1)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    log_normal = -0.5 * (data.d * np.log(2 * np.pi) + log_det[None, :] + mahalanobis)
    return np.log(w)[None, :] + log_normal


def e_step(data: MixtureData, params: Params) -> np.ndarray:
    """c_ij = w_j N(x_i | μ_j, Σ_j) / Σ_l w_l N(x_i | μ_l, Σ_l); shape (N, k), rows sum to 1."""
    log_joint = _log_joint(data, params)
    # A point ~39 SDs from every component has N(x_i | μ_j, Σ_j) = exp(−745) == 0.0 for all
    # j in float64, and the slide's ratio is 0/0 = NaN; a narrow component makes that
    # happen to ordinary points. Subtracting the row's log-sum-exp first puts the largest
    # term at exp(0) = 1, so the ratio is always defined.
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def _check_nonempty(n_j: np.ndarray) -> None:
    """In exact arithmetic Σ_i c_ij > 0; in float64 a component far from all the data gets
    c_ij == 0.0 for every i and its update would be 0/0. Say so instead of returning NaN."""
    empty = np.flatnonzero(n_j == 0.0)
    if empty.size:
        j = int(empty[0])
        raise FloatingPointError(
            f"component {j + 1} holds no data point: every responsibility c_i{j + 1} underflowed to 0, so "
            f"its M-step Σ_i c_ij x_i / Σ_i c_ij is 0/0. Start it nearer the data."
        )


def _weighted_moments(data: MixtureData, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slide's M-step without the floor: (Σ_i c_ij, μ_j, weighted scatter S_j)."""
    x = _as_columns(data.x)
    n_j = resp.sum(axis=0)  # Σ_i c_ij: how many points' worth component j holds, shape (k,)
    _check_nonempty(n_j)
    mu = (resp.T @ x) / n_j[:, None]  # μ_j = Σ_i c_ij x_i / Σ_i c_ij
    diff = x[:, None, :] - mu[None, :, :]  # x_i − μ_j, shape (N, k, d)
    scatter = np.einsum("ij,ija,ijb->jab", resp, diff, diff) / n_j[:, None, None]
    # The einsum sums (a, b) and (b, a) in different orders; make Σ_j exactly symmetric.
    return n_j, mu, 0.5 * (scatter + scatter.transpose(0, 2, 1))


def _regression_form(cov: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ = T diag(v) Tᵀ with T unit lower triangular: v[c] is the variance of coordinate c
    given coordinates 0..c−1 (L_cc² of the Cholesky factor), T holds the regressions.

    Built by regressing each coordinate on the earlier ones, so it also works for a
    singular Σ, where the Cholesky factor does not exist. Directions in which Σ's variance
    is below ``NOISE_FRACTION`` × the floor are left out of the regressions: a component on
    a single point has scatter exactly 0 in exact arithmetic, and in float64 a scatter of
    ~1e-30 whose "regression coefficients" are ratios of rounding errors.
    """
    d = cov.shape[0]
    coef = np.zeros((d, d))  # row c: coefficients of coordinate c on coordinates 0..c−1
    v = np.empty(d)
    for c in range(d):
        if c:
            eigval, eigvec = np.linalg.eigh(cov[:c, :c])
            keep = eigval > NOISE_FRACTION * floor.min()
            coef[c, :c] = eigvec[:, keep] @ ((eigvec[:, keep].T @ cov[:c, c]) / eigval[keep])
        v[c] = cov[c, c] - coef[c, :c] @ cov[:c, c]
    return np.linalg.inv(np.eye(d) - coef), np.maximum(v, 0.0)


def _floored(cov: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Σ_j with each coordinate's variance given the earlier ones raised to ``floor`` where
    it is below, the regressions kept (the exact constrained M-step; module docstring)."""
    out = cov.copy()
    for j, cov_j in enumerate(cov):
        t, v = _regression_form(cov_j, floor)
        if np.any(v < floor):  # untouched otherwise: no rounding where the guard does not act
            rebuilt = (t * np.maximum(v, floor)) @ t.T
            out[j] = 0.5 * (rebuilt + rebuilt.T)
    return out


def conditional_variances(data: MixtureData, params: Mapping[str, Any]) -> np.ndarray:
    """The variances the floor bounds: shape (k, d), entry (j, c) the variance of
    coordinate c given coordinates 0..c−1 under component j (1-D: σ_j²), squared data units."""
    return np.array([_regression_form(cov_j, data.var_floor)[1] for cov_j in _triple(data, params)[2]])


def m_step(data: MixtureData, resp: np.ndarray) -> Params:
    """w_j = Σ_i c_ij / N,  μ_j = Σ_i c_ij x_i / Σ_i c_ij,  Σ_j = weighted scatter about μ_j.

    Every coordinate's variance (given the earlier coordinates) is kept at least
    ``data.var_floor``: the guard against collapse (module docstring). The floor acts
    silently here, once per iteration; :func:`fit` reports an answer that sits on it with
    :class:`VarianceCollapseWarning`.
    """
    n_j, mu, scatter = _weighted_moments(data, resp)
    return _maximiser(data, n_j, mu, scatter)


def _maximiser(data: MixtureData, n_j: np.ndarray, mu: np.ndarray, scatter: np.ndarray) -> Params:
    """The M-step's answer from its weighted sums: Σ_i c_ij (k,), μ_j (k, d), S_j (k, d, d)."""
    weights = n_j / data.n  # w_j = (1/N) Σ_i c_ij
    return _scheme(data, weights, mu, _floored(scatter, data.var_floor))


def log_likelihood(data: MixtureData, params: Params) -> float:
    """Σ_i log Σ_j w_j N(x_i | μ_j, Σ_j), in nats, Normal constants included."""
    return float(logsumexp(_log_joint(data, params), axis=1).sum())


# --------------------------------------------------------------------------- the same steps, fast


def _kernel_arguments(data: MixtureData, params: Params) -> tuple[np.ndarray, ...]:
    """(x (N, d), w (k,), μ (k, d), Σ (k, d, d)) for :mod:`.mixture_kernel`."""
    return (_as_columns(data.x), *_triple(data, params))


def fused_step(data: MixtureData, params: Params) -> tuple[Params, float]:
    """One EM iteration in one pass over the data: ``(m_step(data, e_step(data, params)),
    log_likelihood(data, params))``, the ``step`` of :func:`~.driver.run_em`.

    The slide's formulas, computed chunk by chunk by :func:`.mixture_kernel.em_pass`
    without storing the N × k responsibilities; the floor and the empty-component error
    are the M-step's own.

    Returns
    -------
    (dict, float)
        The M-step's parameters, in ``data``'s scheme, and the total log-likelihood (nats)
        of ``params``.
    """
    moments = mixture_kernel.em_pass(*_kernel_arguments(data, params))
    _check_nonempty(moments.counts)
    return _maximiser(data, moments.counts, moments.mean, moments.scatter), moments.log_likelihood


def fast_e_step(data: MixtureData, params: Params) -> np.ndarray:
    """:func:`e_step` chunk by chunk: shape (N, k), rows sum to 1, no (N, k, d) temporaries."""
    return mixture_kernel.responsibilities(*_kernel_arguments(data, params))


def fast_log_likelihood(data: MixtureData, params: Params) -> float:
    """:func:`log_likelihood` in one chunked pass: total, nats, Normal constants included."""
    return mixture_kernel.em_pass(*_kernel_arguments(data, params)).log_likelihood


# --------------------------------------------------------------------------- starts and fit


def default_start(data: MixtureData) -> Params:
    """A deterministic, data-based start.

    The distinct points, sorted by their first coordinate, are cut into k blocks of
    (nearly) equal size: μ_j is the mean of block j and w_j = 1/k. Every component starts
    with the spread of the whole data shrunk by k (SD / k in 1-D, covariance / k² in d-D),
    the spread of one of k side-by-side blocks. Distinct points, so a value repeated many
    times cannot put two blocks, and two means, on the same spot.
    """
    mu = np.array([block.mean(axis=0) for block in np.array_split(_distinct_points(data), data.k)])
    return _start_with_means(data, mu)


def _distinct_points(data: MixtureData) -> np.ndarray:
    """The distinct points, shape (M, d), sorted lexicographically (first coordinate first)."""
    if data.x.ndim == 1:
        # A plain sort: unique rows of an (N, 1) array sorts them as records, ~10× slower.
        return np.unique(data.x)[:, None]
    return np.unique(data.x, axis=0)


def _start_with_means(data: MixtureData, mu: np.ndarray, whole_cov: np.ndarray | None = None) -> Params:
    """Means ``mu`` (k, d), weights 1/k, every covariance the whole data's (``whole_cov``,
    (d, d), computed from ``data.x`` when not given) over k², floored."""
    if whole_cov is None:
        whole_cov = np.atleast_2d(np.cov(_as_columns(data.x), rowvar=False, bias=True))
    whole = whole_cov / data.k**2
    cov = _floored(np.repeat(whole[None], data.k, axis=0), data.var_floor)
    return _scheme(data, np.full(data.k, 1.0 / data.k), mu, cov)


def _kmeans_pp_start(data: MixtureData, rng: np.random.Generator) -> Params:
    """k-means++ seeding: the first mean a random distinct point, each next one a distinct
    point drawn with probability ∝ its squared distance to the nearest mean so far
    (coordinates scaled by their SD, so units do not matter). Equal weights and spread as in
    :func:`default_start`."""
    distinct = _distinct_points(data)
    scaled = distinct / distinct.std(axis=0)
    chosen = [int(rng.integers(len(distinct)))]
    for _ in range(data.k - 1):
        d2 = np.min(((scaled[:, None, :] - scaled[None, chosen, :]) ** 2).sum(axis=2), axis=1)
        # Chosen points have d2 == 0, so a point is never picked twice: k distinct means.
        chosen.append(int(rng.choice(len(distinct), p=d2 / d2.sum())))
    return _start_with_means(data, distinct[chosen])


def _canonical_result(data: MixtureData, result: EMResult) -> EMResult:
    """``result`` with components relabelled in canonical order: parameters, their traces
    and the responsibilities' columns."""
    order = component_order(result.params, "mu")
    names = list(data.param_names)
    return dataclasses.replace(
        result,
        params=permute_components(result.params, order, names),
        param_trace={name: trace[:, order] for name, trace in result.param_trace.items()},
        responsibilities=_permute_columns(result.responsibilities, order),
    )


def _permute_columns(resp: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``resp[:, order]``, done in place a block of rows at a time: a permuted copy would
    be a second N × k array (240 MB at N = 10⁷, k = 3)."""
    if np.array_equal(order, np.arange(len(order))):
        return resp
    for start in range(0, len(resp), mixture_kernel.CHUNK):
        block = resp[start:start + mixture_kernel.CHUNK]
        block[...] = block[:, order]
    return resp


def _warn_if_collapsed(data: MixtureData, result: EMResult) -> None:
    # The M-step's sums at the answer, i.e. from the last E-step's responsibilities.
    moments = mixture_kernel.em_pass(*_kernel_arguments(data, result.params))
    n_j, scatter = moments.counts, moments.scatter
    for j, scatter_j in enumerate(scatter):
        v = _regression_form(scatter_j, data.var_floor)[1]
        for c in np.flatnonzero(v < data.var_floor):
            warnings.warn(
                VarianceCollapseWarning(j, int(c), float(v[c]), float(data.var_floor[c]), float(n_j[j])),
                stacklevel=3,
            )


def _is_dask_array(data: object) -> bool:
    """Whether ``data`` is a Dask array, without importing Dask (an optional extra)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(data, dask_array.Array)


def fit(
    data: MixtureData | ArrayLike,
    start: Mapping[str, Any] | None = None,
    *,
    k: int | None = None,
    var_floor: ArrayLike | None = None,
    n_starts: int = 1,
    seed: int = 0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> EMResult:
    """EM for a mixture of k Gaussians with unknown weights, means and variances.

    Parameters
    ----------
    data : MixtureData or array_like, shape (N,) or (N, d)
        The points. Shape (N,) uses ``sigma``, shape (N, d) uses ``cov`` (module docstring).
        A Dask array (chunked along N only) is fitted block by block where its blocks live,
        never gathered: :func:`.mixture_dask.fit`, with the same arguments and result.
    start : dict, optional
        ``{"weights", "mu", "sigma"}`` or ``{"weights", "mu", "cov"}``; see
        :func:`check_start`. Default: :func:`default_start`.
    k : int, optional
        Number of components. Taken from ``start`` or from a MixtureData when not given;
        required for a plain array without ``start``.
    var_floor : float or array_like, shape (d,), optional
        Smallest variance a component may have in each coordinate, squared data units;
        only for a plain array (a MixtureData carries its own). Default 1e-6 × each
        coordinate's variance over the data.
    n_starts : int
        Total number of EM runs. The extra ``n_starts − 1`` starts are k-means++ draws from
        ``np.random.default_rng(seed)``; ``start`` (or the default start) is always first.
    seed : int
        Seeds the extra starts.
    tol : float
        Stop when no parameter changes by more than ``tol`` in one iteration, in its own
        units: weights (probability), μ and σ (data units), Σ (squared data units).
    max_iter : int
        Iteration cap per run; reaching it emits ``EMConvergenceWarning``.

    Returns
    -------
    EMResult
        The best run, components ordered by the first coordinate of ``mu`` (parameters,
        traces and responsibility columns alike); ``local_maxima`` lists every distinct
        end point in that order, highest log-likelihood first.

    Warns
    -----
    VarianceCollapseWarning
        Once per component and coordinate of the answer whose variance sits on the floor.
    SymmetricFixedPointWarning
        When two components of the answer are equal (EM's symmetric fixed point).
    """
    if _is_dask_array(data):
        # Past one machine: the same EM as a map-reduce over the blocks (mixture_dask).
        from . import mixture_dask

        return mixture_dask.fit(data, start, k=k, var_floor=var_floor, n_starts=n_starts, seed=seed,
                                tol=tol, max_iter=max_iter)
    n_starts, seed = check("n_starts", n_starts), check("seed", seed)
    if isinstance(data, MixtureData):
        if k is not None and k != data.k:
            raise ValueError(f"k = {k!r} conflicts with data.k = {data.k}; give k only when data is a plain array.")
        if var_floor is not None and not np.array_equal(_check_floor(var_floor, data.d), data.var_floor):
            raise ValueError(
                f"var_floor = {var_floor!r} conflicts with data.var_floor = {data.var_floor.tolist()}; "
                "give var_floor only when data is a plain array."
            )
    else:
        if k is None:
            weights = start.get("weights") if isinstance(start, Mapping) else None
            if weights is None or np.ndim(weights) != 1:
                raise ValueError(
                    "k is required when data is a plain array and start gives no 1-D weights to count."
                )
            k = len(weights)
        data = MixtureData(np.asarray(data), k, var_floor)
    first = default_start(data) if start is None else check_start(data, start)
    starts = [first]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        starts += [_kmeans_pp_start(data, rng) for _ in range(n_starts - 1)]
    names = list(data.param_names)
    # The slide's steps, run by the fast kernel: one pass over the data per iteration.
    result = run_em_multistart(
        data, starts, fast_e_step, m_step, fast_log_likelihood,
        canonical=lambda p: order_components(p, names, "mu"),
        tol=tol, max_iter=max_iter, step=fused_step,
    )
    result = _canonical_result(data, result)
    _warn_if_collapsed(data, result)
    warn_if_tied(result.params, names)
    return result

