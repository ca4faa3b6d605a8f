"""Why EM converges: the log-likelihood per iteration, its distance to the final value on a
log scale (EM's linear rate), and where each start ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context
from matplotlib.ticker import MaxNLocator

from ..drawing import EM_COLOR, STYLE, new_figure
from ..compute import convergence_rate
from ..piece import Piece

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ...paths import EMPath
    from ..compute import ScenarioReport

__all__ = ["loglik_figure", "piece"]

KEY, HEADING = "loglik", "Why EM converges"


def loglik_figure(path: EMPath, n_starts: int, title: str) -> Figure:
    """Log-likelihood per iteration, its distance to the final value on a log scale (the
    rate of convergence), and, with several starts, where each start ended."""
    several = n_starts > 1
    with rc_context(STYLE):
        fig = new_figure(15.0 if several else 11.0, 4.3)
        axes = fig.subplots(1, 3 if several else 2, squeeze=False)[0]
        iterations = np.arange(len(path.loglik))
        ax = axes[0]
        ax.plot(iterations, path.loglik, "-o", color=EM_COLOR, ms=3)
        ax.set_xlabel("iteration")
        ax.set_ylabel("log-likelihood (nats)")
        ax.set_title("never decreases")
        ax = axes[1]
        gap = path.loglik[-1] - path.loglik
        shown = gap > 0
        ax.set_title("distance to the final value")
        if np.count_nonzero(shown) >= 2:
            ax.semilogy(iterations[shown], gap[shown], "-o", color=EM_COLOR, ms=3)
        else:
            # A rate needs two distances; EM that lands in one step has one (or none).
            ax.text(0.5, 0.5, f"at the maximum after {int(np.argmax(~shown))} step(s):\nno rate to show",
                    ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_xlabel("iteration")
        ax.set_ylabel("final − current (nats)")
        if several:
            ax = axes[2]
            lls = [m[1] for m in path.local_maxima]
            counts = [m[2] for m in path.local_maxima]
            positions = np.arange(len(lls))
            ax.bar(positions, counts, color=EM_COLOR)
            ax.set_xticks(positions, [f"{ll:.3f}" for ll in lls], rotation=30, ha="right")
            ax.set_xlabel("log-likelihood at the end point")
            ax.set_ylabel("starts ending there")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"where the {n_starts} starts ended")
        fig.suptitle(title)
        return fig


def piece(r: ScenarioReport) -> Piece:
    """The figure, with the rate and the starts' end points in the caption."""
    path, n_starts = r.path, r.settings.n_starts
    rate = convergence_rate(path.loglik)
    caption = (f"Log-likelihood after each iteration, from {path.loglik[0]:.4f} to {path.loglik[-1]:.6f} nats: it "
               "never decreases, because each E-step builds a lower bound that touches the log-likelihood at the "
               "current parameters and each M-step climbs that bound.")
    if rate is not None:
        caption += (f" Middle: the distance to the final value shrinks by a factor of about {rate:.2f} per "
                    "iteration, a straight line on the log scale: EM converges linearly, the more slowly the more "
                    "of the information the hidden labels hold.")
    if n_starts > 1:
        ends = "; ".join(f"log-likelihood {ll:.4f} from {n} start{'s' if n > 1 else ''}"
                         for _, ll, n in path.local_maxima)
        distinct = len(path.local_maxima)
        caption += f" Right: where the {n_starts} starts ended ({distinct} distinct point{'s' if distinct > 1 else ''}: {ends})."
    return Piece(KEY, HEADING, caption, loglik_figure(path, n_starts, f"{r.scenario.name}: log-likelihood per iteration"))
