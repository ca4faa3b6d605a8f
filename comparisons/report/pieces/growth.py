"""Bayesian vs MLE as data grows: posterior mean − MLE and posterior SD against N, from the
simulator hook's data sets (:class:`~emtwin.comparisons.report.compute.Growth`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context
from matplotlib.ticker import NullLocator

from ..drawing import STYLE, new_figure
from ..piece import Piece, fmt

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ..compute import Growth, ScenarioReport

__all__ = ["growth_figure", "piece"]

KEY, HEADING = "growth", "Bayesian vs MLE as data grows"


def growth_figure(growth: Growth, title: str) -> Figure:
    """Posterior mean − MLE and posterior SD against N: the posterior concentrates on the MLE
    at rate 1/√N where the likelihood identifies the parameter."""
    n = np.asarray(growth.sizes, dtype=float)
    with rc_context(STYLE):
        fig = new_figure(13.0, 4.6)
        left, right = fig.subplots(1, 2)
        for i, (name, v) in enumerate(growth.values.items()):
            style = "--" if growth.kinds[name] == "functional" else "-"
            left.plot(n, v["mean"] - v["mle"], style, marker="o", color=f"C{i}", label=name)
            right.loglog(n, v["sd"], style, marker="o", color=f"C{i}", label=name)
        left.axhline(0.0, color="black", lw=0.8)
        left.set_xscale("log")
        left.set_xlabel(f"N ({growth.unit})")
        left.set_ylabel("posterior mean − MLE")
        left.set_title("Bayes and ML meet")
        left.legend()
        first = next(iter(growth.values.values()))["sd"][0]
        right.loglog(n, first * np.sqrt(n[0] / n), ":", color="black", label="∝ 1/√N")
        for ax in (left, right):
            # Ticks at the sizes fitted, written as plain numbers.
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticks(n, [str(int(v)) for v in n])
        # Five labelled ticks spread over the SDs shown: log axes label only powers of ten,
        # and a posterior SD rarely spans one.
        sds = np.concatenate([v["sd"] for v in growth.values.values()] + [first * np.sqrt(n[0] / n)])
        ticks = np.geomspace(sds.min(), sds.max(), 5)
        right.yaxis.set_minor_locator(NullLocator())
        right.set_yticks(ticks, [f"{t:.2g}" for t in ticks])
        right.set_xlabel(f"N ({growth.unit})")
        right.set_ylabel("posterior SD")
        right.set_title("the posterior narrows")
        right.legend()
        fig.suptitle(title)
        return fig


def piece(r: ScenarioReport) -> Piece:
    """The figure and a table per N; omitted without a simulator hook."""
    if r.growth is None:
        return Piece(KEY, HEADING, omitted=r.omitted["growth"])
    g, n_starts = r.growth, r.settings.n_starts
    truth = ", ".join(f"{n} = {v:g}" for n, v in g.truth.items() if g.kinds.get(n) == "parameter")
    caption = (f"Data simulated from the scenario's model at {truth}, N = {', '.join(map(str, g.sizes))} {g.unit} "
               f"(seed {r.settings.seed}); at each N, EM ({n_starts} start{'s' if n_starts > 1 else ''}) and NUTS "
               f"on the PyMC twin ({g.nuts.get('chains', '?')} chains × {g.nuts.get('draws', '?')} draws). Left: "
               "posterior mean − MLE; right: posterior SD (dotted: ∝ 1/√N). The prior's pull shrinks like 1/N and "
               "the posterior width like 1/√N: the posterior concentrates on the MLE.")
    if any(kind == "functional" for kind in g.kinds.values()):
        caption += (" Dashed: identified functionals. Where the likelihood has a flat ridge the parameters' "
                    "posterior does not narrow along it; only the functionals concentrate.")
    cols = ["N"] + [f"{n}: {what}" for n in g.values for what in ("MLE", "mean − MLE", "SD")] + ["divergences"]
    rows = []
    for i, n in enumerate(g.sizes):
        row = [str(n)]
        for v in g.values.values():
            row += [fmt(v["mle"][i]), fmt(v["mean"][i] - v["mle"][i], "+.4f"), fmt(v["sd"][i])]
        rows.append(row + [str(g.diagnostics[i]["divergences"])])
    return Piece(KEY, HEADING, caption, growth_figure(g, f"{r.scenario.name}: as data grows"), (cols, rows),
                 warnings=g.warnings)
