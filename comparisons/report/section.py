"""One scenario's part of the report: its pieces in order, figures rendered to PNG, and its
step-through page.

:func:`section` runs every function of :data:`PIECES` on a
:class:`~emtwin.comparisons.report.compute.ScenarioReport` and keeps what they return as a
:class:`Section`; the writer (:mod:`.writer`) lays it out as HTML, Markdown and JSON.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..scenario import Check
from . import drawing, steps
from .compute import ScenarioReport
from .piece import Piece, Table
from .pieces import by_hand, components, em_path, growth, labels, loglik, model_on_data, posterior, ridge

__all__ = ["PIECES", "FigureFile", "Section", "file_slug", "section"]

# What a section shows, top to bottom: first the pictures a teacher draws (by hand for coins,
# the model on the data for mixtures), then the path, convergence, posterior, labels, the two
# sweeps and the ridge. A new kind of piece: a module in pieces/ and one line here.
PIECES: list[Callable[[ScenarioReport], Piece | None]] = [
    by_hand.piece,
    model_on_data.piece,
    em_path.piece,
    loglik.piece,
    posterior.piece,
    labels.piece,
    growth.piece,
    components.piece,
    ridge.piece,
]


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

    ``pieces`` are in report order, their figures dropped once rendered: ``figures`` holds
    them as PNG, keyed by piece (``"em-path"``, ``"loglik"``, ...). ``page`` is the
    scenario's step-through page (:class:`~emtwin.comparisons.report.steps.StepPage`).
    """

    report: ScenarioReport
    pieces: list[Piece]
    figures: dict[str, FigureFile]
    page: steps.StepPage | None = None

    @property
    def checks(self) -> list[Check]:
        """The checks the pieces add (label agreement)."""
        return [c for p in self.pieces for c in p.checks]

    @property
    def tables(self) -> dict[str, Table]:
        return {p.key: p.table for p in self.pieces if p.table is not None}

    @property
    def texts(self) -> dict[str, str]:
        """Paragraphs shown instead of a figure (the ridge), by piece."""
        return {p.key: p.text for p in self.pieces if p.text is not None}

    @property
    def notes(self) -> dict[str, tuple[str, str]]:
        """Pieces shown as a table alone: (heading, caption), by piece."""
        return {p.key: (p.heading, p.caption) for p in self.pieces
                if p.table is not None and p.key not in self.figures}

    @property
    def ok(self) -> bool:
        """The twins agree (as ``emtwin compare`` says) and no report check failed."""
        return self.report.comparison.ok and all(c.passed or c.severity != "error" for c in self.checks)


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
    """Every piece of one scenario (figures as PNG) and its step-through page. Figure files
    are named ``{slug}-{piece}``; ``slug`` defaults to :func:`file_slug` of the scenario's name."""
    name = r.scenario.name
    slug = file_slug(name) if slug is None else slug
    if progress:
        print(f"[{name}] drawing figures ...", file=sys.stderr, flush=True)
    pieces, figures = [], {}
    for make in PIECES:
        piece = make(r)
        if piece is None:
            continue
        if piece.figure is not None:
            figures[piece.key] = FigureFile(f"{slug}-{piece.key}", piece.heading, piece.caption,
                                            drawing.png(piece.figure))
            piece = dataclasses.replace(piece, figure=None)  # the PNG is kept; the figure's memory is not
        pieces.append(piece)
    if progress:
        print(f"[{name}] writing the step-through page ...", file=sys.stderr, flush=True)
    return Section(r, pieces, figures, steps.step_page(r, f"steps/{slug}.html", shared_js=True))
