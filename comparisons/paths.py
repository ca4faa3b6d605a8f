"""EM's path and the log-likelihood around it, read off a finished comparison.

Pure functions of a :class:`~emtwin.comparisons.results.Comparison` and its scenario: the
report's figures, the step-through page and the notebook view draw from them. Nothing here
runs a twin, so this module imports no harness, and the notebook view can use it without
an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emtwin.em_reference.components import align_draws
from emtwin.em_reference.driver import Params
from emtwin.models import fitting

from .scenario import Scenario, flatten

if TYPE_CHECKING:  # annotations only: results' notebook view draws from this module
    from .results import Comparison

__all__ = ["Contour", "EMPath", "aligned_draws", "contour", "em_path", "pooled_draws", "unflattener"]


@dataclass(frozen=True)
class EMPath:
    """EM's run (the path its parameters took), in the PyMC twin's component order (the
    table's rows).

    Attributes
    ----------
    names : list of str
        Scalar parameter names (table rows).
    values : ndarray, shape (n_iter + 1, n_scalars)
        Row 0 is the start.
    loglik : ndarray, shape (n_iter + 1,)
        Total log-likelihood (nats) at each row.
    map_point : ndarray, shape (n_scalars,), or None
        PyMC's MAP, when it ran.
    local_maxima : list of (ndarray, float, int)
        Every distinct end point of EM's starts: parameters, log-likelihood, starts ending there.
    """

    names: list[str]
    values: np.ndarray
    loglik: np.ndarray
    map_point: np.ndarray | None
    local_maxima: list[tuple[np.ndarray, float, int]]


@dataclass(frozen=True)
class Contour:
    """The log-likelihood over the plane of a two-parameter scenario.

    ``loglik[i, j]`` is at ``(x[j], y[i])`` (NaN outside the parameters' support).
    ``draws`` are NUTS posterior draws, shape (n_draws, 2). ``ridge`` is a segment of the
    flat direction through EM's answer, shape (n_points, 2), for a non-identifiable
    scenario, and ``ridge_loglik`` the log-likelihood along it.
    """

    names: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    loglik: np.ndarray
    draws: np.ndarray | None
    ridge: np.ndarray | None = None
    ridge_loglik: np.ndarray | None = None


def unflattener(sc: Scenario, like: Params) -> Any:
    """Inverse of :func:`flatten` for parameters shaped like ``like``: scalars -> Params."""
    slots = []
    for name, value in like.items():
        positions = np.arange(np.asarray(value).size, dtype=float).reshape(np.shape(value))
        slots += [(name, int(i)) for i in flatten({name: positions}, sc.components).values()]

    def unflatten(values: Sequence[float]) -> Params:
        out = {name: np.array(value, dtype=float) for name, value in like.items()}
        for (name, i), v in zip(slots, values):
            out[name].flat[i] = v
        return out

    return unflatten


def pooled_draws(fit: fitting.PosteriorFit, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Pooled posterior draws, shape (n_draws, *param_shape), of ``names``."""
    out = {}
    for name in names:
        values = fit.idata.posterior[name].values
        out[name] = values.reshape(-1, *values.shape[2:])
    return out


def aligned_draws(sc: Scenario, c: Comparison, fit: fitting.PosteriorFit) -> dict[str, np.ndarray]:
    """``fit``'s pooled draws of EM's parameters, components relabelled like the table's rows.

    The harness relabels a fit's summaries (mean, SD, HDI) to match EM; this applies the same
    permutation to the draws, found the same way (posterior means against EM's answer).
    """
    return align_draws(c.em.params, pooled_draws(fit, list(c.em.params)), sc.components.params)


def em_path(sc: Scenario, c: Comparison) -> EMPath:
    """EM's path from ``c``: one row of the table's scalars per iteration, MAP and the other maxima."""
    trace = c.em.param_trace
    n_rows = len(c.em.loglik_trace)
    flat = [flatten({n: v[t] for n, v in trace.items()}, sc.components) for t in range(n_rows)]
    names = list(flat[0])
    values = np.array([[row[n] for n in names] for row in flat])
    map_point = None
    if c.map is not None:
        map_flat = flatten(c.map.params, sc.components)
        map_point = np.array([map_flat[n] for n in names])
    maxima = []
    for m in c.em.local_maxima:
        m_flat = flatten(sc.components.canonical(m.params), sc.components)
        maxima.append((np.array([m_flat[n] for n in names]), float(m.log_likelihood), int(m.n_starts)))
    return EMPath(names, values, np.asarray(c.em.loglik_trace, dtype=float), map_point, maxima)


def contour(sc: Scenario, c: Comparison, path: EMPath, grid_size: int) -> Contour:
    """The log-likelihood on a ``grid_size`` × ``grid_size`` grid framing EM's path, MAP,
    EM's other maxima and the bulk of the NUTS draws, with the ridge for a flat direction."""
    unflatten = unflattener(sc, c.em.params)
    points = [path.values]
    if path.map_point is not None:
        points.append(path.map_point[None, :])
    points += [m[0][None, :] for m in path.local_maxima]
    draws = None
    if c.nuts is not None:
        draws_by_name = aligned_draws(sc, c, c.nuts)
        flat = [flatten({n: v[i] for n, v in draws_by_name.items()}, sc.components)
                for i in range(len(next(iter(draws_by_name.values()))))]
        draws = np.array([[row[n] for n in path.names] for row in flat])
        # The bulk of the posterior, not its most extreme draws, sets the frame.
        points.append(np.quantile(draws, [0.005, 0.995], axis=0))
    every = np.vstack(points)
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.12 * np.maximum(high - low, 1e-3 * np.maximum(np.abs(high), 1.0))
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], grid_size)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], grid_size)

    def loglik(x: float, y: float) -> float:
        # Outside the support (a bias beyond [0, 1]) the EM twin's formulas give NaN or
        # raise; such cells are left blank.
        try:
            with np.errstate(all="ignore"):
                value = float(sc.log_likelihood(c.data, unflatten([x, y])))
        except (ValueError, FloatingPointError):
            return np.nan
        return value if np.isfinite(value) else np.nan

    grid = np.array([[loglik(x, y) for x in xs] for y in ys])
    # Trim rows and columns that are blank throughout (the frame reached past the support).
    keep_rows, keep_cols = np.isfinite(grid).any(axis=1), np.isfinite(grid).any(axis=0)
    xs, ys, grid = xs[keep_cols], ys[keep_rows], grid[np.ix_(keep_rows, keep_cols)]

    ridge = ridge_ll = None
    if not c.curvature.identifiable:
        direction = flatten(c.curvature.flat_directions[0], sc.components)
        d = np.array([direction[n] for n in path.names])
        em_point = path.values[-1]
        # The segment of the line em_point + t·d that stays inside the frame.
        with np.errstate(divide="ignore", invalid="ignore"):
            bounds = np.sort(np.stack([(np.array([xs[0], ys[0]]) - em_point) / d,
                                       (np.array([xs[-1], ys[-1]]) - em_point) / d]), axis=0)
        t_low, t_high = np.nanmax(bounds[0][np.isfinite(bounds[0])]), np.nanmin(bounds[1][np.isfinite(bounds[1])])
        ts = np.linspace(t_low, t_high, 61)
        ridge = em_point[None, :] + ts[:, None] * d[None, :]
        ridge_ll = np.array([loglik(x, y) for x, y in ridge])
        inside = np.isfinite(ridge_ll)
        ridge, ridge_ll = ridge[inside], ridge_ll[inside]
    return Contour((path.names[0], path.names[1]), xs, ys, grid, draws, ridge, ridge_ll)
