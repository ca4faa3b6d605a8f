"""``python -m benchmarks [--quick] [--only SECTION ...] [--sizes N,...] [--out PATH]``."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import report
from .isolated import REPO_ROOT
from .machine import machine_info
from .settings import FULL, OPTIONAL_SECTIONS, QUICK, SECTIONS, Settings
from .timing import say

__all__ = ["main", "parse_args"]

DEFAULT_OUT = {"full": REPO_ROOT / "benchmarks" / "results.json", "quick": REPO_ROOT / "benchmarks" / "results-quick.json"}


def _sizes(text: str) -> tuple[int, ...]:
    """``"1e4,1e5"`` -> (10000, 100000); whole numbers >= 100."""
    sizes = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers like 1e4,1e5; got {item!r}") from None
        if value != int(value) or value < 100:
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 100; got {item!r}")
        sizes.append(int(value))
    return tuple(sorted(set(sizes)))


def _sections(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return SECTIONS
    chosen = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = sorted(chosen - set(SECTIONS) - set(OPTIONAL_SECTIONS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"--only takes {', '.join(SECTIONS + OPTIONAL_SECTIONS)}; got {', '.join(unknown)}")
    return tuple(name for name in SECTIONS + OPTIONAL_SECTIONS if name in chosen)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="emtwin's Gaussian-mixture EM against scikit-learn, the machine's limit, peak memory, "
                    "PyMC MAP and NUTS (issue 6). Tables go to stdout, progress to stderr, every number to JSON.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, few repeats, short NUTS runs (a few minutes): for checking, not for "
                             "quoting")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)}); repeat or comma-separate")
    parser.add_argument("--sizes", type=_sizes, metavar="N,...",
                        help="N for EM per iteration, to convergence and the machine's limit, e.g. 1e4,1e5")
    parser.add_argument("--baseline", metavar="PYTHON",
                        help="twin section: the Python of a checkout of the commit before (its own venv), whose "
                             "emtwin commands run in turn with ours")
    parser.add_argument("--repeats", type=int, default=3, metavar="N",
                        help="twin section: runs per target command (default 3; --all commands run once)")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="JSON file (default benchmarks/results.json; with --quick benchmarks/results-quick.json)")
    args = parser.parse_args(argv)
    try:
        args.sections = _sections(args.only)
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    return args


def _settings(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else FULL
    return settings.with_sizes(args.sizes) if args.sizes else settings


def _show(text: str) -> None:
    if text:
        print(text + "\n", flush=True)


def run(settings: Settings, sections: Sequence[str], *, baseline: str | None = None,
        repeats: int = 3) -> dict[str, Any]:
    """Run ``sections`` with ``settings``, printing each section's table as it finishes."""
    from .sections import run_em, run_limit, run_map, run_memory, run_nuts  # needs scikit-learn

    results: dict[str, Any] = {"errors": []}
    if "em" in sections:
        results["em"] = run_em(settings)
        _show(report.em_tables(results["em"]["per_iteration"], results["em"]["to_convergence"],
                               em_tol=settings.em_tol, sklearn_tol=settings.sklearn_tol))
    if "limit" in sections:
        results["limit"] = run_limit(settings)
        _show(report.limit_table(results["limit"], results.get("em", {}).get("per_iteration", [])))
    if "memory" in sections:
        results["memory"] = run_memory(settings, results["errors"])
        _show(report.memory_table(results["memory"]))
    if "map" in sections:
        results["map"] = run_map(settings, results["errors"])
        _show(report.map_table(results["map"]))
    if "nuts" in sections:
        results["nuts"] = run_nuts(settings)
        _show(report.nuts_tables(results["nuts"]))
    if "twin" in sections:
        from .twin import run_twin, twin_tables

        results["twin"] = run_twin(baseline=baseline, repeats=repeats, seed=settings.seed)
        _show(twin_tables(results["twin"]))
    if "scale" in sections:
        from .scale import run_scale, scale_table  # needs the `scale` extra

        results["scale"] = run_scale(seed=settings.seed)
        _show(scale_table(results["scale"]))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("sklearn") is None:
        print("The benchmark compares against scikit-learn, which is not installed: run `make bench`, or "
              "`pip install -e '.[bench]'` in the project's environment.", file=sys.stderr)
        return 2
    settings = _settings(args)
    began = time.perf_counter()
    say(f"emtwin benchmark ({settings.name}): sections {', '.join(args.sections)}")
    machine = machine_info()
    results = run(settings, args.sections, baseline=args.baseline, repeats=args.repeats)
    targets = report.evaluate_targets(results)
    _show(report.targets_table(targets))
    for error in results["errors"]:
        print(f"error: {error}", file=sys.stderr)
    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    record = {
        "benchmark": "emtwin issue 6: EM vs scikit-learn, machine limit, memory, PyMC MAP, NUTS",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "settings": dataclasses.asdict(settings),
        "sections": list(args.sections),
        "machine": machine,
        **results,
        "targets": targets,
        "elapsed_s": time.perf_counter() - began,
    }
    path = report.write_json(record, args.out or DEFAULT_OUT[settings.name])
    say(f"done in {record['elapsed_s']:.0f} s; JSON written to {path}")
    return 0
