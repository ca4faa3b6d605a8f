"""Posterior against MLE: ArviZ's densities of the NUTS and ADVI draws with 94% HDI, and
EM's MLE on every panel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context

from ...paths import aligned_draws
from ..compute import component_labels
from ..drawing import MAP_COLOR, STYLE
from ..piece import Piece, advi_text, nuts_text

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ..compute import ScenarioReport

__all__ = ["piece", "posterior_figure"]

KEY, HEADING = "posterior", "Posterior against MLE"


def _datatree(draws: Mapping[str, np.ndarray], labels: Mapping[str, list[str]], n: int) -> Any:
    """Pooled draws as a one-chain DataTree (equal draw counts, so ArviZ overlays models
    without reindexing), component axis labelled like the table's rows."""
    import arviz as az

    dims, coords, posterior = {}, {}, {}
    for name, value in draws.items():
        value = np.asarray(value)[:n]
        names = []
        for axis in range(1, value.ndim):
            if axis == 1 and name in labels:
                names.append("component")
                coords["component"] = labels[name]
            else:
                names.append(f"{name}_dim_{axis - 1}")
        dims[name] = names
        posterior[name] = value[None, ...]
    return az.from_dict({"posterior": posterior}, dims=dims, coords=coords)


def posterior_figure(
    fits: Mapping[str, Mapping[str, np.ndarray]],
    mle: Mapping[str, np.ndarray],
    labels: Mapping[str, list[str]],
    title: str,
) -> Figure:
    """ArviZ posterior densities with 94% HDI, one colour per method (NUTS, ADVI), and EM's
    MLE as a red dashed line on every panel.

    ``fits`` maps a method name to pooled draws of EM's parameters (shape (n_draws,
    *param_shape), components in the table's order); ``labels`` gives the component labels
    of each per-component parameter.
    """
    import arviz as az
    import xarray as xr

    n = min(len(next(iter(d.values()))) for d in fits.values())
    trees = {method: _datatree(draws, labels, n) for method, draws in fits.items()}
    first = next(iter(trees.values())).posterior
    mle_ds = xr.Dataset({name: (first[name].dims[2:], np.asarray(value)) for name, value in mle.items()},
                        coords={d: first.coords[d] for name in mle for d in first[name].dims[2:]})
    with rc_context(STYLE):
        pc = az.plot_dist(trees, var_names=list(mle), kind="kde", ci_kind="hdi", ci_prob=0.94, backend="matplotlib")
        az.add_lines(pc, values=mle_ds, visuals={"ref_line": {"color": MAP_COLOR, "linestyle": "--", "linewidth": 2}})
        pc.add_legend("model")
        fig = pc.viz["figure"].item()
        n_panels = sum(int(np.prod(np.shape(v))) or 1 for v in mle.values())
        cols = min(n_panels, 4)
        fig.set_size_inches(max(3.8 * cols + 1.5, 9.0), 3.2 * int(np.ceil(n_panels / cols)) + 0.8)
        fig.suptitle(title)
        # ArviZ lays panels out by hand; let matplotlib make room for the title and legend.
        fig.set_layout_engine("constrained")
    return fig


def piece(r: ScenarioReport) -> Piece:
    """The figure, with what sampled and the priors PyMC prints in the caption; omitted
    when neither NUTS nor ADVI ran."""
    sc, c = r.scenario, r.comparison
    fits, described = {}, []
    if c.nuts is not None:
        fits["NUTS"] = aligned_draws(sc, c, c.nuts)
        described.append(nuts_text(r))
    if c.advi is not None:
        fits["ADVI"] = aligned_draws(sc, c, c.advi)
        described.append(advi_text(r))
    if not fits:
        return Piece(KEY, HEADING, omitted="neither NUTS nor ADVI ran, so there is no posterior to draw.")
    caption = (f"Posterior densities with 94% HDI and mean: {' and '.join(described)}. Dashed red: EM's MLE. "
               f"Priors, printed from the PyMC model: {'; '.join(r.priors)}.")
    gap = next((k for k in c.checks if k.name == "ADVI vs NUTS means"), None)
    if gap is not None:
        caption += f" ADVI's approximation error: {gap.detail}."
    return Piece(KEY, HEADING, caption, posterior_figure(fits, c.em.params, component_labels(sc, c.em.params),
                                                         f"{sc.name}: posterior (NUTS, ADVI) and the MLE"))
