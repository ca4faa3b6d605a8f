"""One scenario's part of the report: figures with captions, tables and the ridge paragraph.

:func:`section` turns a :class:`~emtwin.comparisons.report.compute.ScenarioReport` into a
:class:`Section`. Captions are written from the results (numbers, the priors PyMC prints,
the sampler the trace names), never retyped, so they cannot drift from what was run.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import drawing, steps, teaching
from ..scenario import flatten
from .compute import ScenarioReport, aligned_draws, component_labels
from ..scenario import Check

__all__ = ["LABEL_ATOL_AT_EM", "LABEL_ATOL_AT_MAP", "FigureFile", "Section", "convergence_rate", "section"]

# The PyMC graph and the E-step evaluate the same formula at the same parameters: equal to
# rounding. At the MAP the parameters differ by up to the harness's 1e-4, and a label
# probability moves by at most its gradient times that.
LABEL_ATOL_AT_EM = 1e-8
LABEL_ATOL_AT_MAP = 1e-3
METHOD_NAMES = {"em": "EM", "map": "MAP", "advi_mean": "ADVI mean", "nuts_mean": "NUTS mean"}
Table = tuple[list[str], list[list[str]]]


@dataclass(frozen=True)
class FigureFile:
    """One figure of a scenario's section: file name (without .png), heading, caption, PNG."""

    slug: str
    heading: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """What one scenario contributes to the report.

    ``figures`` and ``tables`` are keyed by piece (``"em-path"``, ``"loglik"``,
    ``"posterior"``, ``"labels"``, ``"growth"``, ``"components"``); ``checks`` are the
    report's own (label agreement); ``texts`` holds the ridge paragraph.
    """

    report: ScenarioReport
    figures: dict[str, FigureFile]
    checks: list[Check]
    tables: dict[str, Table]
    texts: dict[str, str]
    notes: dict[str, tuple[str, str]] = field(default_factory=dict)  # table-only pieces: (heading, caption)
    page: Any = None  # steps.StepPage: the scenario's step-through page

    @property
    def ok(self) -> bool:
        """The twins agree (as ``emtwin compare`` says) and no report check failed."""
        return self.report.comparison.ok and all(c.passed or c.severity != "error" for c in self.checks)


# --------------------------------------------------------------------------- wording helpers


def fmt(value: float | None, spec: str = ".4f") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _point(names: Sequence[str], values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{n} = {v:.4f}" for n, v in zip(names, values)) + ")"


def _nuts_text(report: ScenarioReport) -> str:
    """What sampled, read from the trace: library and version, chains, draws, tuning."""
    c = report.comparison
    post = c.nuts.idata.posterior
    attrs = post.attrs
    return (f"NUTS ({c.nuts.diagnostics['sampler']} sampler, {attrs.get('inference_library', '?')} "
            f"{attrs.get('inference_library_version', '')}: {post.sizes['chain']} chains × {post.sizes['draw']} draws "
            f"after {attrs.get('tuning_steps', '?')} tuning steps)")


def _advi_text(report: ScenarioReport) -> str:
    c = report.comparison
    post = c.advi.idata.posterior
    return (f"mean-field ADVI ({c.advi.diagnostics['n_iter']} iterations, "
            f"{post.sizes['chain'] * post.sizes['draw']} draws)")


def convergence_rate(loglik: np.ndarray) -> float | None:
    """Median ratio of successive distances to the final log-likelihood: EM's linear rate
    (None when EM took too few steps to measure one)."""
    gap = loglik[-1] - loglik
    usable = gap[:-1] > 1e-9 * max(1.0, abs(loglik[-1]))
    ratios = gap[1:][usable] / gap[:-1][usable]
    ratios = ratios[(ratios > 0) & np.isfinite(ratios)]
    return float(np.median(ratios)) if ratios.size >= 2 else None


# --------------------------------------------------------------------------- the pieces


def _em_path(r: ScenarioReport) -> tuple[str, Any]:
    path, name = r.path, r.scenario.name
    start, end = path.values[0], path.values[-1]
    ct = r.contour
    if ct is None:
        caption = (f"Each parameter after each of EM's {len(path.values) - 1} iterations, from "
                   f"{_point(path.names, start)} to {_point(path.names, end)}; dashed red: PyMC's MAP. "
                   f"(No contour: {r.omitted['contour']})")
        return caption, drawing.em_path_figure(path, None, f"{name}: EM's parameters per iteration")
    caption = (f"EM's path from {_point(path.names, start)} to the MLE {_point(path.names, end)} in "
               f"{len(path.values) - 1} iterations, over the log-likelihood ({ct.names[0]} across, "
               f"{ct.names[1]} up; white lines 0.5, 2 and 4.5 nats below the maximum).")
    if path.map_point is not None:
        caption += f" Red ×: PyMC's MAP {_point(path.names, path.map_point)}."
    if ct.draws is not None:
        caption += f" Black dots: {len(ct.draws)} posterior draws, {_nuts_text(r)}."
    if len(path.local_maxima) > 1:
        caption += f" White diamonds: the {len(path.local_maxima)} distinct end points of EM's starts."
    if ct.ridge is not None:
        caption += " Yellow dashes: the flat ridge through EM's answer (see The ridge, below)."
    return caption, drawing.em_path_figure(path, ct, f"{name}: EM's path on the log-likelihood")


def _loglik(r: ScenarioReport) -> tuple[str, Any]:
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
    return caption, drawing.loglik_figure(path, n_starts, f"{r.scenario.name}: log-likelihood per iteration")


def _posterior(r: ScenarioReport) -> tuple[str, Any] | None:
    sc, c = r.scenario, r.comparison
    fits, described = {}, []
    if c.nuts is not None:
        fits["NUTS"] = aligned_draws(sc, c, c.nuts)
        described.append(_nuts_text(r))
    if c.advi is not None:
        fits["ADVI"] = aligned_draws(sc, c, c.advi)
        described.append(_advi_text(r))
    if not fits:
        return None
    caption = (f"Posterior densities with 94% HDI and mean: {' and '.join(described)}. Dashed red: EM's MLE. "
               f"Priors, printed from the PyMC model: {'; '.join(r.priors)}.")
    gap = next((k for k in c.checks if k.name == "ADVI vs NUTS means"), None)
    if gap is not None:
        caption += f" ADVI's approximation error: {gap.detail}."
    return caption, drawing.posterior_figure(fits, c.em.params, component_labels(sc, c.em.params),
                                             f"{sc.name}: posterior (NUTS, ADVI) and the MLE")


def _label_checks(r: ScenarioReport) -> list[Check]:
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
    lab = r.labels
    caption = ("Each observation's label: EM's responsibilities (its last E-step) beside the PyMC twin's posterior "
               "probability of the label, computed from the model's own pm.Mixture graph, at PyMC's MAP and "
               "averaged over the NUTS draws. Right: EM against PyMC; "
               + "; ".join(f"{k.name.split(': ')[1]}: {k.detail}" for k in checks) + ".")
    if lab.pymc_nuts is not None:
        shift = float(np.max(np.abs(lab.pymc_nuts - lab.em)))
        caption += (f" The NUTS average differs from EM's by up to {shift:.3f}: with the parameters' uncertainty "
                    "integrated out, confident labels become less confident.")
    fig = drawing.labels_figure(lab, f"{r.scenario.name}: Pr(label | observation), EM and PyMC")
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


def _growth(r: ScenarioReport) -> tuple[str, Any, Table]:
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
    return caption, drawing.growth_figure(g, f"{r.scenario.name}: as data grows"), (cols, rows)


def _components(r: ScenarioReport) -> tuple[str, Any, Table]:
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
    return caption, drawing.components_figure(ch, f"{r.scenario.name}: choosing k"), (cols, rows)


def _ridge(r: ScenarioReport) -> str:
    """One paragraph: where the likelihood is flat, how flat, where each twin stopped, and
    what the data do identify."""
    sc, c, path = r.scenario, r.comparison, r.path
    end, start = path.values[-1], path.values[0]
    direction = flatten(c.curvature.flat_directions[0], sc.components)
    d_text = " ".join(f"{v:+.3f}·{n}" for n, v in direction.items() if abs(v) > 1e-3)
    ev = ", ".join(f"{v:.3g}" for v in c.curvature.eigenvalues)
    text = (f"The likelihood does not identify {', '.join(path.names)}. At EM's answer {_point(path.names, end)} the "
            f"curvature of the log-likelihood (eigenvalues of its negative Hessian: {ev}) is zero along the direction "
            f"{d_text}: moving along it changes nothing the data can see, so every point of that line through EM's "
            "answer is a maximum.")
    ct = r.contour
    if ct is not None and ct.ridge is not None and len(ct.ridge_loglik):
        text += (f" Along the drawn segment, from {_point(path.names, ct.ridge[0])} to "
                 f"{_point(path.names, ct.ridge[-1])}, the log-likelihood varies by {float(np.ptp(ct.ridge_loglik)):.1e} "
                 "nats.")
    if c.map is not None and path.map_point is not None:
        text += (f" EM stopped at {_point(path.names, end)}, where its path from {_point(path.names, start)} first met "
                 f"the ridge; PyMC's MAP stopped at {_point(path.names, path.map_point)}, with log-likelihood "
                 f"{c.map.log_likelihood:.6f} against EM's {c.em.log_likelihood:.6f}: two maximisers, both right.")
    for fname, values in c.functionals.items():
        # The functional's own docstring says what it is (text from code, not retyped).
        doc = (sc.functionals[fname].__doc__ or "").strip().splitlines()
        text += f" What the data do identify is {fname}" + (f", {doc[0].rstrip('.')}" if doc else "") + ": "
        text += ", ".join(f"{METHOD_NAMES.get(k, k)} {v:.4f}" for k, v in values.items()) + "."
    if c.nuts is not None:
        text += (" The posterior, under a flat prior, spreads along the ridge instead of concentrating (the NUTS "
                 "draws above), and more data narrow it only across the ridge.")
    return text


def file_slug(name: str, taken: Iterable[str] = ()) -> str:
    """A file-name stem for scenario ``name``: lowercase ASCII letters, digits and single
    dashes, never starting with a dash or a dot, and not one of ``taken`` (``-2``, ``-3``, ...
    appended). A user's scenario name can hold ``/``, ``..`` or any Unicode; a file name
    made from it must stay inside the report folder and mean one scenario."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "scenario"
    taken = set(taken)
    slug, n = stem, 1
    while slug in taken:
        n += 1
        slug = f"{stem}-{n}"
    return slug


def section(r: ScenarioReport, *, progress: bool = False, slug: str | None = None) -> Section:
    """Figures (as PNG), captions, tables, label checks and the ridge paragraph of one
    scenario. Figure files are named ``{slug}-{piece}``; ``slug`` defaults to
    :func:`file_slug` of the scenario's name."""
    name = r.scenario.name
    slug = file_slug(name) if slug is None else slug
    if progress:
        print(f"[{name}] drawing figures ...", file=sys.stderr, flush=True)
    figs: dict[str, FigureFile] = {}
    tables: dict[str, Table] = {}
    checks: list[Check] = []
    texts: dict[str, str] = {}

    def add(key: str, heading: str, caption: str, fig: Any) -> None:
        figs[key] = FigureFile(f"{slug}-{key}", heading, caption, drawing.png(fig))

    notes: dict[str, tuple[str, str]] = {}
    for piece in teaching.pieces(r):  # the pictures a teacher draws first (teaching.py)
        if piece.figure is not None:
            add(piece.key, piece.heading, piece.caption, piece.figure)
        else:
            notes[piece.key] = (piece.heading, piece.caption)
        if piece.table is not None:
            tables[piece.key] = piece.table
    add("em-path", "The EM path", *_em_path(r))
    add("loglik", "Why EM converges", *_loglik(r))
    posterior = _posterior(r)
    if posterior is not None:
        add("posterior", "Posterior against MLE", *posterior)
    if r.labels is not None:
        checks = _label_checks(r)
        caption, fig, table = _labels(r, checks)
        add("labels", "E-step responsibilities and PyMC's label posterior", caption, fig)
        if table is not None:
            tables["labels"] = table
    if r.growth is not None:
        caption, fig, tables["growth"] = _growth(r)
        add("growth", "Bayesian vs MLE as data grows", caption, fig)
    if r.components is not None:
        caption, fig, tables["components"] = _components(r)
        add("components", "How many components", caption, fig)
    if not r.comparison.identifiable:
        texts["ridge"] = _ridge(r)
    if progress:
        print(f"[{name}] writing the step-through page ...", file=sys.stderr, flush=True)
    page = steps.step_page(r, f"steps/{slug}.html", shared_js=True)
    return Section(r, figs, checks, tables, texts, notes, page)
