"""E-step responsibilities and PyMC's label posterior: each observation's label from EM's
last E-step beside the PyMC twin's, at EM's point, at its MAP and over the NUTS draws, and the
checks that they agree (:class:`~emtwin.comparisons.report.compute.Labels`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import rc_context

from ...scenario import Check
from ..drawing import EM_COLOR, MAP_COLOR, STYLE, new_figure
from ..piece import Piece, Table, fmt

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from ..compute import Labels, ScenarioReport

__all__ = ["LABEL_ATOL_AT_EM", "LABEL_ATOL_AT_MAP", "labels_figure", "piece"]

KEY, HEADING = "labels", "E-step responsibilities and PyMC's label posterior"

# The PyMC graph and the E-step evaluate the same formula at the same parameters: equal to
# rounding. At the MAP the parameters differ by up to the harness's 1e-4, and a label
# probability moves by at most its gradient times that.
LABEL_ATOL_AT_EM = 1e-8
LABEL_ATOL_AT_MAP = 1e-3


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
        fig = new_figure(15.0, 4.8)
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


def _label_checks(r: ScenarioReport) -> list[Check]:
    """PyMC's label posterior against the E-step, at EM's point (always an error when off) and at
    PyMC's MAP (an error only where MAP is the MLE and the likelihood has one maximiser)."""
    lab, c = r.labels, r.comparison
    checks = [Check("labels: PyMC graph at EM's point = E-step", lab.max_diff_at_em <= LABEL_ATOL_AT_EM,
                    lab.max_diff_at_em, LABEL_ATOL_AT_EM,
                    f"largest |PyMC − EM| over {lab.em.size} label probabilities {lab.max_diff_at_em:.1e}")]
    if lab.pymc_at_map is not None:
        flat = r.scenario.map_is_mle(dict(c.settings["model_options"]))
        strict = c.identifiable and flat
        why = (" (not failed: MAP and EM stop at different points of the flat ridge, where the labels differ; at "
               "the same point they agree, above)") if flat else (
               " (not failed: the prior is not flat, so MAP is not the MLE and its labels differ)")
        checks.append(Check(
            "labels: PyMC at its MAP = E-step", lab.max_diff_at_map <= LABEL_ATOL_AT_MAP, lab.max_diff_at_map,
            LABEL_ATOL_AT_MAP, f"largest |PyMC at MAP − EM| {lab.max_diff_at_map:.1e}" + ("" if strict else why),
            "error" if strict else "info"))
    return checks


def _labels(r: ScenarioReport, checks: list[Check]) -> tuple[str, Any, Table | None]:
    """(caption, figure, table); no table beyond 25 observations."""
    lab = r.labels
    caption = ("Each observation's label: EM's responsibilities (its last E-step) beside the PyMC twin's posterior "
               "probability of the label, computed from the model's own pm.Mixture graph, at PyMC's MAP and "
               "averaged over the NUTS draws. Right: EM against PyMC; "
               + "; ".join(f"{k.name.split(': ')[1]}: {k.detail}" for k in checks) + ".")
    if lab.pymc_nuts is not None:
        shift = float(np.max(np.abs(lab.pymc_nuts - lab.em)))
        caption += (f" The NUTS average differs from EM's by up to {shift:.3f}: with the parameters' uncertainty "
                    "integrated out, confident labels become less confident.")
    fig = labels_figure(lab, f"{r.scenario.name}: Pr(label | observation), EM and PyMC")
    if lab.em.shape[0] > 25:
        return caption, fig, None  # the numbers are in results.json; a 200-row table is not read
    k = lab.em.shape[1]
    cols = ["obs", "value"] + [f"{what} {lab.components[j]}" for j in range(k)
                               for what in ("EM", "PyMC@MAP", "PyMC NUTS")]
    rows = []
    for i in range(lab.em.shape[0]):
        row = [str(i), np.array2string(np.asarray(lab.observations[i]), precision=4)]
        for j in range(k):
            row += [fmt(lab.em[i, j]), fmt(None if lab.pymc_at_map is None else lab.pymc_at_map[i, j]),
                    fmt(None if lab.pymc_nuts is None else lab.pymc_nuts[i, j])]
        rows.append(row)
    return caption, fig, (cols, rows)


def piece(r: ScenarioReport) -> Piece:
    """The figure, a table for small data, and the label checks; omitted without a
    label_probabilities hook."""
    if r.labels is None:
        return Piece(KEY, HEADING, omitted=r.omitted["labels"])
    checks = _label_checks(r)
    caption, fig, table = _labels(r, checks)
    return Piece(KEY, HEADING, caption, fig, table, checks=checks)
