"""Turn a :class:`~emtwin.comparisons.harness.Comparison` into a terminal table or JSON."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .harness import Comparison

__all__ = ["comparison_to_dict", "format_comparison", "versions"]

MARK = {True: "ok  ", False: "FAIL"}
WARN_MARK = {True: "ok  ", False: "warn"}


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a fixed-width table, then one line per check, then the verdict."""
    header = ["parameter", "EM", "MAP", "EM−MAP", "ADVI mean (sd)", "NUTS mean (sd)", "NUTS 94% HDI", "(mean−MLE)/sd"]
    lines = []
    for r in comparison.rows:
        lines.append([
            r.name,
            _num(r.em),
            _num(r.map),
            _num(r.em_minus_map, ".1e"),
            "—" if r.advi_mean is None else f"{r.advi_mean:.3f} ({r.advi_sd:.3f})",
            "—" if r.nuts_mean is None else f"{r.nuts_mean:.3f} ({r.nuts_sd:.3f})",
            "—" if r.hdi_low is None else f"[{r.hdi_low:.3f}, {r.hdi_high:.3f}]",
            _num(r.z_nuts, "+.2f"),
        ])
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    fmt_row = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [f"{comparison.scenario}: EM vs PyMC ({', '.join(comparison.methods) or 'EM only'}), seed {comparison.settings['seed']}"]
    out.append(fmt_row(header))
    out.append("  ".join("-" * w for w in widths))
    out += [fmt_row(row) for row in lines]
    em = comparison.em
    out.append(f"EM log-likelihood {em.log_likelihood:.6f} after {em.n_iter} iterations"
               + (f"; MAP {comparison.map.log_likelihood:.6f}" if comparison.map else ""))
    if len(em.local_maxima) > 1 or comparison.settings["n_starts"] > 1:
        out.append(f"EM from {comparison.settings['n_starts']} starts found {len(em.local_maxima)} distinct local maxima:")
        for m in em.local_maxima:
            out.append(f"  log-likelihood {m.log_likelihood:.6f} from {m.n_starts} start(s)")
    for name, values in comparison.functionals.items():
        out.append(f"identifiable {name}: " + ", ".join(f"{k} {v:.6f}" for k, v in values.items()))
    out.append("")
    for c in comparison.checks:
        mark = {"error": MARK, "warning": WARN_MARK}.get(c.severity, {True: "info", False: "info"})[c.passed]
        out.append(f"[{mark}] {c.name}: {c.detail}")
    out.append("")
    verdict = comparison.verdict.upper()
    if comparison.warnings:
        verdict += f" (with {len(comparison.warnings)} warning{'s' if len(comparison.warnings) > 1 else ''})"
    out.append(f"verdict: {verdict}")
    return "\n".join(out)


def versions() -> dict[str, str]:
    """Versions of the packages whose numbers a result depends on."""
    import arviz
    import pymc
    import scipy

    import emtwin

    return {
        "emtwin": emtwin.__version__,
        "pymc": pymc.__version__,
        "arviz": arviz.__version__,
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


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """Every number in the table, the checks, the verdict, settings and versions."""
    return _jsonable({
        "scenario": comparison.scenario,
        "verdict": comparison.verdict,
        "identifiable": comparison.identifiable,
        "methods": list(comparison.methods),
        "rows": [
            {
                "parameter": r.name, "em": r.em, "map": r.map, "em_minus_map": r.em_minus_map,
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
