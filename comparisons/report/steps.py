"""A page to step through EM: one self-contained interactive HTML file per scenario.

A slider runs over EM's iterations; at iteration t the page shows the parameters after t
iterations, the E-step that produced them (responsibilities, and for coin data Do &
Batzoglou's table of credited heads and tails), the log-likelihood so far, and EM's path
so far on the log-likelihood contour (or each parameter's trace, beyond two parameters).
PyMC's MAP and the NUTS posterior are overlays a checkbox turns on.

Why Bokeh: it writes a standalone file with its JavaScript inline (``bokeh.resources.INLINE``,
about 1.8 MB a page), so the page opens from disk with no network (a report writes that
JavaScript once, beside its pages: ``shared_js``); its ``Slider`` and
``CheckboxGroup`` widgets with ``js_on_change`` swap precomputed ``ColumnDataSource`` data,
so the page needs no hand-written JavaScript beyond three short callbacks. Plotly would
embed about 3.5 MB per page. Every state is computed here, in Python, from a
:class:`~emtwin.comparisons.report.compute.ScenarioReport`, or anything else carrying a
scenario, its Comparison, EM's path and the contour (:class:`Stepped`; the notebook view
builds one): the page is a pure function of them.

The page starts at the iteration and with the overlays ``step_page`` is given, unless its
address says otherwise: ``?iteration=N`` (or ``#iteration=N``) and ``overlays=map,nuts``.
The window title names the iteration and the parameters shown, e.g. ``coin-sets, iteration
1: theta_A = 0.7130, theta_B = 0.5813``; the slider's model is named ``iteration`` and the
state's text ``state``, the checkboxes ``overlays`` (``Bokeh.documents[0].get_model_by_name``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from emtwin.em_reference.gaussian_mixture import MixtureData as GaussianMixtureData

from . import teaching
from .drawing import EM_COLOR, MAP_COLOR, NUTS_COLOR

if TYPE_CHECKING:  # annotations only
    from ..paths import Contour, EMPath
    from ..results import Comparison
    from ..scenario import Scenario

__all__ = ["OVERLAYS", "StepPage", "Stepped", "shared_scripts", "step_page"]

OVERLAYS = ("map", "nuts")  # what the checkboxes turn on: PyMC's MAP, the NUTS posterior

MAX_DOTS = 800  # NUTS draws shown on the contour
MAX_TRACES = 6  # parameter traces drawn beyond two parameters
PATH_COLOR = "#ff7f0e"
RESP_LOW, RESP_HIGH = "#b40426", "#3b4cc0"  # responsibility of component 1: 0 red, 1 blue
COMPONENT_COLORS = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]  # as matplotlib's C1, C2, ...

# Runs once the page is shown: start at `start` and with `overlays` on, or where the address
# says (?iteration=N, ?overlays=map,nuts).
ON_READY = """
const href = window.location.href;
const it = /[?#&]iteration=(\\d+)/.exec(href);
const first = it ? Number(it[1]) : start;
if (first > 0) { slider.value = Math.min(slider.end, Math.max(slider.start, first)); }
const ov = /[?#&]overlays=([a-z,]+)/.exec(href);
const want = ov ? ov[1].split(",") : overlays;
if (want.length) { toggles.active = [want.includes("map") ? 0 : -1, want.includes("nuts") ? 1 : -1].filter(i => i >= 0 && i < toggles.labels.length); }
"""
# Slider moved: show iteration i's precomputed state.
ON_SLIDE = """
const i = cb_obj.value;
for (let s = 0; s < sources.length; s++) { sources[s].data = Object.assign({}, sources[s].data, states[s][i]); }
text.text = texts[i];
document.title = titles[i];
"""
ON_TOGGLE = """
for (const r of map_renderers) { r.visible = cb_obj.active.includes(0); }
for (const r of nuts_renderers) { r.visible = cb_obj.active.includes(1); }
"""


class Stepped(Protocol):
    """What a step-through page is drawn from (a ScenarioReport has all four)."""

    scenario: Scenario
    comparison: Comparison
    path: EMPath
    contour: Contour | None


@dataclass(frozen=True)
class StepPage:
    """A scenario's step-through page: file name (in the report folder) and its HTML."""

    file: str
    html: str


def _mix(weight: float) -> str:
    """Colour between RESP_LOW (0) and RESP_HIGH (1)."""
    low, high = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in (RESP_LOW, RESP_HIGH))
    rgb = np.round(low + (high - low) * float(np.clip(weight, 0, 1))).astype(int)
    return "#" + "".join(f"{v:02x}" for v in rgb)


class _Page:
    """Collects the page's figures, the sources the slider swaps, and the overlay renderers."""

    def __init__(self) -> None:
        self.sources: list[Any] = []
        self.states: list[list[dict[str, list]]] = []
        self.map_renderers: list[Any] = []
        self.nuts_renderers: list[Any] = []

    def stepped(self, states: list[dict[str, Any]], fixed: dict[str, Any] | None = None) -> Any:
        """A ColumnDataSource with the columns ``fixed`` and ``states[0]``; the slider swaps in
        ``states[i]``'s columns (only what changes is stored per iteration)."""
        from bokeh.models import ColumnDataSource

        plain = [{k: _short(v) for k, v in state.items()} for state in states]
        source = ColumnDataSource({**{k: _short(v) for k, v in (fixed or {}).items()}, **plain[0]})
        self.sources.append(source)
        self.states.append(plain)
        return source


def _short(values: Any) -> Any:
    """Numbers to 6 significant digits (the page stores every iteration's state; full float
    reprs would triple its size); strings and nested lists as they are."""
    if isinstance(values, list) and values and isinstance(values[0], (str, list)):
        return [_short(v) if isinstance(v, list) else v for v in values]
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=float).ravel()] if np.ndim(values) else values


def _figure(title: str, x_label: str, y_label: str, width: int = 520, height: int = 380, **ranges: Any) -> Any:
    from bokeh.plotting import figure

    fig = figure(title=title, width=width, height=height, x_axis_label=x_label, y_axis_label=y_label,
                 tools="pan,wheel_zoom,box_zoom,reset,save", **ranges)
    fig.toolbar.logo = None
    return fig


def _hidden(renderer: Any, into: list[Any]) -> Any:
    renderer.visible = False
    into.append(renderer)
    return renderer


def _loglik_panel(page: _Page, r: Stepped, numbers: list[int]) -> Any:
    ll = r.path.loglik[numbers]
    fig = _figure("log-likelihood so far", "iteration", "log-likelihood (nats)", height=300)
    fig.line(numbers, ll, color="#cccccc", line_width=1.5)
    so_far = page.stepped([{"x": numbers[:i + 1], "y": ll[:i + 1]} for i in range(len(numbers))])
    fig.line("x", "y", source=so_far, color=EM_COLOR, line_width=2.5)
    fig.scatter("x", "y", source=so_far, color=EM_COLOR, size=5)
    now = page.stepped([{"x": [numbers[i]], "y": [ll[i]]} for i in range(len(numbers))])
    fig.scatter("x", "y", source=now, color=PATH_COLOR, size=12, line_color="black")
    return fig


def _path_panel(page: _Page, r: Stepped, numbers: list[int]) -> list[Any]:
    path, ct = r.path, r.contour
    values = path.values[numbers]
    if ct is not None:
        so_far = [{"x": values[:i + 1, 0].tolist(), "y": values[:i + 1, 1].tolist()} for i in range(len(numbers))]
        from bokeh.models import LinearColorMapper

        rel = ct.loglik - np.nanmax(ct.loglik)
        depth = max(float(np.nanpercentile(-rel, 95)), 5.0)
        fig = _figure("EM's path on the log-likelihood", ct.names[0], ct.names[1], width=560, height=480)
        mapper = LinearColorMapper(palette="Viridis256", low=-depth, high=0.0, nan_color=(0, 0, 0, 0))
        fig.image(image=[np.clip(rel, -depth, 0)], x=ct.x[0], y=ct.y[0], dw=ct.x[-1] - ct.x[0],
                  dh=ct.y[-1] - ct.y[0], color_mapper=mapper)
        fig.contour(x=ct.x, y=ct.y, z=np.nan_to_num(rel, nan=-10 * depth), levels=[-4.5, -2.0, -0.5],
                    line_color="white", line_width=1)
        fig.x_range.range_padding = fig.y_range.range_padding = 0
        if ct.draws is not None:
            shown = ct.draws[:: max(1, int(np.ceil(len(ct.draws) / MAX_DOTS)))]
            _hidden(fig.scatter(shown[:, 0], shown[:, 1], color="black", alpha=0.35, size=3,
                                legend_label=f"NUTS draws ({len(shown)} of {len(ct.draws)})"), page.nuts_renderers)
        if ct.ridge is not None:
            fig.line(ct.ridge[:, 0], ct.ridge[:, 1], color="#ffdd57", line_width=3, line_dash="dashed",
                     legend_label="flat ridge")
        source = page.stepped(so_far)
        fig.line("x", "y", source=source, color=PATH_COLOR, line_width=2, legend_label="EM path so far")
        fig.scatter("x", "y", source=source, color=PATH_COLOR, size=6)
        now = page.stepped([{"x": [values[i, 0]], "y": [values[i, 1]]} for i in range(len(numbers))])
        fig.scatter("x", "y", source=now, color=PATH_COLOR, size=16, marker="star", line_color="black",
                    legend_label="EM now")
        if path.map_point is not None:
            _hidden(fig.scatter([path.map_point[0]], [path.map_point[1]], marker="x", size=18, line_width=4,
                                color=MAP_COLOR, legend_label="PyMC MAP"), page.map_renderers)
        fig.legend.location = "top_left"
        fig.legend.background_fill_alpha = 0.7
        return [fig]
    figs = []
    nuts = _nuts_summary(r)
    for j, name in enumerate(path.names[:MAX_TRACES]):
        fig = _figure(name, "iteration", name, width=360, height=240)
        fig.line(numbers, values[:, j], color="#cccccc")
        trace = page.stepped([{"x": numbers[:i + 1], "y": values[:i + 1, j].tolist()} for i in range(len(numbers))])
        fig.line("x", "y", source=trace, color=EM_COLOR, line_width=2)
        now = page.stepped([{"x": [numbers[i]], "y": [values[i, j]]} for i in range(len(numbers))])
        fig.scatter("x", "y", source=now, color=PATH_COLOR, size=10, line_color="black")
        if path.map_point is not None:
            _hidden(fig.line([numbers[0], numbers[-1]], [path.map_point[j]] * 2, color=MAP_COLOR, line_dash="dashed",
                             line_width=2), page.map_renderers)
        if nuts is not None and name in nuts:
            low, high = nuts[name]
            _hidden(fig.varea([numbers[0], numbers[-1]], [low] * 2, [high] * 2, color=NUTS_COLOR, alpha=0.3),
                    page.nuts_renderers)
        figs.append(fig)
    return figs


def _nuts_summary(r: Stepped) -> dict[str, tuple[float, float]] | None:
    rows = r.comparison.rows
    if r.comparison.nuts is None:
        return None
    return {row.name: (row.hdi_low, row.hdi_high) for row in rows if row.hdi_low is not None}


def _coin_panels(page: _Page, r: Stepped, steps: teaching.Iterations) -> list[Any]:
    c = r.comparison
    n_obs = steps.responsibilities[0].shape[0]
    label = r.scenario.components.labels[0] if r.scenario.components.labels else "1"
    unit = "set" if c.data.tosses.max() > 1 else "toss"
    obs = [str(i + 1) for i in range(n_obs)]
    fig = _figure(f"E-step: Pr(coin {label} | {unit})", unit, f"Pr(coin {label})", width=560, height=260,
                  x_range=obs, y_range=(0, 1))
    resp = [rr[:, 0] for rr in steps.responsibilities]
    source = page.stepped([{"top": v} for v in resp], {"x": obs})
    fig.vbar(x="x", top="top", source=source, width=0.7, color=EM_COLOR)
    return [fig]


def _mixture_1d_panels(page: _Page, r: Stepped, steps: teaching.Iterations) -> list[Any]:
    c = r.comparison
    x = teaching.observations_1d(c.data)
    grid = teaching.density_grid(x, 200)
    fig = _figure("the model on the data", "x", "density", width=560, height=340)
    counts, edges = np.histogram(x, bins="auto", density=True)
    fig.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color="#dddddd", line_color="#aaaaaa")
    k = steps.responsibilities[0].shape[1]
    states, mixtures = [], []
    for params in steps.params:
        dens = teaching.weighted_densities(grid, *teaching.mixture_1d(c.data, params))
        states.append({"ys": [_short(d) for d in dens]})
        mixtures.append({"y": dens.sum(axis=0)})
    if c.nuts is not None:
        from ..paths import aligned_draws

        band = teaching.posterior_density_band(c.data, aligned_draws(r.scenario, c, c.nuts), grid)
        _hidden(fig.varea(grid, band[0], band[1], color=NUTS_COLOR, alpha=0.35,
                          legend_label="NUTS: 94% band of the density"), page.nuts_renderers)
    if c.map is not None:
        dens = teaching.weighted_densities(grid, *teaching.mixture_1d(c.data, c.map.params)).sum(axis=0)
        _hidden(fig.line(grid, dens, color=MAP_COLOR, line_dash="dashed", line_width=2.5, legend_label="PyMC MAP"),
                page.map_renderers)
    fig.line("x", "y", source=page.stepped(mixtures, {"x": grid}), color=EM_COLOR, line_width=3,
             legend_label="EM mixture now")
    fig.multi_line("xs", "ys", source=page.stepped(states, {"xs": [_short(grid)] * k, "color": COMPONENT_COLORS[:k]}),
                   color="color", line_dash="dashed", line_width=2)
    fig.legend.location = "top_left"
    resp_fig = _figure("E-step: responsibility of component 1", "x", "Pr(component 1 | x)", width=560, height=260)
    resp = [rr[:, 0] for rr in steps.responsibilities]
    resp_fig.scatter("x", "y", source=page.stepped([{"y": v} for v in resp], {"x": x}),
                     color=EM_COLOR, alpha=0.6, size=5)
    return [fig, resp_fig]


def _mixture_2d_panels(page: _Page, r: Stepped, steps: teaching.Iterations) -> list[Any]:
    c = r.comparison
    data = c.data
    names = data.columns or ("x[0]", "x[1]")
    fig = _figure("E-step responsibilities and 1σ, 2σ ellipses", names[0], names[1], width=600, height=480)
    colors, outlines = [], []
    for params, rr in zip(steps.params, steps.responsibilities):
        p = params
        colors.append({"color": [_mix(v) for v in rr[:, 0]]})
        xs, ys, cs, dash = [], [], [], []
        for j in range(data.k):
            for radius in (1, 2):
                o = teaching.ellipse_outline(p["mu"][j], p["cov"][j], radius)
                xs.append(o[:, 0].tolist())
                ys.append(o[:, 1].tolist())
                cs.append(RESP_HIGH if j == 0 else RESP_LOW)
                dash.append("solid" if radius == 1 else "dashed")
        outlines.append({"xs": [_short(v) for v in xs], "ys": [_short(v) for v in ys]})
    fig.scatter("x", "y", source=page.stepped(colors, {"x": data.x[:, 0], "y": data.x[:, 1]}), color="color", size=5,
                alpha=0.8)
    fig.multi_line("xs", "ys", source=page.stepped(outlines, {"color": cs, "dash": dash}), color="color",
                   line_dash="dash", line_width=2)
    if c.map is not None:
        for j in range(data.k):
            o = teaching.ellipse_outline(c.map.params["mu"][j], c.map.params["cov"][j], 1)
            _hidden(fig.line(o[:, 0], o[:, 1], color=MAP_COLOR, line_width=2, line_dash="dotted",
                             legend_label="PyMC MAP (1σ)"), page.map_renderers)
    if c.nuts is not None:
        from ..paths import aligned_draws

        mu = aligned_draws(r.scenario, c, c.nuts)["mu"]
        mu = mu[:: max(1, int(np.ceil(len(mu) / MAX_DOTS)))]
        for j in range(data.k):
            _hidden(fig.scatter(mu[:, j, 0], mu[:, j, 1], color="black", size=3, alpha=0.4,
                                legend_label="NUTS draws of the means"), page.nuts_renderers)
    fig.legend.location = "top_left"
    return [fig]


# --------------------------------------------------------------------------- texts


def _state_text(r: Stepped, number: int, values: np.ndarray, loglik: float,
                table: teaching.CreditTable | None) -> str:
    names = r.path.names
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td style='text-align:right'>{v:.4f}</td></tr>"
                   for n, v in zip(names, values))
    what = ("the start" if number == 0 else
            f"after iteration {number}: its E-step ran at the parameters after iteration {number - 1}, its M-step gave these")
    out = (f"<h3 style='margin:0'>iteration {number}</h3><p style='margin:.2em 0'>{html.escape(what)}</p>"
           f"<table style='font-size:15px'>{rows}<tr><td>log-likelihood</td>"
           f"<td style='text-align:right'>{loglik:.4f}</td></tr></table>")
    if table is not None:
        param = teaching.coin_parameter(r.comparison)
        a, b = table.coins
        cols = ["set", f"Pr({a})", f"H→{a}", f"T→{a}", f"Pr({b})", f"H→{b}", f"T→{b}"]
        cell = "<td style='padding:0 .25em;white-space:nowrap'>{}</td>"
        body = "".join("<tr>" + "".join(cell.format(html.escape(x.split(" = ", 1)[-1])) for x in row[1:]) + "</tr>"
                       for row in teaching.credit_rows(table, param))
        head = "".join(f"<th style='padding:0 .25em'>{html.escape(col)}</th>" for col in cols)
        out += (f"<p style='margin:.6em 0 .2em'>Do &amp; Batzoglou's table for this iteration:</p>"
                f"<table style='font-size:12px;border-collapse:collapse'><tr>{head}</tr>{body}</table>"
                "<p style='margin:.2em 0'>Last row: the M-step's new biases, credited heads / credited tosses.</p>")
    return out


# --------------------------------------------------------------------------- the page


CDN_PREFIX = "https://cdn.bokeh.org/bokeh/release/"


def shared_scripts() -> dict[str, bytes]:
    """BokehJS files for pages written with ``shared_js=True``: file name -> contents. The
    names are those Bokeh's CDN uses (``bokeh-3.10.2.min.js``), the contents the copies
    installed with the bokeh package."""
    import bokeh
    from bokeh.util.paths import bokehjs_path

    version = bokeh.__version__
    return {f"{bundle}-{version}.min.js": (bokehjs_path() / "js" / f"{bundle}.min.js").read_bytes()
            for bundle in ("bokeh", "bokeh-widgets")}


def _start(numbers: list[int], c: Comparison, iteration: int, overlays: Sequence[str]) -> tuple[int, list[str]]:
    """The slider position showing ``iteration`` and the overlays to turn on, checked."""
    from emtwin.em_reference.checks import Whole, check

    iteration = check("iteration", iteration, Whole(0, c.em.n_iter), f"EM ran {c.em.n_iter} iterations")
    if iteration not in numbers:
        raise ValueError(f"iteration must be one the page shows: 0 to {numbers[-2]} or {numbers[-1]} (a long run "
                         f"keeps its first {len(numbers) - 1} and its last); got {iteration}.")
    ran = [name for name in OVERLAYS if getattr(c, name) is not None]
    if isinstance(overlays, str) or any(o not in ran for o in overlays):
        raise ValueError(f"overlays must be a list of {' and '.join(map(repr, ran)) or 'nothing'} "
                         f"(the methods that ran); got {overlays!r}.")
    return numbers.index(iteration), list(overlays)


def step_page(r: Stepped, file: str, *, shared_js: bool = False, iteration: int = 0,
              overlays: Sequence[str] = ()) -> StepPage:
    """The scenario's step-through page (module docstring), named ``file``.

    Parameters
    ----------
    r : Stepped
        The scenario, its Comparison, EM's path and the contour (a ScenarioReport).
    file : str
        The page's file name in the report folder.
    shared_js : bool
        False: BokehJS inline (~1.8 MB), the page is one file that opens anywhere. True: the
        page loads BokehJS from the files of :func:`shared_scripts` beside it, which a report
        writes once for all its pages (six inline copies would be 11 MB of the same code).
    iteration : int
        The iteration the slider starts at (0: EM's start); the address's ``?iteration=N``
        overrides it.
    overlays : sequence of {"map", "nuts"}
        Overlays switched on at the start (of the methods that ran).

    Returns
    -------
    StepPage
    """
    from bokeh.embed import file_html
    from bokeh.events import DocumentReady
    from bokeh.layouts import column, row
    from bokeh.models import CheckboxGroup, CustomJS, Div, Slider
    from bokeh.document import Document
    from bokeh.resources import CDN, INLINE

    sc, c = r.scenario, r.comparison
    steps = teaching.iterations(sc, c)
    numbers = steps.numbers
    start, switched_on = _start(numbers, c, iteration, overlays)
    page = _Page()
    panels = []
    tables: dict[int, teaching.CreditTable] = {}
    if steps.responsibilities is not None:
        if isinstance(c.data, teaching.em_coins.TossSets):
            tables = {t.iteration: t for t in teaching.credit_tables(sc, c, [n for n in numbers if n >= 1])}
            panels += _coin_panels(page, r, steps)
        elif teaching.mixture_1d(c.data, c.em.params) is not None:
            panels += _mixture_1d_panels(page, r, steps)
        elif isinstance(c.data, GaussianMixtureData) and c.data.x.ndim == 2 and c.data.d == 2:
            panels += _mixture_2d_panels(page, r, steps)
    path_figs = _path_panel(page, r, numbers)
    loglik_fig = _loglik_panel(page, r, numbers)

    values = r.path.values[numbers]
    texts = [_state_text(r, n, values[i], r.path.loglik[n], tables.get(n)) for i, n in enumerate(numbers)]
    titles = [f"{sc.name}, iteration {n}: " + ", ".join(f"{name} = {v:.4f}" for name, v in zip(r.path.names, values[i]))
              for i, n in enumerate(numbers)]
    text = Div(text=texts[0], width=460, name="state")
    slider = Slider(start=0, end=len(numbers) - 1, value=0, step=1, title="iteration", width=460, name="iteration")
    slider.js_on_change("value", CustomJS(args=dict(sources=page.sources, states=page.states, text=text,
                                                    texts=texts, titles=titles), code=ON_SLIDE))
    labels = (["PyMC MAP"] if c.map is not None else []) + (["NUTS posterior"] if c.nuts is not None else [])
    toggles = CheckboxGroup(labels=labels, active=[], inline=True, name="overlays")
    toggles.js_on_change("active", CustomJS(args=dict(map_renderers=page.map_renderers,
                                                      nuts_renderers=page.nuts_renderers), code=ON_TOGGLE))
    intro = Div(width=460, text=(
        f"<h2 style='margin:0'>{html.escape(sc.name)}: step through EM</h2>"
        f"<p>{html.escape(sc.title)}. {html.escape(sc.source)}. EM took {c.em.n_iter} iterations"
        f"{'' if len(numbers) == c.em.n_iter + 1 else f' (the first {len(numbers) - 1} and the last are shown)'}"
        f"; move the slider, and turn on PyMC's answers:</p>"))
    controls = column(intro, slider, toggles, text)
    figures = column(*path_figs[:1], loglik_fig) if len(path_figs) == 1 else column(loglik_fig, *path_figs)
    # No empty column (one coin has no panels): Bokeh warns of it on stderr, even under --quiet.
    layout = row(controls, figures, *([column(*panels)] if panels else []))
    doc = Document()
    doc.add_root(layout)
    doc.title = titles[0]
    doc.js_on_event(DocumentReady, CustomJS(args=dict(slider=slider, toggles=toggles, start=start,
                                                      overlays=switched_on), code=ON_READY))
    if not shared_js:
        return StepPage(file, file_html(doc, INLINE, titles[0]))
    text = file_html(doc, CDN, titles[0])
    for name in shared_scripts():
        text = text.replace(f'src="{CDN_PREFIX}{name}"', f'src="{name}"')
    if CDN_PREFIX in text:
        raise RuntimeError(f"the page would load BokehJS from {CDN_PREFIX}: a bundle not in shared_scripts()")
    return StepPage(file, text)
