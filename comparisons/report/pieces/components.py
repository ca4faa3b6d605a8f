"""How many components: BIC and AIC of EM's fits against PSIS-LOO of the PyMC twin's, per k,
from the component_sweep hook (:class:`~emtwin.comparisons.report.compute.ComponentChoice`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rc_context

from ..drawing import EM_COLOR, MAP_COLOR, NUTS_COLOR, STYLE, new_figure
from ..piece import Piece, fmt

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ..compute import ComponentChoice, ScenarioReport

__all__ = ["components_figure", "piece"]

KEY, HEADING = "components", "How many components"


def components_figure(choice: ComponentChoice, title: str) -> Figure:
    """BIC and AIC of EM's fits against PSIS-LOO of the PyMC twin's, per k, each with the
    k it picks."""
    ks = np.array([r.k for r in choice.rows])
    with rc_context(STYLE):
        fig = new_figure(15.0, 4.4)
        axes = fig.subplots(1, 3)
        for ax, key, label, pick, better in (
            (axes[0], "bic", "BIC (EM)", choice.bic_choice, "lower"),
            (axes[1], "aic", "AIC (EM)", choice.aic_choice, "lower"),
        ):
            values = np.array([getattr(r, key) for r in choice.rows])
            ax.plot(ks, values, "-o", color=EM_COLOR)
            ax.plot(pick, values[ks == pick][0], "*", color=MAP_COLOR, ms=18, label=f"picks k = {pick}")
            ax.set_title(f"{label}: {better} is better")
            ax.set_xlabel("k (components)")
            ax.set_xticks(ks)
            ax.legend()
        ax = axes[2]
        elpd = np.array([r.elpd_loo for r in choice.rows])
        se = np.array([r.elpd_se for r in choice.rows])
        ax.errorbar(ks, elpd, yerr=se, fmt="-o", color=NUTS_COLOR, capsize=4)
        ax.plot(choice.loo_choice, elpd[ks == choice.loo_choice][0], "*", color=MAP_COLOR, ms=18,
                label=f"picks k = {choice.loo_choice}")
        ax.set_title("PSIS-LOO elpd (PyMC): higher is better")
        ax.set_xlabel("k (components)")
        ax.set_xticks(ks)
        ax.legend()
        fig.suptitle(title)
        return fig


def piece(r: ScenarioReport) -> Piece:
    """The figure and a table per k; omitted without a component_sweep hook."""
    if r.components is None:
        return Piece(KEY, HEADING, omitted=r.omitted["components"])
    ch = r.components
    caption = (f"The same {ch.n_observations} observations fitted with k = {', '.join(str(x.k) for x in ch.rows)} "
               "components. From EM's MLE: BIC = −2 log L + p log n and AIC = −2 log L + 2p, with p the free "
               "parameters (the dimension of the PyMC twin's unconstrained space). From the PyMC twin: PSIS-LOO "
               f"elpd ± SE (ArviZ az.loo on NUTS, {ch.nuts.get('chains', '?')} chains × {ch.nuts.get('draws', '?')} "
               f"draws). BIC picks k = {ch.bic_choice}, AIC k = {ch.aic_choice}, PSIS-LOO k = {ch.loo_choice}.")
    bad = sum(x.high_pareto_k for x in ch.rows)
    if bad:
        caption += f" {bad} observation(s) have Pareto k > 0.7 (LOO is unreliable there; see the table)."
    cols = ["k", "p", "log L (EM)", "BIC", "AIC", "elpd_loo", "SE", "p_loo", "elpd − best", "SE of diff",
            "Pareto k > 0.7", "divergences"]
    rows = [[str(x.k), str(x.n_params), fmt(x.log_likelihood, ".3f"), fmt(x.bic, ".2f"), fmt(x.aic, ".2f"),
             fmt(x.elpd_loo, ".2f"), fmt(x.elpd_se, ".2f"), fmt(x.p_loo, ".2f"), fmt(x.elpd_diff, ".2f"),
             fmt(x.diff_se, ".2f"), str(x.high_pareto_k), str(x.divergences)] for x in ch.rows]
    return Piece(KEY, HEADING, caption, components_figure(ch, f"{r.scenario.name}: choosing k"), (cols, rows),
                 warnings=ch.warnings)
