"""The model on the data, the picture a teacher draws first, for mixtures:

- 1-D: a histogram of the data with each weighted component density and the mixture at
  EM's answer, against the 94% band of the mixture density over the NUTS draws;
- 2-D: the points coloured by responsibility with each component's 1σ and 2σ ellipses at
  iterations 0, 1, 2, 5 and at convergence (Bishop's Old Faithful figure).

Coin data get their picture from :mod:`.by_hand` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context

from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference.driver import Params

from ...paths import aligned_draws
from ..drawing import EM_COLOR, NUTS_COLOR, STYLE, new_figure
from ..piece import Piece
from ..teaching import (
    Iterations, coin_parameter, density_grid, ellipse_outline, iterations, mixture_1d, observations_1d,
    posterior_density_band, thinning, weighted_densities,
)

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ..compute import ScenarioReport

__all__ = ["ELLIPSE_ITERATIONS", "density_figure", "ellipses_figure", "piece"]

KEY, HEADING = "model-on-data", "The model on the data"


def density_figure(data: Any, params: Params, draws: dict[str, np.ndarray] | None, labels: Sequence[str],
                   title: str, xlabel: str = "x") -> Figure:
    """Histogram of 1-D data, each weighted component density and the mixture at ``params``,
    and the 94% band of the mixture density over ``draws`` (posterior draws, same names)."""
    x = observations_1d(data)
    grid = density_grid(x)
    dens = weighted_densities(grid, *mixture_1d(data, params))
    with rc_context(STYLE):
        fig = new_figure(11.0, 5.0)
        ax = fig.add_subplot()
        ax.hist(x, bins=int(np.clip(len(x) // 8, 10, 40)), density=True, color="#f2f2f2", edgecolor="#999999",
                label=f"data ({len(x)} points)")
        if draws is not None:
            band = posterior_density_band(data, draws, grid)
            ax.fill_between(grid, band[0], band[1], color=NUTS_COLOR, alpha=0.45, lw=0,
                            label="NUTS posterior: 94% band of the mixture density")
        ax.plot(grid, dens.sum(axis=0), color=EM_COLOR, lw=2.5, label="mixture at EM's MLE")
        for j, label in enumerate(labels):  # drawn over the mixture, which they meet where the other is ~0
            ax.plot(grid, dens[j], "--", color=f"C{j + 1}", lw=2, label=f"component {label} × its weight (EM)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.legend(loc="best", framealpha=0.85)
        ax.set_title(title)
    return fig


def _density_piece(r: ScenarioReport) -> Piece | None:
    sc, c = r.scenario, r.comparison
    if mixture_1d(c.data, c.em.params) is None:
        return None
    draws = aligned_draws(sc, c, c.nuts) if c.nuts is not None else None
    k = len(np.atleast_1d(c.em.params["mu"]))
    labels = list(sc.components.labels[:k]) if sc.components.labels else [str(j + 1) for j in range(k)]
    xlabel = (c.data.columns[0] if getattr(c.data, "columns", None) else "x")
    fig = density_figure(c.data, c.em.params, draws, labels, f"{sc.name}: the fitted mixture on the data", xlabel)
    caption = ("The data's histogram with each component's density times its weight (dashed) and their sum, the "
               "mixture, at EM's MLE (solid)")
    if draws is not None:
        n = len(next(iter(draws.values())))
        caption += (f"; grey: where 94% of the mixture densities of the NUTS posterior lie (3% to 97% quantile at "
                    f"each x, over {len(range(0, n, thinning(n)))} of {n} draws). "
                    "A mixture curve inside the band: the MLE's picture of the data is one the posterior finds "
                    "plausible; the band's width is what the data leave uncertain")
    return Piece(KEY, HEADING, caption + ".", fig)


# Iterations the 2-D figure shows, as in the classic Old Faithful EM figure (plus the last).
ELLIPSE_ITERATIONS = (0, 1, 2, 5)


def _ellipse_iterations(n_iter: int) -> list[int]:
    return sorted({t for t in ELLIPSE_ITERATIONS if t <= n_iter} | {n_iter})


def ellipses_figure(data: em_gm.MixtureData, steps: Iterations, title: str) -> Figure:
    """One panel per iteration of ``steps``: points coloured by the E-step's responsibility
    of component 1 (blue) against component 2 (red), and each component's 1σ and 2σ ellipses."""
    import matplotlib

    cmap = matplotlib.colormaps["coolwarm_r"]
    names = data.columns or ("x[0]", "x[1]")
    n = len(steps.numbers)
    with rc_context(STYLE):
        fig = new_figure(4.0 * n + 1.0, 4.6)
        axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
        for ax, t, params, resp in zip(axes, steps.numbers, steps.params, steps.responsibilities):
            ax.scatter(data.x[:, 0], data.x[:, 1], c=resp[:, 0], cmap=cmap, vmin=0, vmax=1, s=10, linewidths=0)
            for j in range(data.k):
                for radius, style in ((1, "-"), (2, "--")):
                    outline = ellipse_outline(params["mu"][j], params["cov"][j], radius)
                    ax.plot(outline[:, 0], outline[:, 1], style, color=cmap(1.0 if j == 0 else 0.0), lw=1.6)
            ax.set_title(f"iteration {t}" + (" (converged)" if t == steps.numbers[-1] and t > 0 else ""))
            ax.set_xlabel(names[0])
        axes[0].set_ylabel(names[1])
        fig.colorbar(matplotlib.cm.ScalarMappable(cmap=cmap), ax=list(axes), label="responsibility of component 1")
        fig.suptitle(title)
    return fig


def _ellipses_piece(r: ScenarioReport) -> Piece | None:
    sc, c = r.scenario, r.comparison
    data = c.data
    if not (isinstance(data, em_gm.MixtureData) and data.x.ndim == 2 and data.d == 2):
        return None
    every = iterations(sc, c, cap=max(c.em.n_iter, 1))
    keep = [every.numbers.index(t) for t in _ellipse_iterations(c.em.n_iter)]
    steps = Iterations([every.numbers[i] for i in keep], [every.params[i] for i in keep], every.loglik[keep],
                       [every.responsibilities[i] for i in keep])
    fig = ellipses_figure(data, steps, f"{sc.name}: EM's components on the data")
    caption = (f"EM on the {len(data.x)} points, iteration by iteration: each point coloured by the responsibility "
               "of component 1 from that iteration's E-step (at the previous iteration's parameters; at 0, at the "
               "start), each component's 1σ (solid) and 2σ (dashed) ellipse at the parameters after the M-step. "
               f"Log-likelihood: " + ", ".join(f"{ll:.2f} at {t}" for t, ll in zip(steps.numbers, steps.loglik))
               + " nats.")
    return Piece(KEY, HEADING, caption, fig)


def piece(r: ScenarioReport) -> Piece | None:
    """The 1-D or the 2-D picture; None for coin data (:mod:`.by_hand` draws theirs);
    omitted for any other data, saying what they are."""
    made = _density_piece(r) or _ellipses_piece(r)
    if made is not None or coin_parameter(r.comparison) is not None:
        return made
    c = r.comparison
    return Piece(KEY, HEADING, omitted=(
        f"the teaching pictures (comparisons/report/pieces/) have none for this scenario's data "
        f"({type(c.data).__name__} with parameters {', '.join(c.em.params)})."))
