"""The EM path: EM's parameters per iteration, over the log-likelihood contour when there
are two, with PyMC's MAP, the NUTS draws and the flat ridge if there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context
from matplotlib.ticker import FormatStrFormatter

from ..drawing import EM_COLOR, MAP_COLOR, MAX_DOTS, STYLE, new_figure
from ..piece import Piece, nuts_text, point

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ...paths import Contour, EMPath
    from ..compute import ScenarioReport

__all__ = ["em_path_figure", "piece"]


KEY, HEADING = "em-path", "The EM path"


def _contour_axes(ax: Any, fig: Figure, path: EMPath, contour: Contour) -> None:
    rel = contour.loglik - np.nanmax(contour.loglik)
    # Levels a χ²-minded reader knows: 0.5, 2, 4.5 nats below the top are the 1, 2 and 3 SD
    # profile contours of a Gaussian likelihood; the rest show the far field.
    depth = max(np.nanpercentile(-rel, 95), 5.0)
    levels = -np.unique(np.r_[np.geomspace(0.5, depth, 12), 0.0])[::-1]
    filled = ax.contourf(contour.x, contour.y, np.clip(rel, -depth, 0), levels=np.sort(levels), cmap="viridis",
                         extend="min")
    ax.contour(contour.x, contour.y, rel, levels=[-4.5, -2.0, -0.5], colors="white", linewidths=0.8)
    bar = fig.colorbar(filled, ax=ax, label="log-likelihood − its maximum (nats)")
    bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
    if contour.draws is not None:
        # Every k-th draw, at most MAX_DOTS: more would paint the posterior's region solid.
        shown = contour.draws[:: max(1, int(np.ceil(len(contour.draws) / MAX_DOTS)))]
        ax.scatter(shown[:, 0], shown[:, 1], s=4, color="black", alpha=0.3, linewidths=0,
                   label=f"NUTS posterior draws ({len(shown)} of {len(contour.draws)})", rasterized=True)
    if contour.ridge is not None:
        ax.plot(contour.ridge[:, 0], contour.ridge[:, 1], color="#ffdd57", lw=2.5, ls="--",
                label="flat ridge: equal log-likelihood")
    ax.plot(path.values[:, 0], path.values[:, 1], "-o", color="#ff7f0e", ms=4, lw=1.5,
            label=f"EM path ({len(path.values) - 1} iterations)")
    ax.plot(*path.values[0], "s", color="#ff7f0e", ms=9, mec="black", label="EM start")
    ax.plot(*path.values[-1], "*", color="#ff7f0e", ms=16, mec="black", label="EM answer (MLE)")
    if len(path.local_maxima) > 1:
        pts = np.array([m[0] for m in path.local_maxima])
        ax.plot(pts[:, 0], pts[:, 1], "D", color="none", mec="white", ms=9, mew=1.5,
                label=f"other starts' end points ({len(pts)} distinct)")
    if path.map_point is not None:
        ax.plot(*path.map_point, "x", color=MAP_COLOR, ms=13, mew=3, label="PyMC MAP")
    ax.set_xlabel(contour.names[0])
    ax.set_ylabel(contour.names[1])
    ax.set_xlim(contour.x[0], contour.x[-1])
    ax.set_ylim(contour.y[0], contour.y[-1])
    ax.legend(loc="best", framealpha=0.85)


def em_path_figure(path: EMPath, contour: Contour | None, title: str) -> Figure:
    """Two parameters: EM's trajectory over the log-likelihood contour, with the MAP point,
    NUTS draws and (if flat) the ridge. Otherwise: each parameter per iteration, MAP dashed."""
    with rc_context(STYLE):
        if contour is not None:
            fig = new_figure(9.5, 7.0)
            ax = fig.add_subplot()
            _contour_axes(ax, fig, path, contour)
            ax.set_title(title)
            return fig
        n = len(path.names)
        cols = min(n, 3)
        rows = int(np.ceil(n / cols))
        fig = new_figure(max(4.2 * cols, 8.0), 3.0 * rows + 0.8)
        axes = fig.subplots(rows, cols, squeeze=False)
        iterations = np.arange(len(path.values))
        for i, ax in enumerate(axes.flat):
            if i >= n:
                ax.set_visible(False)
                continue
            ax.plot(iterations, path.values[:, i], "-o", color=EM_COLOR, ms=3, label="EM")
            if path.map_point is not None:
                ax.axhline(path.map_point[i], color=MAP_COLOR, ls="--", label="PyMC MAP")
            ax.set_title(path.names[i])
            ax.set_xlabel("iteration")
            if i == 0:
                ax.legend()
        fig.suptitle(title)
        return fig


def piece(r: ScenarioReport) -> Piece:
    """The figure with a caption naming the start, the end and what else is drawn."""
    path, name = r.path, r.scenario.name
    start, end = path.values[0], path.values[-1]
    ct = r.contour
    if ct is None:
        caption = (f"Each parameter after each of EM's {len(path.values) - 1} iterations, from "
                   f"{point(path.names, start)} to {point(path.names, end)}; dashed red: PyMC's MAP. "
                   f"(No contour: {r.omitted['contour']})")
        return Piece(KEY, HEADING, caption, em_path_figure(path, None, f"{name}: EM's parameters per iteration"))
    caption = (f"EM's path from {point(path.names, start)} to the MLE {point(path.names, end)} in "
               f"{len(path.values) - 1} iterations, over the log-likelihood ({ct.names[0]} across, "
               f"{ct.names[1]} up; white lines 0.5, 2 and 4.5 nats below the maximum).")
    if path.map_point is not None:
        caption += f" Red ×: PyMC's MAP {point(path.names, path.map_point)}."
    if ct.draws is not None:
        caption += f" Black dots: {len(ct.draws)} posterior draws, {nuts_text(r)}."
    if len(path.local_maxima) > 1:
        caption += f" White diamonds: the {len(path.local_maxima)} distinct end points of EM's starts."
    if ct.ridge is not None:
        caption += " Yellow dashes: the flat ridge through EM's answer (see The ridge, below)."
    return Piece(KEY, HEADING, caption, em_path_figure(path, ct, f"{name}: EM's path on the log-likelihood"))
