"""PyMC MAP (the project's PyMC twin and ``fit_map``) against EM on the same 1-D data and
start: which reaches the same maximum sooner, compile time included or not.

Each MAP measurement runs in a fresh process, twice:

* cold: PyTensor's compile cache in a new, empty directory, so everything compiles;
* warm: a new process on the cache the cold one left, as a user's second session.

Inside each process ``fit_map`` is called twice: the first call compiles (from scratch or
from the disk cache) and optimises; the second runs with whatever the process kept
compiled, which for ``fit_map`` caching its objective per model is the optimisation
alone. The cost of one log-density-and-gradient evaluation is timed afterwards, to set
beside the cost of one EM iteration.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .data import K, draw_mixture, start_for
from .isolated import run_isolated, with_compiledir
from .timing import best_of

__all__ = ["MapRecord", "map_in_this_process", "map_vs_em"]

# A fresh process compiling a model has needed 30–60 s here; give it room on a busy machine.
TIMEOUT_S = 1200.0


def _evaluation_seconds(model: Any, point: dict[str, np.ndarray]) -> float:
    """One log-density plus gradient evaluation at ``point`` (unconstrained values), seconds."""
    logp = model.compile_logp(jacobian=False)
    dlogp = model.compile_dlogp(jacobian=False)
    seconds, _ = best_of(5, lambda: (logp(point), dlogp(point)))
    return seconds


def map_in_this_process(n: int, seed: int) -> dict[str, Any]:
    """In this (fresh) process: import PyMC, build the 1-D twin, call ``fit_map`` twice.

    Returns
    -------
    dict
        Seconds for ``import_s``, ``build_s``, ``first_fit_s``, ``second_fit_s``,
        ``evaluation_s`` (one logp + gradient); the optimiser's ``n_iter``, ``success``,
        ``message``; MAP's ``params`` and total ``log_likelihood`` (nats).
    """
    t = time.perf_counter()
    import pytensor
    from pymc.initial_point import make_initial_point_fn

    from emtwin.em_reference.gaussian_mixture import MixtureData
    from emtwin.models import gaussian_mixture as pm_gm
    from emtwin.models.fitting import fit_map

    import_s = time.perf_counter() - t
    data = MixtureData(draw_mixture(n, 1, seed), K)
    start = pm_gm.free_values(start_for(1))

    t = time.perf_counter()
    model = pm_gm.build_model(data.x, k=K, var_floor=data.var_floor)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    first = fit_map(model, start)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    second = fit_map(model, start)
    second_s = time.perf_counter() - t

    # The start in the model's unconstrained coordinates: where the optimiser begins.
    unconstrained = make_initial_point_fn(model=model, overrides=start, jitter_rvs=set())(0)
    return {
        "n": n,
        "linker": str(pytensor.config.linker),
        "import_s": import_s,
        "build_s": build_s,
        "first_fit_s": first_s,
        "second_fit_s": second_s,
        "evaluation_s": _evaluation_seconds(model, unconstrained),
        "n_iter": second.n_iter,
        "success": second.success,
        "message": second.message,
        "params": {name: np.asarray(second.params[name]).tolist() for name in ("weights", "mu", "sigma")},
        "log_likelihood": second.log_likelihood,
        "first_call_log_likelihood": first.log_likelihood,
    }


@dataclass(frozen=True)
class MapRecord:
    """MAP from a cold and a warm compile cache against EM to convergence (seconds;
    log-likelihoods total, nats), 1-D data, k = 3, the shared start."""

    n: int
    cold: dict[str, Any]
    warm: dict[str, Any]
    em_s: float
    em_n_iter: int
    em_tol: float
    em_loglik: float
    map_loglik: float
    loglik_rel_diff: float
    params_max_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _map_process(n: int, seed: int, compiledir: str) -> dict[str, Any]:
    return run_isolated("map", env=with_compiledir(compiledir), timeout=TIMEOUT_S, n=n, seed=seed)


def map_vs_em(n: int, *, seed: int, em_tol: float, say: Any = lambda message: None) -> MapRecord:
    """Cold and warm MAP in fresh processes, then EM here, on the same data and start."""
    from .em_vs_sklearn import Problem, fit_ours, warm_up
    from .timing import timed

    compiledir = tempfile.mkdtemp(prefix="emtwin-bench-pytensor-")
    try:
        say(f"map: N={n:.0e} cold compile cache ({compiledir}), fresh process")
        cold = _map_process(n, seed, compiledir)
        say(f"map: N={n:.0e} warm compile cache, fresh process")
        warm = _map_process(n, seed, compiledir)
    finally:
        shutil.rmtree(compiledir, ignore_errors=True)
    say(f"map: N={n:.0e} EM to convergence (tol {em_tol:g})")
    problem = Problem.make(n, 1, seed)
    warm_up(1)
    em_s, em = timed(lambda: fit_ours(problem.data, problem.start, max_iter=10_000, tol=em_tol))
    map_params = {name: np.asarray(value) for name, value in warm["params"].items()}
    difference = max(float(np.max(np.abs(map_params[name] - em.params[name]))) for name in map_params)
    return MapRecord(
        n=n,
        cold=cold,
        warm=warm,
        em_s=em_s,
        em_n_iter=em.n_iter,
        em_tol=em_tol,
        em_loglik=em.log_likelihood,
        map_loglik=float(warm["log_likelihood"]),
        loglik_rel_diff=abs(em.log_likelihood - warm["log_likelihood"]) / abs(em.log_likelihood),
        params_max_abs_diff=difference,
    )
