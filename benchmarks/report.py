"""Tables for the terminal, the issue's targets as PASS/MISS, and the JSON record."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Target",
    "em_tables",
    "evaluate_targets",
    "format_table",
    "fmt_bytes",
    "fmt_n",
    "fmt_seconds",
    "limit_table",
    "map_table",
    "memory_table",
    "nuts_tables",
    "targets_table",
    "to_jsonable",
    "write_json",
]

# The targets.
SPEEDUP_TARGET = 5.0  # EM per iteration vs scikit-learn, 1-D, k = 3, N = 10⁶
TRAJECTORY_TARGET = 1e-9  # relative, mean log-likelihood per iteration
LIMIT_TARGET = 4.0  # EM per iteration / machine's limit
TARGET_N = 10**6
MEMORY_TARGET_N = 10**7

# --------------------------------------------------------------------------- formatting


def fmt_seconds(seconds: float | None) -> str:
    """3 significant digits in µs, ms or s."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def fmt_bytes(n_bytes: float | None) -> str:
    """Megabytes, 10⁶ bytes (gigabytes from 10⁴ MB)."""
    if n_bytes is None:
        return "n/a"
    if n_bytes >= 1e10:
        return f"{n_bytes / 1e9:.2f} GB"
    return f"{n_bytes / 1e6:.1f} MB"


def fmt_n(n: int) -> str:
    """10**6 as ``1e6``; other numbers as they are."""
    exponent = round(math.log10(n)) if n > 0 else 0
    return f"1e{exponent}" if n == 10**exponent else str(n)


def _g(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str = "",
                 notes: Sequence[str] = (), left: Sequence[int] = (0,)) -> str:
    """A plain-text table: columns ``left`` left-aligned (text), the others right-aligned
    (numbers), dashes under the header; ``title`` above and ``notes`` below."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i in left else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = ([title] if title else []) + [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    out += list(notes)
    return "\n".join(out)


# --------------------------------------------------------------------------- section tables


def em_tables(per_iteration: Sequence[Any], convergence: Sequence[Any], *, em_tol: float, sklearn_tol: float) -> str:
    """EM per iteration and to convergence, emtwin against scikit-learn."""
    parts = []
    if per_iteration:
        rows = [
            [f"{r.dim}-D", fmt_n(r.n), str(r.n_iter), fmt_seconds(r.ours_per_iter_s), fmt_seconds(r.sklearn_per_iter_s),
             f"{r.speedup:.2f}×", f"{r.ours_loglik:.10g}", f"{r.sklearn_loglik:.10g}",
             f"{r.trajectory_max_rel_diff:.1e}", f"{r.params_max_abs_diff:.1e}"]
            for r in per_iteration
        ]
        parts.append(format_table(
            ["data", "N", "iters", "emtwin/iter", "sklearn/iter", "speedup", "loglik emtwin", "loglik sklearn",
             "trajectory Δ", "params Δ"],
            rows,
            title="EM per iteration, k = 3, full covariance, same data and start (emtwin vs scikit-learn)",
            notes=["per iteration = (t(iters) − t(1)) / (iters − 1), best of repeats; speedup = sklearn / emtwin;",
                   "loglik: total, nats, after `iters` M-steps; trajectory Δ: largest relative difference of the "
                   "mean log-likelihood per iteration; params Δ: largest absolute difference of the final parameters"],
        ))
    if convergence:
        rows = [
            [f"{r.dim}-D", fmt_n(r.n), str(r.ours_n_iter), fmt_seconds(r.ours_s), str(r.sklearn_n_iter),
             fmt_seconds(r.sklearn_s), f"{r.speedup:.2f}×", f"{r.ours_loglik / r.n:.13f}",
             f"{r.sklearn_loglik / r.n:.13f}", f"{r.loglik_rel_diff:.1e}"]
            for r in convergence
        ]
        parts.append(format_table(
            ["data", "N", "emtwin iters", "time", "sklearn iters", "time", "speedup", "mean loglik emtwin",
             "mean loglik sklearn", "rel Δ"],
            rows,
            title="EM to convergence, same data and start",
            notes=[f"stopping rules differ: emtwin tol = {em_tol:g} on the largest parameter change (data units); "
                   f"scikit-learn tol = {sklearn_tol:g} on the change of the mean log-likelihood per point (nats)"],
        ))
    return "\n\n".join(parts)


def memory_table(records: Sequence[Any]) -> str:
    rows = [
        [r.impl, f"{r.dim}-D", fmt_n(r.n), str(r.n_iter), fmt_bytes(r.data_bytes), fmt_bytes(r.peak_bytes),
         fmt_bytes(r.total_bytes), fmt_bytes(r.budget_bytes), "yes" if r.within_budget else "NO",
         fmt_bytes(r.max_rss_bytes)]
        for r in records
    ]
    return format_table(
        ["impl", "data", "N", "iters", "data size", "fit peak", "data + peak", "budget", "within", "max RSS"],
        rows,
        title="Peak memory of one fit, each in a fresh process",
        notes=["fit peak: tracemalloc's peak over the fit call (data drawn before); budget: data + 2·N·k float64; "
               "max RSS: whole process, for reference; MB = 10⁶ bytes"],
    )


def limit_table(limit: dict[str, Any], per_iteration: Sequence[Any]) -> str:
    """The machine's limit per EM iteration at each size, and emtwin's distance from it."""
    measured = {(r.dim, r.n): r.ours_per_iter_s for r in per_iteration}
    rows = []
    for item in limit["per_size"]:
        ours = measured.get((item.dim, item.n))
        rows.append([
            f"{item.dim}-D", fmt_n(item.n), fmt_bytes(item.bytes_moved), f"{item.bandwidth_bytes_per_s / 1e9:.1f} GB/s",
            fmt_seconds(item.memory_s), fmt_seconds(item.compute_s), fmt_seconds(item.limit_s), fmt_seconds(ours),
            "n/a" if ours is None else f"{ours / item.limit_s:.1f}×",
        ])
    cost = limit["exp_log"]
    return format_table(
        ["data", "N", "bytes moved", "bandwidth", "memory time", "exp/log time", "limit", "emtwin/iter", "/ limit"],
        rows,
        title="The machine's limit for one EM iteration (one core)",
        notes=[
            f"main-memory copy bandwidth {limit['dram_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s "
            f"(2 × {fmt_bytes(limit['dram_bytes'])} arrays); bandwidth column: copy at the working set's size",
            f"exp {cost.exp_in_cache_s * 1e9:.2f} ns/element in cache, {cost.exp_streaming_s * 1e9:.2f} streaming; "
            f"log {cost.log_in_cache_s * 1e9:.2f} ns in cache, {cost.log_streaming_s * 1e9:.2f} streaming",
            "limit = max(8·N·(d + k) bytes / bandwidth, N·k·t_exp + N·t_log)",
        ],
    )


def map_table(records: Sequence[Any]) -> str:
    rows = []
    for r in records:
        rows.append([
            fmt_n(r.n), fmt_seconds(r.cold["import_s"] + r.cold["build_s"] + r.cold["first_fit_s"]),
            fmt_seconds(r.cold["first_fit_s"]), fmt_seconds(r.warm["first_fit_s"]), fmt_seconds(r.warm["second_fit_s"]),
            str(r.warm["n_iter"]), fmt_seconds(r.warm["evaluation_s"]), fmt_seconds(r.em_s), str(r.em_n_iter),
            f"{r.warm['second_fit_s'] / r.em_s:.2f}", f"{r.params_max_abs_diff:.1e}", f"{r.loglik_rel_diff:.1e}",
        ])
    return format_table(
        ["N", "cold total", "cold fit", "warm fit", "2nd fit", "MAP iters", "logp+grad", "EM", "EM iters",
         "2nd fit/EM", "params Δ", "loglik rel Δ"],
        rows,
        title="PyMC MAP (fit_map, L-BFGS-B) vs EM to convergence, 1-D, k = 3, same data and start",
        notes=["cold total: import + build + first fit_map in a fresh process with an empty compile cache; cold/warm "
               "fit: that first call (warm: a new process on the cache the cold one left);",
               "2nd fit: a second call in the warm process; logp+grad: one evaluation of the log-density and its "
               "gradient; 2nd fit/EM > 1: EM is faster even with MAP compiled;",
               "params Δ: largest |MAP − EM| over weights, mu, sigma; loglik rel Δ: |MAP − EM| / |EM|, total "
               "log-likelihoods"],
    )


def nuts_tables(nuts: dict[str, Any]) -> str:
    records = nuts["records"]
    rows = []
    for r in records:
        if r.error:
            rows.append([r.scenario, r.sampler] + ["—"] * 7 + [r.error.splitlines()[0][:60]])
            continue
        rows.append([
            r.scenario, r.sampler, fmt_seconds(r.first_s), fmt_seconds(r.second_s), f"{r.min_ess_bulk:.0f}",
            f"{r.ess_per_s_first:.1f}", f"{r.ess_per_s_second:.1f}", str(r.divergences), f"{r.max_rhat:.3f}", "",
        ])
    s = nuts["settings"]
    parts = [format_table(
        ["scenario", "sampler", "1st call", "2nd call", "min ESS", "ESS/s 1st", "ESS/s 2nd", "divergences",
         "max R-hat", "note"],
        rows,
        left=(0, 1, 9),
        title=f"NUTS, {s['chains']} chains × {s['draws']} draws ({s['tune']} tuning), seed {s['seed']}",
        notes=["1st call includes compiling the model (PyTensor's usual cache); pm.sample(nuts_sampler='nutpie') "
               "compiles nutpie's model again on every call, so its 2nd call includes that too;",
               "min ESS: smallest bulk ESS over the free variables; ESS/s on the 1st and the 2nd call's wall time"],
    )]
    for scenario, comparison in nuts["same_posterior"].items():
        if comparison:
            parts.append(format_table(
                ["parameter", "pymc mean", "nutpie mean", "(nutpie − pymc)/SD"],
                [[c["parameter"], f"{c['pymc']:.4g}", f"{c['nutpie']:.4g}", f"{c['difference_in_sd']:+.2f}"]
                 for c in comparison],
                title=f"Same posterior? {scenario}",
            ))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- targets


@dataclasses.dataclass(frozen=True)
class Target:
    """One of the issue's targets: ``status`` is PASS, MISS or NOT RUN."""

    name: str
    status: str
    value: float | None
    threshold: float
    detail: str


def _status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _at(records: Sequence[Any], dim: int, n: int) -> Any:
    return next((r for r in records if r.dim == dim and r.n == n), None)


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    """The issue's targets against what was measured (NOT RUN where a section was skipped)."""
    per_iteration = results.get("em", {}).get("per_iteration", [])
    record = _at(per_iteration, 1, TARGET_N)
    where = f"1-D, k = 3, N = {fmt_n(TARGET_N)}"
    targets = []
    if record is None:
        targets += [Target(f"EM per iteration ≥ {SPEEDUP_TARGET:g}× faster than scikit-learn ({where})", "NOT RUN",
                           None, SPEEDUP_TARGET, "run the em section with N = 1e6"),
                    Target(f"same log-likelihood trajectory, ≤ {TRAJECTORY_TARGET:g} relative ({where})", "NOT RUN",
                           None, TRAJECTORY_TARGET, "run the em section with N = 1e6")]
    else:
        targets.append(Target(
            f"EM per iteration ≥ {SPEEDUP_TARGET:g}× faster than scikit-learn ({where})",
            _status(record.speedup >= SPEEDUP_TARGET), record.speedup, SPEEDUP_TARGET,
            f"emtwin {fmt_seconds(record.ours_per_iter_s)}, scikit-learn {fmt_seconds(record.sklearn_per_iter_s)} "
            f"per iteration: {record.speedup:.2f}×"))
        targets.append(Target(
            f"same log-likelihood trajectory, ≤ {TRAJECTORY_TARGET:g} relative ({where})",
            _status(record.trajectory_max_rel_diff <= TRAJECTORY_TARGET), record.trajectory_max_rel_diff,
            TRAJECTORY_TARGET, f"largest relative difference over {record.n_iter} iterations: "
            f"{record.trajectory_max_rel_diff:.2e}"))
    limit = results.get("limit")
    bound = _at(limit["per_size"], 1, TARGET_N) if limit else None
    name = f"EM per iteration within {LIMIT_TARGET:g}× of the machine's limit ({where})"
    if record is None or bound is None:
        targets.append(Target(name, "NOT RUN", None, LIMIT_TARGET, "run the em and limit sections with N = 1e6"))
    else:
        ratio = record.ours_per_iter_s / bound.limit_s
        targets.append(Target(name, _status(ratio <= LIMIT_TARGET), ratio, LIMIT_TARGET,
                              f"emtwin {fmt_seconds(record.ours_per_iter_s)}, limit {fmt_seconds(bound.limit_s)}: "
                              f"{ratio:.1f}×"))
    memory = [r for r in results.get("memory", []) if r.impl == "emtwin"]
    for dim in (1, 2):
        name = f"memory at N = {fmt_n(MEMORY_TARGET_N)} ≤ data + two N·k float64 arrays ({dim}-D)"
        mine = [r for r in memory if r.dim == dim]
        if not mine:
            targets.append(Target(name, "NOT RUN", None, 1.0, "run the memory section"))
            continue
        r = max(mine, key=lambda m: m.n)
        note = "" if r.n == MEMORY_TARGET_N else f" (measured at N = {fmt_n(r.n)} only; the budget scales with N)"
        targets.append(Target(name, _status(r.within_budget), r.total_bytes / r.budget_bytes, 1.0,
                              f"data + fit peak {fmt_bytes(r.total_bytes)}, budget {fmt_bytes(r.budget_bytes)}: "
                              f"{r.total_bytes / r.budget_bytes:.2f} of it{note}"))
    return targets


def targets_table(targets: Sequence[Target]) -> str:
    return format_table(["target", "status", "numbers"], [[t.name, t.status, t.detail] for t in targets],
                        title="Issue 6 targets", left=(0, 1, 2))


# --------------------------------------------------------------------------- JSON


def to_jsonable(value: Any) -> Any:
    """Dataclasses (through their ``as_dict`` if they have one), NumPy scalars and arrays,
    tuples and dicts, as plain JSON values."""
    if hasattr(value, "as_dict"):
        return to_jsonable(value.as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def write_json(results: dict[str, Any], path: Path) -> Path:
    """``results`` as indented JSON at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
