"""What a comparison returns: its rows, its checks and the verdict they give.

The objects here only hold and name numbers; the harness (:mod:`.harness`) computes them
and :mod:`.report` formats them. Formatting is imported here, never the other way round,
so the modules of ``comparisons/`` import one another without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emtwin.em_reference.driver import EMResult
from emtwin.models import fitting

from . import report
from .scenario import Check, flatten, row_name

__all__ = ["AGREE", "DISAGREE", "NON_IDENTIFIABLE", "Comparison", "Row", "Verdicts", "flatten", "row_name"]

AGREE, DISAGREE, NON_IDENTIFIABLE = "agree", "disagree", "non-identifiable"


@dataclass(frozen=True)
class Row:
    """One scalar parameter across the twins (``None`` where a method was not run)."""

    name: str
    em: float
    map: float | None = None
    advi_mean: float | None = None
    advi_sd: float | None = None
    nuts_mean: float | None = None
    nuts_sd: float | None = None
    hdi_low: float | None = None
    hdi_high: float | None = None
    derived_em: float | None = None  # the EM derived from the PyMC model (MAP-EM under a prior that is not flat)

    @property
    def em_minus_map(self) -> float | None:
        return None if self.map is None else self.em - self.map

    @property
    def em_minus_derived(self) -> float | None:
        return None if self.derived_em is None else self.em - self.derived_em

    @property
    def z_nuts(self) -> float | None:
        """(NUTS posterior mean − MLE) in posterior SDs: Bayesian vs ML, in one number."""
        if self.nuts_mean is None or not self.nuts_sd:
            return None
        return (self.nuts_mean - self.em) / self.nuts_sd


class Verdicts:
    """What a checked result says, derived from its ``checks`` and ``curvature``: shared by
    :class:`Comparison` (both twins run) and the black-box ``BlackBoxComparison``."""

    checks: list[Check]
    curvature: fitting.Curvature
    rows: list[Any]

    @property
    def identifiable(self) -> bool:
        return self.curvature.identifiable

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.severity == "error" and not c.passed]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.severity == "warning" and not c.passed]

    @property
    def verdict(self) -> str:
        """``"disagree"`` if any error check failed, else ``"non-identifiable"`` if the
        likelihood has a flat direction at the point checked, else ``"agree"``."""
        if self.failures:
            return DISAGREE
        return AGREE if self.identifiable else NON_IDENTIFIABLE

    @property
    def ok(self) -> bool:
        return self.verdict != DISAGREE

    def row(self, name: str) -> Any:
        return next(r for r in self.rows if r.name == name)

    def __repr__(self) -> str:
        """One line: scenario, verdict and counts; the numbers are in ``table()``."""
        from .notebook import short_repr  # on use: the notebook view draws with matplotlib

        return short_repr(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: verdict, table, checks and EM's path (:mod:`.notebook`)."""
        from .notebook import result_html

        return result_html(self)


@dataclass(frozen=True, repr=False)  # Verdicts.__repr__: one line
class Comparison(Verdicts):
    """Everything one run of the harness found, numbers first, verdict last.

    Attributes
    ----------
    em : EMResult
        EM's run with its components relabelled into the PyMC twin's order (parameters,
        traces and responsibilities alike), so every number here uses one labelling.
    fits : dict of str to fit
        The PyMC fits that ran, by method name (``"map"``: a ``MAPFit``; ``"advi"``,
        ``"nuts"``: a ``PosteriorFit``), reduced to EM's parameters and relabelled to match
        EM. ``comparison.map``, ``.advi``, ``.nuts`` read this, ``None`` when not run.
    """

    scenario: str
    methods: tuple[str, ...]
    rows: list[Row]
    checks: list[Check]
    em: EMResult
    fits: dict[str, Any]
    curvature: fitting.Curvature
    functionals: dict[str, dict[str, float]]
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    data: Any = field(default=None, repr=False)  # what both twins were given
    derived: Any = None  # derived_twin.DerivedTwin: the EM derived from the PyMC model
    steps: Any = None  # models.steps.StepCheck: a custom scenario's own steps, checked

    @property
    def map(self) -> fitting.MAPFit | None:
        return self.fits.get("map")

    @property
    def advi(self) -> fitting.PosteriorFit | None:
        return self.fits.get("advi")

    @property
    def nuts(self) -> fitting.PosteriorFit | None:
        return self.fits.get("nuts")

    def table(self) -> str:
        return report.format_comparison(self)

    def to_dict(self) -> dict[str, Any]:
        return report.comparison_to_dict(self)
