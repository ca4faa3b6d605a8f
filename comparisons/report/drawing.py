"""The report's figures, drawn from :mod:`.compute`' numbers.

Every function returns a :class:`matplotlib.figure.Figure` on an Agg canvas, made without
pyplot, so drawing never opens a window or changes a user's backend; :func:`png` renders one.
The posterior densities are ArviZ's (``az.plot_dist`` with the MLE added by
``az.add_lines``), which draws through pyplot; :func:`png` closes those figures after use.
Axis labels and titles carry names and numbers from the results, never retyped text.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullLocator

if TYPE_CHECKING:  # annotations only: the figures draw what report_parts computes
    from ..paths import Contour, EMPath
    from .compute import ComponentChoice, Growth, Labels

__all__ = [
    "components_figure",
    "em_path_figure",
    "growth_figure",
    "labels_figure",
    "loglik_figure",
    "png",
    "posterior_figure",
]

# Large enough to read when projected; the HTML page scales figures to its width.
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10}
DPI = 100
MAX_DOTS = 800
EM_COLOR, MAP_COLOR, NUTS_COLOR, ADVI_COLOR = "#1f77b4", "#d62728", "#7f7f7f", "#ff7f0e"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes; a figure ArviZ made through pyplot is closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()


# --------------------------------------------------------------------------- EM path


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
            fig = _figure(9.5, 7.0)
            ax = fig.add_subplot()
            _contour_axes(ax, fig, path, contour)
            ax.set_title(title)
            return fig
        n = len(path.names)
        cols = min(n, 3)
        rows = int(np.ceil(n / cols))
        fig = _figure(max(4.2 * cols, 8.0), 3.0 * rows + 0.8)
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


def loglik_figure(path: EMPath, n_starts: int, title: str) -> Figure:
    """Log-likelihood per iteration, its distance to the final value on a log scale (the
    rate of convergence), and, with several starts, where each start ended."""
    several = n_starts > 1
    with rc_context(STYLE):
        fig = _figure(15.0 if several else 11.0, 4.3)
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


# --------------------------------------------------------------------------- posteriors


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


# --------------------------------------------------------------------------- labels


def labels_figure(labels: Labels, title: str) -> Figure:
    """Per observation: EM's responsibility, the PyMC twin's label posterior at its MAP and
    averaged over NUTS draws; beside it, EM against PyMC (a point off the diagonal would be
    a disagreement)."""
    k = labels.em.shape[1]
    shown = [0] if k == 2 else list(range(k))  # with two components the second is 1 − the first
    obs = labels.observations
    n = labels.em.shape[0]
    by_value = obs.ndim == 1 and n > 40
    x = obs if by_value else np.arange(n)
    with rc_context(STYLE):
        fig = _figure(15.0, 4.8)
        left, right = fig.subplots(1, 2, width_ratios=[2.2, 1])
        colors = [f"C{j}" for j in range(k)]
        for j in shown:
            c = colors[j]
            name = labels.components[j]
            left.plot(x, labels.em[:, j], "o", mfc="none", mec=c, ms=9, mew=1.5, label=f"EM E-step, {name}")
            if labels.pymc_at_map is not None:
                left.plot(x, labels.pymc_at_map[:, j], "x", color=c, ms=7, mew=1.5, label=f"PyMC at MAP, {name}")
            if labels.pymc_nuts is not None:
                left.plot(x, labels.pymc_nuts[:, j], "^", color=c, ms=5, alpha=0.7,
                          label=f"PyMC, NUTS average, {name}")
        if by_value:
            left.set_xlabel("observation value")
        else:
            left.set_xlabel("observation" + (" (value below)" if obs.ndim == 1 else " index"))
            if obs.ndim == 1 and n <= 40:
                left.set_xticks(np.arange(n), [f"{i}\n{v:g}" for i, v in enumerate(obs)], fontsize=9)
        left.set_ylabel("Pr(label = component | observation)")
        left.set_ylim(-0.04, 1.04)
        left.legend(fontsize=9, loc="best", framealpha=0.85)
        left.set_title("each observation's label")
        right.plot([0, 1], [0, 1], color="black", lw=0.8)
        right.plot(labels.em.ravel(), labels.pymc_at_em.ravel(), "o", mfc="none", mec=EM_COLOR, ms=8,
                   label=f"PyMC at EM's point: max |diff| {labels.max_diff_at_em:.1e}")
        if labels.pymc_at_map is not None:
            right.plot(labels.em.ravel(), labels.pymc_at_map.ravel(), "x", color=MAP_COLOR, ms=6,
                       label=f"PyMC at MAP: max |diff| {labels.max_diff_at_map:.1e}")
        right.set_xlabel("EM responsibility")
        right.set_ylabel("PyMC label posterior")
        right.set_aspect("equal")
        right.legend(fontsize=9, loc="upper left")
        right.set_title("EM against PyMC")
        fig.suptitle(title)
        return fig


# --------------------------------------------------------------------------- data growth


def growth_figure(growth: Growth, title: str) -> Figure:
    """Posterior mean − MLE and posterior SD against N: the posterior concentrates on the MLE
    at rate 1/√N where the likelihood identifies the parameter."""
    n = np.asarray(growth.sizes, dtype=float)
    with rc_context(STYLE):
        fig = _figure(13.0, 4.6)
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


# --------------------------------------------------------------------------- components


def components_figure(choice: ComponentChoice, title: str) -> Figure:
    """BIC and AIC of EM's fits against PSIS-LOO of the PyMC twin's, per k, each with the
    k it picks."""
    ks = np.array([r.k for r in choice.rows])
    with rc_context(STYLE):
        fig = _figure(15.0, 4.4)
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
