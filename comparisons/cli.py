"""The ``emtwin`` command line: ``emtwin list``, ``emtwin compare NAME | --all``,
``emtwin report NAME | --all --out DIR``.

NAME is a registered scenario or ``path/to/file.py:function``, a function of yours that
returns a Scenario (``emtwin.custom_scenario(...)``); it runs without being registered.

Exit codes: 0 the twins agree (or the scenario is non-identifiable and that was shown),
1 the twins disagree, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from emtwin.em_reference.checks import Whole, check

from . import datafiles
from . import result_cache
from .custom import _SPEC, load_scenario
from .methods import METHODS
from .parallel import run_all
from .registry import SCENARIOS

__all__ = ["main"]

EXIT_AGREE, EXIT_DISAGREE, EXIT_USAGE = 0, 1, 2


def _methods(text: str) -> tuple[str, ...]:
    chosen = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"choose from {','.join(METHODS)} (comma-separated); got {text!r}"
        )
    return chosen


def _number(text: str) -> int | float | str:
    """``text`` as the Python value a caller of the API would have passed: an int, a float,
    or (neither) the string itself, so the check's message shows the same value."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _checked_option(argument: str, rule: Any = None) -> Callable[[str], Any]:
    """An argparse ``type`` applying the API's rule for ``argument`` (em_reference/checks.py),
    so ``--seed 3.5`` and ``seed=3.5`` get the same sentence."""

    def parse(text: str) -> Any:
        try:
            return check(argument, _number(text), rule)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = argument  # argparse names the type in some messages
    return parse


def _scenario_name(text: str) -> str:
    # A file is only checked for its shape here; loading it runs user code, so it happens
    # in main, where its errors become one line and exit code 2.
    if text in SCENARIOS or _SPEC.match(text):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(SCENARIOS)}, or give path/to/file.py:function)"
    )


def _parser() -> argparse.ArgumentParser:
    scenario_lines = "\n".join(f"  {s.name:<18} {s.title}" for s in SCENARIOS.values())
    parser = argparse.ArgumentParser(
        prog="emtwin",
        description="Run hand-coded EM and its PyMC twin on a lecture scenario and compare them.",
        epilog=f"scenarios:\n{scenario_lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,compare,report}")
    sub.add_parser("list", help="list the scenarios")
    cmp = sub.add_parser(
        "compare",
        help="run both twins of a scenario and print the comparison table",
        description="Run both twins and print parameter, EM, MAP, ADVI, NUTS and verdicts. "
        "Exits 1 when the twins disagree.",
        epilog=f"scenarios:\n{scenario_lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = cmp.add_mutually_exclusive_group(required=True)
    target.add_argument("scenario", nargs="?", type=_scenario_name, metavar="NAME",
                        help="scenario name (see `emtwin list`), or path/to/file.py:function returning a Scenario")
    target.add_argument("--all", action="store_true", help="run every scenario and print one summary line each")
    cmp.add_argument("--methods", type=_methods, default=METHODS, metavar="LIST",
                     help=f"PyMC fits to run, comma-separated from {','.join(METHODS)} (default: all)")
    cmp.add_argument("--seed", type=_checked_option("seed"), default=0, help="seed for EM's extra starts, ADVI and NUTS (default 0)")
    cmp.add_argument("--n-starts", type=_checked_option("n_starts"), default=1, help="EM starts; the best is compared (default 1)")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON instead of a table")
    cmp.add_argument("--quiet", action="store_true", help="no progress lines or bars on stderr")
    _add_jobs(cmp)
    cmp.add_argument("--no-derived", action="store_true",
                     help="skip the third twin, the EM derived from the PyMC model (and the compile of its Q); "
                          "under a prior that is not flat MAP is then reported, not held to MAP-EM")
    cmp.add_argument("--no-cache", action="store_true",
                     help="compute afresh: neither read nor write the result cache "
                          "($EMTWIN_CACHE_DIR, else $XDG_CACHE_HOME/emtwin, else ~/.cache/emtwin)")
    datafiles.add_options(cmp)
    _add_report_parser(sub, scenario_lines)
    return parser


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    """``--jobs``, the same for ``compare`` and ``report``."""
    parser.add_argument("--jobs", type=_checked_option("jobs", Whole(1)), default=1, metavar="N",
                        help="with --all: scenarios run at once, one process each, one line each as it "
                             "finishes (default 1: each scenario already runs its NUTS in a second process "
                             "beside its other fits)")


def _add_report_parser(sub: Any, scenario_lines: str) -> None:
    """``emtwin report``'s arguments."""
    rep = sub.add_parser(
        "report",
        help="write a report folder: index.html with figures, report.md, results.json",
        description="Run both twins and write a folder a teacher can project and a modeller can cite: "
        "index.html (self-contained, opens from disk), report.md and results.json (every number, with "
        "versions, seed and settings). Takes about half a minute per scenario once PyMC's compile cache is "
        "warm. Exits 1 when the twins disagree.",
        epilog=f"scenarios:\n{scenario_lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep_target = rep.add_mutually_exclusive_group(required=True)
    rep_target.add_argument("scenario", nargs="?", type=_scenario_name, metavar="NAME",
                            help="scenario name (see `emtwin list`), or path/to/file.py:function returning a Scenario")
    rep_target.add_argument("--all", action="store_true", help="report on every scenario, one section each")
    rep.add_argument("--out", required=True, metavar="DIR",
                     help="folder to write (new, empty, or an earlier emtwin report, which is replaced)")
    rep.add_argument("--seed", type=_checked_option("seed"), default=0,
                     help="seed for EM's extra starts, ADVI, NUTS and the simulated data (default 0)")
    rep.add_argument("--n-starts", type=_checked_option("n_starts"), default=None,
                     help="EM starts for the table and every refit (default 5; 3 with --quick)")
    rep.add_argument("--quick", action="store_true",
                     help="short chains, three data sizes, k <= 3: a first look in seconds per scenario")
    rep.add_argument("--quiet", action="store_true", help="no progress lines or bars on stderr")
    _add_jobs(rep)
    rep.add_argument("--no-derived", action="store_true",
                     help="skip the third twin, the EM derived from the PyMC model, in every table")
    rep.add_argument("--no-cache", action="store_true",
                     help="compute the table's comparison afresh instead of reading the result cache")
    datafiles.add_options(rep)


def _report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``emtwin report``: write the folder, print one verdict line per scenario and its path."""
    import dataclasses
    import shlex

    # Imported here: matplotlib and the report modules are not needed by list or compare.
    from .report.compute import ReportSettings
    from .report.writer import write_report

    names = list(SCENARIOS) if args.all else [args.scenario]
    settings = ReportSettings.quick(seed=args.seed) if args.quick else ReportSettings(seed=args.seed)
    if args.n_starts is not None:
        settings = dataclasses.replace(settings, n_starts=args.n_starts)
    try:
        targets = [name if name in SCENARIOS else load_scenario(name) for name in names]
        # Files are read before write_report makes the folder: bad input writes nothing.
        chosen = datafiles.choices(args, None if args.all else targets[0])
        targets = targets if args.all else [datafiles.with_choices(targets[0], chosen)]
        settings = dataclasses.replace(settings, model_options=chosen.model_options, cache=not args.no_cache,
                                       derived=not args.no_derived)
        report = write_report(targets, args.out, settings, progress=not args.quiet,
                              command=shlex.join(["emtwin", *argv]), jobs=args.jobs)
    except (ValueError, FloatingPointError) as err:  # bad input, as for compare
        print(f"emtwin: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    lines = []
    for section in report.sections:
        c = section.report.comparison
        lines.append((c.scenario, c.verdict, "" if section.ok or not c.ok else "a report check failed"))
    for line in _summary(lines):
        print(line)
    print(f"report: {report.path / 'index.html'}")
    return EXIT_AGREE if report.ok else EXIT_DISAGREE


def _summary(lines: Sequence[tuple[str, str, str]]) -> list[str]:
    """One line per scenario, ``name  verdict  notes``, each column aligned."""
    if not lines:
        return []
    name_width = max(len(name) for name, _, _ in lines)
    verdict_width = max(len(verdict) for _, verdict, _ in lines)
    return [f"{name:<{name_width}}  {verdict:<{verdict_width}}  {notes}" if notes else f"{name:<{name_width}}  {verdict}"
            for name, verdict, notes in lines]


def _one_line(err: BaseException) -> str:
    """The message on one line: a wrapped error (a user's builder, say) may span several."""
    return " ".join(str(err).split())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "report":
        return _report(args, argv)
    if args.command == "list":
        for s in SCENARIOS.values():
            print(f"{s.name:<{max(map(len, SCENARIOS))}}  {s.title}  [{s.source}]")
        return EXIT_AGREE

    names = list(SCENARIOS) if args.all else [args.scenario]
    progress = not (args.quiet or args.json)
    jobs = args.jobs
    try:
        # --all runs registered scenarios only, passed by name: names pickle, so they can
        # go to worker processes.
        targets = [name if name in SCENARIOS else load_scenario(name) for name in names]
        chosen = datafiles.choices(args, None if args.all else targets[0])
        # A summary: on a cache hit it is read without importing PyMC (result_cache.py).
        run = functools.partial(result_cache.summary, use_cache=not args.no_cache,
                                methods=args.methods, seed=args.seed, n_starts=args.n_starts,
                                derived=not args.no_derived,
                                progress=progress and jobs == 1, **chosen.as_kwargs())
        results = run_all(run, targets, jobs=jobs, label=str, describe=lambda c: c.verdict, progress=progress)
    except (ValueError, FloatingPointError) as err:  # bad input, or a start EM cannot use
        print(f"emtwin: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE

    if args.json:
        payload = [c.to_dict() for c in results]
        print(json.dumps(payload if args.all else payload[0], indent=2))
    elif args.all:
        lines = []
        for c in results:
            failed = [check.name for check in c.failures]
            warned = [check.name for check in c.warnings]
            notes = "  ".join(([f"failed: {', '.join(failed)}"] if failed else [])
                              + ([f"warnings: {', '.join(warned)}"] if warned else []))
            lines.append((c.scenario, c.verdict, notes))
        print("\n".join(_summary(lines)))
    else:
        print(results[0].table())
    return EXIT_AGREE if all(c.ok for c in results) else EXIT_DISAGREE


def run() -> None:
    """The ``emtwin`` command: :func:`main`, then an exit without the interpreter's teardown.

    Freeing PyTensor's graphs and Numba's compiled code object by object took 1.2 s after
    every ``emtwin compare`` (coin-sets: ``main`` done at 7.97 s, the process gone at
    9.21 s). Once the output is flushed and the exit handlers have run (multiprocessing's
    and joblib's among them), nothing of that teardown is observable, so the process leaves
    at once. Where that is not so (a thread still running, output that cannot be flushed,
    an interpreter without CPython's exit-handler hook) it exits the ordinary way.
    A reader that closes the pipe early ends it quietly, with status 141.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left early (`emtwin compare ... --json | head`): no traceback, and the
        # exit status of a command a closed pipe stopped (128 + SIGPIPE), as `cat` would give.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + 13)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None or threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stderr.flush()  # stdout was flushed above
    except OSError:  # e.g. a closed pipe: let the ordinary exit report it
        sys.exit(code)
    run_exit_handlers()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
