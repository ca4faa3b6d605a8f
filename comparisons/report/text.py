"""Turn a :class:`~emtwin.comparisons.results.Comparison` (or a black-box check's
:class:`~emtwin.comparisons.blackbox.BlackBoxComparison`) into a terminal table or JSON.

Formatting reads the results' attributes and imports nothing of ``comparisons/``: the
results import it (for ``.table()`` and ``.to_dict()``), so the import graph has no cycle.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

__all__ = [
    "blackbox_to_dict", "check_mark", "comparison_cells", "comparison_to_dict", "format_blackbox", "format_comparison",
    "summary_lines", "versions",
]

MARK = {True: "ok  ", False: "FAIL"}
WARN_MARK = {True: "ok  ", False: "warn"}


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def _tol(value: float) -> str:
    """1e-04 rather than 0.0001: tolerances read as powers of ten."""
    short = f"{value:.0e}"
    return short if float(short) == value else f"{value:.2e}"


def _check(comparison: Any, name: str) -> Any:
    return next((c for c in comparison.checks if c.name == name), None)


def _failed(check: Any) -> bool:
    return check is not None and check.severity == "error" and not check.passed


def _table(header: list[str], lines: list[list[str]], marks: list[str]) -> list[str]:
    """Fixed-width rows; a failing row gets its mark after the last column, so passing
    rows read exactly as without marks."""
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    fmt_row = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [fmt_row(header), "  ".join("-" * w for w in widths)]
    out += [fmt_row(row) + (f"  ◀ FAIL {mark}" if mark else "") for row, mark in zip(lines, marks)]
    return out


def _check_lines(comparison: Any) -> list[str]:
    out = []
    for c in comparison.checks:
        mark = {"error": MARK, "warning": WARN_MARK}.get(c.severity, {True: "info", False: "info"})[c.passed]
        out.append(f"[{mark}] {c.name}: {c.detail}")
    out.append("")
    verdict = comparison.verdict.upper()
    if comparison.warnings:
        verdict += f" (with {len(comparison.warnings)} warning{'s' if len(comparison.warnings) > 1 else ''})"
    out.append(f"verdict: {verdict}")
    return out


def comparison_cells(comparison: Any) -> tuple[list[str], list[list[str]], list[str]]:
    """The comparison table as cells: header, one row of strings per parameter, and per row
    why it fails (empty when it does not). Columns of methods that were not run are left out."""
    derived = getattr(comparison, "derived", None)  # the EM derived from the PyMC model (MAP-EM under a prior)
    header = ["parameter", "EM", derived.label if derived is not None else "derived EM", "MAP", "EM−MAP",
              "ADVI mean (sd)", "NUTS mean (sd)", "NUTS 94% HDI", "(mean−MLE)/sd"]
    # Columns of methods that were not run would hold only dashes; leave them out.
    ran = set(comparison.methods)
    has_derived = any(getattr(r, "derived_em", None) is not None for r in comparison.rows)
    keep = [True, True, has_derived, "map" in ran, "map" in ran, "advi" in ran, "nuts" in ran, "nuts" in ran,
            "nuts" in ran]
    lines, marks = [], []
    map_check, hdi_check = _check(comparison, "EM vs MAP parameters"), _check(comparison, "MLE inside NUTS 94% HDI")
    map_em_check = _check(comparison, "MAP-EM vs MAP parameters")
    for r in comparison.rows:
        lines.append([
            r.name,
            _num(r.em),
            _num(getattr(r, "derived_em", None)),
            _num(r.map),
            _num(r.em_minus_map, ".1e"),
            "—" if r.advi_mean is None else f"{r.advi_mean:.3f} ({r.advi_sd:.3f})",
            "—" if r.nuts_mean is None else f"{r.nuts_mean:.3f} ({r.nuts_sd:.3f})",
            "—" if r.hdi_low is None else f"[{r.hdi_low:.3f}, {r.hdi_high:.3f}]",
            _num(r.z_nuts, "+.2f"),
        ])
        why = []
        if _failed(map_check) and r.map is not None and abs(r.em - r.map) > map_check.tolerance:
            why.append(f"|EM−MAP| = {abs(r.em - r.map):.2e} > {_tol(map_check.tolerance)}")
        if _failed(map_em_check) and r.map is not None and abs(r.derived_em - r.map) > map_em_check.tolerance:
            why.append(f"|MAP-EM−MAP| = {abs(r.derived_em - r.map):.2e} > {_tol(map_em_check.tolerance)}")
        if _failed(hdi_check) and r.hdi_low is not None and not (r.hdi_low <= r.em <= r.hdi_high):
            why.append("MLE outside the NUTS 94% HDI")
        marks.append("; ".join(why))
    pick = lambda cells: [c for c, k in zip(cells, keep) if k]  # noqa: E731
    return pick(header), [pick(line) for line in lines], marks


def check_mark(check: Any) -> str:
    """``ok``, ``FAIL``, ``warn`` or ``info``: how a check line starts."""
    return {"error": MARK, "warning": WARN_MARK}.get(check.severity, {True: "info", False: "info"})[check.passed].strip()


def summary_lines(comparison: Any) -> list[str]:
    """The lines under the table: EM's log-likelihood and iterations, its local maxima, the
    identified functionals."""
    em = comparison.em
    out = [f"EM log-likelihood {em.log_likelihood:.6f} after {em.n_iter} iterations"
           + (f"; MAP {comparison.map.log_likelihood:.6f}" if comparison.map else "")]
    if len(em.local_maxima) > 1 or comparison.settings["n_starts"] > 1:
        out.append(f"EM from {comparison.settings['n_starts']} starts found {len(em.local_maxima)} distinct local maxima:")
        for m in em.local_maxima:
            out.append(f"  log-likelihood {m.log_likelihood:.6f} from {m.n_starts} start(s)")
    for name, values in comparison.functionals.items():
        out.append(f"identifiable {name}: " + ", ".join(f"{k} {v:.6f}" for k, v in values.items()))
    return out


def format_comparison(comparison: Any) -> str:
    """The comparison as a fixed-width table, then one line per check, then the verdict.

    A parameter row that fails a check ends in ``◀ FAIL`` and the number that failed:
    ``|EM−MAP|`` above the tolerance, or the MLE outside the NUTS 94% HDI.
    """
    header, lines, marks = comparison_cells(comparison)
    out = [f"{comparison.scenario}: EM vs PyMC ({', '.join(comparison.methods) or 'EM only'}), seed {comparison.settings['seed']}"]
    out += _table(header, lines, marks)
    out += summary_lines(comparison)
    out.append("")
    out += _check_lines(comparison)
    return "\n".join(out)


def format_blackbox(comparison: Any) -> str:
    """A black-box check (:func:`emtwin.check_em`) as a table, its checks and the verdict.

    Columns: your value, PyMC's MAP started there, their difference, the log-likelihood's
    gradient (nats per unit, projected onto the constraints) and the Newton step it implies.
    """
    header = ["parameter", "yours", "MAP", "yours−MAP", "gradient", "Newton step"]
    map_check, stat_check = _check(comparison, "MAP from your estimate stays there"), _check(comparison, "stationary point")
    lines, marks = [], []
    for r in comparison.rows:
        lines.append([r.name, _num(r.em), _num(r.map), _num(r.em_minus_map, ".1e"),
                      _num(r.gradient, ".1e"), _num(r.newton_step, ".1e")])
        why = []
        if _failed(stat_check) and abs(r.newton_step) > stat_check.tolerance:
            why.append(f"Newton step {abs(r.newton_step):.2e} > {_tol(stat_check.tolerance)}")
        if _failed(map_check) and r.map is not None and abs(r.em - r.map) > map_check.tolerance:
            why.append(f"|yours−MAP| = {abs(r.em - r.map):.2e} > {_tol(map_check.tolerance)}")
        marks.append("; ".join(why))
    s = comparison.settings
    out = [f"{comparison.scenario}: your EM vs the PyMC twin ({s['builder']}): gradient, MAP from your estimate, "
           f"{s['n_starts']} other starts"]
    out += _table(header, lines, marks)
    reported = comparison.reported_log_likelihood
    out.append(("log-likelihood: " if reported is None else f"log-likelihood: reported {reported:.6f}, ")
               + f"PyMC model at your parameters {comparison.log_likelihood:.6f}; MAP {comparison.map.log_likelihood:.6f}")
    out.append("")
    out += _check_lines(comparison)
    return "\n".join(out)


def versions() -> dict[str, str]:
    """Versions of the packages whose numbers a result depends on."""
    from importlib.metadata import version

    import pymc
    import scipy

    import emtwin

    return {
        "emtwin": emtwin.__version__,
        "pymc": pymc.__version__,
        # read from its metadata: `import arviz` loads its plotting and matplotlib, ~1 s a compare
        "arviz": version("arviz"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def comparison_to_dict(comparison: Any) -> dict[str, Any]:
    """Every number in the table, the checks, the verdict, settings and versions."""
    return _jsonable({
        "scenario": comparison.scenario,
        "verdict": comparison.verdict,
        "identifiable": comparison.identifiable,
        "methods": list(comparison.methods),
        "rows": [
            {
                "parameter": r.name, "em": r.em, "derived_em": getattr(r, "derived_em", None), "map": r.map,
                "em_minus_map": r.em_minus_map,
                "advi_mean": r.advi_mean, "advi_sd": r.advi_sd, "nuts_mean": r.nuts_mean,
                "nuts_sd": r.nuts_sd, "hdi94_low": r.hdi_low, "hdi94_high": r.hdi_high,
                "mean_minus_mle_in_sd": r.z_nuts,
            }
            for r in comparison.rows
        ],
        "checks": [
            {"name": c.name, "passed": c.passed, "severity": c.severity, "value": c.value,
             "tolerance": c.tolerance, "detail": c.detail}
            for c in comparison.checks
        ],
        "em": {
            "log_likelihood": comparison.em.log_likelihood,
            "n_iter": comparison.em.n_iter,
            "converged": comparison.em.converged,
            "local_maxima": [
                {"log_likelihood": m.log_likelihood, "n_starts": m.n_starts, "params": m.params}
                for m in comparison.em.local_maxima
            ],
        },
        "map": None if comparison.map is None else {
            "log_likelihood": comparison.map.log_likelihood, "success": comparison.map.success,
            "n_iter": comparison.map.n_iter,
        },
        "advi": None if comparison.advi is None else comparison.advi.diagnostics,
        "nuts": None if comparison.nuts is None else comparison.nuts.diagnostics,
        "curvature": {
            "eigenvalues": comparison.curvature.eigenvalues,
            "flat_directions": comparison.curvature.flat_directions,
            "gradient_norm": comparison.curvature.gradient_norm,
        },
        "functionals": comparison.functionals,
        "settings": comparison.settings,
        "timings_seconds": comparison.timings,
        "versions": versions(),
    })


def blackbox_to_dict(comparison: Any) -> dict[str, Any]:
    """Every number of a black-box check, the checks, the verdict, settings and versions."""
    return _jsonable({
        "scenario": comparison.scenario,
        "kind": "black-box",
        "verdict": comparison.verdict,
        "identifiable": comparison.identifiable,
        "rows": [
            {"parameter": r.name, "yours": r.em, "map": r.map, "yours_minus_map": r.em_minus_map,
             "gradient": r.gradient, "newton_step": r.newton_step}
            for r in comparison.rows
        ],
        "checks": [
            {"name": c.name, "passed": c.passed, "severity": c.severity, "value": c.value,
             "tolerance": c.tolerance, "detail": c.detail}
            for c in comparison.checks
        ],
        "log_likelihood": {"reported": comparison.reported_log_likelihood, "pymc": comparison.log_likelihood,
                           "map": comparison.map.log_likelihood},
        "higher_maxima": [{"log_likelihood": h.log_likelihood, "params": h.params} for h in comparison.higher_maxima],
        "curvature": {
            "eigenvalues": comparison.curvature.eigenvalues,
            "flat_directions": comparison.curvature.flat_directions,
        },
        "settings": comparison.settings,
        "timings_seconds": comparison.timings,
        "versions": versions(),
    })
