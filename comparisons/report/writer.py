"""``emtwin report``: a folder a teacher can project and a modeller can cite.

:func:`write_report` runs each scenario's comparison and computes its report's numbers
(:mod:`.compute`), turns them into pieces (:mod:`.section`, :mod:`.pieces`) and writes one
folder::

    index.html     self-contained page: figures embedded as PNG data URIs, no scripts or
                   styles fetched from anywhere, opens from disk
    report.md      the same text and tables, figures linked from figures/
    results.json   every number in the tables, with the versions, seed and settings
    figures/       the figures as PNG files
    steps/         one interactive page per scenario (:mod:`.steps`): a slider over EM's
                   iterations; BokehJS beside them, once, so they open from disk

Writing is safe: everything is built in a hidden sibling folder, checked with
:func:`check_report`, and only then renamed into place, so an interrupted run leaves the
previous report (or nothing) under the target name, never a half-written one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import os
import re
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

from . import steps
from .text import (
    _jsonable, check_mark, comparison_cells, comparison_to_dict, format_comparison, summary_lines, versions,
)
from .compute import ReportSettings, convergence_rate, scenario_report
from .piece import Piece
from .section import Section, file_slug, section
from ..parallel import run_all
from ..registry import SCENARIOS, get_scenario
from ..scenario import Check, Scenario

__all__ = ["FORMAT", "Report", "check_report", "write_report"]

FORMAT = "emtwin-report/1"  # results.json's "format"; also how an old report is recognised
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Report:
    """A written report: where it is, what it found, and whether every twin agreed."""

    path: Path
    sections: list[Section]
    results: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sections)


# --------------------------------------------------------------------------- JSON


def _section_json(sec: Section) -> dict[str, Any]:
    r = sec.report
    path = r.path
    out: dict[str, Any] = {
        "title": r.scenario.title,
        "source": r.scenario.source,
        "ok": sec.ok,
        "comparison": comparison_to_dict(r.comparison),
        "model": r.model_text,
        "em_path": {
            "names": path.names, "values": path.values, "log_likelihood": path.loglik, "map": path.map_point,
            "local_maxima": [{"params": p, "log_likelihood": ll, "n_starts": n} for p, ll, n in path.local_maxima],
            "convergence_rate": convergence_rate(path.loglik),
        },
        "page": None if sec.page is None else sec.page.file,
        "report_checks": [dataclasses.asdict(c) for c in sec.checks],
        "figures": [{"file": f"figures/{f.slug}.png", "heading": f.heading, "caption": f.caption}
                    for f in sec.figures.values()],
        "omitted": r.omitted,
        "tables": {key: {"columns": cols, "rows": rows} for key, (cols, rows) in sec.tables.items()},
        "notes": {key: {"heading": heading, "caption": caption} for key, (heading, caption) in sec.notes.items()},
        "texts": sec.texts,
    }
    del out["comparison"]["versions"]  # once, at the top of the file
    if r.contour is not None:
        ct = r.contour
        out["contour"] = {"names": ct.names, "x_range": [ct.x[0], ct.x[-1]], "y_range": [ct.y[0], ct.y[-1]],
                          "grid": [len(ct.x), len(ct.y)], "max_log_likelihood": float(np.nanmax(ct.loglik)),
                          "ridge": ct.ridge, "ridge_log_likelihood": ct.ridge_loglik}
    if r.labels is not None:
        lab = r.labels
        out["labels"] = {"components": lab.components, "observations": lab.observations, "em": lab.em,
                         "pymc_at_em": lab.pymc_at_em, "pymc_at_map": lab.pymc_at_map, "pymc_nuts_mean": lab.pymc_nuts,
                         "max_abs_diff_at_em": lab.max_diff_at_em, "max_abs_diff_at_map": lab.max_diff_at_map}
    if r.growth is not None:
        g = r.growth
        out["data_growth"] = {"unit": g.unit, "sizes": g.sizes, "truth": g.truth, "kinds": g.kinds,
                              "values": g.values, "diagnostics": g.diagnostics, "nuts": g.nuts,
                              "warnings": g.warnings}
    if r.components is not None:
        ch = r.components
        out["components"] = {"n_observations": ch.n_observations, "rows": [dataclasses.asdict(x) for x in ch.rows],
                             "choice": {"bic": ch.bic_choice, "aic": ch.aic_choice, "psis_loo": ch.loo_choice},
                             "nuts": ch.nuts, "warnings": ch.warnings}
    return out


# --------------------------------------------------------------------------- HTML and Markdown

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1280px;
       padding: 1.5rem 2rem 4rem; color: #1a1a1a; line-height: 1.5; font-size: 17px; }
h1 { font-size: 2rem; margin-bottom: .2rem; } h2 { font-size: 1.6rem; border-bottom: 2px solid #ddd;
     margin-top: 3rem; padding-bottom: .3rem; } h3 { font-size: 1.25rem; margin-top: 2rem; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow-x: auto; font-size: 14px; line-height: 1.35; }
figure { margin: 1rem 0 1.5rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 15px; color: #333; margin-top: .4rem; }
table { border-collapse: collapse; font-size: 14px; margin: .5rem 0 1rem; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.verdict { font-weight: 700; font-size: 1.1rem; } .agree, .non-identifiable { color: #1a7f37; }
.disagree { color: #cf222e; } .omitted { color: #666; font-style: italic; }
.meta { color: #555; font-size: 15px; } .broken { background: #cf222e; color: white; padding: .5rem 1rem; }
table.checks { display: table; width: 100%; } table.checks td, table.checks th { white-space: normal; text-align: left; }
table.checks td:first-child { font-weight: 700; white-space: nowrap; } tr.FAIL td:first-child { color: #cf222e; }
tr.warn td:first-child { color: #9a6700; } tr.ok td:first-child { color: #1a7f37; } tr.info td:first-child { color: #666; }
pre.wrap { white-space: pre-wrap; }
"""

# Run by the browser only: tells a reader (and a headless check) if any figure failed to decode.
SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img"), ok = 0;
  imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute("data-images-total", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
  // Nothing runs off the right edge: the page is no wider than the window.
  document.body.setAttribute("data-overflow", document.documentElement.scrollWidth > window.innerWidth);
  if (ok < imgs.length) {
    var p = document.createElement("p"); p.className = "broken";
    p.textContent = (imgs.length - ok) + " of " + imgs.length + " figures failed to load.";
    document.body.insertBefore(p, document.body.firstChild);
  }
});
"""


def _html_table(cols: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _checks_html(checks: Sequence[Check]) -> str:
    """One row per check: mark, name, detail; the detail wraps (a check line can be long)."""
    rows = "".join(f"<tr class='{check_mark(k)}'><td>{check_mark(k)}</td><td>{html.escape(k.name)}</td>"
                   f"<td>{html.escape(k.detail)}</td></tr>" for k in checks)
    return f"<table class='checks'><thead><tr><th></th><th>check</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>"


def _comparison_html(c: Any) -> str:
    """``emtwin compare``'s table as an HTML table, its summary lines, the checks and the verdict."""
    header, lines, marks = comparison_cells(c)
    failing = any(marks)
    cols = header + (["fails"] if failing else [])
    rows = [line + ([mark] if failing else []) for line, mark in zip(lines, marks)]
    out = [f"<p class='meta'>{html.escape(c.scenario)}: EM vs PyMC ({html.escape(', '.join(c.methods) or 'EM only')}), "
           f"seed {c.settings['seed']}</p>", _html_table(cols, rows)]
    out.append("<p>" + "<br>".join(html.escape(line) for line in summary_lines(c)) + "</p>")
    out.append(_checks_html(c.checks))
    verdict = c.verdict.upper()
    if c.warnings:
        verdict += f" (with {len(c.warnings)} warning{'s' if len(c.warnings) > 1 else ''})"
    out.append(f"<p class='verdict {c.verdict}'>verdict: {html.escape(verdict)}</p>")
    return "".join(out)


def _md_table(cols: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in rows]
    return "\n".join(lines)


def _check_line(c: Check) -> str:
    mark = {"error": {True: "ok  ", False: "FAIL"}, "warning": {True: "ok  ", False: "warn"}}.get(
        c.severity, {True: "info", False: "info"})[c.passed]
    return f"[{mark}] {c.name}: {c.detail}"


def _render(sections: list[Section], header: dict[str, Any]) -> tuple[str, str]:
    """(index.html, report.md)."""
    h: list[str] = []
    m: list[str] = []
    title = "emtwin report: " + ", ".join(s.report.scenario.name for s in sections)
    h.append(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style>"
             f"<script>{SCRIPT}</script></head><body>")
    h.append(f"<h1>{html.escape(title)}</h1>")
    m.append(f"# {title}\n")
    meta = (f"Seed {header['seed']}; command <code>{html.escape(header['command'])}</code>; "
            + "; ".join(f"{k} {v}" for k, v in header["versions"].items()) + f"; created {header['created']}.")
    h.append(f"<p class='meta'>{meta}</p>")
    m.append(meta.replace("<code>", "`").replace("</code>", "`").replace("&gt;", ">").replace("&lt;", "<") + "\n")
    settings = json.dumps(header["settings"])
    h.append(f"<p class='meta'>Settings: <code>{html.escape(settings)}</code>. Every number below is in "
             "<code>results.json</code>.</p>")
    m.append(f"Settings: `{settings}`. Every number below is in `results.json`.\n")
    # Contents.
    rows = [[s.report.scenario.name, s.report.scenario.title, s.report.comparison.verdict
             + ("" if s.ok else " (report check failed)" if s.report.comparison.ok else "")] for s in sections]
    h.append("<ul>" + "".join(f"<li><a href='#{html.escape(r[0])}'>{html.escape(r[0])}</a>: {html.escape(r[1])} — "
                              f"<span class='verdict {html.escape(r[2].split()[0])}'>{html.escape(r[2])}</span></li>"
                              for r in rows) + "</ul>")
    m.append(_md_table(["scenario", "title", "verdict"], rows) + "\n")

    for sec in sections:
        _render_section(sec, h, m)
    h.append("</body></html>")
    return "\n".join(h), "\n".join(m)


def _render_section(s: Section, h: list[str], m: list[str]) -> None:
    """One scenario's section, appended to the page ``h`` and the Markdown ``m``."""
    r, c = s.report, s.report.comparison
    name = r.scenario.name
    h.append(f"<section id='{html.escape(name)}'><h2>{html.escape(name)}: {html.escape(r.scenario.title)}</h2>")
    h.append(f"<p class='meta'>{html.escape(r.scenario.source)}</p>")
    h.append(f"<p class='verdict {c.verdict}'>verdict: {c.verdict.upper()}</p>")
    m.append(f"## {name}: {r.scenario.title}\n\n{r.scenario.source}\n\n**verdict: {c.verdict.upper()}**\n")
    if s.page is not None:
        h.append(f"<p class='steps'><a href='{html.escape(s.page.file)}'>Step through EM on {html.escape(name)}</a>: "
                 "an interactive page (a slider over EM's iterations, PyMC's MAP and NUTS as overlays).</p>")
        m.append(f"[Step through EM on {name}]({s.page.file}): an interactive page.\n")
    h.append("<h3>The twins' estimates and verdicts</h3>")
    h.append(_comparison_html(c))
    m.append(f"### The twins' estimates and verdicts\n\n```\n{format_comparison(c)}\n```\n")
    if s.checks:
        lines = "\n".join(_check_line(k) for k in s.checks)
        h.append(f"<p>Checks the report adds:</p>{_checks_html(s.checks)}")
        m.append(f"Checks the report adds:\n\n```\n{lines}\n```\n")
    h.append(f"<h3>The PyMC twin, printed from the model</h3><pre>{html.escape(r.model_text)}</pre>")
    m.append(f"### The PyMC twin, printed from the model\n\n```\n{r.model_text}\n```\n")
    for piece in s.pieces:
        _render_piece(s, piece, h, m)
    h.append("</section>")


def _render_piece(s: Section, p: Piece, h: list[str], m: list[str]) -> None:
    """One piece, appended to the page ``h`` and the Markdown ``m``: its heading, then why it
    is not shown, or its figure with the caption, its paragraph, or its caption alone; then
    its table and the warnings of the fits behind it."""
    if p.omitted is not None:
        h.append(f"<h3>{html.escape(p.heading)}</h3><p class='omitted'>Not shown: {html.escape(p.omitted)}</p>")
        m.append(f"### {p.heading}\n\n*Not shown: {p.omitted}*\n")
        return
    fig = s.figures.get(p.key)
    if fig is not None:
        data = base64.b64encode(fig.png).decode("ascii")
        h.append(f"<h3>{html.escape(fig.heading)}</h3><figure><img alt='{html.escape(fig.heading)}' "
                 f"src='data:image/png;base64,{data}'><figcaption>{html.escape(fig.caption)}</figcaption></figure>")
        m.append(f"### {fig.heading}\n\n![{fig.heading}](figures/{fig.slug}.png)\n\n{fig.caption}\n")
    elif p.text is not None:
        h.append(f"<h3>{html.escape(p.heading)}</h3><p>{html.escape(p.text)}</p>")
        m.append(f"### {p.heading}\n\n{p.text}\n")
    else:
        h.append(f"<h3>{html.escape(p.heading)}</h3><p>{html.escape(p.caption)}</p>")
        m.append(f"### {p.heading}\n\n{p.caption}\n")
    if p.table is not None:
        h.append(_html_table(*p.table))
        m.append(_md_table(*p.table) + "\n")
    if p.warnings:
        h.append("<p class='meta'>Warnings raised by these fits:</p><pre class='wrap'>"
                 + html.escape("\n".join(p.warnings)) + "</pre>")
        m.append("Warnings raised by these fits:\n\n```\n" + "\n".join(p.warnings) + "\n```\n")


# --------------------------------------------------------------------------- checking a folder


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.sources.append(values.get("src"))
        for key in ("src", "href"):
            value = values.get(key) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(f"<{tag} {key}={value[:60]}>")


def check_report(folder: str | os.PathLike) -> list[str]:
    """What is wrong with a report folder; an empty list when it is complete.

    Checks that ``index.html``, ``report.md`` and ``results.json`` exist, that every
    ``<img>`` of the page is an embedded PNG (or an existing PNG file beside it) that
    decodes to a PNG signature, that there are as many as ``results.json`` lists figures,
    that nothing is fetched from the network, that every figure ``report.md`` links exists, and
    that each scenario's step-through page (``steps/*.html``) exists, is linked from the
    page and loads its JavaScript from the folder only.
    """
    folder = Path(folder)
    problems = []
    for name in ("index.html", "report.md", "results.json"):
        if not (folder / name).is_file():
            problems.append(f"{name} is missing")
    if problems:
        return problems
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return [f"results.json does not parse: {err}"]
    listed = [f["file"] for s in results.get("scenarios", {}).values() for f in s.get("figures", [])]
    parser = _Images()
    parser.feed((folder / "index.html").read_text(encoding="utf-8"))
    for i, src in enumerate(parser.sources):
        if not src:
            problems.append(f"image {i + 1} of index.html has no src")
        elif src.startswith("data:"):
            head, _, payload = src.partition(",")
            if head != "data:image/png;base64" or not payload:
                problems.append(f"image {i + 1} of index.html is an empty or non-PNG data URI ({head})")
                continue
            try:
                raw = base64.b64decode(payload, validate=True)
            except ValueError:
                problems.append(f"image {i + 1} of index.html has invalid base64")
                continue
            if not raw.startswith(PNG_SIGNATURE):
                problems.append(f"image {i + 1} of index.html does not decode to a PNG")
        else:
            target = folder / src
            if not target.is_file() or not target.read_bytes().startswith(PNG_SIGNATURE):
                problems.append(f"image {i + 1} of index.html points to {src}, which is not a PNG file")
    if len(parser.sources) != len(listed):
        problems.append(f"index.html has {len(parser.sources)} images but results.json lists {len(listed)} figures")
    problems += [f"index.html fetches from the network: {e}" for e in parser.external]
    problems += _check_pages(folder, results)
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for file in listed:
        if not (folder / file).is_file():
            problems.append(f"{file} (listed in results.json) is missing")
        elif f"]({file})" not in markdown:
            problems.append(f"report.md does not show {file}")
    return problems


def _check_pages(folder: Path, results: dict[str, Any]) -> list[str]:
    """Each scenario's step-through page: listed, present, linked from index.html, a Bokeh
    document whose scripts are inline or files in the folder, nothing fetched from the network."""
    problems = []
    index = (folder / "index.html").read_text(encoding="utf-8")
    for name, scenario in results.get("scenarios", {}).items():
        file = scenario.get("page")
        if file is None:
            continue
        target = folder / file
        if not target.is_file():
            problems.append(f"{file} (the step-through page of {name}) is missing")
            continue
        if f"href='{html.escape(file)}'" not in index:
            problems.append(f"index.html does not link {file}")
        page = target.read_text(encoding="utf-8")
        parser = _Images()
        parser.feed(page)
        problems += [f"{file} fetches from the network: {e}" for e in parser.external]
        if "Bokeh.embed" not in page:
            problems.append(f"{file} does not hold a Bokeh document")
        for src in re.findall(r"<script[^>]* src=[\"']([^\"']+)", page):
            script = target.parent / src
            if src.startswith(("http:", "https:", "//")) or not script.is_file() or script.stat().st_size < 1000:
                problems.append(f"{file} loads {src}, which is not a script in the report folder")
    return problems


# --------------------------------------------------------------------------- writing


def _prepare(out: Path) -> None:
    """Refuse a target that is not ours to replace, before any work is done."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder; {str(out)!r} is a file.")
    if out.is_dir() and any(out.iterdir()):
        marker = out / "results.json"
        try:
            ours = json.loads(marker.read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise ValueError(
                f"out = {str(out)!r} is a folder that holds something other than an emtwin report (no results.json "
                f"of format {FORMAT}); give a new or empty folder, or an earlier report's, which is replaced."
            )
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Make ``out``'s parent folders and prove a folder can be made beside ``out`` (where the
    report is built before it is renamed into place), so a report that runs for minutes
    does not die when it writes. Raises one ValueError saying why not."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe-{uuid.uuid4().hex[:12]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        blocker = next((p for p in [out, *out.parents] if p.exists() and not p.is_dir()), None)
        nearest = next((p for p in out.parents if p.is_dir()), out.anchor)
        reason = (f"{str(blocker)!r} is a file, not a folder" if blocker is not None
                  else f"no folder can be made in {str(nearest)!r} ({err.strerror or type(err).__name__})")
        raise ValueError(
            f"out = {str(out)!r} cannot be written: {reason}. Give a folder you can write to."
        ) from None


def _inside(folder: Path, path: Path) -> Path:
    """``path``, after checking that it names a file inside ``folder``: nothing the report
    writes may land elsewhere, whatever a scenario is called."""
    if not path.resolve().is_relative_to(folder.resolve()) or path.resolve() == folder.resolve():
        raise RuntimeError(f"refusing to write {str(path)!r}: it lies outside the report folder {str(folder)!r}")
    return path


def _publish(build: Path, out: Path) -> None:
    """Move the finished folder into place; an earlier report there is replaced whole."""
    if not out.exists():
        os.replace(build, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    os.replace(out, old)
    try:
        os.replace(build, out)
    except OSError:
        os.replace(old, out)  # put the earlier report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_report(
    scenarios: Sequence[str | Scenario],
    out: str | os.PathLike,
    settings: ReportSettings | None = None,
    *,
    progress: bool = False,
    command: str | None = None,
    jobs: int = 1,
) -> Report:
    """Compare each scenario's twins and write the report folder ``out``.

    Parameters
    ----------
    scenarios : sequence of str or Scenario
        Registered names (``emtwin list``) or Scenario objects, in the order shown.
    out : path
        The folder to write: new, empty, or an earlier emtwin report (replaced whole, and
        only once the new one is complete).
    settings : ReportSettings, optional
        Seed and amounts of work; default ``ReportSettings()``.
    progress : bool
        Print a line per stage to stderr (NUTS, the sweeps and the figures take a while).
    command : str, optional
        The command line that asked for the report, recorded in it; default: derived.
    jobs : int
        Scenarios computed at once, one spawned process each (registered scenarios only; a
        Scenario object of your own is computed here). Same numbers and figures as one at a time.

    Returns
    -------
    Report
        ``report.ok`` is False when a scenario's twins disagree (the command line exits 1).
    """
    t0 = time.perf_counter()
    settings = ReportSettings() if settings is None else settings
    scenarios = _checked_scenarios(scenarios)
    out = Path(out)
    _prepare(out)
    names = [s.name for s in scenarios]
    command = command or f"emtwin report {' '.join(names)} --out {out} --seed {settings.seed}"
    sections = _sections(scenarios, settings, progress, jobs)
    header = _header(settings, command)
    results = _results(sections, header)
    page, markdown = _render(sections, header)
    _write_folder(out, sections, results, page, markdown)
    seconds = time.perf_counter() - t0
    if progress:
        n_figs = sum(len(s.figures) for s in sections)
        print(f"[report] wrote {out}/ (index.html, report.md, results.json, {n_figs} figures) in {seconds:.0f} s",
              file=sys.stderr, flush=True)
    return Report(out, sections, results, seconds)


def _checked_scenarios(scenarios: Any) -> list[Scenario]:
    """Names are checked before any work: a typo in the last of five should not cost four fits."""
    if isinstance(scenarios, (str, Scenario)):
        scenarios = [scenarios]
    if not scenarios:
        raise ValueError("scenarios is empty; give at least one scenario name (see `emtwin list`).")
    scenarios = [get_scenario(s) if isinstance(s, str) else s for s in scenarios]
    bad = [type(s).__name__ for s in scenarios if not isinstance(s, Scenario)]
    if bad:
        raise ValueError(f"scenarios must be names (see `emtwin list`) or Scenario objects; got {', '.join(bad)}.")
    return scenarios


def _sections(scenarios: list[Scenario], settings: ReportSettings, progress: bool, jobs: int = 1) -> list[Section]:
    """Each scenario's comparison, report pieces and figures; figure files named by a safe
    slug of the scenario's name, unique in the report. With ``jobs > 1`` and only registered
    scenarios (they go to the workers by name), ``jobs`` at a time in a pool: one line per
    scenario as it finishes, instead of each stage's."""
    slugs: list[str] = []
    for target in scenarios:
        slugs.append(file_slug(target.name, taken=slugs))
    tasks = [(target, settings, slug) for target, slug in zip(scenarios, slugs)]
    if jobs > 1 and len(tasks) > 1 and all(SCENARIOS.get(target.name) is target for target in scenarios):
        return run_all(_section_of, tasks, jobs=jobs, label=lambda task: task[0].name,
                       describe=lambda s: s.report.comparison.verdict, progress=progress)
    sections = []
    for i, task in enumerate(tasks):
        if progress:
            print(f"[report] scenario {i + 1}/{len(scenarios)}: {task[0].name}", file=sys.stderr, flush=True)
        sections.append(_section_of(task, progress))
    return sections


def _section_of(task: tuple[Scenario, ReportSettings, str], progress: bool = False) -> Section:
    """One scenario's section (a module-level function: a pool worker runs it)."""
    target, settings, slug = task
    with warnings.catch_warnings():
        # Report figures are drawn many at a time; the limit is for interactive sessions.
        warnings.filterwarnings("ignore", message="More than 20 figures", category=RuntimeWarning)
        return section(scenario_report(target, settings, progress=progress), progress=progress, slug=slug)


def _header(settings: ReportSettings, command: str) -> dict[str, Any]:
    """What the page and results.json say about the run: seed, settings, command, versions."""
    import matplotlib
    import arviz_plots

    return {
        "seed": settings.seed,
        "settings": _jsonable(settings.to_dict()),
        "command": command,
        "versions": versions() | {"matplotlib": matplotlib.__version__, "arviz_plots": arviz_plots.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _results(sections: list[Section], header: dict[str, Any]) -> dict[str, Any]:
    """results.json's content."""
    return _jsonable({
        "format": FORMAT,
        "ok": all(s.ok for s in sections),
        "seed": header["seed"],
        "settings": header["settings"],
        "command": header["command"],
        "versions": header["versions"],
        "scenarios": {s.report.scenario.name: _section_json(s) for s in sections},
        # Everything that differs between two runs with the same seed lives here.
        "run": {"created": header["created"],
                "timings_seconds": {s.report.scenario.name: s.report.timings for s in sections}},
    })


def _write_folder(out: Path, sections: list[Section], results: dict[str, Any], page: str, markdown: str) -> None:
    """Write the folder beside ``out``, check it, and only then rename it into place."""
    # A hidden sibling on the same file system, so the final rename is atomic; made with
    # mkdir (not mkdtemp, whose 0700 mode would outlive the rename) under a unique name.
    build = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:12]}"
    build.mkdir()
    try:
        (build / "figures").mkdir()
        for s in sections:
            for fig in s.figures.values():
                _inside(build, build / "figures" / f"{fig.slug}.png").write_bytes(fig.png)
            if s.page is not None:
                target = _inside(build, build / s.page.file)
                if not target.parent.is_dir():
                    target.parent.mkdir()
                    # BokehJS once for all pages (steps.step_page(..., shared_js=True)).
                    for name, code in steps.shared_scripts().items():
                        _inside(build, target.parent / name).write_bytes(code)
                target.write_text(s.page.html, encoding="utf-8")
        (build / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False), encoding="utf-8")
        (build / "report.md").write_text(markdown, encoding="utf-8")
        # Last, so a folder with an index.html is a finished one even before the rename.
        (build / "index.html").write_text(page, encoding="utf-8")
        problems = check_report(build)
        if problems:
            raise RuntimeError("the report came out incomplete: " + "; ".join(problems))
        _publish(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
