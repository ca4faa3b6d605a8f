"""How results show in Jupyter: a one-line ``repr`` and a rich HTML view (``_repr_html_``).

``Comparison`` and ``BlackBoxComparison`` call into this module from one-line methods, so
importing the harness does not import matplotlib or the report; the figure is drawn only
when a notebook asks for the HTML. The HTML is one ``<div>``: the verdict, the table of
parameters (the columns of the methods that ran), every check with its numbers, and for a
comparison EM's path drawn by :func:`emtwin.comparisons.report.pieces.em_path.em_path_figure` (over the
log-likelihood contour for two-parameter scenarios), embedded as a PNG.

:func:`show_steps` (``emtwin.show_steps``) shows a comparison's step-through page inline:
the very page ``emtwin report`` writes to ``steps/`` (:mod:`.report.steps`), with BokehJS
inline, in an ``<iframe srcdoc=...>``. Why an iframe rather than Bokeh's notebook output
(``output_notebook``): the page needs no kernel, no server and no network, so it works the
same in JupyterLab, classic Notebook, VS Code and an exported HTML notebook opened offline;
it is the page the report's tests open in Chromium, not a second rendering of it; and its
window title, styles and script stay inside the frame instead of the notebook's page (the
notebook route would also depend on a cell having loaded BokehJS first).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["StepView", "blackbox_html", "comparison_html", "result_html", "short_repr", "show_steps"]

VERDICT_COLOURS = {"agree": "#1a7f37", "non-identifiable": "#9a6700", "disagree": "#cf222e"}
STATUS = {True: "ok", False: "FAIL"}
CONTOUR_GRID = 41  # grid points per axis: a notebook wants the picture in a second, not the report's 81


def _is_comparison(result: Any) -> bool:
    # Told apart by what they hold, not by class: the result types import this module (for
    # their reprs), so importing theirs here would close a cycle.
    return hasattr(result, "fits")


def short_repr(result: Any) -> str:
    """``Comparison(scenario='coin-sets', verdict='agree', methods=('map',), ...)``: one line."""
    kind = type(result).__name__
    fields = [f"scenario={result.scenario!r}", f"verdict={result.verdict!r}"]
    if _is_comparison(result):
        fields += [f"methods={tuple(result.methods)!r}", f"em_log_likelihood={result.em.log_likelihood:.6g}",
                   f"n_iter={result.em.n_iter}"]
    else:
        fields += [f"log_likelihood={result.log_likelihood:.6g}", f"higher_maxima={len(result.higher_maxima)}"]
    fields += [f"failures={len(result.failures)}", f"warnings={len(result.warnings)}"]
    return f"{kind}({', '.join(fields)})"


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def _table(header: list[str], rows: list[list[str]], kind: str = "numbers") -> str:
    """An HTML table; ``kind`` "numbers" right-aligns every column but the first, "text" none."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="emtwin-table emtwin-{kind}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _verdict(result: Any) -> str:
    colour = VERDICT_COLOURS.get(result.verdict, "black")
    return (f'<span style="color:{colour};font-weight:bold">{html.escape(result.verdict.upper())}</span>')


def _checks(result: Any) -> str:
    rows = [[c.severity if c.severity == "info" else STATUS[c.passed], c.name, c.detail] for c in result.checks]
    return _table(["", "check", "numbers"], rows, kind="text")


def _png_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" style="max-width:100%" src="data:image/png;base64,{data}">'


@dataclass(frozen=True)
class _Steps:
    """What the step-through page is drawn from (:class:`~.report.steps.Stepped`)."""

    scenario: Any
    comparison: Any
    path: Any
    contour: Any


def _steps(c: Any, scenario: Any = None) -> _Steps | None:
    """EM's path and (two parameters with a log_likelihood hook) the contour of comparison
    ``c``; None when ``scenario`` is not given and ``c.scenario`` is not registered: only the
    scenario knows which parameters are per component, and so how they flatten into the
    table's rows, and a comparison does not carry it."""
    from .paths import contour as contour_of
    from .paths import em_path
    from .registry import SCENARIOS

    sc = SCENARIOS.get(c.scenario) if scenario is None else scenario
    if sc is None:
        return None
    path = em_path(sc, c)
    contour = None
    if len(path.names) == 2 and sc.log_likelihood is not None:
        contour = contour_of(sc, c, path, CONTOUR_GRID)
    return _Steps(sc, c, path, contour)


def _em_path(c: Any) -> str:
    """The EM-path figure as an ``<img>``, or a line saying why there is none."""
    from .report.drawing import png
    from .report.pieces.em_path import em_path_figure

    steps = _steps(c)
    if steps is None:
        return (f"<p><i>No EM-path figure: {html.escape(c.scenario)} is not a registered scenario, so its "
                "components are not known here; <code>emtwin report</code> draws it.</i></p>")
    if steps.contour is not None:
        title = f"{c.scenario}: EM's path on the log-likelihood"
    else:
        title = f"{c.scenario}: EM's parameters per iteration"
    return _png_tag(png(em_path_figure(steps.path, steps.contour, title)), title)


STYLE = ("<style>.emtwin-table{border-collapse:collapse;margin:0.4em 0}"
         ".emtwin-table th,.emtwin-table td{border:1px solid #d0d7de;padding:2px 8px;text-align:right}"
         ".emtwin-table td:first-child,.emtwin-table th:first-child,.emtwin-text td,.emtwin-text th"
         "{text-align:left}</style>")


def comparison_html(c: Any) -> str:
    """A :class:`~emtwin.comparisons.results.Comparison` as HTML: verdict, parameter table,
    checks and EM's path."""
    ran = set(c.methods)
    derived = getattr(c, "derived", None)
    columns = [("parameter", True, lambda r: r.name), ("EM", True, lambda r: _num(r.em)),
               (derived.label if derived is not None else "derived EM",
                any(getattr(r, "derived_em", None) is not None for r in c.rows),
                lambda r: _num(getattr(r, "derived_em", None))),
               ("MAP", "map" in ran, lambda r: _num(r.map)),
               ("EM−MAP", "map" in ran, lambda r: _num(r.em_minus_map, ".1e")),
               ("ADVI mean (sd)", "advi" in ran,
                lambda r: "—" if r.advi_mean is None else f"{r.advi_mean:.3f} ({r.advi_sd:.3f})"),
               ("NUTS mean (sd)", "nuts" in ran,
                lambda r: "—" if r.nuts_mean is None else f"{r.nuts_mean:.3f} ({r.nuts_sd:.3f})"),
               ("NUTS 94% HDI", "nuts" in ran,
                lambda r: "—" if r.hdi_low is None else f"[{r.hdi_low:.3f}, {r.hdi_high:.3f}]"),
               ("(mean−MLE)/sd", "nuts" in ran, lambda r: _num(r.z_nuts, "+.2f"))]
    shown = [(name, cell) for name, keep, cell in columns if keep]
    table = _table([name for name, _ in shown], [[cell(r) for _, cell in shown] for r in c.rows])
    em = c.em
    loglik = (f"EM log-likelihood {em.log_likelihood:.6f} after {em.n_iter} iterations"
              + (f"; MAP {c.map.log_likelihood:.6f}" if c.map is not None else ""))
    functionals = "".join(
        f"<li>identifiable {html.escape(name)}: "
        + html.escape(", ".join(f"{k} {v:.6f}" for k, v in values.items())) + "</li>"
        for name, values in c.functionals.items())
    methods = ", ".join(c.methods) or "EM only"
    return (f'<div class="emtwin">{STYLE}'
            f"<p><b>{html.escape(c.scenario)}</b>: EM vs PyMC ({html.escape(methods)}), seed {c.settings['seed']}"
            f" &mdash; verdict {_verdict(c)}</p>"
            f"{table}<p>{html.escape(loglik)}</p>" + (f"<ul>{functionals}</ul>" if functionals else "")
            + f"{_checks(c)}{_em_path(c)}</div>")


def blackbox_html(b: Any) -> str:
    """A :class:`~emtwin.comparisons.blackbox.BlackBoxComparison` as HTML: verdict, your
    parameters against PyMC's MAP from them with the gradient there, and the checks."""
    rows = [[r.name, _num(r.em), _num(r.map), _num(r.em_minus_map, ".1e"), _num(r.gradient, ".1e"),
             _num(r.newton_step, ".1e")] for r in b.rows]
    table = _table(["parameter", "yours", "MAP", "yours−MAP", "gradient", "Newton step"], rows)
    reported = b.reported_log_likelihood
    loglik = (("log-likelihood: " if reported is None else f"log-likelihood: reported {reported:.6f}, ")
              + f"PyMC model at your parameters {b.log_likelihood:.6f}; MAP {b.map.log_likelihood:.6f}")
    return (f'<div class="emtwin">{STYLE}'
            f"<p><b>{html.escape(b.scenario)}</b>: your EM vs the PyMC twin ({html.escape(str(b.settings['builder']))})"
            f" &mdash; verdict {_verdict(b)}</p>{table}<p>{html.escape(loglik)}</p>{_checks(b)}</div>")


def result_html(result: Any) -> str:
    """``_repr_html_`` of either result type."""
    return comparison_html(result) if _is_comparison(result) else blackbox_html(result)


@dataclass(frozen=True)
class StepView:
    """A step-through page to show in a notebook: Jupyter displays ``_repr_html_``.

    Attributes
    ----------
    page : StepPage
        The page (``page.html``: a whole HTML file with BokehJS inline, ~2 MB).
    height : int
        The frame's height in CSS pixels; its width is the cell's.
    """

    page: Any
    height: int = 820

    def _repr_html_(self) -> str:
        return (f'<iframe class="emtwin-steps" title="{html.escape(self.page.file)}" '
                f'style="width:100%;height:{self.height}px;border:1px solid #d0d7de" '
                f'srcdoc="{html.escape(self.page.html, quote=True)}"></iframe>')

    def __repr__(self) -> str:
        return f"StepView(page={self.page.file!r}, {len(self.page.html.encode())} bytes)"


def show_steps(result: Any, scenario: Any = None, *, iteration: int = 0, overlays: Sequence[str] = (),
               height: int = 820) -> StepView:
    """The step-through page of a comparison (or a report's ScenarioReport), shown inline in
    Jupyter: a slider over EM's iterations, PyMC's MAP and the NUTS posterior as overlays.

    Parameters
    ----------
    result : Comparison or ScenarioReport
        From ``emtwin.compare`` (or ``report.compute.scenario_report``, whose contour and
        grid the page then uses).
    scenario : Scenario, optional
        Needed for a comparison of an unregistered scenario (``emtwin.custom_scenario``).
    iteration : int
        Where the slider starts (0: EM's start).
    overlays : sequence of {"map", "nuts"}
        Overlays switched on at the start, of the methods that ran.
    height : int
        The frame's height in CSS pixels.

    Returns
    -------
    StepView
        Displays as the page in an ``<iframe srcdoc>``; works offline, with no server.
    """
    from emtwin.em_reference.checks import Whole, check

    from .report.steps import step_page

    check("height", height, Whole(100), "CSS pixels")
    if not _is_comparison(result) and not hasattr(result, "path"):
        raise ValueError(f"result must be a Comparison (emtwin.compare) or a ScenarioReport; got a "
                         f"{type(result).__name__}, which holds no EM trace to step through.")
    stepped = result if hasattr(result, "path") else _steps(result, scenario)
    if stepped is None:
        raise ValueError(f"scenario is needed: {result.scenario!r} is not a registered scenario; pass the "
                         "Scenario it was run with (show_steps(result, scenario)).")
    name = stepped.scenario.name
    return StepView(step_page(stepped, f"{name}-steps.html", iteration=iteration, overlays=overlays), height)
