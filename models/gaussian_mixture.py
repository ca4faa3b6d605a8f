"""PyMC twin of the mixture of k Gaussians with unknown weights, means and variances.

1-D data, shape (N,)::

    weights ~ Dirichlet(1, …, 1)                           flat on the simplex
    mu_j    ~ Uniform(min − span, max + span), ordered mu_1 < … < mu_k
    sigma_j ~ Uniform(s, 2·span)                           s = √var_floor
    x_i     ~ Σ_j weights_j Normal(mu_j, sigma_j)           (pm.NormalMixture)

d-D data, shape (N, d), full covariances Σ_j = L_j L_jᵀ with L_j lower triangular::

    weights            ~ Dirichlet(1, …, 1)
    mu_first_j         ~ Uniform(min_0 − span_0, max_0 + span_0), ordered   μ_j[0]
    mu_rest_j,c        ~ Uniform(min_c − span_c, max_c + span_c)           μ_j[1:]
    chol_log_diag_j,c  ~ Uniform(log s_c, log(2·span_c))                   log L_j,cc
    chol_offdiag_j,rc  ~ Uniform(−2·span_r, 2·span_r)                      L_j,rc, r > c
    mu  = [mu_first, mu_rest],  cov = L Lᵀ                                 Deterministics
    x_i ~ Σ_j weights_j MvNormal(mu_j, chol=L_j)                            (pm.Mixture)

``span`` is the data's range, max − min, per coordinate; ``s_c = √var_floor[c]``. The EM
twin's names ``weights``, ``mu``, ``sigma`` / ``cov`` are free variables or Deterministics.

Why these priors
----------------
*MAP = MLE.* Every prior is flat in the variable it is declared on, and PyMC's find_MAP
drops the transforms' Jacobian, so the MAP objective is the log-likelihood plus a
constant. In d-D the free variables are the Cholesky entries (the diagonal on a log scale):
L ↦ L Lᵀ is a bijection onto the positive-definite matrices, so the maximiser in L is the
MLE in Σ. ``LKJCholeskyCov`` would add its own density terms and move the MAP off the MLE.

*The boxes do not bind at the MLE.* μ_j is a weighted mean of the data, so it lies in
[min, max]. Row r of L_j satisfies Σ_c L_j,rc² = Σ_j,rr, a weighted mean of squared
deviations from a point inside the range, so every |L_j,rc| and σ_j is at most span_r.
The boxes are twice that.

*NUTS gets a proper posterior without the σ → 0 singularity.* The boxes make the prior
proper. The lower bound s_c on σ_j (1-D) and on L_j,cc (d-D) bounds the likelihood (a
component's density is at most 1/((2π)^{d/2} Π_c s_c)), and it is the EM twin's variance
floor exactly: there σ_j² ≥ var_floor, and L_j,cc², the variance of coordinate c given the
earlier ones, ≥ var_floor[c]. Both twins maximise the same likelihood over the same set.

*Ordering.* Components are exchangeable; ordering the first coordinate of the means
removes label switching for ADVI and NUTS. An ordered variable needs strictly ordered
start values (PyMC's default start puts them all at one point, log 0 = −inf).

The log-diagonal, rather than L_j,cc itself, is a conditioning choice: the likelihood is
closer to quadratic in it, and PyMC's L-BFGS-B gets nearer the maximum before its
stopping rule fires (2-D Old Faithful from one start: 39 iterations and largest parameter
error 9.5e-4, against 54 iterations and 1.4e-2 with L_j,cc).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from numpy.typing import ArrayLike
from pymc.distributions.transforms import ordered

__all__ = ["build_model", "free_values"]

# Width of the prior boxes, in ranges of the data: means up to one range beyond the data,
# spreads up to two ranges (the MLE needs at most one; see the module docstring).
MEAN_MARGIN = 1.0
SPREAD_FACTOR = 2.0


def build_model(
    x: np.ndarray,
    *,
    k: int,
    var_floor: ArrayLike,
    columns: Sequence[str] | None = None,
) -> pm.Model:
    """Mixture of ``k`` Gaussians with flat, bounded priors, so that MAP is the MLE.

    Parameters
    ----------
    x : ndarray, shape (N,) or (N, d)
        The data, validated by the caller (finite, spread in every coordinate).
    k : int
        Number of components.
    var_floor : float or array_like, shape (d,)
        Smallest variance per coordinate, squared data units (the EM twin's
        ``MixtureData.var_floor``): ``sigma`` (1-D) and the Cholesky diagonal (d-D) are
        bounded below by its square root.
    columns : sequence of str, optional
        Names of the d coordinates, for the ``coord`` dimension.

    Returns
    -------
    pm.Model
        Free variables ``weights``, ``mu``, ``sigma`` (1-D) or ``weights``, ``mu_first``,
        ``chol_log_diag``, ``mu_rest``, ``chol_offdiag`` (d-D; ``mu_rest`` and
        ``chol_offdiag`` only for d > 1) with Deterministics ``mu`` and ``cov``.
    """
    x = np.asarray(x, dtype=float)
    cols = x[:, None] if x.ndim == 1 else x
    d = cols.shape[1]
    floor = np.broadcast_to(np.asarray(var_floor, dtype=float), (d,))
    if not np.all(np.isfinite(floor) & (floor > 0)):
        raise ValueError(
            f"var_floor must be a positive finite number or one per coordinate (variances, in squared "
            f"data units); got {var_floor!r}."
        )
    sd_floor = np.sqrt(floor)
    low, high = cols.min(axis=0), cols.max(axis=0)
    span = high - low
    if np.any(sd_floor >= SPREAD_FACTOR * span):
        raise ValueError(
            f"var_floor = {floor.tolist()} leaves no room for a spread: its square root must be below "
            f"{SPREAD_FACTOR:g} × the data's range {span.tolist()}."
        )
    mu_low, mu_high = low - MEAN_MARGIN * span, high + MEAN_MARGIN * span
    coords: dict[str, Any] = {"component": [str(j + 1) for j in range(k)], "obs_id": np.arange(len(x))}

    if x.ndim == 1:
        with pm.Model(coords=coords) as model:
            weights = pm.Dirichlet("weights", a=np.ones(k), dims="component")
            mu = pm.Uniform("mu", bound("mu_lower", mu_low[0]), bound("mu_upper", mu_high[0]), dims="component",
                            transform=ordered)
            sigma = pm.Uniform("sigma", bound("sigma_lower", sd_floor[0]), bound("sigma_upper", SPREAD_FACTOR * span[0]),
                               dims="component")
            # pm.Data, not a constant: one compiled graph for data of any size (models/coins.py)
            pm.NormalMixture("x", w=weights, mu=mu, sigma=sigma, observed=pm.Data("x_seen", x, dims="obs_id"),
                             dims="obs_id")
        return model

    names = [str(c) for c in columns] if columns is not None else [str(c) for c in range(d)]
    rows, cols_ = np.tril_indices(d, -1)
    coords |= {"coord": names, "coord_bis": names}
    if d > 1:
        coords |= {"coord_rest": names[1:], "offdiag": [f"{names[r]},{names[c]}" for r, c in zip(rows, cols_)]}
    with pm.Model(coords=coords) as model:
        weights = pm.Dirichlet("weights", a=np.ones(k), dims="component")
        mu_first = pm.Uniform("mu_first", bound("mu_first_lower", mu_low[0]), bound("mu_first_upper", mu_high[0]),
                              dims="component", transform=ordered)
        log_diag = pm.Uniform("chol_log_diag", bound("chol_log_diag_lower", np.log(sd_floor)),
                              bound("chol_log_diag_upper", np.log(SPREAD_FACTOR * span)), dims=("component", "coord"))
        chol = pt.zeros((k, d, d))
        chol = pt.set_subtensor(chol[:, np.arange(d), np.arange(d)], pt.exp(log_diag))
        if d > 1:
            mu_rest = pm.Uniform("mu_rest", bound("mu_rest_lower", mu_low[1:]), bound("mu_rest_upper", mu_high[1:]),
                                 dims=("component", "coord_rest"))
            box = SPREAD_FACTOR * span[rows]  # |L_rc| <= span_r at the MLE (module docstring)
            offdiag = pm.Uniform("chol_offdiag", bound("chol_offdiag_lower", -box), bound("chol_offdiag_upper", box),
                                 dims=("component", "offdiag"))
            chol = pt.set_subtensor(chol[:, rows, cols_], offdiag)
            mu_vec = pt.concatenate([mu_first[:, None], mu_rest], axis=1)
        else:
            mu_vec = mu_first[:, None]
        mu = pm.Deterministic("mu", mu_vec, dims=("component", "coord"))
        pm.Deterministic("cov", chol @ chol.transpose(0, 2, 1), dims=("component", "coord", "coord_bis"))
        # One MvNormal per component, not one batched over k: with a single (d, d) factor PyTensor
        # solves L z = x − μ for all N points at once; a batch of k factors becomes N·k small
        # solves, and the gradient costs ~4× more (191 µs vs 42 µs per evaluation on Old Faithful).
        components = [pm.MvNormal.dist(mu=mu_vec[j], chol=chol[j]) for j in range(k)]
        pm.Mixture("x", w=weights, comp_dists=components, observed=pm.Data("x_seen", x, dims=("obs_id", "coord")),
                   dims=("obs_id", "coord"))
    return model


def bound(name: str, value: ArrayLike) -> Any:
    """A prior box's edge as pm.Data (float64): it follows the data's range, and as a
    constant each data set made a graph of its own for PyTensor to rewrite and Numba to
    compile; as data, one compiled graph serves every data set (models/precision.py)."""
    return pm.Data(name, np.asarray(value, dtype=np.float64))


def free_values(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The EM twin's parameters as values of the model's free variables.

    1-D (``sigma`` given): the same values. d-D (``cov`` given): ``mu`` split into
    ``mu_first`` and ``mu_rest``, ``cov`` into its Cholesky factor's ``chol_log_diag`` and
    ``chol_offdiag``. Components must already be in the model's order (first coordinate of
    ``mu`` increasing).
    """
    weights = np.asarray(params["weights"], dtype=float)
    mu = np.asarray(params["mu"], dtype=float)
    if "sigma" in params:
        return {"weights": weights, "mu": mu, "sigma": np.asarray(params["sigma"], dtype=float)}
    chol = np.linalg.cholesky(np.asarray(params["cov"], dtype=float))
    d = chol.shape[-1]
    out = {"weights": weights, "mu_first": mu[:, 0], "chol_log_diag": np.log(np.diagonal(chol, axis1=1, axis2=2))}
    if d > 1:
        rows, cols = np.tril_indices(d, -1)
        out["mu_rest"] = mu[:, 1:]
        out["chol_offdiag"] = chol[:, rows, cols]
    return out
