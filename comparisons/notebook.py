"""How results show in Jupyter: a one-line ``repr`` and a rich HTML view (``_repr_html_``).

``Comparison`` and ``BlackBoxComparison`` call into this module from one-line methods, so
importing the harness does not import matplotlib or the report; the figure is drawn only
when a notebook asks for the HTML. The HTML is one ``<div>``: the verdict, the table of
parameters (the columns of the methods that ran), every check with its numbers, and for a
comparison EM's path drawn by :func:`emtwin.comparisons.report.pieces.em_path.em_path_figure` (over the
log-likelihood contour for two-parameter scenarios), embedded as a PNG.
"""

from __future__ import annotations

import base64
import html
from typing import Any

__all__ = ["blackbox_html", "comparison_html", "result_html", "short_repr"]

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


def _em_path(c: Any) -> str:
    """The EM-path figure as an ``<img>``, or a line saying why there is none."""
    from .report.drawing import png
    from .report.pieces.em_path import em_path_figure
    from .registry import SCENARIOS
    from .paths import contour as contour_of
    from .paths import em_path

    sc = SCENARIOS.get(c.scenario)
    if sc is None:
        # Only the scenario knows which parameters are per component, and so how the
        # parameters flatten into the table's rows; a comparison does not carry it.
        return (f"<p><i>No EM-path figure: {html.escape(c.scenario)} is not a registered scenario, so its "
                "components are not known here; <code>emtwin report</code> draws it.</i></p>")
    path = em_path(sc, c)
    contour = None
    if len(path.names) == 2 and sc.log_likelihood is not None:
        contour = contour_of(sc, c, path, CONTOUR_GRID)
        title = f"{c.scenario}: EM's path on the log-likelihood"
    else:
        title = f"{c.scenario}: EM's parameters per iteration"
    return _png_tag(png(em_path_figure(path, contour, title)), title)


STYLE = ("<style>.emtwin-table{border-collapse:collapse;margin:0.4em 0}"
         ".emtwin-table th,.emtwin-table td{border:1px solid #d0d7de;padding:2px 8px;text-align:right}"
         ".emtwin-table td:first-child,.emtwin-table th:first-child,.emtwin-text td,.emtwin-text th"
         "{text-align:left}</style>")


def comparison_html(c: Any) -> str:
    """A :class:`~emtwin.comparisons.results.Comparison` as HTML: verdict, parameter table,
    checks and EM's path."""
    ran = set(c.methods)
    columns = [("parameter", True, lambda r: r.name), ("EM", True, lambda r: _num(r.em)),
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
