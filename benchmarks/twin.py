"""The Bayesian twin's speed (issue 17): per scenario, how far each method is from its arithmetic.

Per scenario, in this process (the compile cache warm after the first):

* time per gradient: the compiled log-density and its gradient, called in a loop, µs;
* ADVI: steps taken (the early stop), wall time per step, overhead per step = per step −
  per gradient (each step is one gradient of one Monte-Carlo draw plus the optimiser);
* NUTS: gradient evaluations (Σ leapfrog steps over every chain and draw, tuning
  included), wall time per evaluation, overhead per evaluation.

Then the issue's targets, each a whole ``emtwin`` command in a fresh process, timed from
outside; with ``--baseline PYTHON`` (the interpreter of a checkout of the commit before)
the same command runs under it in turn with ours (A B A B ...), and both medians are
printed with their ratio. The load average is recorded beside every figure: the machine is
shared, and a loaded machine moves these numbers by tens of percent.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .report import format_table
from .timing import say

__all__ = ["TARGETS", "run_twin", "twin_tables"]

# (name, emtwin arguments, limit in seconds, uses the result cache)
TARGETS = (
    ("emtwin compare coin-sets, all methods, no result cache", ["compare", "coin-sets", "--no-cache"], 8.0, False),
    ("the same, repeated with the result cache", ["compare", "coin-sets"], 2.0, True),
    ("emtwin compare --all", ["compare", "--all", "--no-cache"], 30.0, False),
    ("emtwin report --all --quick", ["report", "--all", "--quick", "--no-cache", "--out", "{tmp}/report"], 60.0, False),
    # The same two with two scenarios at a time (each still runs its NUTS beside its other fits).
    ("emtwin compare --all --jobs 2", ["compare", "--all", "--no-cache", "--jobs", "2"], 30.0, False),
    ("emtwin report --all --quick --jobs 2",
     ["report", "--all", "--quick", "--no-cache", "--out", "{tmp}/report", "--jobs", "2"], 60.0, False),
)
GRADIENT_CALLS = 2000


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


@dataclass(frozen=True)
class ScenarioSpeed:
    scenario: str
    gradient_us: float
    advi_steps: int
    advi_budget: int
    advi_s: float
    nuts_gradients: int
    nuts_s: float
    load: float

    @property
    def advi_step_us(self) -> float:
        return 1e6 * self.advi_s / self.advi_steps

    @property
    def nuts_gradient_us(self) -> float:
        return 1e6 * self.nuts_s / max(self.nuts_gradients, 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "advi_step_us": self.advi_step_us, "nuts_gradient_us": self.nuts_gradient_us}


def scenario_speed(name: str, seed: int = 0) -> ScenarioSpeed:
    """Time per gradient, ADVI's steps and NUTS's gradient evaluations for one scenario."""
    from emtwin.comparisons.registry import get_scenario
    from emtwin.models import fitting

    sc = get_scenario(name)
    data = sc.make_data()
    start = dict(sc.start_for(data, data_given=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = sc.fit_em(data, start, n_starts=1, seed=seed)
    model = sc.build_model(data)
    pymc_start = sc.to_model(sc.components.canonical({n: trace[0] for n, trace in em.param_trace.items()}))
    values = fitting._unconstrained(model, fitting._check_start(model, pymc_start))
    objective = fitting._objective_fn(model)
    objective(*values)
    began = time.perf_counter()
    for _ in range(GRADIENT_CALLS):
        objective(*values)
    gradient_us = 1e6 * (time.perf_counter() - began) / GRADIENT_CALLS
    fitting.fit_advi(model, pymc_start, seed=seed, n=100)  # compile ADVI's graph once, untimed
    began = time.perf_counter()
    advi = fitting.fit_advi(model, pymc_start, seed=seed)
    advi_s = time.perf_counter() - began
    began = time.perf_counter()
    nuts = fitting.fit_nuts(model, pymc_start, seed=seed)
    nuts_s = time.perf_counter() - began
    stats = nuts.idata.sample_stats
    n_steps = stats["n_steps"] if "n_steps" in stats else None
    tuned = 0 if n_steps is None else int(np.asarray(n_steps).sum())
    # sample_stats hold the kept draws only; tuning costs about as many leapfrog steps per
    # iteration as the draws do, so scale by (tune + draws) / draws.
    d = nuts.diagnostics
    gradients = int(round(tuned * (d["tune"] + d["draws"]) / d["draws"]))
    return ScenarioSpeed(name, gradient_us, int(advi.diagnostics["n_iter"]), int(advi.diagnostics["max_iter"]),
                         advi_s, gradients, nuts_s, _load())


# -P: the working directory stays off sys.path. Run from a checkout, its emtwin/ folder would
# shadow the baseline's installed package, and every metadata look-up would list that folder.
# The `emtwin` console script's own entry point (cli.run, which leaves without the interpreter's
# teardown); a commit from before it had the script call main.
_MAIN = ["-P", "-c", "import sys; import emtwin.comparisons.cli as cli; "
                     "cli.run() if hasattr(cli, 'run') else sys.exit(cli.main())"]


def _time_command(python: str, arguments: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    command = [python, *_MAIN, *arguments]
    began = time.perf_counter()
    child = subprocess.run(command, env=env, capture_output=True, text=True)
    return time.perf_counter() - began, child.returncode


def _without_flag(arguments: Sequence[str], flag: str) -> list[str]:
    return [a for a in arguments if a != flag]


def _knows_flag(python: str, flag: str, subcommand: str = "compare") -> bool:
    """Whether that interpreter's ``emtwin <subcommand>`` takes ``flag`` (an older commit may not)."""
    command = [python, *_MAIN, subcommand, "--help"]
    return flag in subprocess.run(command, capture_output=True, text=True).stdout


def target_timings(baseline: str | None, repeats: int) -> list[dict[str, Any]]:
    """Each target command ``repeats`` times (ours, then the baseline's, in turn)."""
    rows = []
    # A commit before the result cache has no --no-cache flag either: it always computes.
    keep_no_cache = baseline is not None and _knows_flag(baseline, "--no-cache")
    with tempfile.TemporaryDirectory(prefix="emtwin-bench-") as tmp:
        env = {**os.environ, "EMTWIN_CACHE_DIR": f"{tmp}/cache"}
        for name, template, limit, cached in TARGETS:
            arguments = [a.format(tmp=tmp) for a in template] + ["--quiet"]
            their_arguments = arguments if keep_no_cache else _without_flag(arguments, "--no-cache")
            if cached:  # the first run fills the cache; the timed ones read it
                _time_command(sys.executable, arguments, env)
                if baseline:  # its own entry: the key holds emtwin's source digest
                    _time_command(baseline, their_arguments, env)
            ours, theirs, loads, codes = [], [], [], set()
            # A commit whose report has no --jobs gets no "before" for that row.
            paired = baseline is not None and ("--jobs" not in arguments or _knows_flag(baseline, "--jobs", arguments[0]))
            n = repeats if "--all" not in arguments else 1
            for _ in range(n):
                loads.append(_load())
                seconds, code = _time_command(sys.executable, arguments, env)
                ours.append(seconds)
                codes.add(code)
                if paired:
                    theirs.append(_time_command(baseline, their_arguments, env)[0])
            row = {"target": name, "limit_s": limit, "ours_s": ours, "baseline_s": theirs, "load": loads,
                   "exit_codes": sorted(codes), "median_s": statistics.median(ours)}
            row["status"] = "PASS" if row["median_s"] <= limit else "MISS"
            if theirs:
                row["baseline_median_s"] = statistics.median(theirs)
            say(f"twin: {name}: median {row['median_s']:.1f} s ({row['status']}), load {loads[0]:.1f}")
            rows.append(row)
    return rows


def run_twin(scenarios: Sequence[str] | None = None, *, baseline: str | None = None, repeats: int = 3,
             seed: int = 0) -> dict[str, Any]:
    """Per-scenario speeds in this process, then the targets (see the module docstring)."""
    from emtwin.comparisons.registry import SCENARIOS

    speeds = []
    for name in scenarios or list(SCENARIOS):
        say(f"twin: {name} ...")
        speeds.append(scenario_speed(name, seed))
    return {"scenarios": speeds, "targets": target_timings(baseline, repeats), "baseline": baseline}


def twin_tables(results: dict[str, Any]) -> str:
    rows = [[s.scenario, f"{s.gradient_us:.1f} µs", f"{s.advi_steps} of {s.advi_budget}", f"{s.advi_step_us:.0f} µs",
             f"{s.advi_step_us - s.gradient_us:.0f} µs", f"{s.nuts_gradients}", f"{s.nuts_gradient_us:.0f} µs",
             f"{s.nuts_gradient_us - s.gradient_us:.0f} µs", f"{s.load:.1f}"] for s in results["scenarios"]]
    speed = format_table(
        ["scenario", "per gradient", "ADVI steps", "ADVI / step", "overhead / step", "NUTS gradients",
         "NUTS / gradient", "overhead / gradient", "load"],
        rows, title="Issue 17: the Bayesian twin against its arithmetic (one process, compile cache warm)", left=(0,))
    target_rows = []
    for t in results["targets"]:
        base = t.get("baseline_median_s")
        vs = f"{base:.1f} s before, {t['median_s'] / base:.2f}×" if base else "no baseline"
        target_rows.append([t["target"], t["status"], f"{t['median_s']:.1f} s ≤ {t['limit_s']:g} s", vs,
                            ", ".join(f"{x:.1f}" for x in t["load"])])
    targets = format_table(["target", "status", "median", "commit before", "load"], target_rows,
                           title="Issue 17 targets", left=(0, 1, 2, 3))
    return speed + "\n\n" + targets
