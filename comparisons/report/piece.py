"""What a piece of a scenario's report section is, and the wording the pieces share.

A *piece* is one heading of a scenario's section: a figure with its caption (and maybe a
table), a table alone, a paragraph, or the sentence saying why it is not shown. Each kind
lives in its own module of :mod:`.pieces` and is one function ``piece(r) -> Piece | None``
of a :class:`~emtwin.comparisons.report.compute.ScenarioReport`; the writer lays out every
piece the same way. Captions are written from the results (numbers, the priors PyMC prints,
the sampler the trace names), never retyped, so they cannot drift from what was run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..scenario import Check

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from .compute import ScenarioReport

__all__ = ["Piece", "Table", "advi_text", "fmt", "nuts_text", "point"]

Table = tuple[list[str], list[list[str]]]


@dataclass(frozen=True)
class Piece:
    """One heading of a scenario's section.

    Attributes
    ----------
    key : str
        Names the piece in ``results.json`` and its figure file (``{scenario}-{key}.png``).
    heading : str
    caption : str
        Under the figure, or above a table shown alone.
    figure : matplotlib Figure, optional
        Drawn (on an Agg canvas) by the piece; the section renders it to PNG.
    table : (columns, rows), optional
        Cells as strings.
    text : str, optional
        A paragraph shown instead of a figure (the ridge).
    checks : list of Check
        Checks the piece adds to the report (label agreement); a failing error-severity
        check fails the report.
    warnings : list of str
        Warnings raised by the fits behind the piece, shown under it.
    omitted : str, optional
        Why the piece is not shown; then nothing else is set.
    """

    key: str
    heading: str
    caption: str = ""
    figure: Figure | None = None
    table: Table | None = None
    text: str | None = None
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    omitted: str | None = None


def fmt(value: float | None, spec: str = ".4f") -> str:
    """A table cell: ``—`` for a missing or non-finite number."""
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def point(names: Sequence[str], values: Sequence[float]) -> str:
    """``(theta_A = 0.7968, theta_B = 0.5196)``."""
    return "(" + ", ".join(f"{n} = {v:.4f}" for n, v in zip(names, values)) + ")"


def nuts_text(report: ScenarioReport) -> str:
    """What sampled, read from the trace: library and version, chains, draws, tuning."""
    c = report.comparison
    post = c.nuts.idata.posterior
    attrs = post.attrs
    return (f"NUTS ({c.nuts.diagnostics['sampler']} sampler, {attrs.get('inference_library', '?')} "
            f"{attrs.get('inference_library_version', '')}: {post.sizes['chain']} chains × {post.sizes['draw']} draws "
            f"after {attrs.get('tuning_steps', '?')} tuning steps)")


def advi_text(report: ScenarioReport) -> str:
    """What ADVI ran, read from its fit: iterations and draws."""
    c = report.comparison
    post = c.advi.idata.posterior
    return (f"mean-field ADVI ({c.advi.diagnostics['n_iter']} iterations, "
            f"{post.sizes['chain'] * post.sizes['draw']} draws)")
