"""Comparisons kept between runs: a repeated ``emtwin compare coin-sets`` answers from disk.

A result is stored with :class:`joblib.Memory` (joblib comes with PyMC, through
better-optimize) under a key made of everything that decides it:

* the scenario: its name, and for a scenario that is not registered (``custom_scenario``,
  ``path/to/file.py:function``) the code of each of its functions (source text, or byte
  code where there is no source, and the values their closures hold);
* the data (a registered scenario's own data are fixed by its code), the start, every
  setting (methods, seed, EM starts, NUTS / ADVI / model options);
* the versions of emtwin, PyMC, PyTensor, ArviZ, NumPy, SciPy and Numba, and a digest of
  emtwin's own source files, so an edited checkout does not answer with an old result.

``progress`` is not part of the key: it changes what is printed, not what is computed.

Each comparison is kept twice under its key: whole (:func:`compare`, for the report and the
API), and as the :class:`Summary` the command line prints (:func:`summary`). A Comparison
holds PyMC's fits, ArviZ DataTrees and the derived twin, and unpickling it imports PyMC,
PyTensor and ArviZ (about 2.5 s); the summary is strings, numbers and checks, so a repeated
``emtwin compare`` answers without importing any of them. The key reads the packages'
versions from their metadata, not by importing them.

joblib writes each entry to a temporary file and renames it into place, so two runs at
once (two terminals, ``--jobs 2``) or a run killed mid-write never leave a half-written
entry under the name a later run reads: that run finds no entry and computes afresh.

Where: ``$EMTWIN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/emtwin``, else
``~/.cache/emtwin``; delete the folder to clear it. ``emtwin compare --no-cache`` neither
reads nor writes it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import marshal
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from .scenario import Check, Scenario

__all__ = ["Summary", "cache_dir", "cache_key", "compare", "summary"]

VERSIONED = ("emtwin", "pymc", "pytensor", "arviz", "numpy", "scipy", "numba")
# The packages whose .py files, sub-packages' included, make emtwin's source digest.
_PACKAGES = ("emtwin", "emtwin.em_reference", "emtwin.models", "emtwin.comparisons")


def cache_dir() -> Path:
    """The folder results are kept in: ``$EMTWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/emtwin``,
    else ``~/.cache/emtwin``."""
    if os.environ.get("EMTWIN_CACHE_DIR"):
        return Path(os.environ["EMTWIN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "emtwin"


@functools.cache
def _versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def _source_digest() -> str:
    """SHA-256 over emtwin's own .py files (path and content), in a fixed order."""
    digest = hashlib.sha256()
    for name, path in _source_files():
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _source_files() -> list[tuple[str, Path]]:
    """Every .py file of emtwin's packages and their sub-packages (``comparisons/scenarios/``
    and any added later), as (package/relative path, path), sorted."""
    files = []
    for package in _PACKAGES:
        # find_spec locates a package without running it: importing emtwin.models imports PyMC.
        for folder in importlib.util.find_spec(package).submodule_search_locations:
            files += [(f"{package}/{path.relative_to(folder).as_posix()}", path) for path in Path(folder).rglob("*.py")]
    return sorted(files)


def _code(fn: Any) -> Any:
    """What a function computes, as hashable text: its source (or byte code), the values its
    closure holds and, for a ``functools.partial``, its arguments."""
    if isinstance(fn, functools.partial):
        return ("partial", _code(fn.func), joblib.hash(fn.args), joblib.hash(fn.keywords))
    code = getattr(fn, "__code__", None)
    if code is None:
        return ("object", type(fn).__qualname__, repr(fn))
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        text = marshal.dumps(code).hex()
    cells = []
    for cell in fn.__closure__ or ():
        value = cell.cell_contents
        cells.append(_code(value) if callable(value) else _safe_hash(value))
    return ("function", fn.__qualname__, text, tuple(cells))


def _safe_hash(value: Any) -> str:
    try:
        return joblib.hash(value)
    except Exception:  # an unpicklable value: its repr is the best description left
        return repr(value)


def _scenario_part(scenario: str | Scenario) -> Any:
    if isinstance(scenario, str):
        return ("registered", scenario)
    fields = {}
    for name, value in vars(scenario).items():
        fields[name] = _code(value) if callable(value) else _safe_hash(value)
    return ("custom", scenario.name, tuple(sorted(fields.items())))


def cache_key(scenario: str | Scenario, **arguments: Any) -> dict[str, Any]:
    """Everything a comparison depends on, as a dict joblib hashes (module docstring).

    ``arguments`` are :func:`emtwin.comparisons.custom.compare`'s keyword arguments;
    ``progress`` is dropped.
    """
    arguments = {k: v for k, v in arguments.items() if k != "progress"}
    if not isinstance(scenario, str) and arguments.get("data") is None:
        # A custom scenario's own data come from its make_data, which may read a file.
        arguments["data"] = scenario.make_data()
    return {
        "scenario": _scenario_part(scenario),
        "arguments": {name: _safe_hash(value) for name, value in sorted(arguments.items())},
        "versions": _versions(),
        "emtwin_source": _source_digest(),
    }


@dataclass(frozen=True)
class Summary:
    """What ``emtwin compare`` prints of a comparison, and no more (module docstring).

    It answers the command line as a :class:`~emtwin.comparisons.results.Comparison` would:
    ``scenario``, ``verdict``, ``ok``, ``failures`` and ``warnings`` (the failed error and
    warning checks), ``table()`` and ``to_dict()``, each as the Comparison gave it when it
    was computed. The full Comparison is :func:`compare`'s.
    """

    scenario: str
    verdict: str
    ok: bool
    failures: tuple[Check, ...]
    warnings: tuple[Check, ...]
    table_text: str
    record: Mapping[str, Any]

    @classmethod
    def of(cls, comparison: Any) -> Summary:
        """The summary of a :class:`~emtwin.comparisons.results.Comparison`."""
        return cls(str(comparison.scenario), str(comparison.verdict), bool(comparison.ok),
                   tuple(map(_plain, comparison.failures)), tuple(map(_plain, comparison.warnings)),
                   comparison.table(), comparison.to_dict())

    def table(self) -> str:
        """The comparison's text table (``Comparison.table()``)."""
        return self.table_text

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data (``Comparison.to_dict()``); a copy, so the
        caller may change it."""
        return copy.deepcopy(dict(self.record))


def _plain(check: Check) -> Check:
    """``check`` holding built-in types only: a value computed by ArviZ may be a NumPy or
    xarray scalar, and unpickling an xarray object would import xarray again."""
    def number(value: Any) -> Any:
        try:
            return float(value)
        except (TypeError, ValueError):
            return value

    return Check(str(check.name), bool(check.passed), number(check.value), number(check.tolerance),
                 str(check.detail), str(check.severity))


def _compute(key: Mapping[str, Any], scenario: str | Scenario, arguments: Mapping[str, Any]) -> Any:
    """The comparison itself; joblib stores its result under ``key`` (the other two
    arguments are what ``key`` describes, so they are not hashed again)."""
    from .custom import compare as run_compare

    return run_compare(scenario, **arguments)


def _summarise(key: Mapping[str, Any], scenario: str | Scenario, arguments: Mapping[str, Any],
               location: str) -> Summary:
    """The :class:`Summary` of the comparison under ``key``, read from (or first written
    to) the whole comparison's entry in ``location``."""
    return Summary.of(_memorised(location)(key, scenario, arguments))


@functools.cache
def _memorised(location: str) -> Callable[..., Any]:
    return joblib.Memory(location, verbose=0).cache(_compute, ignore=["scenario", "arguments"])


@functools.cache
def _summaries(location: str) -> Callable[..., Summary]:
    return joblib.Memory(location, verbose=0).cache(_summarise, ignore=["scenario", "arguments", "location"])


def compare(scenario: str | Scenario, *, use_cache: bool = True, **arguments: Any) -> Any:
    """:func:`emtwin.comparisons.custom.compare`, answered from the result cache when the
    same comparison (module docstring) has run before; ``use_cache=False`` bypasses it."""
    if not use_cache:
        from .custom import compare as run_compare

        return run_compare(scenario, **arguments)
    key = cache_key(scenario, **arguments)
    return _memorised(str(cache_dir()))(key, scenario, arguments)


def summary(scenario: str | Scenario, *, use_cache: bool = True, **arguments: Any) -> Summary:
    """What the command line prints of :func:`compare`'s comparison, as a :class:`Summary`.

    A hit reads the summary's own entry alone: no PyMC, PyTensor or ArviZ is imported. A miss
    computes (or reads) the whole comparison, keeps both entries and summarises it.
    """
    if not use_cache:
        return Summary.of(compare(scenario, use_cache=False, **arguments))
    location = str(cache_dir())
    return _summaries(location)(cache_key(scenario, **arguments), scenario, arguments, location)
